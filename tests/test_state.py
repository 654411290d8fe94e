"""Delivery state survives restarts and is shared: one behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

from exchange.state import Delivery, State, StateStore


def test_states_are_upserted_and_read_in_batches(store_url: str) -> None:
    store = StateStore(store_url)
    try:
        store.put_many([Delivery("kr", f"m{i}", "sha", 0, State.SENT) for i in range(700)])
        store.put_many([Delivery("kr", "m3", "sha", 0, State.ACKNOWLEDGED)])
        found = store.get_many("kr", [f"m{i}" for i in range(702)])
        assert len(found) == 700  # read in chunks of 500: none lost at the seam
        assert found["m3"].state is State.ACKNOWLEDGED and found["m4"].state is State.SENT
        assert store.get("eu", "m3") is None  # scopes are apart
        assert store.counts("kr") == {"SENT": 699, "ACKNOWLEDGED": 1}
    finally:
        store.close()


def test_state_outlives_the_process_that_wrote_it(store_url: str) -> None:
    first = StateStore(store_url)
    first.put_many([Delivery("intake", "x", "abc", 2, State.DONE)])
    first.close()
    second = StateStore(store_url)
    try:
        assert second.get("intake", "x") == Delivery("intake", "x", "abc", 2, State.DONE)
    finally:
        second.close()


def test_a_message_is_claimed_by_one_store_only(store_url: str) -> None:
    """Two workers holding copies of one message: the first claim wins, the second learns it
    lost (and never overwrites the winner's row)."""
    first, second = StateStore(store_url), StateStore(store_url)
    try:
        won = first.claim_many([Delivery("bri", m, "sha1", 0, State.SENT) for m in ("a", "b")])
        assert won == {"a", "b"}
        assert second.claim_many([Delivery("bri", m, "sha2", 0, State.SENT) for m in ("b", "c")]) == {"c"}
        assert second.get("bri", "b") == Delivery("bri", "b", "sha1", 0, State.SENT)
        assert first.claim_many([]) == set()
    finally:
        first.close()
        second.close()


def test_two_stores_opened_at_once_both_work(store_url: str) -> None:
    """Two workers starting together on a fresh database create the table once between them."""
    import threading

    stores: list[StateStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(StateStore(store_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        stores[0].put_many([Delivery("kr", "m", "s", 0, State.SENT)])
        assert stores[-1].get("kr", "m") is not None
    finally:
        for s in stores:
            s.close()


def test_an_acknowledgement_is_won_once(store_url: str) -> None:
    """Two workers learning of one receipt at once (or a receipt sent twice): one of them
    turns the state ACKNOWLEDGED and audits it, the other learns it was already."""
    import threading

    first, second = StateStore(store_url), StateStore(store_url)
    try:
        first.put_many([Delivery("kr", m, "sha", 0, State.SENT) for m in ("a", "b")])
        rows = [Delivery("kr", m, "sha", 0, State.ACKNOWLEDGED) for m in ("a", "b", "new")]
        wins: list[set[str]] = []

        def ack(store: StateStore) -> None:
            for _ in range(20):
                wins.append(store.acknowledge_first(rows))

        threads = [threading.Thread(target=ack, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(m for won in wins for m in won) == ["a", "b", "new"]
        assert {d.state for d in first.get_many("kr", ["a", "b", "new"]).values()} == {State.ACKNOWLEDGED}
        assert first.acknowledge_first([]) == set()
    finally:
        first.close()
        second.close()


def test_a_table_of_the_previous_text_format_is_converted_on_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE delivery_state (scope TEXT NOT NULL, message_id TEXT NOT NULL, sha256 TEXT NOT NULL,"
        " attempt INTEGER NOT NULL, state TEXT NOT NULL, PRIMARY KEY (scope, message_id))"
    )
    old.execute("INSERT INTO delivery_state VALUES ('kr', 'm1', ?, 2, 'ACKNOWLEDGED')", ("ab" * 32,))
    old.commit()
    old.close()
    store = StateStore(f"sqlite:///{path}")
    try:
        assert store.get("kr", "m1") == Delivery("kr", "m1", "ab" * 32, 2, State.ACKNOWLEDGED)
    finally:
        store.close()
    raw = sqlite3.connect(path)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    (stored,) = raw.execute("SELECT sha256 FROM delivery_states").fetchone()
    raw.close()
    assert "delivery_state" not in tables and stored == bytes.fromhex("ab" * 32)
