"""A partner's own virtual host: its user may read only its inbound queue and write
only its reply and records exchanges. Provisioned with rabbitmqctl (`exchange provision`,
an operator step with admin rights on the broker's host, idempotent); the service declares
the exchanges and queues inside it at start too."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
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

    def declare(self, channel: object) -> None:
        """Exchanges and queues inside the partner's vhost (as the service's user)."""
        ch = channel
        for exchange, queue in (
            (self.inbound_exchange, self.inbound_queue),
            (self.reply_exchange, self.reply_queue),
            (self.records_exchange, self.records_queue),
        ):
            ch.exchange_declare(exchange, exchange_type="direct", durable=True)  # type: ignore[attr-defined]
            ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})  # type: ignore[attr-defined]
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

    from exchange.service.settings import with_vhost

    try:
        conn = pika.BlockingConnection(pika.URLParameters(with_vhost(url, vhost)))
    except pika.exceptions.AMQPError as exc:
        return False if "not found" in str(exc) else None
    conn.close()
    return True


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ExchangeError("rabbitmqctl is not on PATH: provision the partner vhost by hand") from None


def provision(vhost: PartnerVhost, password: str, service_user: str) -> None:
    """Create the vhost and the partner's user, with limited permissions; idempotent."""
    out = _ctl("list_vhosts")
    if vhost.vhost not in out.stdout.split():
        _check(_ctl("add_vhost", vhost.vhost))
    users = _ctl("list_users").stdout
    if not any(line.split("\t")[0] == vhost.user for line in users.splitlines()):
        _check(_ctl("add_user", vhost.user, password))
    else:
        _check(_ctl("change_password", vhost.user, password))
    configure, write, read = vhost.permissions()
    _check(_ctl("set_permissions", "-p", vhost.vhost, vhost.user, configure, write, read))
    _check(_ctl("set_permissions", "-p", vhost.vhost, service_user, ".*", ".*", ".*"))


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise ExchangeError(f"rabbitmqctl failed: {result.stderr.strip() or result.stdout.strip()}")


# -- exchange provision: what a partner needs on the broker, planned then applied ---------


@dataclass(frozen=True, slots=True)
class Step:
    """One change to the broker, described for an operator before it is made."""

    describe: str
    apply: Callable[[], None]


def _users() -> set[str]:
    out = _ctl("list_users")
    _check(out)
    return {line.split("\t")[0] for line in out.stdout.splitlines() if line.strip()}


def _vhosts() -> set[str]:
    out = _ctl("list_vhosts")
    _check(out)
    return set(out.stdout.split())


def plan(vhost: PartnerVhost, service_url: str, password: str | None) -> tuple[list[Step], str | None]:
    """The steps that bring the broker to what `vhost` needs, and the password a new user
    gets (None: no new user). Only what is missing is created; permissions are set every
    time (the same values: idempotent); an existing user keeps its password unless one is
    given. Reads the broker's state with rabbitmqctl: admin rights on this host."""
    service_user = urlsplit(service_url).username or "guest"
    steps: list[Step] = []
    v = vhost.vhost
    if v not in _vhosts():
        steps.append(Step(f"create vhost {v}", lambda: _check(_ctl("add_vhost", v))))
    new_password: str | None = None
    if vhost.user not in _users():
        new_password = password or secrets.token_urlsafe(18)
        secret = new_password
        steps.append(Step(f"create user {vhost.user}", lambda: _check(_ctl("add_user", vhost.user, secret))))
    elif password is not None:
        steps.append(
            Step(
                f"set the password of user {vhost.user}",
                lambda: _check(_ctl("change_password", vhost.user, password)),
            )
        )
    configure, write, read = vhost.permissions()
    steps.append(
        Step(
            f"let {vhost.user} on {v} write {write} and read {read} (configure nothing)",
            lambda: _check(_ctl("set_permissions", "-p", v, vhost.user, configure, write, read)),
        )
    )
    steps.append(
        Step(
            f"let {service_user} (the service) configure, write and read everything on {v}",
            lambda: _check(_ctl("set_permissions", "-p", v, service_user, ".*", ".*", ".*")),
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
