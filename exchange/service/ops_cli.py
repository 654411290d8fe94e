"""`exchange status`, `exchange replay`, `exchange feed tail`: the operator's commands.

Thin: options in, exchange/amqp/ops.py does the work, results out (data on stdout,
messages on stderr). Exit codes: 0 done; 1 partly (an --id not among the dead letters,
the audit trail unreadable for status); 2 usage errors, broker or store unreachable.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exchange.errors import ExchangeError

err = Console(stderr=True, highlight=False, soft_wrap=True)

AmqpOpt = Annotated[
    str | None,
    typer.Option(
        "--amqp",
        metavar="URL",
        help="Broker URL (default: EXCHANGE_AMQP_URL or amqp://guest:guest@localhost:5672/).",
    ),
]
AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit",
        metavar="URL",
        help="Audit store URL (default: EXCHANGE_AUDIT_URL or sqlite:///exchange-audit.db).",
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Agreements file.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    from exchange.logging import redact_text

    err.print(f"[bold red]error:[/] {' '.join(redact_text(message).split())}", markup=True)
    return typer.Exit(code)


def _amqp_url(amqp: str | None) -> str:
    from exchange.service.settings import AmqpSettings

    return amqp or AmqpSettings().url


def _config(path: Path | None) -> Any:
    from exchange.config import load_config

    try:
        return load_config(path)
    except ExchangeError as exc:
        raise _fail(str(exc)) from None


# -- status ------------------------------------------------------------------------------


def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    amqp: AmqpOpt = None,
    audit: AuditOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Queue depths and consumers, dead letters, and per partner: backlog, rates, last
    success and the age of the oldest undelivered message."""
    from exchange.audit import open_store, resolve_audit_url
    from exchange.service.broker import BrokerUnavailable
    from exchange.service.ops.queues import OpsError
    from exchange.service.ops.status import collect_status

    cfg = _config(config)
    url = resolve_audit_url(audit)
    try:
        report = collect_status(cfg, _amqp_url(amqp), lambda: open_store(url, create=False))
    except (BrokerUnavailable, OpsError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(report.as_json(), ensure_ascii=False) + "\n")
    else:
        _render_status(report.as_json())
    if report.audit_error is not None:
        err.print(f"[yellow]warning:[/] audit trail not read, rates unknown: {report.audit_error}")
        raise typer.Exit(1)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"


_HEALTH_STYLE = {
    "healthy": "[green]{}[/]",
    "degraded": "[yellow]{}[/]",
    "stalled": "[red]{}[/]",
    "not_configured": "[red]{}[/]",
}


def _render_status(data: dict[str, Any]) -> None:
    from rich import box

    out = Console(highlight=False)
    queues = Table(title=f"queues at {data['time']}", box=box.SIMPLE_HEAD)
    for col in ("queue", "type", "depth", "consumers"):
        queues.add_column(col, justify="left" if col in ("queue", "type") else "right")
    for name, q in data["queues"].items():
        if not q["exists"]:
            queues.add_row(name, q["type"], "[red]missing[/]", "-")
            continue
        depth = "-" if q["depth"] is None else str(q["depth"])
        if q["depth"] and (name.endswith(".dead") or name == "mra.rejects"):
            depth = f"[red]{depth}[/]"
        queues.add_row(name, q["type"], depth, str(q["consumers"]))
    out.print(queues)
    now = datetime.fromisoformat(data["time"])
    partners = Table(
        title=f"partners (dead letters in all: {data['deadLetters']['total']}; "
        "rates: last minute / last hour)",
        box=box.SIMPLE_HEAD,
    )
    heads = ("partner", "health", "backlog", "dead", "last ok", "oldest", "pub", "deliv", "fail")
    for col in heads:
        partners.add_column(col, justify="left" if col == "partner" else "right", no_wrap=True)
    for p, row in data["partners"].items():
        rates = row["rates"]
        last = row["lastSuccess"]
        ago = (now - datetime.fromisoformat(last)).total_seconds() if last else None

        def pair(kind: str, rates: dict[str, int] | None = rates) -> str:
            if rates is None:
                return "-"
            return f"{rates[kind + 'PerMinute']} / {rates[kind + 'LastHour']}"

        partners.add_row(
            p,
            _HEALTH_STYLE.get(row["health"], "{}").format(row["health"] or "-"),
            str(row["backlog"]),
            str(row["deadLetters"]),
            "-" if ago is None else f"{_age(ago)} ago",
            _age(row["oldestMessageAgeSeconds"]),
            pair("published"),
            pair("delivered"),
            pair("failed"),
        )
    out.print(partners)
    for p, row in data["partners"].items():
        if row["reason"]:
            out.print(f"{p}: {row['health']}: {row['reason']}")


# -- replay ------------------------------------------------------------------------------


def replay(
    partner: Annotated[str, typer.Option("--partner", "-p", help="Whose dead letters (mra.<P>.dead).")],
    ids: Annotated[list[str] | None, typer.Option("--id", help="Message id to replay (repeatable).")] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Replay every dead letter of the partner.")
    ] = False,
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator", help="Who replays, for the audit trail (default: $USER, else 'operator')."
        ),
    ] = None,
    amqp: AmqpOpt = None,
    audit: AuditOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send a partner's dead letters again: back to its work queue, attempts reset,
    audited REPLAYED. Dead letters not chosen stay in the dead queue."""
    from exchange.audit import AuditError, open_store, resolve_audit_url
    from exchange.service.broker import BrokerUnavailable
    from exchange.service.ops.replay import ReplayRequest, replay_dead_letters
    from exchange.state import StateStore

    if bool(ids) == replay_all:
        raise _fail("say which dead letters: --id ID (repeatable) or --all")
    cfg = _config(config)
    if partner not in cfg.partners:
        raise _fail(f"unknown partner {partner!r} (known: {', '.join(sorted(cfg.partners))})")
    who = operator or os.environ.get("USER") or "operator"
    request = ReplayRequest(partner, frozenset(ids or ()), replay_all, who)
    url = resolve_audit_url(audit)
    try:
        store = open_store(url)
        state = StateStore(url)
    except (AuditError, ExchangeError, OSError) as exc:
        raise _fail(f"audit store: {exc}") from None
    except Exception as exc:  # the state store's driver errors
        raise _fail(f"state store: {type(exc).__name__}: {exc}") from None
    try:
        report = replay_dead_letters(_amqp_url(amqp), request, store, state)
    except BrokerUnavailable as exc:
        raise _fail(str(exc)) from None
    finally:
        state.close()
        store.close()
    for moved in report.replayed:
        record = f" record {moved.record_id}" if moved.record_id else ""
        typer.echo(f"replayed {moved.message_id}{record}: was dead for: {moved.reason}")
    err.print(
        f"{partner}: {report.examined} dead letters examined, {len(report.replayed)} replayed "
        f"to the work queue, {report.kept} kept"
    )
    for mid, reason in report.failed:
        err.print(f"  not moved (still a dead letter): {mid}: {reason}")
    if report.error is not None or report.failed:
        raise _fail(report.error or f"{len(report.failed)} dead letters could not be moved")
    if report.missing:
        err.print(f"not among the dead letters of {partner}: {', '.join(report.missing)}")
        raise typer.Exit(1)


# -- feed tail ---------------------------------------------------------------------------


def feed_tail(
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="TIMESTAMP",
            help="Start at this time (ISO 8601; UTC when no zone). Second and chunk granularity: "
            "a few earlier records may come too.",
        ),
    ] = None,
    offset: Annotated[
        int | None, typer.Option("--offset", min=0, help="Start at this stream offset.")
    ] = None,
    first: Annotated[bool, typer.Option("--first", help="Start at the beginning (the default).")] = False,
    count: Annotated[int | None, typer.Option("--count", min=1, help="Stop after this many records.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep waiting for new records.")] = False,
    amqp: AmqpOpt = None,
    stream: Annotated[str | None, typer.Option("--stream", hidden=True)] = None,
) -> None:
    """Print the bri.feed credentials, one JSON line each: offset, messageId, recordId,
    credential. Stops after --count, or after 1 s without a record unless --follow."""
    from exchange.service.broker import BrokerUnavailable
    from exchange.service.ops.queues import OpsError
    from exchange.service.ops.tail import StreamOffset
    from exchange.service.ops.tail import feed_tail as tail
    from exchange.service.topology import FEED_STREAM

    if sum(x for x in (from_ is not None, offset is not None, first)) > 1:
        raise _fail("--from, --offset and --first exclude each other")
    start: StreamOffset = "first"
    if from_ is not None:
        start = _parse_time(from_)
    elif offset is not None:
        start = offset

    def emit(line: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    try:
        tail(_amqp_url(amqp), emit, start, count=count, follow=follow, stream=stream or FEED_STREAM)
    except (BrokerUnavailable, OpsError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        return


def _parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--from {text!r} is not an ISO 8601 time (e.g. 2026-11-25T08:00:00Z)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def register_ops(app: typer.Typer) -> None:
    """Mount the commands on the main app (exchange/cli.py)."""
    app.command("status")(status)
    app.command("replay")(replay)
    feed = typer.Typer(help="The Belt-and-Road credential stream.", no_args_is_help=True)
    feed.command("tail")(feed_tail)
    app.add_typer(feed, name="feed")
