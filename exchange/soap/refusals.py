"""Requests refused before anybody was authenticated: counted, not written one row each.

Anyone can send them, as fast as they like, so each one cannot cost a durable audit row.
Per source address and minute: the first refusal is audited in full (what was wrong with
it), the rest are counted, and one summary row (how many, which codes, from when to when)
is written when that minute is over (seen at the next refusal, or at `flush()`). Every
refusal is counted in `mra_soap_refused_unauthenticated_total{code}`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from exchange.audit import AuditEntry, AuditEvent, AuditStore

WINDOW_S = 60.0
MAX_SOURCES = 10_000
"""Open windows kept; beyond it the oldest is summarised early (an attack from many
addresses must not grow the process without bound)."""


@dataclass(slots=True)
class _Window:
    started: float
    codes: Tally[str] = field(default_factory=Tally)
    """Refusals counted but not yet audited, by fault code."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class UnauthenticatedRefusals:
    def __init__(
        self, audit: AuditStore, *, window_s: float = WINDOW_S, clock: Callable[[], float] = time.time
    ):
        self.audit = audit
        self.window_s = window_s
        self.clock = clock
        self.counter = Counter(
            "mra_soap_refused_unauthenticated",
            "SOAP requests refused before the caller was authenticated, by fault code.",
            ["code"],
            registry=None,
        )
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def note(self, source: str, code: str) -> bool:
        """Count a refusal; True when it is the first from `source` this window (audit it in full)."""
        self.counter.labels(code).inc()
        now = self.clock()
        with self._lock:
            ended = self._take_ended(now)
            window = self._windows.get(source)
            first = window is None
            if window is None:
                if len(self._windows) >= MAX_SOURCES:
                    oldest = next(iter(self._windows))
                    ended.append((oldest, self._windows.pop(oldest)))
                self._windows[source] = _Window(now)
            else:
                window.codes[code] += 1
        self._summarise(ended, now)
        return first

    def flush(self) -> None:
        """Write the summaries of every window, ended or not (at stop, and in tests)."""
        with self._lock:
            ended = list(self._windows.items())
            self._windows.clear()
        self._summarise(ended, self.clock())

    def _take_ended(self, now: float) -> list[tuple[str, _Window]]:
        ended = [(s, w) for s, w in self._windows.items() if now - w.started >= self.window_s]
        for source, _ in ended:
            del self._windows[source]
        return ended

    def _summarise(self, ended: list[tuple[str, _Window]], now: float) -> None:
        rows = [
            AuditEntry(
                AuditEvent.REJECTED,
                message_id=f"unauthenticated-{source}-{_iso(window.started)}",
                actor="soap",
                details={
                    "summary": True,
                    "remote": source,
                    "refused": sum(window.codes.values()),
                    "codes": dict(window.codes),
                    "from": _iso(window.started),
                    "until": _iso(now),
                    "reason": "more requests refused before authentication (counted, not audited each)",
                    "transport": "soap",
                },
            )
            for source, window in ended
            if window.codes
        ]
        if rows:
            for row in rows:
                self.audit.append(row)
            self.audit.flush()
