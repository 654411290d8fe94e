"""What every simulated partner shares (exchange simulate-partner), whatever its transport."""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Generic, TypeVar

StartResponse = Callable[..., Any]

F = TypeVar("F", bound=StrEnum)


class FaultSwitch(Generic[F]):
    """What a simulated partner does next: one fault for every request from now on
    (`times` None), or for the next `times` only, then back to `none`. Each fault taken
    (other than `none`) is counted by value in `counts`. Thread-safe."""

    def __init__(self, none: F, counts: dict[str, int]):
        self._none = none
        self._fault = none
        self._times: int | None = None
        self.counts = counts
        self._lock = threading.Lock()

    @property
    def current(self) -> F:
        return self._fault

    def set(self, fault: F, times: int | None = None) -> None:
        with self._lock:
            self._fault, self._times = fault, times

    def take(self) -> F:
        """The fault for the request at hand (one of the `times`, if counted)."""
        with self._lock:
            fault = self._fault
            if self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self._fault, self._times = self._none, None
            if fault is not self._none:
                self.counts[fault.value] = self.counts.get(fault.value, 0) + 1
            return fault
