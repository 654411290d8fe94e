"""Errors for input that cannot be read at all; the CLI turns these into exit code 2.

Problems with one record are not raised from the readers: they become `Reject` items
and reading goes on.
"""

from __future__ import annotations

from exchange.errors import ExchangeError


class UnreadableInput(ExchangeError):
    """The file is missing, of an unsupported type, or cannot be read."""


class EncodingError(UnreadableInput):
    """The bytes do not decode under the forced or detected encoding."""


class CsvHeaderError(UnreadableInput):
    """The CSV header is not the CCC export header of domestic-formats.md."""
