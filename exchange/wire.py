"""Cheap pickling for the small dataclasses that cross the conversion-process boundary.

A slotted dataclass unpickles through `__setstate__`, one `object.__setattr__` per field;
rebuilding it from a tuple of its fields through its constructor takes half the time, and
the intake loop unpickles every converted document on the thread that also runs the broker
connection.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class PickledAsFields:
    """Mixin for dataclasses whose every field is an `__init__` argument."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self))  # type: ignore[arg-type]
