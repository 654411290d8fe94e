"""The per-partner circuit breaker: closed → open after N consecutive failures → half-open
after the cool-down (one trial) → closed on success, open again on failure. A fake clock
moves time; nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.signing import KeyPairFiles
from exchange.transports.soap_push.outbound import CircuitBreaker, CircuitState, Outcome
from exchange.transports.soap_push.simulator import Fault
from tests.soap.test_outbound_support import DOCUMENT, FakeClock, Rig, start_rig


def test_transitions() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.success()  # consecutive failures only
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    clock.advance(29.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # nobody else while it runs
    breaker.failure()  # the trial failed: open again, for a whole cool-down
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    clock.advance(30)
    assert breaker.allow()
    breaker.success()
    assert breaker.state is CircuitState.CLOSED and breaker.allow() and breaker.allow()


def test_threshold_must_be_positive() -> None:
    from exchange.errors import ConfigError

    with pytest.raises(ConfigError):
        CircuitBreaker(threshold=0)


@pytest.fixture
def rig(tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]) -> Iterator[Rig]:
    r = start_rig(tmp_path, our_keys, partner_keys["eu"], threshold=3, cooldown_s=60)
    yield r
    r.close()


def test_a_failing_partner_is_left_alone_then_tried_again(rig: Rig) -> None:
    rig.sim.set_fault(Fault.HTTP_500)
    outcomes = [rig.client.send(DOCUMENT, message_id=f"m-{i}", conversation_id="c").outcome for i in range(5)]
    assert outcomes == [Outcome.FAILED] * 3 + [Outcome.CIRCUIT_OPEN] * 2
    assert rig.sim.stats.requests == 3  # the open circuit sent nothing
    assert rig.client.breaker.state is CircuitState.OPEN

    rig.clock.advance(60)
    trial = rig.client.send(DOCUMENT, message_id="m-3", conversation_id="c")
    assert trial.outcome is Outcome.FAILED and rig.client.breaker.state is CircuitState.OPEN
    assert rig.sim.stats.requests == 4

    rig.sim.set_fault(Fault.NONE)
    rig.clock.advance(60)
    for i in range(5):
        assert (
            rig.client.send(DOCUMENT, message_id=f"m-{i}", conversation_id="c").outcome
            is Outcome.ACKNOWLEDGED
        )
    assert rig.client.breaker.state is CircuitState.CLOSED
    assert rig.sim.stats.acknowledged == {f"m-{i}": 1 for i in range(5)} and rig.sim.stats.duplicates == 0


def test_rejections_and_invalid_receipts_count_as_they_should(rig: Rig) -> None:
    """A partner that answers and rejects is healthy; one whose receipts do not verify is not."""
    rig.sim.set_fault(Fault.REJECT)
    for i in range(4):
        assert rig.client.send(DOCUMENT, message_id=f"r-{i}", conversation_id="c").outcome is Outcome.REJECTED
    assert rig.client.breaker.state is CircuitState.CLOSED
    rig.sim.set_fault(Fault.BAD_SIGNATURE)
    for i in range(3):
        assert rig.client.send(DOCUMENT, message_id=f"b-{i}", conversation_id="c").outcome is Outcome.FAILED
    assert rig.client.breaker.state is CircuitState.OPEN
