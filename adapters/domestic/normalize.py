"""NFKC and multi-value splitting: applied to codes, numbers and dates, never to names.

Domestic exports carry full-width digits and spaces (`２０１９`, `GB　4943`); partners
need plain ASCII codes. Names and addresses keep their original form.
"""

from __future__ import annotations

import re
import unicodedata

_MULTI_SEP = re.compile(r"[;；、]")


def nfkc(text: str) -> str:
    """NFKC-normalised `text`; ASCII (the common case) is returned as is, for speed."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def code(text: str) -> str:
    """A code or number as partners need it: NFKC, surrounding blanks removed."""
    return (text if text.isascii() else unicodedata.normalize("NFKC", text)).strip()


def brief(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, for echoing a bad value in a reason."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_multi(text: str) -> list[str]:
    """The values of a multi-value cell (`;`, `；` or `、` between them), normalised."""
    return [v for v in (p.strip() for p in _MULTI_SEP.split(nfkc(text))) if v]
