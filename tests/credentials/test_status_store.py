"""Status entries and lists in the audit database, on SQLite and PostgreSQL: allocation
is unique and stable, a subject's standing flips every version's bit, revocation is
final, and a publication never replaces a newer list."""

from __future__ import annotations

import threading

from exchange.credentials import bitstring
from exchange.credentials.standing import Standing
from exchange.credentials.status_store import StatusRequest, StatusStore


def req(cid: str, subject: str, standing: Standing = Standing.ACTIVE) -> StatusRequest:
    return StatusRequest(cid, subject, standing)


def bits(store: StatusStore, purpose: str) -> bytes:
    for item in store.unpublished():
        if item.purpose == purpose:
            return item.bits
    raise AssertionError(f"no unpublished {purpose} list")


def test_places_are_unique_stable_and_spread(store_url: str) -> None:
    store = StatusStore(store_url)
    try:
        first = store.place([req(f"id-{i}", f"ccc:{i}") for i in range(50)])
        again = store.place([req("id-3", "ccc:3"), req("id-new", "ccc:new")])
        assert again["id-3"] == first["id-3"]  # an id seen before keeps its place
        indexes = [p.index for p in first.values()] + [again["id-new"].index]
        assert len(set(indexes)) == 51 and all(0 <= i < bitstring.SIZE for i in indexes)
        assert indexes[:5] != sorted(indexes[:5]) or indexes[1] - indexes[0] != 1  # not a counter
        assert {p.list_number for p in first.values()} == {1}
    finally:
        store.close()


def test_a_standing_flips_every_version_and_revocation_is_final(store_url: str) -> None:
    store = StatusStore(store_url)
    try:
        v1 = store.place([req("v1", "ccc:A")])["v1"]
        other = store.place([req("o1", "ccc:B")])["o1"]
        v2 = store.place([req("v2", "ccc:A", Standing.SUSPENDED)])["v2"]
        suspended = bits(store, "suspension")
        assert bitstring.get_bit(suspended, v1.index) and bitstring.get_bit(suspended, v2.index)
        assert not bitstring.get_bit(suspended, other.index)
        store.place([req("v3", "ccc:A", Standing.ACTIVE)])  # reinstated
        assert not any(bits(store, "suspension"))
        store.place([req("v4", "ccc:A", Standing.REVOKED)])
        store.place([req("v5", "ccc:A", Standing.ACTIVE)])  # a later "valid" cannot undo it
        revoked = bits(store, "revocation")
        assert all(bitstring.get_bit(revoked, p.index) for p in (v1, v2))
        assert not bitstring.get_bit(revoked, other.index)
    finally:
        store.close()


def test_a_stale_publication_does_not_replace_a_newer_list(store_url: str) -> None:
    store = StatusStore(store_url)
    try:
        store.place([req("a", "ccc:A", Standing.SUSPENDED)])
        stale = next(i for i in store.unpublished() if i.purpose == "suspension")
        store.place([req("b", "ccc:A", Standing.ACTIVE)])  # changes the list after it was read
        assert not store.publish(stale, '{"stale": true}', None)
        fresh = next(i for i in store.unpublished() if i.purpose == "suspension")
        assert store.publish(fresh, '{"fresh": true}', "a.b.c")
        assert store.published("suspension", 1) == ('{"fresh": true}', "a.b.c")
        assert [i.purpose for i in store.unpublished()] == ["revocation"]  # never published yet
    finally:
        store.close()


def test_concurrent_allocation_never_hands_out_an_index_twice(store_url: str) -> None:
    stores = [StatusStore(store_url) for _ in range(3)]
    placed: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def work(n: int, store: StatusStore) -> None:
        try:
            for batch in range(5):
                ids = [req(f"w{n}-{batch}-{i}", f"ccc:{n}-{i}") for i in range(10)]
                placed.append(dict(store.place(ids)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for s in stores:
        s.close()
    assert not errors, errors
    places = [(p.list_number, p.index) for batch in placed for p in batch.values()]  # type: ignore[attr-defined]
    assert len(places) == 150 and len(set(places)) == 150
