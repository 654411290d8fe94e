"""SoapStore on SQLite and on the real PostgreSQL: certificate statuses, the pull outbox,
partners' message ids, nonces; every state change wins once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from exchange.model import CertStatus, Kind
from exchange.soap import PullState, SoapStore
from tests import canonical_samples as samples


@pytest.fixture
def store(store_url: str) -> Iterator[SoapStore]:
    """SQLite and PostgreSQL (tests/db_fixtures.py: a schema of its own, dropped after)."""
    s = SoapStore(store_url)
    yield s
    s.close()


# -- certificates ---------------------------------------------------------------------------


def test_a_ccc_certificate_is_kept_with_its_last_change(store: SoapStore) -> None:
    assert store.record_certificate(samples.certificate())
    cert = store.certificate("2019010907123456")
    assert cert is not None
    assert (cert.status, cert.issue_date, cert.expiry_date) == (
        CertStatus.VALID,
        date(2019, 3, 1),
        date(2024, 3, 1),
    )
    assert (cert.change_date, cert.change_status, cert.change_reason) == (
        date(2021, 5, 6),
        CertStatus.VALID,
        "型号增加",
    )
    assert cert.category == "0907"
    assert store.certificate("2019010907000000") is None


def test_the_newest_change_wins_whatever_the_arrival_order(store: SoapStore) -> None:
    newer = samples.certificate(
        status="WITHDRAWN", history=[{"date": date(2023, 1, 2), "status": "WITHDRAWN", "reason": "recall"}]
    )
    assert store.record_certificate(newer)
    assert not store.record_certificate(samples.certificate())  # older: history ends 2021-05-06
    cert = store.certificate("2019010907123456")
    assert cert is not None and cert.status is CertStatus.WITHDRAWN and cert.change_reason == "recall"


def test_only_ccc_certificates_are_kept(store: SoapStore) -> None:
    eess = samples.certificate(scheme="EESS", certNo="NZ-ESS-2021-0042", factories=[])
    assert not store.record_certificate(eess)
    assert not store.record_certificate(samples.glp_statement())
    assert store.certificate("NZ-ESS-2021-0042") is None


def test_valid_past_expiry_reads_expired(store: SoapStore) -> None:
    store.record_certificate(samples.certificate())
    cert = store.certificate("2019010907123456")
    assert cert is not None
    assert cert.status_on(date(2024, 3, 1)) is CertStatus.VALID
    assert cert.status_on(date(2024, 3, 2)) is CertStatus.EXPIRED


# -- pull outbox -----------------------------------------------------------------------------


def test_enqueueing_is_idempotent_and_ids_are_not_reused(store: SoapStore) -> None:
    assert store.enqueue_for_pull("nz", "m-1", Kind.CCC, "r-1", b"<a/>")
    assert not store.enqueue_for_pull("nz", "m-1", "ccc", "r-1", b"<a/>")
    with pytest.raises(ValueError, match="already used"):
        store.enqueue_for_pull("nz", "m-1", "ccc", "r-1", b"<b/>")
    with pytest.raises(ValueError, match="already used"):
        store.enqueue_for_pull("eu", "m-1", "ccc", "r-1", b"<a/>")


def test_pending_is_per_partner_oldest_first_with_more(store: SoapStore) -> None:
    for i in range(4):
        store.enqueue_for_pull("nz", f"m-{i}", "ccc", f"r-{i}", b"<a/>")
    store.enqueue_for_pull("eu", "e-1", "glp", "f-1", b"<a/>")
    entries, more = store.pending("nz", limit=3)
    assert [e.message_id for e in entries] == ["m-0", "m-1", "m-2"] and more
    assert [e.message_id for e in store.pending("eu")[0]] == ["e-1"]
    assert store.pending("nz", Kind.GLP) == ([], False)


def test_pull_then_settle(store: SoapStore) -> None:
    store.enqueue_for_pull("nz", "m-1", "ccc", "r-1", b"<doc/>")
    assert not store.settle("m-1", PullState.ACKNOWLEDGED)  # not downloaded yet
    pulled = store.pull("m-1")
    assert pulled is not None and pulled[1] == b"<doc/>" and pulled[0].state is PullState.PENDING
    entry = store.outbox_entry("m-1")
    assert entry is not None and entry.state is PullState.DOWNLOADED
    assert store.settle("m-1", PullState.FAILED, "closed")
    assert not store.settle("m-1", PullState.ACKNOWLEDGED)
    entry = store.outbox_entry("m-1")
    assert entry is not None and (entry.state, entry.reason) == (PullState.FAILED, "closed")
    assert store.pull("nothing") is None


def test_concurrent_acknowledgements_settle_once(store: SoapStore) -> None:
    store.enqueue_for_pull("nz", "m-1", "ccc", "r-1", b"<doc/>")
    store.pull("m-1")
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.settle("m-1", PullState.ACKNOWLEDGED), range(16)))
    assert wins.count(True) == 1


# -- partners' message ids, nonces -----------------------------------------------------------


def test_a_partner_message_id_is_claimed_once(store: SoapStore) -> None:
    assert store.reserve_submission("nz", "p-1", "ours-1", "a" * 64) is None
    assert store.reserve_submission("nz", "p-1", "ours-2", "a" * 64) == "ours-1"  # in progress
    store.finish_submission("nz", "p-1", accepted=True)
    assert store.reserve_submission("nz", "p-1", "ours-3", "a" * 64) == "ours-1"
    assert store.reserve_submission("eu", "p-1", "ours-4", "a" * 64) is None  # another partner's id space


def test_a_rejected_or_released_claim_can_be_claimed_again(store: SoapStore) -> None:
    store.reserve_submission("nz", "p-1", "ours-1", "a" * 64)
    store.finish_submission("nz", "p-1", accepted=False)
    assert store.reserve_submission("nz", "p-1", "ours-2", "b" * 64) is None
    store.release_submission("nz", "p-1", "ours-2")
    assert store.reserve_submission("nz", "p-1", "ours-3", "b" * 64) is None


def test_a_claim_left_by_a_crash_expires(store: SoapStore) -> None:
    store.reserve_submission("nz", "p-1", "ours-1", "a" * 64)
    assert store.reserve_submission("nz", "p-1", "ours-2", "a" * 64, stale_s=-1) is None


def test_concurrent_claims_of_one_id_have_one_winner(store: SoapStore) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: store.reserve_submission("nz", "p-x", f"o-{i}", "a" * 64), range(16))
        )
    assert results.count(None) == 1


def test_a_nonce_is_accepted_once(store: SoapStore) -> None:
    assert store.remember_nonce("nz", "bm9uY2U=", 1000, 300)
    assert not store.remember_nonce("nz", "bm9uY2U=", 1001, 300)
    assert store.remember_nonce("eu-mra", "bm9uY2U=", 1001, 300)
