"""Search that finds: names (Chinese or English, any case, full- or half-width) in the documents
sent; Replay offered only where a dead letter exists to replay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from exchange.archive import Archived, Kind
from exchange.audit import AuditEntry, AuditEvent
from exchange.health import pulls
from exchange.pipeline import Converter
from exchange.registry import source
from tests.console.support import Console, dead_lettered, make_console

ROOT = Path(__file__).resolve().parents[2]
CERT = "2019010907123456"  # samples/ccc.jsonl, line 1: factory 东莞示例电子厂
SAMPLE_MID = "sample-0001"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = make_console(tmp_path)
    try:
        yield c
    finally:
        c.audit.close()
        c.archive.close()


def _sent_sample(c: Console) -> str:
    """The sample certificate converted for the first partner that takes it, archived as sent."""
    (accepted, *_) = list(source(c.config).read(ROOT / "samples" / "ccc.jsonl"))
    partners = sorted(c.config.partners)
    converted = Converter(c.config, partners).convert(accepted).converted[0]  # type: ignore[arg-type]
    c.audit.append(
        AuditEntry(AuditEvent.RECEIVED, message_id=SAMPLE_MID, record_id=CERT, details={"kind": "ccc"})
    )
    c.audit.append(
        AuditEntry(AuditEvent.VALIDATED, message_id=SAMPLE_MID, record_id=CERT, partner=converted.partner)
    )
    c.archive.put_many(
        [
            Archived(
                converted.partner,
                SAMPLE_MID,
                Kind.DOCUMENT,
                converted.sha256,
                converted.media_type,
                converted.document,
            )
        ]
    )
    return converted.document.decode("utf-8")


@pytest.mark.parametrize(
    "query",
    [
        "东莞示例电子厂",
        "东莞示例",
        "Dongguan Example Electronics",
        "ｄｏｎｇｇｕａｎ ＥＸＡＭＰＬＥ",
        "shenzhen example",
    ],
)
def test_search_by_a_name_in_the_documents_sent(console: Console, query: str) -> None:
    document = _sent_sample(console)
    assert "东莞示例电子厂" in document
    c, _ = console.login("bob")
    found = c.get(f"/ops/api/search?q={quote(query)}").json()["messages"]
    assert [m["messageId"] for m in found] == [SAMPLE_MID]
    assert found[0]["recordId"] == CERT


def test_a_name_nobody_has_finds_nothing(console: Console) -> None:
    _sent_sample(console)
    c, _ = console.login("bob")
    assert c.get(f"/ops/api/search?q={quote('西安不存在工厂')}").json()["messages"] == []


def test_replay_is_offered_only_where_a_dead_letter_can_be_replayed(console: Console) -> None:
    cfg = console.config
    pulling = sorted(p for p, a in cfg.partners.items() if pulls(a))
    pushing = sorted(p for p, a in cfg.partners.items() if not pulls(a))
    if not pulling or not pushing:
        pytest.skip("the shipped agreements have no pull partner beside a push partner")
    dead_lettered(console.audit, "m-pull", CERT, pulling[0])
    dead_lettered(console.audit, "m-push", CERT, pushing[0])
    c, _ = console.login("alice")
    rows = {r["messageId"]: r for r in c.get("/ops/api/dead-letters").json()["deadLetters"]}
    assert rows["m-pull"]["replayable"] is False and rows["m-push"]["replayable"] is True
    (pull,) = c.get("/ops/api/message?id=m-pull").json()["deliveries"]
    (push,) = c.get("/ops/api/message?id=m-push").json()["deliveries"]
    assert pull["replayable"] is False and push["replayable"] is True


def test_records_refused_at_intake_are_listed_with_their_reason(console: Console) -> None:
    from exchange.service.offload import SOURCE

    reason = "certNo '202101120300456' does not have the structure of a CCC number"
    console.audit.append(
        AuditEntry(
            AuditEvent.REJECTED,
            message_id="bad-1",
            record_id="202101120300456",
            details={"field": "certNo", "reason": reason, "source": SOURCE},
        )
    )
    c, _ = console.login("alice")
    data = c.get("/ops/api/dead-letters").json()
    (row,) = data["deadLetters"]
    assert (row["queue"], row["messageId"], row["reason"], row["replayable"]) == (
        "mra.rejects",
        "bad-1",
        reason,
        False,
    )
    assert "mra.rejects" in data["queueDepths"]  # its counter is shown beside the list


def test_a_refused_probe_by_another_partner_is_not_in_the_messages_timeline(console: Console) -> None:
    dead_lettered(console.audit, "m-1", CERT, "kr")
    console.audit.append(
        AuditEntry(
            AuditEvent.REJECTED,
            message_id="m-1",
            actor="soap:someone-else",
            details={"code": "NOT_AUTHORISED", "reason": "not your message", "caller": "someone-else"},
        )
    )
    c, _ = console.login("bob")
    data = c.get("/ops/api/message?id=m-1").json()
    assert "REJECTED" not in [e["event"] for e in data["timeline"]]
    assert [e["details"]["caller"] for e in data["refusedRequests"]] == ["someone-else"]
    assert data["partners"] == {"kr": "DEAD_LETTERED"}


def test_the_archive_hands_documents_newest_first_a_chunk_at_a_time(console: Console) -> None:
    for i in range(5):
        body = f"<doc>{i}</doc>".encode()
        console.archive.put_many(
            [Archived("kr", f"c-{i}", Kind.DOCUMENT, f"{i}" * 64, "application/xml", body)]
        )
        time.sleep(0.002)  # distinct stored_at
    got = [mid for mid, _ in console.archive.recent_documents(4, chunk=2) if mid.startswith("c-")]
    assert got == ["c-4", "c-3", "c-2", "c-1"]
