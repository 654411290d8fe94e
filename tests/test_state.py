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
