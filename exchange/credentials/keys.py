"""The key our credentials are signed with, from configuration as the XML signing key is.

EXCHANGE_CREDENTIAL_KEY names a PEM file (EC P-256 for ES256, or Ed25519 for EdDSA);
without it EXCHANGE_SIGNING_KEY is used when that key is one of those two (an RSA key,
which `exchange keys generate` makes for XML signatures, cannot sign a vc+jwt).
`exchange keys generate` writes a development `credential-key.pem` beside the XML pair.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc.jwk import ECKey, OKPKey

from exchange.errors import ConfigError

ENV_CREDENTIAL_KEY = "EXCHANGE_CREDENTIAL_KEY"
ENV_SIGNING_KEY = "EXCHANGE_SIGNING_KEY"
CREDENTIAL_KEY_FILE = "credential-key.pem"


@dataclass(frozen=True)
class CredentialKey:
    """A private signing key as joserfc takes it, its algorithm and its public JWK."""

    key: ECKey | OKPKey
    alg: str
    key_id: str
    """RFC 7638 thumbprint of the public key: stable for the key, the fragment of `kid`."""

    def public_jwk(self) -> dict[str, Any]:
        jwk = {k: v for k, v in self.key.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}
        return jwk

    @classmethod
    def from_pem(cls, pem: bytes, where: str) -> CredentialKey:
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: not a PEM private key: {exc}") from None
        if isinstance(private, ec.EllipticCurvePrivateKey):
            if not isinstance(private.curve, ec.SECP256R1):
                raise ConfigError(f"{where}: an EC key must be on P-256 for ES256 (is {private.curve.name})")
            key: ECKey | OKPKey = ECKey.import_key(pem)
            alg = "ES256"
        elif isinstance(private, ed25519.Ed25519PrivateKey):
            key = OKPKey.import_key(pem)
            alg = "EdDSA"
        else:
            raise ConfigError(
                f"{where}: a credential key must be EC P-256 (ES256) or Ed25519 (EdDSA); "
                f"set {ENV_CREDENTIAL_KEY} (`exchange keys generate` writes {CREDENTIAL_KEY_FILE})"
            )
        return cls(key, alg, key.thumbprint())

    @classmethod
    def from_file(cls, path: Path) -> CredentialKey:
        try:
            return cls.from_pem(path.read_bytes(), str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read the credential key: {exc}") from None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> CredentialKey | None:
        """The configured key; None when none is configured (credentials go unsigned)."""
        env = dict(os.environ) if env is None else env
        explicit = env.get(ENV_CREDENTIAL_KEY)
        if explicit:
            return cls.from_file(Path(explicit))
        signing = env.get(ENV_SIGNING_KEY)
        if not signing:
            return None
        try:
            return cls.from_file(Path(signing))
        except ConfigError:
            return None  # the XML signing key is RSA: fine for XML, not for credentials


def generate_credential_key(out: Path, *, force: bool = False) -> Path:
    """A development EC P-256 key (PKCS#8 PEM, mode 0600)."""
    path = out / CREDENTIAL_KEY_FILE
    if path.exists() and not force:
        raise ConfigError(f"{path} exists (use --force to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path
