"""Per-partner SOAP credentials, from the `options` table of each SOAP agreement.

    [partners.eu.options]
    soap_username = "eu-mra"                      # default: the partner code
    soap_secret_env = "EXCHANGE_SOAP_SECRET_EU"   # PasswordDigest: the shared secret, from the
    soap_secret_file = "/run/secrets/eu-soap"     #   environment or a file, never this file
    soap_password_hash = "scrypt$32768$8$1$…"     # PasswordText over TLS: only a hash at rest
    soap_certificate = "partners/eu-signing.pem"  # verifies signatures on submitted documents
    soap_require_signature = true                 # refuse unsigned documents
    soap_wss_signature = "required"               # WS-Security message signatures: required,
                                                  #   optional or off (default: optional when
                                                  #   soap_certificate is set, else off)

PasswordDigest needs the secret itself on our side (it hashes nonce + created + secret),
which is why it is read from the environment or a secrets file at start. PasswordText
is checked against a salted scrypt hash, so the agreements file holds no password;
`exchange keys hash-password` makes one. Relative paths are relative to the agreements file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.registry import soap_partner
from exchange.signing import load_certificate
from exchange.soap.wss_signature import Policy

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PartnerCredential:
    partner: str
    username: str
    secret: bytes | None = None
    """For PasswordDigest."""
    password_hash: str | None = None
    """For PasswordText (TLS only)."""
    certificate: bytes | None = None
    """PEM: the partner's document-signing certificate."""
    require_signature: bool = False
    wss_signature: Policy = Policy.OFF
    """WS-Security message signatures from this partner, checked against `certificate`."""

    def __repr__(self) -> str:  # never print the secret
        return f"PartnerCredential(partner={self.partner!r}, username={self.username!r})"


def hash_password(password: str) -> str:
    """A salted scrypt hash for `soap_password_hash`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_SCRYPT_MAXMEM
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def load_credentials(
    config: ExchangeConfig, env: Mapping[str, str] | None = None
) -> dict[str, PartnerCredential]:
    """Credentials of every SOAP agreement that configures any, by username."""
    env = os.environ if env is None else env
    base = _base(config)
    found: dict[str, PartnerCredential] = {}
    for agreement in config.partners.values():
        if not soap_partner(agreement):
            continue
        cred = _credential(agreement, env, base)
        if cred is None:
            continue
        if cred.username in found:
            raise ConfigError(
                f"SOAP username {cred.username!r} is given to both {found[cred.username].partner} "
                f"and {cred.partner}"
            )
        found[cred.username] = cred
    return found


def partner_credential(
    config: ExchangeConfig, partner: str, env: Mapping[str, str] | None = None
) -> PartnerCredential | None:
    """One SOAP partner's credential as its agreement configures it (None when it
    configures none): what that partner's simulator authenticates with."""
    return _credential(config.partners[partner], os.environ if env is None else env, _base(config))


def _base(config: ExchangeConfig) -> Path:
    """Where relative paths in the agreements start: the agreements file's folder."""
    return config.path.parent if config.path else Path.cwd()


def username_of(agreement: Agreement) -> str:
    return str(agreement.options.get("soap_username", agreement.partner))


def _credential(agreement: Agreement, env: Mapping[str, str], base: Path) -> PartnerCredential | None:
    opts = agreement.options
    where = f"partners.{agreement.partner}.options"
    secret: bytes | None = None
    if "soap_secret_env" in opts:
        name = str(opts["soap_secret_env"])
        value = env.get(name)
        if not value:
            raise ConfigError(f"{where}.soap_secret_env names {name}, which is not set")
        secret = value.encode("utf-8")
    elif "soap_secret_file" in opts:
        path = _path(base, opts["soap_secret_file"])
        try:
            secret = path.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(f"{where}.soap_secret_file: {exc}") from None
    password_hash = opts.get("soap_password_hash")
    if password_hash is not None and not str(password_hash).startswith("scrypt$"):
        raise ConfigError(f"{where}.soap_password_hash is not a scrypt hash (exchange keys hash-password)")
    if secret is None and password_hash is None:
        return None
    if secret is not None and len(secret) < 16:
        raise ConfigError(f"{where}: the SOAP secret must be at least 16 characters")
    cert = opts.get("soap_certificate")
    require = bool(opts.get("soap_require_signature", False))
    if require and cert is None:
        raise ConfigError(f"{where}.soap_require_signature needs soap_certificate")
    wss = Policy.from_option(opts.get("soap_wss_signature"), where, has_certificate=cert is not None)
    return PartnerCredential(
        partner=agreement.partner,
        username=username_of(agreement),
        secret=secret,
        password_hash=None if password_hash is None else str(password_hash),
        certificate=None if cert is None else load_certificate(_path(base, cert)),
        require_signature=require,
        wss_signature=wss,
    )


def _path(base: Path, value: object) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else base / path
