"""Publisher confirms, pipelined: publish now, hear back later, never wait per message.

Every publish is `mandatory`, so a message no queue would take comes back as a
basic.return (always before its basic.ack) and is reported as a failure, not lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pika
from pika.spec import Basic, BasicProperties

Done = Callable[[bool, str | None], None]
"""Called once per publish: (ok, reason when not ok)."""


class ConfirmingPublisher:
    def __init__(self, channel: Any):
        self.channel = channel
        self._seq = 0
        self._pending: dict[int, Done] = {}
        self._keys: dict[tuple[str | None, str, str], int] = {}
        self._returned: dict[int, str] = {}
        channel.confirm_delivery(self._on_confirm)
        channel.add_on_return_callback(self._on_return)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def publish(
        self, exchange: str, routing_key: str, body: bytes, properties: BasicProperties, done: Done
    ) -> None:
        self._seq += 1
        self._pending[self._seq] = done
        key = (properties.message_id, exchange, routing_key)
        self._keys[key] = self._seq
        self.channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)

    def _on_return(
        self, _channel: Any, method: Basic.Return, properties: BasicProperties, _body: bytes
    ) -> None:
        seq = self._keys.get((properties.message_id, method.exchange or "", method.routing_key or ""))
        if seq is not None:
            self._returned[seq] = (
                f"unroutable: exchange {method.exchange!r} routing key {method.routing_key!r} "
                f"({method.reply_code} {method.reply_text})"
            )

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, Basic.Ack)
        tag = method.delivery_tag
        if method.multiple:  # sequence numbers are inserted in order: take from the front
            tags = []
            for t in self._pending:
                if t > tag:
                    break
                tags.append(t)
        else:
            tags = [tag]
        for t in tags:
            done = self._pending.pop(t, None)
            if done is None:
                continue
            returned = self._returned.pop(t, None)
            if returned is not None:
                done(False, returned)
            elif ok:
                done(True, None)
            else:
                done(False, "the broker refused the message (basic.nack)")
        if not self._pending:
            self._keys.clear()
        elif len(self._keys) > 4 * len(self._pending) + 1000:
            live = set(self._pending)
            self._keys = {k: v for k, v in self._keys.items() if v in live}

    def fail_all(self, reason: str) -> None:
        """The channel is gone: every publish still waiting has failed."""
        pending, self._pending = self._pending, {}
        self._keys.clear()
        self._returned.clear()
        for done in pending.values():
            done(False, reason)


def persistent(**kwargs: Any) -> BasicProperties:
    return pika.BasicProperties(delivery_mode=2, **kwargs)
