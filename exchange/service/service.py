"""`exchange run`: one process, one I/O loop, every worker on its own channel.

Lost connection -> every worker forgets its unacked deliveries (the broker gives them
back), the loop reconnects with backoff, re-declares the topology and resumes. SIGTERM
-> stop consuming, finish what is in flight (publishes confirmed, audit flushed, acks
sent), close cleanly.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import structlog

from exchange.archive import DocumentArchive
from exchange.audit import AuditStore
from exchange.audit.errors import StoreUnavailable
from exchange.config import ExchangeConfig
from exchange.credentials.issuer import CredentialIssuer
from exchange.metrics import Metrics
from exchange.pipeline import Converter
from exchange.registry import source as load_source
from exchange.registry import transport_for, transport_name
from exchange.service.broker import BrokerUnavailable, connect_blocking, redact, refused
from exchange.service.commit import Committer
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.consumer import BatchConsumer
from exchange.service.delivery import PartnerDelivery
from exchange.service.intake import IntakeWorker
from exchange.service.settings import AmqpSettings, broker_urls, replicas_for
from exchange.service.store import SoapStore
from exchange.service.topology import INTAKE_QUEUE, build_topology, declare
from exchange.service.transport import Link, Transport
from exchange.signing import Signer
from exchange.state import StateStore
from exchange.version_ledger import VersionLedger

log = structlog.get_logger("exchange.amqp.service")

STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, StoreUnavailable)
"""A database failing under a handler: the session ends, the work comes back."""
try:
    import psycopg

    STORE_ERRORS += (psycopg.Error,)
except ImportError:  # pragma: no cover  (psycopg is a dependency)
    pass


@dataclass
class ServiceOptions:
    partners: list[str] | None = None
    intake: bool = True
    deliveries: bool = True
    inbound: bool = True
    max_runtime_s: float | None = None
    held: frozenset[str] = frozenset()
    """Partners whose own connection is not opened (their vhost is missing): their documents
    still wait in their work queue, the others flow (see exchange provision)."""


@dataclass
class _Session:
    """Everything that lives as long as one broker connection."""

    connections: list[Any] = field(default_factory=list)
    workers: list[BatchConsumer] = field(default_factory=list)
    pending_channels: int = 0
    closing: bool = False


class Service:
    def __init__(
        self,
        config: ExchangeConfig,
        audit: AuditStore,
        state: StateStore,
        settings: AmqpSettings | None = None,
        options: ServiceOptions | None = None,
        soap_store: SoapStore | None = None,
        metrics: Metrics | None = None,
        audit_url: str | None = None,
        archive: DocumentArchive | None = None,
        signer: Signer | None = None,
        credential_issuer: CredentialIssuer | None = None,
    ):
        self.config = config
        self.credential_issuer = credential_issuer
        """Completes and secures the credentials of stream partners whose format issues them."""
        self.signer = signer
        """Signs the documents pull partners fetch (push clients sign with their agreement's key)."""
        self.archive = archive
        """Where the documents sent and the receipts received are kept (the console shows them)."""
        self.audit = audit
        self.state = state
        self.settings = settings or AmqpSettings()
        self.options = options or ServiceOptions()
        self.soap_store = soap_store
        self._executor: Any = None
        self._committer = Committer()
        """Audit flushes and state writes run on its thread, off the I/O loop."""
        self.audit_url = audit_url
        self.versions = VersionLedger(audit_url) if audit_url else None
        """Numbers each record's versions across messages and runs (in the audit database)."""
        self.metrics = metrics or Metrics()
        self.metrics.watch_audit(audit)
        self.metrics.watch_queues(self._queue_depths)
        """The SOAP endpoint's store: certificate statuses and the pull outbox (optional)."""
        self.partners = self.options.partners or sorted(config.partners)
        self._transports: dict[str, Transport] = {}
        """One plug-in per transport the partners use, chosen by their agreements."""
        for p in self.partners:
            name = transport_name(config.partners[p])
            if name not in self._transports:
                self._transports[name] = transport_for(config.partners[p])
        self._held = set(self.options.held)
        """Partners not connected yet (vhost missing); looked for again every held_check_s."""
        self.replicas = replicas_for(self.settings.url)
        self._topology = build_topology(config, self.partners, self.replicas)
        self.converter = Converter(config, self.partners)
        self.source = load_source(config)
        self._stopping = threading.Event()
        self._session: _Session | None = None
        self._loop: Any = None
        self.ready = threading.Event()
        self.reconnects = 0
        self.brokers = broker_urls(self.settings.url)
        self._broker = 0
        """Index of the broker in use: a lost or unreachable one moves the service to the next."""

    @property
    def url(self) -> str:
        """The broker this session talks to (one of EXCHANGE_AMQP_URL's, in turn)."""
        return self.brokers[self._broker]

    # -- lifecycle ----------------------------------------------------------------------

    def run(self, install_signals: bool = True) -> None:
        if install_signals:
            signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
            signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        backoff = 0.5
        started = time.monotonic()
        failed_in_a_row = 0
        if self._held:
            threading.Thread(target=self._watch_held, name="held-partners", daemon=True).start()
        while not self._stopping.is_set():
            try:
                self._await_database()
                self._declare()
                self._run_session()
                backoff = 0.5
                failed_in_a_row = 0
            except BrokerUnavailable as exc:
                failed_in_a_row += 1
                log.warning("broker unavailable", broker=redact(self.url), error=str(exc), retry_in=backoff)
            if self._stopping.is_set():
                break
            if self.options.max_runtime_s and time.monotonic() - started > self.options.max_runtime_s:
                break
            self.reconnects += 1
            self._broker = (self._broker + 1) % len(self.brokers)  # a lost node: try the next one
            if failed_in_a_row and failed_in_a_row % len(self.brokers) == 0:  # every one tried: back off
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_s)
            else:
                self._stopping.wait(0.2)
        self._committer.stop()
        self.audit.flush()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        for transport in self._transports.values():
            transport.stop()
        log.info("stopped")

    def _watch_held(self) -> None:
        """A partner provisioned after start: found here, then the session restarts gracefully
        (in-flight work finished, as at shutdown) and reconnects with it."""
        while self._held and not self._stopping.wait(self.settings.held_check_s):
            found = {
                p for p in self._held if self._transport(p).health(self.config.partners[p], self.url) is None
            }
            if not found:
                continue
            self._held -= found
            log.info("partner provisioned: reconnecting to include it", partners=sorted(found))
            loop = self._loop
            if loop is not None:
                loop.add_callback_threadsafe(
                    lambda: self._begin_shutdown("restarting the session: finishing in-flight work")
                )

    def circuit_states(self) -> dict[str, str]:
        """The circuit breaker of every partner whose transport has one (the console shows them)."""
        return {p: s for t in self._transports.values() for p, s in t.circuits().items()}

    def _transport(self, partner: str) -> Transport:
        return self._transports[transport_name(self.config.partners[partner])]

    def _await_database(self) -> None:
        """Before a session: the audit and state database answer. A session started while
        it is down would fail at its first batch and hand its deliveries back, again and
        again, until the queue's delivery limit parks them as dead letters."""
        wait = 0.5
        while not self._stopping.is_set():
            try:
                self.state.get_many("intake", ["-"])
                self.audit.last_state("-", "-")
                return
            except STORE_ERRORS as exc:
                log.warning(
                    "database unavailable: waiting", error=" ".join(str(exc).split())[:200], retry_in=wait
                )
                self._stopping.wait(wait)
                wait = min(wait * 2, 5.0)

    def request_stop(self) -> None:
        """Safe from a signal handler or another thread."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        loop = self._loop
        if loop is not None:
            loop.add_callback_threadsafe(self._begin_shutdown)

    # -- topology -----------------------------------------------------------------------

    def _declare(self) -> None:
        conn = connect_blocking(self.url)
        try:
            declare(conn.channel(), self._topology)
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise refused(exc) from None
        finally:
            if conn.is_open:
                conn.close()
        for p in self.partners:
            if p not in self._held:
                self._transport(p).prepare(self, self.config.partners[p])

    # -- one connected session ----------------------------------------------------------

    def _params(self, url: str) -> pika.URLParameters:
        params = pika.URLParameters(url)
        params.heartbeat = self.settings.heartbeat_s
        params.blocked_connection_timeout = 60
        return params

    def _run_session(self) -> None:
        session = _Session()
        self._session = session
        main = pika.SelectConnection(
            self._params(self.url),
            on_open_callback=lambda c: self._on_main_open(session, c),
            on_open_error_callback=lambda c, e: self._lost(session, f"cannot connect: {e}"),
            on_close_callback=lambda c, e: self._lost(session, f"connection closed: {e}"),
        )
        session.connections.append(main)
        self._loop = main.ioloop
        if self._stopping.is_set():
            return
        while True:
            try:
                main.ioloop.start()
                break
            except STORE_ERRORS as exc:
                # The audit or state database (restarting, failing over): nothing of the batch
                # was acknowledged, so close this session (its deliveries come back) and let
                # the next one find the database again.
                self._lost(session, f"database unavailable: {' '.join(str(exc).split())[:300]}")
                if all(c.is_closed for c in session.connections):
                    break
        self._loop = None
        self.ready.clear()

    def _open_channel(self, session: _Session, conn: Any, then: Callable[[Any], None]) -> None:
        session.pending_channels += 1

        def opened(channel: Any) -> None:
            session.pending_channels -= 1
            channel.add_on_close_callback(lambda ch, exc: self._channel_closed(session, ch, exc))
            then(channel)
            if session.pending_channels == 0 and not session.closing:
                self.ready.set()
                log.info("ready", workers=[w.name for w in session.workers])

        conn.channel(on_open_callback=opened)

    def _worker_kwargs(
        self, name: str, queue: str, channel: Any, publisher: ConfirmingPublisher
    ) -> dict[str, Any]:
        s = self.settings
        return {
            "name": name,
            "queue": queue,
            "channel": channel,
            "publisher": publisher,
            "audit": self.audit,
            "state": self.state,
            "prefetch": s.prefetch,
            "batch_size": s.batch_size,
            "linger_ms": s.linger_ms,
            "committer": self._committer,
        }

    def _pool(self) -> Any:
        """The conversion process pool, made once and kept across reconnects."""
        if self.settings.convert_workers <= 0:
            return None
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from exchange.service.offload import init_worker

            path = str(self.config.path) if self.config.path else None
            self._executor = ProcessPoolExecutor(
                max_workers=self.settings.convert_workers,
                mp_context=multiprocessing.get_context("spawn"),  # no threads of ours in the child
                initializer=init_worker,
                initargs=(
                    path,
                    self.partners,
                    self.audit_url if self.credential_issuer else None,
                    self.audit_url,
                ),
            )
        return self._executor

    def _queue_depths(self) -> list[tuple[str, int | None, int]]:
        from exchange.service.ops.queues import queue_status

        queues = [(q.name, str(q.arguments.get("x-queue-type", "classic"))) for q in self._topology.queues]
        return [
            (s.name, s.depth, s.consumers or 0) for s in queue_status(self.url, queues).values() if s.exists
        ]

    def _start(self, session: _Session, worker: BatchConsumer) -> None:
        worker.on_acked = worker.on_acked or self.metrics.latency_observer(worker.name)
        if isinstance(worker, PartnerDelivery):
            worker.versions = self.versions
        session.workers.append(worker)
        worker.start()

    def _on_main_open(self, session: _Session, conn: Any) -> None:
        log.info("connected", url=redact(self.url))
        if self.options.intake:

            def intake(ch: Any) -> None:
                pub = ConfirmingPublisher(ch)
                self._start(
                    session,
                    IntakeWorker(
                        converter=self.converter,
                        source=self.source,
                        certificates=self.soap_store,
                        pool=self._pool(),
                        archive=self.archive,
                        issuer=self.credential_issuer,
                        versions=self.versions,
                        **self._worker_kwargs("intake", INTAKE_QUEUE, ch, pub),
                    ),
                )

            self._open_channel(session, conn, intake)
        if not self.options.deliveries and not self.options.inbound:
            return
        link = Link(
            host=self,
            main=conn,
            deliveries=self.options.deliveries,
            inbound=self.options.inbound,
            open_channel=lambda c, then: self._open_channel(session, c, then),
            worker_kwargs=self._worker_kwargs,
            start=lambda worker: self._start(session, worker),
            connect=lambda url, on_open, what: self._connect(session, conn, url, on_open, what),
        )
        for partner in self.partners:
            if partner not in self._held:
                self._transport(partner).attach(link, self.config.partners[partner])

    def _connect(
        self, session: _Session, main: Any, url: str, on_open: Callable[[Any], None], what: str
    ) -> Any:
        """A further connection on the main connection's I/O loop (a partner's vhost); the
        session is ready only once it is open, and lost with it."""
        session.pending_channels += 1

        def opened(conn: Any) -> None:
            session.pending_channels -= 1
            on_open(conn)

        conn = pika.SelectConnection(
            self._params(url),
            on_open_callback=opened,
            on_open_error_callback=lambda c, e: self._lost(session, f"{what} connection failed: {e}"),
            on_close_callback=lambda c, e: self._lost(session, f"{what} connection closed: {e}"),
            custom_ioloop=main.ioloop,
        )
        session.connections.append(conn)
        return conn

    # -- endings ------------------------------------------------------------------------

    def _channel_closed(self, session: _Session, channel: Any, exc: Any) -> None:
        if session.closing:
            return
        self._lost(session, f"channel {channel.channel_number} closed: {exc}")

    def _lost(self, session: _Session, reason: str) -> None:
        if session.closing:
            self._maybe_stop_loop(session)
            return
        log.warning("connection lost", reason=reason)
        session.closing = True
        self.ready.clear()
        for worker in session.workers:
            worker.dead()
        try:
            # Entries of publishes confirmed before the loss are true: written now, before
            # another worker, given the redelivered messages, looks for them in the trail.
            self.audit.flush()
        except Exception as exc:
            log.warning("audit flush after the connection loss failed", error=str(exc))
        for conn in session.connections:
            if conn.is_open:
                conn.close()
        self._maybe_stop_loop(session)

    def _maybe_stop_loop(self, session: _Session) -> None:
        if all(c.is_closed for c in session.connections) and self._loop is not None:
            self._loop.stop()

    def _begin_shutdown(self, why: str = "stopping: finishing in-flight work") -> None:
        session = self._session
        if session is None or session.closing:
            if self._loop is not None:
                self._loop.stop()
            return
        log.info(why)
        for worker in session.workers:
            worker.stop_consuming()
        deadline = time.monotonic() + 30

        def check() -> None:
            busy = [w for w in session.workers if w.alive and not w.idle_except_held]
            if busy and time.monotonic() < deadline:
                self._loop.call_later(0.05, check)
                return
            self.audit.flush()
            session.closing = True
            for conn in session.connections:
                if conn.is_open:
                    conn.close()
            self._maybe_stop_loop(session)

        check()
