"""Domestic intake: CCC, GLP and PT exports (JSON, JSON Lines, CSV) -> canonical records.

`source` satisfies exchange.intake.Source. The format it reads is the upstream contract
in domestic-formats.md; code lists are data in mappings/domestic/.
"""

from __future__ import annotations

from adapters.domestic.errors import CsvHeaderError, EncodingError, UnreadableInput
from adapters.domestic.source import DomesticSource, source

__all__ = ["CsvHeaderError", "DomesticSource", "EncodingError", "UnreadableInput", "source"]
