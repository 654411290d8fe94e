"""VC-JOSE (W3C VC JOSE/COSE, section 3.1.1): a credential secured as a compact JWS whose
payload is the credential itself, header typ `vc+jwt`, cty `vc`, kid `<issuer DID>#<key>`."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from exchange.credentials.keys import CredentialKey
from exchange.errors import ExchangeError

MEDIA_TYPE = "application/vc+jwt"
ALGORITHMS = ("ES256", "EdDSA")


class CredentialInvalid(ExchangeError):
    """A secured credential does not verify: the reason says which check failed."""


def sign(payload: bytes, key: CredentialKey, kid: str) -> str:
    """The compact JWS of `payload` (the credential's JSON bytes)."""
    header = {"alg": key.alg, "typ": "vc+jwt", "cty": "vc", "kid": kid}
    return jws.serialize_compact(header, payload, key.key, algorithms=[key.alg])


def header_of(token: str) -> dict[str, Any]:
    """The protected header, unverified (to find the key it names)."""
    try:
        obj = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, UnicodeEncodeError) as exc:
        raise CredentialInvalid(f"not a compact JWS: {exc}") from None
    return dict(obj.protected)


def verify(token: str, did_doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, credential) once the signature verifies with the key the DID document
    lists for assertions under the header's kid; CredentialInvalid otherwise."""
    header = header_of(token)
    if header.get("typ") != "vc+jwt":
        raise CredentialInvalid(f"header typ is {header.get('typ')!r}, not 'vc+jwt'")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise CredentialInvalid(f"algorithm {alg!r} refused (ES256 or EdDSA)")
    kid = header.get("kid")
    method = _assertion_method(did_doc, kid)
    jwk: dict[str, Any] = method["publicKeyJwk"]
    try:
        key = (ECKey if jwk.get("kty") == "EC" else OKPKey).import_key(jwk)
        obj = jws.deserialize_compact(token.encode("ascii"), key, algorithms=[alg])
    except (JoseError, ValueError, TypeError, AttributeError) as exc:
        raise CredentialInvalid(
            f"the signature does not verify with {kid}: {type(exc).__name__}: {exc}"
        ) from None
    try:
        credential = json.loads(obj.payload)
    except ValueError as exc:
        raise CredentialInvalid(f"the payload is not JSON: {exc}") from None
    if not isinstance(credential, dict):
        raise CredentialInvalid("the payload is not a JSON object")
    return header, credential


def _assertion_method(did_doc: dict[str, Any], kid: Any) -> dict[str, Any]:
    if not isinstance(kid, str) or "#" not in kid:
        raise CredentialInvalid(f"header kid {kid!r} is not <DID>#<key id>")
    did = kid.split("#", 1)[0]
    if did_doc.get("id") != did:
        raise CredentialInvalid(f"the DID document is {did_doc.get('id')!r}, the key is {did}'s")
    allowed = {m if isinstance(m, str) else m.get("id") for m in did_doc.get("assertionMethod", [])}
    if kid not in allowed and kid.replace(did, "", 1) not in allowed:
        raise CredentialInvalid(f"{kid} is not an assertion method of {did}")
    for method in did_doc.get("verificationMethod", []):
        if isinstance(method, dict) and method.get("id") in (kid, kid.replace(did, "", 1)):
            if not isinstance(method.get("publicKeyJwk"), dict):
                raise CredentialInvalid(f"{kid} has no publicKeyJwk")
            return method
    raise CredentialInvalid(f"the DID document has no verification method {kid}")
