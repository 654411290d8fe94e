"""Retention (issue 17): a purge signs where the kept chain starts; `audit verify` checks that
signature and walks from there; moving, editing or unsigning the start is caught; the
per-agreement policy (`options.audit_retention_days`) decides what `purge` removes when no
--before is given. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEntry, AuditEvent, open_store
from exchange.audit.cli import app
from exchange.signing import KeyPairFiles, generate_key_pair
from tests.audit.helpers import Raw

STEPS = (AuditEvent.RECEIVED, AuditEvent.VALIDATED, AuditEvent.SEND_ENQUEUED, AuditEvent.ACKNOWLEDGED)
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def service_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPairFiles:
    return generate_key_pair(tmp_path_factory.mktemp("service-keys"), common_name="retention test")


@pytest.fixture
def env(service_keys: KeyPairFiles, tmp_path: Path) -> dict[str, str | None]:
    return {
        "EXCHANGE_SIGNING_KEY": str(service_keys.key),
        "EXCHANGE_SIGNING_CERT": str(service_keys.certificate),
        "EXCHANGE_AUDIT_CHECKPOINT_DIR": str(tmp_path / "seals"),
        "EXCHANGE_AUDIT_URL": None,
    }


def run(env: dict[str, str | None], *args: str) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def fill(url: str, days_ago: tuple[int, ...] = (40, 20, 1)) -> None:
    """Record r<d> stamped d days ago, four steps each, for kr; its documents archived then."""
    with open_store(url) as store:
        for d in days_ago:
            for i, event in enumerate(STEPS):
                at = NOW - timedelta(days=d) + timedelta(minutes=i)
                store.append(
                    AuditEntry(event, message_id=f"m{d}", record_id=f"r{d}", partner="kr", details={"i": i}),
                    at_us=int(at.timestamp() * 1e6),
                )


def test_purge_signs_the_start_and_verify_walks_from_it(store_url: str, env: dict[str, str | None]) -> None:
    fill(store_url)
    code, out = run(env, "purge", "--before", (NOW - timedelta(days=30)).isoformat(), "--audit", store_url)
    assert code == 0 and "purged 4 entries" in out and "starts at entry 5" in out, out
    assert "unsigned" not in out
    code, out = run(env, "verify", "--audit", store_url, "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["entries"] == 8, out
    code, out = run(env, "trace", "r20", "--audit", store_url, "--json")
    kept = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["event"] for e in kept] == [s.value for s in STEPS]
    assert [e["details"] for e in kept] == [{"i": i} for i in range(4)]
    assert run(env, "trace", "r40", "--audit", store_url)[0] == 1
    with open_store(store_url) as store:  # appends go on linking to the kept chain
        store.append(AuditEntry(AuditEvent.RECEIVED, message_id="m-after", record_id="after"))
    assert run(env, "verify", "--audit", store_url)[0] == 0


def _purged(store_url: str, env: dict[str, str | None]) -> Raw:
    fill(store_url)
    code, out = run(env, "purge", "--before", (NOW - timedelta(days=30)).isoformat(), "--audit", store_url)
    assert code == 0, out
    return Raw(store_url)


def test_entries_deleted_after_the_purge_with_the_start_moved_are_caught(
    store_url: str, env: dict[str, str | None]
) -> None:
    """Someone deletes the next record too and moves the recorded start: without the
    signature the chain would verify from the new start."""
    raw = _purged(store_url, env)
    try:
        with raw.unguarded():
            raw.run("DELETE FROM {t} WHERE seq < 9")
        (prev,) = [r.prev_hash for r in raw.rows() if r.seq == 9]
        raw.run("UPDATE {s}audit_chain_start SET seq = 9, prev_hash = ?", prev)
    finally:
        raw.close()
    without_cert = {**env, "EXCHANGE_SIGNING_CERT": None}
    assert run(without_cert, "verify", "--audit", store_url)[0] == 0  # the chain alone looks whole
    code, out = run(env, "verify", "--audit", store_url)
    assert code == 1 and "BROKEN" in out and "signed start says entry 5" in out, out


@pytest.mark.parametrize("edit", ["payload", "signature", "removed"])
def test_an_edited_or_removed_signed_start_is_caught(
    store_url: str, env: dict[str, str | None], edit: str
) -> None:
    raw = _purged(store_url, env)
    try:
        (seal,) = raw.run("SELECT seal FROM {s}audit_chain_start")[0]
        doc = json.loads(seal)
        if edit == "payload":
            doc["checkpoint"]["purged_before"] = "2000-01-01T00:00:00.000000Z"
        elif edit == "signature":
            doc["signature"] = doc["signature"][:-8] + (
                "A" * 8 if not doc["signature"].endswith("A" * 8) else "B" * 8
            )
        raw.run("UPDATE {s}audit_chain_start SET seal = ?", None if edit == "removed" else json.dumps(doc))
    finally:
        raw.close()
    code, out = run(env, "verify", "--audit", store_url, "--json")
    verdict = json.loads(out.splitlines()[-1])
    assert code == 1 and verdict["ok"] is False and verdict["kind"] == "checkpoint", out
    assert ("not signed" if edit == "removed" else "signature") in verdict["detail"] or (
        edit == "signature" and "cannot be read" in verdict["detail"]
    ), verdict


def test_a_start_signed_with_another_key_is_caught(
    store_url: str, env: dict[str, str | None], tmp_path: Path
) -> None:
    from exchange.audit import retention
    from exchange.audit.sealing import seal
    from exchange.signing import Signer

    other = generate_key_pair(tmp_path / "other", common_name="not the service")
    forger = Signer.from_files(other.key, other.certificate)
    fill(store_url)
    with open_store(store_url) as store:
        store.purge(
            NOW - timedelta(days=30),
            lambda seq, prev, cut: retention.sign_start(forger, seq, prev, cut, "x", NOW),
        )
        assert env["EXCHANGE_SIGNING_KEY"] and env["EXCHANGE_SIGNING_CERT"]
        seal(store, Signer.from_files(Path(env["EXCHANGE_SIGNING_KEY"]), Path(env["EXCHANGE_SIGNING_CERT"])),
             Path(str(env["EXCHANGE_AUDIT_CHECKPOINT_DIR"])))  # fmt: skip
    code, out = run(env, "verify", "--audit", store_url)
    assert code == 1 and "signed start of the kept chain" in out and "signature" in out, out


def _agreements(tmp_path: Path, days: dict[str, int | None]) -> Path:
    path = tmp_path / "agreements.toml"
    lines = []
    for partner, d in days.items():
        lines += [
            f"[partners.{partner}]",
            f'name = "{partner}"',
            'format = "adapters.kr:format"',
            'families = ["ccc"]',
        ]
        if d is not None:
            lines += [f"[partners.{partner}.options]", f"audit_retention_days = {d}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _archive(url: str) -> None:
    archive = DocumentArchive(url)
    try:
        for partner in ("kr", "eu"):
            archive.put_many(
                [Archived(partner, f"{partner}-doc", Kind.DOCUMENT, "a" * 64, "application/xml", b"<a/>")]
            )
        # stored "now": backdate them, as if written 25 days ago
        table = archive._table
        archive._conn.execute(
            f"UPDATE {table} SET stored_us = {int((NOW - timedelta(days=25)).timestamp() * 1e6)}"
        )
    finally:
        archive.close()


def test_the_policy_per_agreement_purges_without_before(
    store_url: str, env: dict[str, str | None], tmp_path: Path
) -> None:
    fill(store_url)
    _archive(store_url)
    config = _agreements(tmp_path, {"kr": 10, "eu": 30})
    code, out = run(env, "purge", "--config", str(config), "--audit", store_url)
    # entries: older than the longest retention (30 days) go; documents: kr's (10 days) only
    assert code == 0 and "purged 4 entries and 1 archived documents" in out, out
    archive = DocumentArchive(store_url)
    try:
        assert archive.for_message("kr-doc") == [] and len(archive.for_message("eu-doc")) == 1
    finally:
        archive.close()
    code, out = run(env, "verify", "--audit", store_url)
    assert code == 0, out
    code, out = run(env, "trace", "r20", "--audit", store_url, "--json")
    assert code == 0 and len(out.splitlines()) == 4


def test_an_agreement_without_retention_keeps_the_chain_whole(
    store_url: str, env: dict[str, str | None], tmp_path: Path
) -> None:
    fill(store_url)
    _archive(store_url)
    config = _agreements(tmp_path, {"kr": 10, "eu": None})
    code, out = run(env, "purge", "--config", str(config), "--audit", store_url)
    assert code == 0 and "purged 0 entries and 1 archived documents" in out and "eu" in out, out
    with open_store(store_url) as store:
        assert store.verify().entries == 12 and store.chain_start() is None


def test_a_bad_retention_is_refused_naming_the_agreement(
    store_url: str, env: dict[str, str | None], tmp_path: Path
) -> None:
    fill(store_url)
    config = tmp_path / "bad.toml"
    config.write_text(
        '[partners.kr]\nname = "kr"\nformat = "adapters.kr:format"\nfamilies = ["ccc"]\n'
        '[partners.kr.options]\naudit_retention_days = "a year"\n'
    )
    code, out = run(env, "purge", "--config", str(config), "--audit", store_url)
    assert code == 2 and "agreement kr: options.audit_retention_days" in out, out
