"""XML 1.0's Char production, checked where text enters: a string that cannot be written
into XML must be refused with its reason when it arrives, not fail every document it
later reaches (lxml: "All strings must be XML compatible")."""

from __future__ import annotations

import re

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def first_non_xml_char(text: str) -> int | None:
    """The index of the first character XML 1.0 cannot hold, None when there is none."""
    found = _NOT_XML_CHAR.search(text)
    return None if found is None else found.start()


def check_xml_text(text: str, what: str) -> None:
    """ValueError naming `what` and the character when `text` cannot go into XML."""
    index = first_non_xml_char(text)
    if index is not None:
        raise ValueError(f"{what} holds U+{ord(text[index]):04X} at {index}, which XML 1.0 does not allow")
