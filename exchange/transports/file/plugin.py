"""The file transport: documents written to a drop directory (`exchange convert`/`export`).
The service starts no worker for it yet: its documents wait in the partner's work queue."""

from __future__ import annotations

from exchange.config import Agreement
from exchange.service.transport import BaseTransport


class FileTransport(BaseTransport):
    def describe(self, agreement: Agreement) -> str:
        return "files"


TRANSPORT = FileTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
