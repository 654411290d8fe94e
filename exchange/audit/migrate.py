"""`exchange audit migrate`: the previous text format (table `audit_entries`) to the compact one.

The hashes are over the entries' texts, which both formats hold exactly, so the chain,
its hashes and every sealed checkpoint stay valid. The old chain is verified first (a
broken chain is refused, not carried over); rows are copied in batches (a run that stops
half-way resumes after the last copied entry), the old table is dropped only once every
row is in, and the new chain is verified again.
"""

from __future__ import annotations

from itertools import islice

from exchange.audit.chain import ChainRow
from exchange.audit.compact import round_trips
from exchange.audit.entry import is_sha256_hex
from exchange.audit.errors import AuditError
from exchange.audit.store import AuditStore
from exchange.audit.verify import VerifyReport, verify_rows

BATCH = 5000


def migrate(store: AuditStore) -> tuple[int, VerifyReport]:
    """(entries copied, verify report of the converted chain)."""
    if not store._has_old():
        raise AuditError(f"{store.describe()} holds no trail in the previous format: nothing to migrate")
    start = store.chain_start()
    old = verify_rows(store._old_rows(), lambda _h: None, start=start)
    if not old.ok:
        raise AuditError(f"the old chain does not verify ({old.problem}): not migrated")
    done = (store.head() or (0, ""))[0]
    copied = 0
    rows = (r for r in store._old_rows() if r.seq > done)
    while batch := list(islice(rows, BATCH)):
        for row in batch:
            _check(row)
        store._insert_rows(batch)
        copied += len(batch)
    report = store.verify()
    if not report.ok or report.entries != old.entries:
        raise AuditError(
            f"the converted chain does not verify ({report.problem or 'entries differ'}):"
            " the old table is kept"
        )
    store._drop_old()
    return copied, report


def _check(row: ChainRow) -> None:
    """What the compact format could not give back exactly (never made by this service)."""
    if not round_trips(row.time) or not is_sha256_hex(row.hash) or not is_sha256_hex(row.prev_hash):
        raise AuditError(f"entry {row.seq} has a time or hash this format cannot hold: not migrated")
