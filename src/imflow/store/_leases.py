"""Private: outbox leases, so any number of runners share one store's deliveries.

A runner works on a case's pending outbox entries only while it holds that case's
**lease**: a row of ``outbox_leases`` with its owner (one token per delivery pass) and
an expiry on the *database's* clock (seconds since 1970), so servers whose clocks
disagree still agree on when a lease ran out. Claiming is one upsert that takes a free
or expired lease and leaves a live one alone, atomically on both backends (PostgreSQL
re-checks the condition on the row it locked; SQLite has one writer). A runner killed
with its leases held loses them when they expire; another runner then takes over.

Migration 5 adds the lease table and the time an entry was queued (``enqueued_at``,
for the age of the oldest pending entry in :func:`imflow.outbox.status`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__: list[str] = []

NOW_POSTGRES = "extract(epoch from clock_timestamp())::double precision"
"""PostgreSQL's clock now, in seconds since 1970 (the real time, not the transaction's)."""

NOW_SQLITE = "((julianday('now') - 2440587.5) * 86400.0)"
"""SQLite's clock now, in seconds since 1970 (to the millisecond)."""


def leases_schema() -> list[str]:
    """Migration 5: the leases of cases to runners, and when each entry was queued."""
    return [
        """CREATE TABLE outbox_leases (
            case_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX outbox_leases_owner ON outbox_leases (owner)",
        "ALTER TABLE outbox ADD COLUMN enqueued_at DOUBLE PRECISION",
    ]


def lease_statements(p: Callable[[str], str], *, now: str) -> dict[str, str]:
    """The named statements of leases and of the outbox's figures; *now* is the
    backend's expression for its clock in seconds since 1970."""
    return {
        "insert_outbox": (
            "INSERT INTO outbox (case_id, seq, type, enqueued_at)"
            f" VALUES ({p('case_id')}, {p('seq')}, {p('type')}, {now})"
        ),
        "lease_claim": (
            "INSERT INTO outbox_leases (case_id, owner, expires_at)"
            f" VALUES ({p('case_id')}, {p('owner')}, {now} + {p('seconds')})"
            " ON CONFLICT (case_id) DO UPDATE SET owner = excluded.owner,"
            " expires_at = excluded.expires_at"
            f" WHERE outbox_leases.expires_at < {now} OR outbox_leases.owner = excluded.owner"
            " RETURNING case_id"
        ),
        "lease_renew": (
            f"UPDATE outbox_leases SET expires_at = {now} + {p('seconds')}"
            f" WHERE case_id = {p('case_id')} AND owner = {p('owner')}"
        ),
        "lease_release": f"DELETE FROM outbox_leases WHERE owner = {p('owner')}",
        "outbox_totals": (f"SELECT count(*), min(enqueued_at), {now} FROM outbox WHERE done = 0"),
        "outbox_leased": (
            "SELECT count(*) FROM outbox o JOIN outbox_leases l ON l.case_id = o.case_id"
            f" WHERE o.done = 0 AND l.expires_at >= {now}"
        ),
        "outbox_by_hook": (
            "SELECT d.hook, d.status, count(*), min(o.enqueued_at) FROM outbox_deliveries d"
            " JOIN outbox o ON o.id = d.outbox_id"
            " WHERE d.status IN ('retry', 'dead') AND o.done = 0"
            " GROUP BY d.hook, d.status"
        ),
        "outbox_requeue_hook": (
            f"UPDATE outbox_deliveries SET status = 'retry', attempts = 0,"
            f" next_attempt_at = NULL, updated_at = {p('now')}"
            f" WHERE status = 'dead' AND hook = {p('hook')}"
        ),
        "outbox_find": (
            f"SELECT id FROM outbox WHERE case_id = {p('case_id')} AND seq = {p('seq')}"
        ),
        "outbox_requeue_entry": (
            f"UPDATE outbox_deliveries SET status = 'retry', attempts = 0,"
            f" next_attempt_at = NULL, updated_at = {p('now')}"
            f" WHERE status = 'dead' AND hook = {p('hook')} AND outbox_id = {p('entry_id')}"
        ),
    }


def hook_pending_sql(p: Callable[[str], str], types: int) -> str:
    """Pending entries of *types* event types (parameters ``t0`` …) not yet delivered to
    the hook ``hook``: their number and the oldest one's ``enqueued_at``."""
    listed = ", ".join(p(f"t{i}") for i in range(types))
    return (
        "SELECT count(*), min(o.enqueued_at) FROM outbox o"
        f" WHERE o.done = 0 AND o.type IN ({listed}) AND NOT EXISTS ("
        " SELECT 1 FROM outbox_deliveries d WHERE d.outbox_id = o.id"
        f" AND d.hook = {p('hook')} AND d.status IN ('delivered', 'discarded'))"
    )
