"""The checker: what was published against what each partner and the feed hold, read from
the audit trail (PostgreSQL), the kr simulator's own counts and the bri.feed stream, in the
spirit of RabbitMQ's Jepsen tests (lost, duplicated, unexpected; queues empty at the end)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from exchange.audit.url import parse_audit_url
from tests.cluster.world import ClusterWorld, leftover


@dataclass
class Verdict:
    scenario: str
    published: int
    kr_acknowledged_once: int
    bri_acknowledged_once: int
    lost: int
    duplicated_at_partner: int
    feed_exactly_once: int
    feed_copies_not_in_trail: int
    queues_left: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


HEADER = (
    f"{'scenario':<26}{'published':>10}{'kr ack×1':>10}{'bri ack×1':>10}{'lost':>6}"
    f"{'dup@kr':>8}{'feed×1':>8}{'feed∉trail':>11}{'queues':>8}{'s':>6}"
)


def row(v: Verdict) -> str:
    queues = "empty" if not v.queues_left else str(sum(v.queues_left.values()))
    return (
        f"{v.scenario:<26}{v.published:>10}{v.kr_acknowledged_once:>10}{v.bri_acknowledged_once:>10}"
        f"{v.lost:>6}{v.duplicated_at_partner:>8}{v.feed_exactly_once:>8}{v.feed_copies_not_in_trail:>11}"
        f"{queues:>8}{v.seconds:>6.0f}"
    )


def acknowledgements(audit_url: str) -> dict[str, Counter[str]]:
    """partner -> message id -> ACKNOWLEDGED entries in the trail."""
    target = parse_audit_url(audit_url)
    assert hasattr(target, "schema"), "the cluster suite audits to PostgreSQL"
    out: dict[str, Counter[str]] = {}
    with psycopg.connect(target.conninfo) as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            f'SELECT partner, message_id FROM "{target.schema}".audit_entries'  # type: ignore[attr-defined]
            " WHERE event IN ('ACKNOWLEDGED', 'ACKNOWLEDGED_WITH_WARNING')"
        ).fetchall()
    for partner, mid in rows:
        out.setdefault(partner, Counter())[mid] += 1
    return out


def settled(world: ClusterWorld, ids: set[str]) -> bool:
    acks = acknowledgements(world.audit_url)
    return all(ids <= set(acks.get(p, {})) for p in ("kr", "bri")) and not leftover(world)


def wait_settled(world: ClusterWorld, ids: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if settled(world, ids):
                return
        except Exception:  # a node still coming back: ask again
            pass
        time.sleep(2)


def check(world: ClusterWorld, scenario: str, ids: set[str], seconds: float) -> Verdict:
    acks = acknowledgements(world.audit_url)
    kr, bri = acks.get("kr", Counter()), acks.get("bri", Counter())
    sim = world.simulator
    assert sim is not None
    feed = Counter(m for m in world.read_feed() if m in ids)  # this scenario's, by work id
    lost = len(ids - set(kr)) + len(ids - set(bri)) + len(ids - set(sim.stats.acknowledged))
    v = Verdict(
        scenario=scenario,
        published=len(ids),
        kr_acknowledged_once=sum(1 for m in ids if kr[m] == 1 and sim.stats.received[m] >= 1),
        bri_acknowledged_once=sum(1 for m in ids if bri[m] == 1),
        lost=lost,
        duplicated_at_partner=sum(max(0, sim.stats.received[m] - 1) for m in ids),  # this scenario's
        feed_exactly_once=sum(1 for m in ids if feed[m] == 1),
        feed_copies_not_in_trail=sum(feed.values()) - sum(min(feed[m], bri[m]) for m in feed),
        queues_left=leftover(world),
        seconds=seconds,
    )
    if v.kr_acknowledged_once != v.published:
        twice = [m for m in ids if kr[m] > 1][:3]
        v.problems.append(f"kr: {v.published - v.kr_acknowledged_once} not acknowledged exactly once {twice}")
    if v.bri_acknowledged_once != v.published:
        v.problems.append(f"bri: {v.published - v.bri_acknowledged_once} not acknowledged exactly once")
    if v.lost:
        v.problems.append(f"{v.lost} lost")
    if v.duplicated_at_partner:
        v.problems.append(f"kr received {v.duplicated_at_partner} second sends")
    if v.feed_exactly_once != v.published or sum(feed.values()) != v.published:
        v.problems.append(f"bri.feed holds {sum(feed.values())} messages for {v.published} records")
    if v.feed_copies_not_in_trail:
        v.problems.append(f"{v.feed_copies_not_in_trail} feed copies in no trail")
    if v.queues_left:
        v.problems.append(f"queues not empty: {v.queues_left}")
    return v
