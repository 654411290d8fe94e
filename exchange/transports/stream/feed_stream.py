"""bri.feed through the stream protocol, exactly once (EXCHANGE_AMQP_STREAM_URL).

Each credential version is claimed (state SENT) and given a publishing id of this process's
appender; SEND_IN_PROGRESS with the publisher name and id is durable before the append. The
broker's publisher de-duplication then makes every re-send of that id land once. Whoever holds
the claim audits ACKNOWLEDGED, once, when the stream confirms it (FeedLedger), whichever
session of the process holds the work message by then. A copy delivered elsewhere (a lost
connection, another worker) is never appended blindly: it waits for the claim's outcome,
asks the stream for the claim's publisher sequence, and takes the claim over (a new id) only
when its publisher let it go unstored for longer than ABANDON_S."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.service.consumer import Disposition, Message, Work
from exchange.service.delivery import attempt_of, audit_first_acknowledgements
from exchange.service.topology import FEED_STREAM
from exchange.state import Delivery, State, StateStore
from exchange.transports.stream.delivery import APP_ID, FeedDelivery, _text
from exchange.transports.stream.stream_append import StreamAppender

log = structlog.get_logger("exchange.transports.stream.feed_stream")


@dataclass(slots=True)
class _Landed:
    entry: AuditEntry
    row: Delivery
    then: Callable[[], None]


class FeedLedger:
    """Audits each confirmed append (ACKNOWLEDGED, then state ACKNOWLEDGED) off the appender's
    loop, in batches, retrying a failed write (PostgreSQL restarting) until it holds."""

    def __init__(self, audit: AuditStore, state: StateStore):
        self.audit = audit
        self.state = state
        self._q: queue.Queue[_Landed] = queue.Queue()
        threading.Thread(target=self._run, name="feed-ledger", daemon=True).start()

    def landed(self, entry: AuditEntry, row: Delivery, then: Callable[[], None]) -> None:
        self._q.put(_Landed(entry, row, then))

    def _run(self) -> None:
        while True:
            items = [self._q.get()]
            with contextlib.suppress(queue.Empty):
                while len(items) < 500:
                    items.append(self._q.get_nowait())
            while True:
                try:
                    audit_first_acknowledgements(
                        self.audit,
                        self.state,
                        [it.row for it in items],
                        {it.row.message_id: (it.entry, None) for it in items},
                    )
                    break
                except Exception as exc:  # the database again: keep them, try again
                    log.warning("feed ledger write failed, retrying", error=str(exc), count=len(items))
                    time.sleep(1.0)
            for it in items:
                with contextlib.suppress(Exception):
                    it.then()


class DedupFeedDelivery(FeedDelivery):
    CHECK_EVERY_S = 2.0
    ABANDON_S = 90.0
    """A claim whose publisher has not stored it after this long (> the appender's GIVE_UP_S)
    is taken over with a new id: its publisher never sends it again."""

    def __init__(self, *, appender: StreamAppender, ledger: FeedLedger, **kwargs: Any):
        super().__init__(**kwargs)
        self.appender = appender
        self.ledger = ledger
        self._ids: dict[int, int] = {}
        self._waiting: list[Work] = []
        self._first_seen: dict[int, float] = {}
        self._checking = False

    # -- fresh copies: claim, then append ---------------------------------------------------

    def before_sending(self, works: list[Work]) -> None:
        if not works:
            return
        claimed = self.state.claim_many([self._row(w.message, State.SENT) for w in works])
        mine = []
        for w in works:
            if (w.message.message_id or "") not in claimed:
                continue  # another copy holds the claim: wait for its outcome
            pid = self.appender.next_id()
            mine.append((w, pid))
            self._ids[w.message.tag] = pid
            self.audit.append(self._sip(w.message, pid))
        try:
            self.audit.flush()
        except BaseException:
            # An id handed out is always appended: its claim stays buffered and is written by
            # a later flush (were the id skipped, a publisher sequence beyond it would say
            # "stored" for a credential that never was).
            for w, pid in mine:
                self._ids.pop(w.message.tag, None)
                self._append_as(w, pid)
            raise

    def deliver(self, work: Work, already_sent: bool) -> None:
        work.disposition = Disposition.HOLD
        pid = self._ids.pop(work.message.tag, None)
        if pid is None:
            self._wait(work)
        else:
            self._append_as(work, pid)

    def forget(self) -> None:
        self._waiting.clear()
        self._first_seen.clear()
        self._ids.clear()

    def _append_as(self, work: Work, pid: int) -> None:
        m = work.message
        ioloop = self.channel.connection.ioloop
        tag = m.tag
        entry = self._entry(AuditEvent.ACKNOWLEDGED, m, stream=FEED_STREAM, publishingId=pid)

        def settle() -> None:
            if self.alive:
                self.settle_held(tag)

        def done(_pid: int, ok: bool) -> None:
            if ok:
                self.ledger.landed(entry, self._row(m, State.ACKNOWLEDGED), lambda: _on(ioloop, settle))
            else:  # given up, never sent again: back to the queue, a copy then takes the claim over
                _on(ioloop, lambda: self.settle_held(tag, ack=False) if self.alive else None)

        credential_id = _text(m.headers.get("credential-id"))
        headers = {k: _amqp_value(v) for k, v in m.headers.items()}
        if credential_id:
            headers["certificate"] = f"{m.properties.type}:{_text(m.headers.get('record-id'))}"
        self.appender.append(
            pid,
            m.body,
            {
                "message_id": credential_id or m.message_id,
                "correlation_id": m.message_id,
                "content_type": m.properties.content_type,
                "creation_time": int(time.time() * 1000),
            },
            {"x-basic-type": m.properties.type or "", "x-basic-app-id": APP_ID},
            headers,
            done,
        )

    # -- copies whose claim is elsewhere: wait, check, take over ---------------------------

    def _wait(self, work: Work) -> None:
        self._first_seen.setdefault(work.message.tag, time.monotonic())
        self._waiting.append(work)
        if not self._checking:
            self._checking = True
            self.channel.connection.ioloop.call_later(self.CHECK_EVERY_S, self._check)

    def _check(self) -> None:
        works, self._waiting = self._waiting, []
        if not self.alive or not works:
            self._checking = False
            return
        ioloop = self.channel.connection.ioloop

        def run() -> None:
            try:
                decided = self._decide(works)
            except Exception as exc:  # broker or database: ask again later
                log.warning("feed claim check failed", error=str(exc))
                decided = {w.message.tag: "wait" for w in works}
            _on(ioloop, lambda: self._decided(works, decided))

        threading.Thread(target=run, name="feed-claims", daemon=True).start()

    def _decide(self, works: list[Work]) -> dict[int, Any]:
        """Per delivery tag: "done", "wait", or a new publishing id (claim taken over)."""
        mids = [w.message.message_id or "" for w in works]
        states = self.state.get_many(self.partner, mids)
        out: dict[int, Any] = {}
        sequences: dict[str, int] = {}
        now = time.monotonic()
        for w in works:
            mid = w.message.message_id or ""
            st = states.get(mid)
            if st is not None and st.state in (State.ACKNOWLEDGED, State.FAILED):
                out[w.message.tag] = "done"
                continue
            claim = _last_claim(self.audit, mid, self.partner)
            waited = now - self._first_seen.get(w.message.tag, now)
            if claim is None:
                out[w.message.tag] = "take" if st is None or waited > self.ABANDON_S else "wait"
                continue
            publisher, pid, at = claim
            if publisher == self.appender.name and self.appender.in_flight(pid):
                out[w.message.tag] = "wait"
                continue
            if publisher not in sequences:
                sequences[publisher] = self.appender.sequence(publisher)
            age = (datetime.now(UTC) - at).total_seconds()
            if sequences[publisher] >= pid:  # stored: its publisher audits it
                if age > self.ABANDON_S:
                    out[w.message.tag] = "audit"  # its publisher is gone without auditing
                else:
                    out[w.message.tag] = "wait"
            elif age > self.ABANDON_S:
                out[w.message.tag] = "take"
            else:
                out[w.message.tag] = "wait"
        for w in works:
            if out[w.message.tag] == "audit":
                entry = self._entry(AuditEvent.ACKNOWLEDGED, w.message, stream=FEED_STREAM)
                row = self._row(w.message, State.ACKNOWLEDGED)
                try:
                    audit_first_acknowledgements(
                        self.audit, self.state, [row], {row.message_id: (entry, None)}
                    )
                    out[w.message.tag] = "done"
                except Exception as exc:  # the database: again next time
                    log.warning("feed acknowledgement not recorded yet", error=str(exc))
                    out[w.message.tag] = "wait"
        for w in works:  # nothing below may raise once an id is handed out
            if out[w.message.tag] == "take":
                pid = self.appender.next_id()  # appended whatever happens (see before_sending)
                with contextlib.suppress(Exception):  # a full buffer's flush failing: still buffered
                    self.audit.append(self._sip(w.message, pid, takeover=True))
                out[w.message.tag] = pid
        with contextlib.suppress(Exception):  # else buffered: a later flush writes the claims
            self.audit.flush()
        return out

    def _decided(self, works: list[Work], decided: dict[int, Any]) -> None:
        self._checking = False
        if not self.alive:  # ids handed out are appended all the same: a gap would mislead
            for w in works:
                d = decided.get(w.message.tag)
                if isinstance(d, int):
                    self._append_as(w, d)
            return
        for w in works:
            d = decided.get(w.message.tag, "wait")
            if d == "done":
                self._first_seen.pop(w.message.tag, None)
                self.settle_held(w.message.tag)
            elif d == "wait":
                self._waiting.append(w)
            else:
                self._first_seen.pop(w.message.tag, None)
                self._append_as(w, int(d))
        if self._waiting and not self._checking:
            self._checking = True
            self.channel.connection.ioloop.call_later(self.CHECK_EVERY_S, self._check)

    # -- helpers ------------------------------------------------------------------------------

    def _row(self, m: Message, state: State) -> Delivery:
        return Delivery(self.partner, m.message_id or "", m.headers.get("sha256", ""), attempt_of(m), state)

    def _sip(self, m: Message, pid: int, takeover: bool = False) -> AuditEntry:
        extra: dict[str, Any] = {"takenOver": True} if takeover else {}
        return self._entry(
            AuditEvent.SEND_IN_PROGRESS,
            m,
            stream=FEED_STREAM,
            publisher=self.appender.name,
            publishingId=pid,
            **extra,
        )


def _last_claim(audit: AuditStore, mid: str, partner: str) -> tuple[str, int, datetime] | None:
    """The latest SEND_IN_PROGRESS naming a publisher: (publisher, publishing id, when)."""
    best: tuple[str, int, datetime] | None = None
    for e in audit.trace(mid):
        if e.partner != partner or e.event != AuditEvent.SEND_IN_PROGRESS:
            continue
        d = e.details or {}
        if "publisher" in d and "publishingId" in d and (best is None or e.time >= best[2]):
            best = (str(d["publisher"]), int(d["publishingId"]), e.time)
    return best


def _on(ioloop: Any, fn: Callable[[], Any]) -> None:
    """Run on the worker's I/O loop (its connection may be gone: then nothing to settle)."""
    with contextlib.suppress(Exception):
        ioloop.add_callback_threadsafe(fn)


def _amqp_value(v: Any) -> Any:
    """Application properties take simple values only."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)
