"""The store interface: buffered appends, durable flushes, and the read side.

Appends cost a few microseconds (the entry is serialised and put in memory); they reach
the database in batches, one transaction each, when the buffer fills or on `flush()`.
The pipeline calls `flush()` before it acknowledges anything to anyone, so an entry is
durable before the step it records is visible outside. Queries flush first, so a store
always reads its own writes.

Back ends implement the `_`-prefixed hooks; chaining and verification are shared.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from contextlib import closing
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from exchange.audit.chain import ChainRow, Prepared, prepare
from exchange.audit.entry import AuditEntry, StoredEntry, format_time
from exchange.audit.events import AuditEvent
from exchange.audit.verify import VerifyReport, verify_rows

if TYPE_CHECKING:
    from exchange.audit.checkpoint import Checkpoint


Seal = Callable[[int, str, str], str]
"""(first kept seq, the hash it links to, purged before) -> the signed start, as text."""


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch, the chain's time resolution."""
    return time.time_ns() // 1000


class AuditStore(ABC):
    """Append-only, hash-chained audit trail; safe to share between threads."""

    def __init__(self, *, batch_size: int = 1000) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self._pending: list[Prepared] = []
        self._buffer_lock = threading.Lock()  # held for microseconds: the append path
        self._io_lock = threading.RLock()  # held for a database round trip
        self._closed = False
        self.clock: Callable[[], int] = now_us
        """Stamps each entry when it is appended; replaceable (tests pin time with it)."""
        self.observers: list[Callable[[AuditEntry], None]] = []
        """Called with every appended entry (metrics count lifecycle events this way)."""
        self.on_write: Callable[[int, float], None] | None = None
        """Called after each batch is written: (entries, seconds) — audit write latency."""
        self.after_flush: list[Callable[[int], None]] = []
        """Called with the number of entries each written batch held (sealing.PeriodicSealer)."""

    # -- writing -------------------------------------------------------------------

    def append(self, entry: AuditEntry, at_us: int | None = None) -> None:
        """Buffer one entry; writes a batch when the buffer is full.

        `at_us` (µs since the epoch) is when the step happened, when that was earlier than
        now (a message's arrival, a conversion in another process): the trail is then a
        latency record of each step, not of the batch that wrote it."""
        prepared = prepare(entry, self.clock() if at_us is None else at_us)
        for observe in self.observers:
            observe(entry)
        with self._buffer_lock:
            self._pending.append(prepared)
            full = len(self._pending) >= self.batch_size
        if full:
            self.flush()

    def append_many(self, entries: Iterable[AuditEntry]) -> None:
        """Buffer several entries, in order."""
        for entry in entries:
            self.append(entry)

    def flush(self) -> None:
        """Write everything appended so far; on return it is durable.

        On failure the unwritten entries stay buffered, in order, for the next flush,
        and the error propagates: the caller must not acknowledge the step.
        """
        with self._io_lock:
            if self._closed:
                raise RuntimeError("audit store is closed")
            while True:
                with self._buffer_lock:
                    batch = self._pending[: self.batch_size]
                    del self._pending[: self.batch_size]
                if not batch:
                    return
                started = time.perf_counter()
                try:
                    self._write(batch)
                    if self.on_write is not None:
                        self.on_write(len(batch), time.perf_counter() - started)
                except BaseException:
                    with self._buffer_lock:
                        self._pending[:0] = batch
                    raise
                for written in list(self.after_flush):
                    written(len(batch))

    @property
    def pending(self) -> int:
        """Entries appended but not yet written."""
        return len(self._pending)

    def close(self) -> None:
        """Flush, then release the connection. Idempotent."""
        with self._io_lock:
            if self._closed:
                return
            try:
                self.flush()
            finally:
                self._closed = True
                self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Flush even when leaving on an error: the steps recorded so far did happen.
        self.close()

    # -- reading -------------------------------------------------------------------

    def trace(self, id: str) -> list[StoredEntry]:
        """Every entry whose message id or record id is `id`, in chain order."""
        with self._io_lock:
            self.flush()
            return [row.to_entry() for row in self._trace_rows(id)]

    def last_state(self, message_id: str, partner: str | None = None) -> AuditEvent | None:
        """The latest event for a message (for one partner if given), buffered ones included."""
        with self._buffer_lock:
            for p in reversed(self._pending):
                if p.message_id == message_id and (partner is None or p.partner == partner):
                    return AuditEvent(p.event)
        with self._io_lock:
            event = self._last_event(message_id, partner)
        return None if event is None else AuditEvent(event)

    def export(
        self, since: datetime | None, until: datetime | None, partner: str | None = None
    ) -> Iterator[StoredEntry]:
        """Entries with since <= time < until (either open), streamed in chain order."""
        self.flush()
        return (row.to_entry() for row in self._export_rows(since, until, partner))

    def scan(
        self,
        since: datetime | None,
        until: datetime | None = None,
        events: Collection[AuditEvent] | None = None,
    ) -> Iterator[ChainRow]:
        """Rows as stored (time as chain text, details as JSON text) with since <= time <
        until, of the given events only, streamed in chain order.

        For counting over many entries (`exchange status`): no entry is built and no time
        parsed, and the back end leaves the other events out of its query.
        """
        self.flush()
        names = None if events is None else tuple(sorted({AuditEvent(e).value for e in events}))
        if names == ():
            return iter(())
        return self._scan_rows(since, until, names)

    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the last entry, None for an empty chain."""
        with self._io_lock:
            self.flush()
            return self._head()

    def verify(self, checkpoint: Checkpoint | None = None) -> VerifyReport:
        """Walk the whole chain; with a checkpoint, also check it still holds that head.

        The walk reads on a connection of its own, so appends and flushes from other
        threads go on meanwhile; what it sees is the chain as of its start.
        """
        self.flush()

        def find(entry_hash: str) -> ChainRow | None:
            with self._io_lock:
                return self._find_by_hash(entry_hash)

        start = self.chain_start()
        with closing(self._iter_rows()) as rows:
            return verify_rows(
                rows,
                find,
                checkpoint=None if checkpoint is None else (checkpoint.seq, checkpoint.hash),
                start=start,
            )

    def purge(self, before: datetime, seal: Seal | None = None) -> tuple[int, int]:
        """Remove the oldest entries: every one before the first stamped at or after `before`.

        What is kept still verifies: the store records where its chain now starts (that
        entry's seq and the hash it links to) and `verify` walks from there. Returns
        (entries removed, seq of the first kept entry). `seal(seq, prev_hash, before)` gives
        the signed mark of that start (retention.sign_start), stored in the same transaction."""
        with self._io_lock:
            self.flush()
            return self._purge(format_time(before), seal)

    def chain_start_seal(self) -> str | None:
        """The signed mark of the kept chain's start, as the last purge stored it."""
        with self._io_lock:
            return self._chain_start_seal()

    def chain_start(self) -> tuple[int, str] | None:
        """(seq, prev_hash) of the first kept entry after a purge; None: from the genesis."""
        with self._io_lock:
            return self._chain_start()

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for messages and checkpoints; never contains a password."""

    # -- back-end hooks --------------------------------------------------------------

    @abstractmethod
    def _write(self, batch: list[Prepared]) -> None:
        """In one transaction, under a lock all writers share: read the head, link, insert."""

    @abstractmethod
    def _head(self) -> tuple[int, str] | None: ...

    @abstractmethod
    def _iter_rows(self) -> Generator[ChainRow]:
        """The whole chain in seq order, streamed from a connection of its own."""

    @abstractmethod
    def _find_by_hash(self, entry_hash: str) -> ChainRow | None: ...

    @abstractmethod
    def _trace_rows(self, id: str) -> list[ChainRow]: ...

    @abstractmethod
    def _export_rows(
        self, since: datetime | None, until: datetime | None, partner: str | None
    ) -> Generator[ChainRow]:
        """Matching rows in seq order, streamed from a connection of its own."""

    def _scan_rows(
        self, since: datetime | None, until: datetime | None, events: tuple[str, ...] | None
    ) -> Generator[ChainRow]:
        """Export's rows filtered here; the back ends override it to filter in the query."""
        wanted = None if events is None else frozenset(events)
        for row in self._export_rows(since, until, None):
            if wanted is None or row.event in wanted:
                yield row

    def _purge(self, before: str, seal: Seal | None) -> tuple[int, int]:
        raise NotImplementedError(f"{type(self).__name__} cannot purge")

    def _chain_start(self) -> tuple[int, str] | None:
        return None

    def _chain_start_seal(self) -> str | None:
        return None

    def _insert_rows(self, rows: list[ChainRow]) -> None:
        """Store rows as they are, hashes and all, in one transaction (migration)."""
        raise NotImplementedError(f"{type(self).__name__} cannot insert rows")

    def _old_rows(self) -> Generator[ChainRow]:
        """The previous text format's rows in seq order (migration)."""
        raise NotImplementedError(f"{type(self).__name__} has no previous format")

    def _has_old(self) -> bool:
        return False

    def _drop_old(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no previous format")

    @abstractmethod
    def _last_event(self, message_id: str, partner: str | None) -> str | None: ...

    @abstractmethod
    def _close(self) -> None: ...
