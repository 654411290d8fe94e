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
