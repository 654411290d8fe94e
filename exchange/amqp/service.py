"""`exchange run`: one process, one I/O loop, every worker on its own channel.

Lost connection -> every worker forgets its unacked deliveries (the broker gives them
back), the loop reconnects with backoff, re-declares the topology and resumes. SIGTERM
-> stop consuming, finish what is in flight (publishes confirmed, audit flushed, acks
sent), close cleanly.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import structlog

from exchange.amqp.commit import Committer
from exchange.amqp.confirm import ConfirmingPublisher
from exchange.amqp.consumer import BatchConsumer
from exchange.amqp.delivery import AmqpPartnerDelivery, FeedDelivery, ReceiptConsumer
from exchange.amqp.inbound import PartnerRecordsConsumer
from exchange.amqp.intake import IntakeWorker
from exchange.amqp.provision import PartnerVhost, vhost_exists
from exchange.amqp.settings import AmqpSettings, with_vhost
from exchange.amqp.topology import INTAKE_QUEUE, build_topology, declare, work_queue
from exchange.archive import DocumentArchive
from exchange.audit import AuditStore
from exchange.config import ExchangeConfig
from exchange.credentials.issuer import CredentialIssuer
from exchange.errors import ExchangeError
from exchange.metrics import Metrics
from exchange.pipeline import Converter
from exchange.registry import partner_format
from exchange.registry import source as load_source
from exchange.signing import Signer
from exchange.soap.store import SoapStore
from exchange.state import StateStore

log = structlog.get_logger("exchange.amqp.service")


class BrokerUnavailable(ExchangeError):
    """The broker cannot be reached (wrong URL, down, refused credentials)."""


class TopologyMismatch(ExchangeError):
    """The broker already has a queue or exchange of that name with other arguments."""


def _refused(exc: pika.exceptions.ChannelClosedByBroker) -> ExchangeError:
    """What a refused declaration means. 406 PRECONDITION_FAILED: a queue exists with other
    arguments, which no retry mends (stop and say so). Anything else, above all 404 for a
    queue whose home node "is down or inaccessible" while the broker is still recovering
    its queues after a restart: retry with backoff, like an unreachable broker."""
    if exc.reply_code == 406:
        return TopologyMismatch(
            f"the broker refused the topology: {exc.reply_text} (a queue declared earlier with "
            "other arguments, e.g. an agreement's retry schedule changed: drain and delete it, "
            "or keep its old settings)"
        )
    return BrokerUnavailable(f"the broker cannot declare the topology yet: {exc.reply_code} {exc.reply_text}")


def connect_blocking(url: str) -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(
            f"cannot reach the broker at {_redact(url)}: {type(exc).__name__} {exc}"
        ) from None


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


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
        self._soap_clients: dict[str, Any] = {}
        self.audit_url = audit_url
        self.metrics = metrics or Metrics()
        self.metrics.watch_audit(audit)
        self.metrics.watch_queues(self._queue_depths)
        """The SOAP endpoint's store: certificate statuses and the pull outbox (optional)."""
        self.partners = self.options.partners or sorted(config.partners)
        self._held = set(self.options.held)
        """Partners not connected yet (vhost missing); looked for again every held_check_s."""
        self._topology = build_topology(config, self.partners)
        self.converter = Converter(config, self.partners)
        self.source = load_source(config)
        self._stopping = threading.Event()
        self._session: _Session | None = None
        self._loop: Any = None
        self.ready = threading.Event()
        self.reconnects = 0

    # -- lifecycle ----------------------------------------------------------------------

    def run(self, install_signals: bool = True) -> None:
        if install_signals:
            signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
            signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        backoff = 0.5
        started = time.monotonic()
        if self._held:
            threading.Thread(target=self._watch_held, name="held-partners", daemon=True).start()
        while not self._stopping.is_set():
            try:
                self._declare()
                self._run_session()
                backoff = 0.5
            except BrokerUnavailable as exc:
                log.warning("broker unavailable", error=str(exc), retry_in=backoff)
            if self._stopping.is_set():
                break
            if self.options.max_runtime_s and time.monotonic() - started > self.options.max_runtime_s:
                break
            self.reconnects += 1
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max_s)
        self._committer.stop()
        self.audit.flush()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        for client in self._soap_clients.values():
            client.close()
        log.info("stopped")

    def _watch_held(self) -> None:
        """A partner provisioned after start: found here, then the session restarts gracefully
        (in-flight work finished, as at shutdown) and reconnects with it."""
        while self._held and not self._stopping.wait(self.settings.held_check_s):
            found = {
                p
                for p in self._held
                if vhost_exists(self.settings.url, PartnerVhost.of(self.config.partners[p]).vhost)
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
        """The circuit breaker of every partner we push to over SOAP (the console shows them)."""
        return {p: str(client.breaker.state) for p, client in dict(self._soap_clients).items()}

    def request_stop(self) -> None:
        """Safe from a signal handler or another thread."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        loop = self._loop
        if loop is not None:
            loop.add_callback_threadsafe(self._begin_shutdown)

    # -- topology -----------------------------------------------------------------------

    def _amqp_partners(self) -> list[PartnerVhost]:
        return [
            PartnerVhost.of(self.config.partners[p])
            for p in self.partners
            if self.config.partners[p].transport == "amqp" and p not in self._held
        ]

    def _declare(self) -> None:
        conn = connect_blocking(self.settings.url)
        try:
            declare(conn.channel(), self._topology)
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise _refused(exc) from None
        finally:
            if conn.is_open:
                conn.close()
        for pv in self._amqp_partners():
            conn = connect_blocking(with_vhost(self.settings.url, pv.vhost))
            try:
                pv.declare(conn.channel())
            except pika.exceptions.ChannelClosedByBroker as exc:
                raise _refused(exc) from None
            finally:
                if conn.is_open:
                    conn.close()

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
            self._params(self.settings.url),
            on_open_callback=lambda c: self._on_main_open(session, c),
            on_open_error_callback=lambda c, e: self._lost(session, f"cannot connect: {e}"),
            on_close_callback=lambda c, e: self._lost(session, f"connection closed: {e}"),
        )
        session.connections.append(main)
        self._loop = main.ioloop
        if self._stopping.is_set():
            return
        main.ioloop.start()
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

            from exchange.amqp.offload import init_worker

            path = str(self.config.path) if self.config.path else None
            self._executor = ProcessPoolExecutor(
                max_workers=self.settings.convert_workers,
                mp_context=multiprocessing.get_context("spawn"),  # no threads of ours in the child
                initializer=init_worker,
                initargs=(path, self.partners, self.audit_url if self.credential_issuer else None),
            )
        return self._executor

    def _queue_depths(self) -> list[tuple[str, int | None, int]]:
        from exchange.amqp.ops import queue_status

        queues = [(q.name, str(q.arguments.get("x-queue-type", "classic"))) for q in self._topology.queues]
        return [
            (s.name, s.depth, s.consumers or 0)
            for s in queue_status(self.settings.url, queues).values()
            if s.exists
        ]

    def _start(self, session: _Session, worker: BatchConsumer) -> None:
        worker.on_acked = worker.on_acked or self.metrics.latency_observer(worker.name)
        session.workers.append(worker)
        worker.start()

    def _on_main_open(self, session: _Session, conn: Any) -> None:
        log.info("connected", url=_redact(self.settings.url))
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
                        **self._worker_kwargs("intake", INTAKE_QUEUE, ch, pub),
                    ),
                )

            self._open_channel(session, conn, intake)
        if not self.options.deliveries and not self.options.inbound:
            return
        for partner in self.partners:
            agreement = self.config.partners[partner]
            if agreement.transport == "stream" and self.options.deliveries:

                def feed(ch: Any, agreement: Any = agreement) -> None:
                    pub = ConfirmingPublisher(ch)
                    kw = self._worker_kwargs(
                        f"deliver-{agreement.partner}", work_queue(agreement.partner), ch, pub
                    )
                    self._start(
                        session,
                        FeedDelivery(agreement=agreement, **kw),
                    )

                self._open_channel(session, conn, feed)
            elif agreement.transport == "amqp" and partner not in self._held:
                self._open_partner(session, conn, agreement)
            elif (
                agreement.transport == "soap"
                and agreement.options.get("delivery") == "pull"
                and self.soap_store is not None
                and self.options.deliveries
            ):

                def pull(ch: Any, agreement: Any = agreement, outbox: SoapStore = self.soap_store) -> None:
                    from exchange.soap.pull import PullOutboxDelivery

                    pub = ConfirmingPublisher(ch)
                    kw = self._worker_kwargs(
                        f"outbox-{agreement.partner}", work_queue(agreement.partner), ch, pub
                    )
                    worker = PullOutboxDelivery(agreement=agreement, outbox=outbox, signer=self.signer, **kw)
                    self._start(session, worker)

                self._open_channel(session, conn, pull)
            elif agreement.transport == "soap" and "soap_outbound_url" in agreement.options:
                self._open_soap_push(session, conn, agreement)
            elif agreement.transport == "file" and self.options.deliveries:
                self._open_file_drop(session, conn, agreement)

    def _open_soap_push(self, session: _Session, conn: Any, agreement: Any) -> None:
        """A partner we push to over SOAP (EU): zeep client kept across reconnects, so its
        circuit breaker remembers the partner's health."""
        from exchange.soap.delivery import SoapPartnerDelivery
        from exchange.soap.outbound import build_client

        partner = agreement.partner
        if not self.options.deliveries:
            return
        if partner not in self._soap_clients:
            try:
                folder = self.config.path.parent if self.config.path else None
                self._soap_clients[partner] = build_client(agreement, folder=folder, audit_url=self.audit_url)
            except ExchangeError as exc:
                log.warning("SOAP delivery not started", partner=partner, reason=str(exc))
                return
        client = self._soap_clients[partner]

        def push(ch: Any) -> None:
            kw = self._worker_kwargs(f"deliver-{partner}", work_queue(partner), ch, ConfirmingPublisher(ch))
            self._start(session, SoapPartnerDelivery(client=client, agreement=agreement, **kw))

        self._open_channel(session, conn, push)

    def _open_file_drop(self, session: _Session, conn: Any, agreement: Any) -> None:
        """A file partner: its documents written into the drop directory its agreement names."""
        from exchange.filedrop import FileDropDelivery, drop_directory

        partner = agreement.partner
        try:
            directory = drop_directory(agreement, self.config.path.parent if self.config.path else None)
        except ExchangeError as exc:
            log.warning("file delivery not started", partner=partner, reason=str(exc))
            return

        def drop(ch: Any) -> None:
            kw = self._worker_kwargs(f"deliver-{partner}", work_queue(partner), ch, ConfirmingPublisher(ch))
            self._start(session, FileDropDelivery(directory=directory, agreement=agreement, **kw))

        self._open_channel(session, conn, drop)

    def _open_partner(self, session: _Session, main: Any, agreement: Any) -> None:
        pv = PartnerVhost.of(agreement)
        session.pending_channels += 1

        def partner_open(pconn: Any) -> None:
            session.pending_channels -= 1
            if self.options.deliveries:
                self._open_channel(
                    session,
                    pconn,
                    lambda pch: self._partner_channels(session, main, pconn, pch, agreement, pv),
                )
            if self.options.inbound:
                self._open_channel(
                    session,
                    main,
                    lambda dch: self._open_channel(
                        session, pconn, lambda rch: self._records(session, dch, rch, agreement, pv)
                    ),
                )

        pconn = pika.SelectConnection(
            self._params(with_vhost(self.settings.url, pv.vhost)),
            on_open_callback=partner_open,
            on_open_error_callback=lambda c, e: self._lost(
                session, f"partner {pv.partner} connection failed: {e}"
            ),
            on_close_callback=lambda c, e: self._lost(
                session, f"partner {pv.partner} connection closed: {e}"
            ),
            custom_ioloop=main.ioloop,
        )
        session.connections.append(pconn)

    def _partner_channels(
        self, session: _Session, main: Any, pconn: Any, pch: Any, agreement: Any, pv: PartnerVhost
    ) -> None:
        partner_pub = ConfirmingPublisher(pch)

        def work(ch: Any) -> None:
            pub = ConfirmingPublisher(ch)
            kw = self._worker_kwargs(f"deliver-{pv.partner}", work_queue(pv.partner), ch, pub)
            delivery = AmqpPartnerDelivery(
                agreement=agreement,
                partner_publisher=partner_pub,
                receipt_timeout_s=self.settings.receipt_timeout_s,
                **kw,
            )
            self._start(session, delivery)

            def replies(rch: Any) -> None:
                rkw = self._worker_kwargs(
                    f"receipts-{pv.partner}", pv.reply_queue, rch, ConfirmingPublisher(rch)
                )
                self._start(session, ReceiptConsumer(delivery=delivery, archive=self.archive, **rkw))

            self._open_channel(session, pconn, replies)

        self._open_channel(session, main, work)

    def _records(self, session: _Session, dch: Any, rch: Any, agreement: Any, pv: PartnerVhost) -> None:
        domestic_pub = ConfirmingPublisher(dch)
        kw = self._worker_kwargs(f"records-{pv.partner}", pv.records_queue, rch, ConfirmingPublisher(rch))
        self._start(
            session,
            PartnerRecordsConsumer(
                partner=pv.partner, format=partner_format(agreement), domestic_publisher=domestic_pub, **kw
            ),
        )

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
