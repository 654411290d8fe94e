"""The file transport: each document written atomically into the drop directory the
agreement names (`drop_directory`), by `exchange run` (delivery.py); `exchange convert`
writes files too, without the service."""

from __future__ import annotations

from typing import Any

import structlog

from exchange.config import Agreement
from exchange.errors import ExchangeError
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import work_queue
from exchange.service.transport import BaseTransport, Host, Link

log = structlog.get_logger("exchange.transports.file")


class FileTransport(BaseTransport):
    def __init__(self) -> None:
        self._folders: dict[str, Any] = {}

    def describe(self, agreement: Agreement) -> str:
        drop = agreement.options.get("drop_directory")
        return f"files in {drop}" if drop else "files (exchange convert; no drop_directory configured)"

    def prepare(self, host: Host, agreement: Agreement) -> None:
        from exchange.transports.file.delivery import drop_directory

        try:
            folder = drop_directory(agreement, host.config.path.parent if host.config.path else None)
        except ExchangeError as exc:
            log.warning("file delivery not started", partner=agreement.partner, reason=str(exc))
            return
        self._folders[agreement.partner] = folder

    def attach(self, link: Link, agreement: Agreement) -> None:
        from exchange.transports.file.delivery import FileDropDelivery

        partner = agreement.partner
        folder = self._folders.get(partner)
        if folder is None or not link.deliveries:
            return

        def drop(ch: Any) -> None:
            kw = link.worker_kwargs(f"deliver-{partner}", work_queue(partner), ch, ConfirmingPublisher(ch))
            link.start(FileDropDelivery(directory=folder, agreement=agreement, **kw))

        link.open_channel(link.main, drop)


TRANSPORT = FileTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
