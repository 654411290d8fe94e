"""`exchange audit trace|verify|export|checkpoint`, end to end on real stores."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.audit import AuditEntry, AuditEvent, open_store
from exchange.audit.cli import app
from tests.audit.helpers import Raw, fill

KEY_ENV: dict[str, str | None] = {
    "EXCHANGE_AUDIT_KEY": "a-checkpoint-key-of-some-length",
    "EXCHANGE_AUDIT_KEY_FILE": None,
}


def run(*args: str, env: Mapping[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env={"EXCHANGE_AUDIT_URL": None, **(env or {})}).invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def filled(store_url: str) -> str:
    """Six entries, one an hour from 2026-03-01T10:00Z, partners alternating us/eu."""
    with open_store(store_url) as store:
        t0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
        ticks = iter(range(6))
        store.clock = lambda: int((t0 + timedelta(hours=next(ticks))).timestamp()) * 1_000_000
        for i in range(6):
            store.append(
                AuditEntry(
                    list(AuditEvent)[i],
                    message_id=f"msg-{i % 2}",
                    record_id="CCC-[bold]7",
                    partner="eu" if i % 2 else "us",
                    details={"i": i},
                )
            )
    return store_url


def test_trace_table(filled: str) -> None:
    code, out, _ = run("trace", "CCC-[bold]7", "--audit", filled)
    assert code == 0
    assert "CCC-[bold]7" in out  # data shown as is, never read as markup
    for event in list(AuditEvent)[:6]:
        assert event.value in out
    assert out.index("RECEIVED") < out.index("SIGNED")


def test_trace_json_lines(filled: str) -> None:
    code, out, _ = run("trace", "msg-1", "--json", "--audit", filled)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["seq"] for d in lines] == [2, 4, 6]
    assert lines[0]["event"] == "REJECTED"
    assert lines[0]["time"] == "2026-03-01T11:00:00.000000Z"
    assert lines[1]["prev_hash"] != lines[0]["hash"]  # seq 3 lies between them


def test_trace_nothing_found(filled: str) -> None:
    code, out, err = run("trace", "nobody", "--audit", filled)
    assert (code, out) == (1, "")
    assert "no audit entries for 'nobody'" in err


def test_verify_intact_then_broken(filled: str) -> None:
    code, out, _ = run("verify", "--audit", filled)
    assert code == 0 and out.startswith("intact: 6 entries, head 6 ")
    code, out, _ = run("verify", "--json", "--audit", filled)
    assert json.loads(out)["ok"] is True
    raw = Raw(filled)
    with raw.unguarded():
        raw.tamper(4, "partner", "jp")
    raw.close()
    code, out, _ = run("verify", "--audit", filled)
    assert code == 1
    assert out.startswith("BROKEN: entry 4: changed:")
    code, out, _ = run("verify", "--json", "--audit", filled)
    assert (code, json.loads(out)["seq"], json.loads(out)["kind"]) == (1, 4, "changed")


def test_checkpoint_then_truncation(sqlite_url: str, tmp_path: Path) -> None:
    fill(sqlite_url, 5)
    cp = tmp_path / "keep-elsewhere" / "head.json"
    code, out, _ = run("checkpoint", "--out", str(cp), "--audit", sqlite_url, env=KEY_ENV)
    assert code == 0 and "head 5" in out
    code, out, _ = run("verify", "--checkpoint", str(cp), "--audit", sqlite_url, env=KEY_ENV)
    assert code == 0 and "holds checkpoint head 5" in out
    raw = Raw(sqlite_url)
    with raw.unguarded():
        raw.run("DELETE FROM {t} WHERE seq >= 4")
    raw.close()
    assert run("verify", "--audit", sqlite_url)[0] == 0
    code, out, _ = run("verify", "--checkpoint", str(cp), "--audit", sqlite_url, env=KEY_ENV)
    assert code == 1
    assert out.startswith("BROKEN: entry 4: truncated: the chain ends at entry 3")


def test_checkpoint_key_problems(sqlite_url: str, tmp_path: Path) -> None:
    fill(sqlite_url, 2)
    cp = tmp_path / "head.json"
    no_key = {"EXCHANGE_AUDIT_KEY": None, "EXCHANGE_AUDIT_KEY_FILE": None}
    code, _, err = run("checkpoint", "--out", str(cp), "--audit", sqlite_url, env=no_key)
    assert code == 2 and "no checkpoint key" in err
    assert run("checkpoint", "--out", str(cp), "--audit", sqlite_url, env=KEY_ENV)[0] == 0
    code, _, err = run("verify", "--checkpoint", str(cp), "--audit", sqlite_url, env=no_key)
    assert code == 2 and "no checkpoint key" in err
    other = {"EXCHANGE_AUDIT_KEY": "another-key-entirely-0000"}
    code, out, _ = run("verify", "--checkpoint", str(cp), "--audit", sqlite_url, env=other)
    assert code == 1 and "signature does not verify" in out


def test_export_jsonl_window_and_partner(filled: str) -> None:
    code, out, _ = run(
        "export", "--since", "2026-03-01T11:00", "--until", "2026-03-01T14:00:00Z",
        "--audit", filled,
    )  # fmt: skip
    assert code == 0
    assert [json.loads(line)["details"]["i"] for line in out.splitlines()] == [1, 2, 3]
    code, out, _ = run(
        "export", "--since", "2026-03-01", "--until", "2026-03-01", "--partner", "eu",
        "--audit", filled,
    )  # fmt: skip
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [2, 4, 6]
    code, out, _ = run("export", "--since", "2026-03-02", "--audit", filled)
    assert (code, out) == (0, "")


def test_export_csv_to_file(filled: str, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    code, out, err = run("export", "--format", "csv", "--out", str(target), "--audit", filled)
    assert code == 0 and out == "" and "exported 6 entries" in err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert rows[0]["details"] == '{"i":0}' and rows[0]["doc_sha256"] == ""
    assert rows[1]["prev_hash"] == rows[0]["hash"]


def test_store_from_environment(filled: str) -> None:
    code, out, _ = run("verify", env={"EXCHANGE_AUDIT_URL": filled})
    assert code == 0 and "6 entries" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--audit", "sqlite:////nonexistent/dir/audit.db"], "no audit store"),
        (["trace", "x", "--audit", "mysql://u@h/db"], "not sqlite or postgresql"),
        (
            ["verify", "--audit", "postgresql://svc:s3cret@127.0.0.1:1/db?connect_timeout=2"],
            "cannot reach audit store postgresql://svc:***@127.0.0.1:1/db",
        ),
        (["export", "--since", "yesterday", "--audit", "sqlite://"], "not an ISO date"),
        (["export", "--since", "2026-02-01", "--until", "2026-01-01"], "--since must be"),
    ],
)
def test_usage_errors_and_unreachable_stores_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err
    assert "s3cret" not in out + err


def test_mounted_under_exchange_audit(filled: str) -> None:
    from exchange.cli import app as root

    result = CliRunner().invoke(root, ["audit", "verify", "--audit", filled])
    assert result.exit_code == 0 and "intact" in result.stdout


@pytest.mark.parametrize("hostile", ['=HYPERLINK("http://evil.example/","x")', "+1+1", "-2+3", "@SUM(A1)",
                                     "\t=1", "\r=1"])  # fmt: skip
def test_export_csv_neutralises_formulas(store_url: str, tmp_path: Path, hostile: str) -> None:
    """Issue 13, finding 5: a rejected record's number starting with = reached the CSV verbatim."""
    with open_store(store_url) as store:
        store.append(AuditEntry(AuditEvent.REJECTED, message_id="m-1", record_id=hostile,
                                actor=hostile, details={"reason": hostile}))  # fmt: skip
    target = tmp_path / "audit.csv"
    code, _, _ = run("export", "--format", "csv", "--out", str(target), "--audit", store_url)
    assert code == 0
    (row,) = csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8"), newline=""))
    assert row["record_id"] == "'" + hostile and row["actor"] == "'" + hostile
    assert row["message_id"] == "m-1" and row["details"].startswith("{")
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
    code, out, _ = run("export", "--format", "jsonl", "--audit", store_url)
    assert json.loads(out)["record_id"] == hostile  # JSON Lines keep the value as it is


def test_export_help_says_how_csv_cells_are_neutralised() -> None:
    code, out, _ = run("export", "--help")
    assert code == 0 and "single quote" in out and "OWASP" in out
