"""Versions across messages and runs (exchange/version_ledger.py), on SQLite and PostgreSQL:
numbered once per message, durable across restarts (a new ledger on the same URL), the
current one by the later status change then input order, a stale one named with both
versions, lost fields named both ways, and no number handed out twice by concurrent
processes."""

from __future__ import annotations

import multiprocessing
from datetime import date

from exchange.version_ledger import Sighting, VersionLedger, field_paths
from tests import canonical_samples as samples


def sighting(
    mid: str, changed: date | None, fields: list[str], record_id: str = "2019010907123456"
) -> Sighting:
    return Sighting("ccc", record_id, mid, f"sha-{mid}", changed, fields)


FULL = ["applicant", "applicant.name", "applicant.name_en", "hs_code", "history", "history[]"]
LEAN = ["applicant", "applicant.name"]


def test_versions_are_numbered_once_per_message_and_survive_a_restart(store_url: str) -> None:
    ledger = VersionLedger(store_url)
    first, second = ledger.register_many(
        [sighting("m1", date(2020, 1, 1), FULL), sighting("m2", date(2021, 1, 1), FULL)]
    )
    assert (first.number, second.number) == (1, 2)
    assert first.current_before is None and not first.stale
    assert second.current_before == first.version and not second.stale
    ledger.close()
    again = VersionLedger(store_url)  # another run of `exchange run`
    (redelivered,) = again.register_many([sighting("m2", date(2021, 1, 1), FULL)])
    assert redelivered == second  # the same message: the same number and decisions
    (third,) = again.register_many([sighting("m3", date(2021, 1, 1), FULL)])
    assert third.number == 3 and not third.stale  # same date: the later input is current
    assert [v.number for v in again.versions("ccc", "2019010907123456")] == [1, 2, 3]
    (other,) = again.register_many([sighting("m4", None, FULL, record_id="2019010907000001")])
    assert other.number == 1  # numbers are per record


def test_an_older_status_change_arriving_later_is_stale_and_names_both_versions(store_url: str) -> None:
    ledger = VersionLedger(store_url)
    ledger.register_many([sighting("new", date(2022, 5, 5), FULL)])
    (old,) = ledger.register_many([sighting("old", date(2021, 1, 1), FULL)])
    assert old.stale and old.number == 2
    assert old.stale_reason() == (
        "ccc-2019010907123456 version 2 (message old, status change 2021-01-01) is older than the"
        " current version 1 (message new, status change 2022-05-05): not delivered over it"
    )
    (newer,) = ledger.register_many([sighting("newer", date(2023, 1, 1), FULL)])
    assert not newer.stale and newer.current_before is not None and newer.current_before.number == 1


def test_a_version_that_loses_fields_is_named_in_a_warning(store_url: str) -> None:
    ledger = VersionLedger(store_url)
    ledger.register_many([sighting("full", date(2020, 1, 1), FULL)])
    (lean,) = ledger.register_many([sighting("lean", date(2020, 1, 1), LEAN)])
    assert lean.lost == (
        "ccc-2019010907123456 version 2 (message lean) lacks applicant.name_en, history, hs_code"
        " present in version 1 (message full)",
    )
    (same,) = ledger.register_many([sighting("same", date(2020, 1, 1), LEAN)])
    assert same.lost == ()  # compared with the current one (version 2): nothing lost


def test_field_paths_of_a_sample_certificate() -> None:
    paths = field_paths(samples.certificate())
    assert "cert_no" in paths and "applicant.name" in paths and paths == sorted(paths)


def _register(url: str, prefix: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    ledger = VersionLedger(url)
    numbers = []
    for i in range(10):
        (r,) = ledger.register_many([sighting(f"{prefix}-{i}", date(2020, 1, 1), FULL)])
        numbers.append(r.number)
    out.put(numbers)


def test_concurrent_processes_never_hand_out_one_number_twice(store_url: str) -> None:
    VersionLedger(store_url).close()  # the table, before the race
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_register, args=(store_url, f"p{n}", out)) for n in range(3)]
    for p in procs:
        p.start()
    numbers = sorted(n for _ in procs for n in out.get(timeout=120))
    for p in procs:
        p.join(timeout=60)
    assert numbers == list(range(1, 31))
