"""W3C Bitstring Status List: the bitstring, its encoding, the list credential.

A list holds SIZE entries (131,072 bits = 16 KiB, the specification's minimum, for herd
privacy); index 0 is the left-most bit (the most significant bit of the first byte).
`encodedList` is the Multibase base64url (prefix `u`, no padding) of the GZIP-compressed
bitstring.
"""

from __future__ import annotations

import base64
import gzip
from typing import Any

SIZE = 131_072
BYTES = SIZE // 8
PURPOSES = ("revocation", "suspension")
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def empty() -> bytearray:
    return bytearray(BYTES)


def set_bit(bits: bytearray, index: int, value: bool) -> bool:
    """Set one bit; True when it changed."""
    byte, mask = index // 8, 0x80 >> (index % 8)
    before = bool(bits[byte] & mask)
    if value:
        bits[byte] |= mask
    else:
        bits[byte] &= ~mask & 0xFF
    return before != value


def get_bit(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def encode(bits: bytes) -> str:
    compressed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode(encoded: str, *, max_bytes: int = 16 * BYTES) -> bytes:
    """The bitstring of an encodedList (also without the Multibase prefix); ValueError."""
    text = encoded[1:] if encoded.startswith("u") else encoded
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    with gzip.GzipFile(fileobj=__import__("io").BytesIO(raw)) as fh:
        bits = fh.read(max_bytes + 1)
    if len(bits) > max_bytes:
        raise ValueError("the status list is larger than allowed")
    return bits


def scrambled(position: int) -> int:
    """The index of the position-th entry of a list: an odd multiplier is a bijection
    modulo 2^17, so entries spread over the list instead of counting up (the spec asks
    issuers to allocate indexes so they tell nothing about issuance order)."""
    return (position * 48_271 + 7_919) % SIZE


def list_credential(*, url: str, issuer: str, purpose: str, bits: bytes, valid_from: str) -> dict[str, Any]:
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode(bits),
        },
    }


def entries(url_of: Any, number: int, index: int) -> list[dict[str, Any]]:
    """The credentialStatus of a credential: one entry per purpose, the same index."""
    out = []
    for purpose in PURPOSES:
        url = url_of(purpose, number)
        out.append(
            {
                "id": f"{url}#{index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(index),
                "statusListCredential": url,
            }
        )
    return out
