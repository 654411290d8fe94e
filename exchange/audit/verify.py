"""Walking the chain: finds the first broken entry and says what kind of break it is.

The walk streams (constant memory); only when something is wrong does it look further,
asking the store for the entry a broken link points to, to tell a swap from a deletion
from a forgery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from exchange.audit.chain import GENESIS, ChainRow


class ProblemKind(StrEnum):
    CHANGED = "changed"
    """An entry's stored fields no longer match its hash (or a checkpointed head's)."""
    MISSING = "missing"
    """One or more entries were removed from inside the chain."""
    REORDERED = "reordered"
    """Entries were moved: an entry links to one that comes after it."""
    INSERTED = "inserted"
    """An entry that was never part of the chain was put into it."""
    TRUNCATED = "truncated"
    """The chain ends before the head recorded in a checkpoint."""


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    """The entry that is wrong (for missing/truncated: the first one that is gone)."""
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int
    """How many entries were walked."""
    head_seq: int
    head_hash: str
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


FindByHash = Callable[[str], ChainRow | None]


def verify_rows(
    rows: Iterable[ChainRow],
    find_by_hash: FindByHash,
    *,
    checkpoint: tuple[int, str] | None = None,
    start: tuple[int, str] | None = None,
) -> VerifyReport:
    """Walk rows in `seq` order. `checkpoint` is a trusted (seq, hash) of an earlier head;
    `start` the (seq, prev_hash) the chain starts from after a purge (else 1, GENESIS)."""
    first_seq, first_prev = start if start is not None else (1, GENESIS)
    prev: ChainRow | None = None
    count = 0
    seen_at_checkpoint: ChainRow | None = None
    it = _peekable(rows)
    for row in it:
        problem = _check(row, prev, it.peek(), find_by_hash, first_seq, first_prev)
        if problem is not None:
            return _report(count, prev, problem)
        if checkpoint is not None and row.seq == checkpoint[0]:
            seen_at_checkpoint = row
        prev, count = row, count + 1
    if checkpoint is not None and checkpoint[0] == first_seq - 1 and seen_at_checkpoint is None:
        if checkpoint[1] != first_prev:  # taken just where the kept chain starts: it must link
            return _report(
                count,
                prev,
                ChainProblem(
                    first_seq, ProblemKind.CHANGED, "the kept chain does not start at the checkpoint"
                ),
            )
    elif checkpoint is not None and checkpoint[0] >= first_seq:
        problem = _against_checkpoint(checkpoint, prev, seen_at_checkpoint)
        if problem is not None:
            return _report(count, prev, problem)
    return _report(count, prev, None)


def _report(count: int, head: ChainRow | None, problem: ChainProblem | None) -> VerifyReport:
    return VerifyReport(
        entries=count,
        head_seq=head.seq if head else 0,
        head_hash=head.hash if head else GENESIS,
        problem=problem,
    )


def _check(
    row: ChainRow,
    prev: ChainRow | None,
    nxt: ChainRow | None,
    find: FindByHash,
    first_seq: int = 1,
    first_prev: str = GENESIS,
) -> ChainProblem | None:
    expected_seq = prev.seq + 1 if prev else first_seq
    expected_prev = prev.hash if prev else first_prev
    seq_ok = row.seq == expected_seq
    link_ok = row.prev_hash == expected_prev
    self_ok = row.computed_hash() == row.hash
    if seq_ok and link_ok and self_ok:
        return None
    s = row.seq
    if row.seq < expected_seq:
        return ChainProblem(s, ProblemKind.INSERTED, f"seq {s} lies before the chain's start")
    if link_ok:
        if not seq_ok:
            return ChainProblem(s, ProblemKind.CHANGED, f"its seq was changed (chain expects {expected_seq})")
        return ChainProblem(s, ProblemKind.CHANGED, "its fields do not match its hash")
    if seq_ok and row.computed_hash(prev_hash=expected_prev) == row.hash:
        return ChainProblem(s, ProblemKind.CHANGED, "its prev_hash field was rewritten")
    return _broken_link(row, prev, nxt, expected_seq, expected_prev, find)


def _broken_link(
    row: ChainRow,
    prev: ChainRow | None,
    nxt: ChainRow | None,
    expected_seq: int,
    expected_prev: str,
    find: FindByHash,
) -> ChainProblem:
    s = row.seq
    if row.prev_hash == GENESIS:
        return ChainProblem(s, ProblemKind.REORDERED, "it is the chain's first entry but stands later")
    target = find(row.prev_hash)
    if target is not None and target.seq > s:
        return ChainProblem(
            s,
            ProblemKind.REORDERED,
            f"it links to entry {target.seq}, which comes after it (entries were swapped or moved)",
        )
    if target is not None and prev is not None and target.seq < prev.seq:
        first = target.seq + 1
        return ChainProblem(
            first,
            ProblemKind.INSERTED,
            f"{_span(first, s - 1)} not in the chain: entry {s} links to entry {target.seq}",
        )
    if target is None:
        if nxt is not None and nxt.prev_hash == expected_prev:
            return ChainProblem(
                s,
                ProblemKind.INSERTED,
                f"it links to no entry, and entry {nxt.seq} links past it to entry {expected_seq - 1}",
            )
        if s > expected_seq:
            return ChainProblem(
                expected_seq,
                ProblemKind.MISSING,
                f"{_span(expected_seq, s - 1)} gone: the chain jumps from {expected_seq - 1} to {s}",
            )
        return ChainProblem(
            expected_seq,
            ProblemKind.MISSING,
            f"entry {s} links to an entry that is gone (entries after it were renumbered)",
        )
    return ChainProblem(s, ProblemKind.CHANGED, f"it links to entry {target.seq}, not to its predecessor")


def _span(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"


def _against_checkpoint(
    checkpoint: tuple[int, str], head: ChainRow | None, at: ChainRow | None
) -> ChainProblem | None:
    cp_seq, cp_hash = checkpoint
    if cp_seq == 0 and cp_hash == GENESIS:  # taken of an empty chain: anything extends it
        return None
    last = head.seq if head else 0
    if last < cp_seq:
        return ChainProblem(
            last + 1,
            ProblemKind.TRUNCATED,
            f"the chain ends at entry {last} but the checkpoint recorded entry {cp_seq}",
        )
    if at is None or at.hash != cp_hash:
        return ChainProblem(
            cp_seq,
            ProblemKind.CHANGED,
            "its hash differs from the checkpoint's: the chain up to it was rewritten",
        )
    return None


class _peekable(Iterator[ChainRow]):
    """One-row lookahead, so a forged entry can be told by its successor linking past it."""

    def __init__(self, rows: Iterable[ChainRow]) -> None:
        self._it = iter(rows)
        self._next: ChainRow | None = next(self._it, None)

    def __next__(self) -> ChainRow:
        row = self._next
        if row is None:
            raise StopIteration
        self._next = next(self._it, None)
        return row

    def peek(self) -> ChainRow | None:
        return self._next
