"""A partner's own virtual host: its user may read only its inbound queue and write
only its reply and records exchanges. Provisioned by `exchange provision` (an operator
step with admin rights, idempotent) through the RabbitMQ management HTTP API at
EXCHANGE_AMQP_ADMIN_URL when set (management.py here), otherwise rabbitmqctl on
the broker's host; the service declares the exchanges and queues inside it at start too."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from exchange.config import Agreement
from exchange.errors import ExchangeError


@dataclass(frozen=True, slots=True)
class PartnerVhost:
    partner: str
    vhost: str
    user: str
    inbound_exchange: str
    inbound_queue: str
    reply_exchange: str
    reply_queue: str
    records_exchange: str
    records_queue: str

    @classmethod
    def of(cls, agreement: Agreement) -> PartnerVhost:
        p = agreement.partner
        o = agreement.options
        return cls(
            partner=p,
            vhost=str(o.get("vhost", f"mra-{p}")),
            user=str(o.get("user", p)),
            inbound_exchange=str(o.get("exchange", f"{p}.inbound")),
            inbound_queue=str(o.get("inbound_queue", f"{p}.inbound")),
            reply_exchange=str(o.get("reply_exchange", f"{p}.replies")),
            reply_queue=str(o.get("reply_queue", f"{p}.replies")),
            records_exchange=str(o.get("records_exchange", f"{p}.records")),
            records_queue=str(o.get("records_queue", f"{p}.records")),
        )

    def declare(self, channel: object, replicas: int | None = None) -> None:
        """Exchanges and queues inside the partner's vhost (as the service's user)."""
        from exchange.service.topology import quorum_arguments

        ch = channel
        for exchange, queue in (
            (self.inbound_exchange, self.inbound_queue),
            (self.reply_exchange, self.reply_queue),
            (self.records_exchange, self.records_queue),
        ):
            ch.exchange_declare(exchange, exchange_type="direct", durable=True)  # type: ignore[attr-defined]
            ch.queue_declare(queue, durable=True, arguments=quorum_arguments(replicas))  # type: ignore[attr-defined]
            ch.queue_bind(queue, exchange, routing_key=self.partner)  # type: ignore[attr-defined]

    def permissions(self) -> tuple[str, str, str]:
        """(configure, write, read) regexes for the partner's user."""
        write = f"^({re.escape(self.reply_exchange)}|{re.escape(self.records_exchange)})$"
        read = f"^{re.escape(self.inbound_queue)}$"
        return "^$", write, read


def vhost_exists(url: str, vhost: str) -> bool | None:
    """Whether the broker has `vhost` (None: cannot tell, e.g. the broker is down)."""
    import pika
    import pika.exceptions

    from exchange.service.settings import broker_urls, with_vhost

    try:
        conn = pika.BlockingConnection([pika.URLParameters(u) for u in broker_urls(with_vhost(url, vhost))])
    except pika.exceptions.AMQPError as exc:
        return False if "not found" in str(exc) else None
    conn.close()
    return True


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    """rabbitmqctl on EXCHANGE_AMQP_NODE when set (a cluster's node), else its default node."""
    from exchange.service.settings import AmqpSettings

    node = AmqpSettings().node
    target = ["-n", node] if node else []
    try:
        return subprocess.run(
            ["rabbitmqctl", "-q", *target, *args], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        raise ExchangeError(
            "rabbitmqctl is not on PATH: run this on the broker's host, or set"
            f" {ADMIN_URL_ENV} to the RabbitMQ management API (e.g. http://admin:secret@broker:15672)"
        ) from None


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise ExchangeError(f"rabbitmqctl failed: {result.stderr.strip() or result.stdout.strip()}")


ADMIN_URL_ENV = "EXCHANGE_AMQP_ADMIN_URL"


class BrokerAdmin(Protocol):
    """The broker operations provisioning needs, with admin rights."""

    where: str
    """How this admin reaches the broker, for messages (never with a password)."""

    def vhosts(self) -> set[str]: ...
    def users(self) -> set[str]: ...
    def add_vhost(self, vhost: str) -> None: ...
    def put_user(self, user: str, password: str) -> None:
        """Create the user, or set its password."""

    def set_permissions(self, vhost: str, user: str, configure: str, write: str, read: str) -> None: ...


class CtlAdmin:
    """rabbitmqctl on this host (the Erlang cookie gives admin rights)."""

    where = "rabbitmqctl on this host"

    def vhosts(self) -> set[str]:
        out = _ctl("list_vhosts")
        _check(out)
        return set(out.stdout.split())

    def users(self) -> set[str]:
        out = _ctl("list_users")
        _check(out)
        return {line.split("\t")[0] for line in out.stdout.splitlines() if line.strip()}

    def add_vhost(self, vhost: str) -> None:
        _check(_ctl("add_vhost", vhost))

    def put_user(self, user: str, password: str) -> None:
        if user in self.users():
            _check(_ctl("change_password", user, password))
        else:
            _check(_ctl("add_user", user, password))

    def set_permissions(self, vhost: str, user: str, configure: str, write: str, read: str) -> None:
        _check(_ctl("set_permissions", "-p", vhost, user, configure, write, read))


def admin_from_env(url: str | None = None) -> BrokerAdmin:
    """The management HTTP API at `url` (default: EXCHANGE_AMQP_ADMIN_URL) when set,
    otherwise rabbitmqctl on this host."""
    import os

    from exchange.transports.amqp.management import ManagementAdmin

    url = url or os.environ.get(ADMIN_URL_ENV) or None
    return ManagementAdmin(url) if url else CtlAdmin()


def provision(
    vhost: PartnerVhost, password: str, service_user: str, admin: BrokerAdmin | None = None
) -> None:
    """Create the vhost and the partner's user, with limited permissions; idempotent."""
    admin = admin or admin_from_env()
    if vhost.vhost not in admin.vhosts():
        admin.add_vhost(vhost.vhost)
    admin.put_user(vhost.user, password)
    configure, write, read = vhost.permissions()
    admin.set_permissions(vhost.vhost, vhost.user, configure, write, read)
    admin.set_permissions(vhost.vhost, service_user, ".*", ".*", ".*")


# -- exchange provision: what a partner needs on the broker, planned then applied ---------


@dataclass(frozen=True, slots=True)
class Step:
    """One change to the broker, described for an operator before it is made."""

    describe: str
    apply: Callable[[], None]


def plan(
    vhost: PartnerVhost, service_url: str, password: str | None, admin: BrokerAdmin | None = None
) -> tuple[list[Step], str | None]:
    """The steps that bring the broker to what `vhost` needs, and the password a new user
    gets (None: no new user). Only what is missing is created; permissions are set every
    time (the same values: idempotent); an existing user keeps its password unless one is
    given. Reads the broker's state through `admin` (default: admin_from_env())."""
    admin = admin or admin_from_env()
    service_user = urlsplit(service_url).username or "guest"
    steps: list[Step] = []
    v = vhost.vhost
    if v not in admin.vhosts():
        steps.append(Step(f"create vhost {v}", lambda: admin.add_vhost(v)))
    new_password: str | None = None
    if vhost.user not in admin.users():
        new_password = password or secrets.token_urlsafe(18)
        secret = new_password
        steps.append(Step(f"create user {vhost.user}", lambda: admin.put_user(vhost.user, secret)))
    elif password is not None:
        given = password
        steps.append(
            Step(f"set the password of user {vhost.user}", lambda: admin.put_user(vhost.user, given))
        )
    configure, write, read = vhost.permissions()
    steps.append(
        Step(
            f"let {vhost.user} on {v} write {write} and read {read} (configure nothing)",
            lambda: admin.set_permissions(v, vhost.user, configure, write, read),
        )
    )
    steps.append(
        Step(
            f"let {service_user} (the service) configure, write and read everything on {v}",
            lambda: admin.set_permissions(v, service_user, ".*", ".*", ".*"),
        )
    )
    queues = ", ".join((vhost.inbound_queue, vhost.reply_queue, vhost.records_queue))
    steps.append(
        Step(
            f"declare the exchanges and queues {queues} on {v} (as {service_user})",
            lambda: _declare_inside(vhost, service_url),
        )
    )
    return steps, new_password


def _declare_inside(vhost: PartnerVhost, service_url: str) -> None:
    import pika

    from exchange.service.settings import with_vhost

    conn = pika.BlockingConnection(pika.URLParameters(with_vhost(service_url, vhost.vhost)))
    try:
        vhost.declare(conn.channel())
    finally:
        if conn.is_open:
            conn.close()
