"""Event stores: cases saved as their events, appended optimistically and idempotently.

Three implementations of one :class:`Store` protocol, tested by one contract suite:

- :class:`MemoryStore`: in memory, for tests and simulations;
- :class:`SQLiteStore`: the default, standard-library ``sqlite3``, one file in WAL mode;
- :class:`PostgresStore`: PostgreSQL through psycopg 3 (``pip install 'imflow[postgres]'``),
  for deployments where several servers share the cases.

``append(case_id, events, expected_version=…, idempotency_key=…)`` writes all events or
none; a stale ``expected_version`` raises :class:`~imflow.ConcurrencyConflict`, and a
repeated ``idempotency_key`` returns the stored :class:`AppendResult`. The SQL stores
write an outbox row per event in the same transaction (see :mod:`imflow.outbox`), keep
a snapshot every ``snapshot_every`` events so a long case loads quickly. Their schema is
the host's: :func:`migrate` (``imflow migrate --db URL``) creates and migrates it,
:func:`schema_sql` (``imflow schema-sql``) prints the same DDL for a DBA, and opening a
PostgreSQL store only checks the version (:class:`~imflow.SchemaMissing`,
:class:`~imflow.SchemaOutdated`); a new SQLite file is migrated on first open. Every
operation can run inside the host's own transaction (``store.unit_of_work(conn)``, a
:class:`UnitOfWork`), so host rows and imflow's events commit together. Tables (the
schema that key-figure SQL reads)::

    events(case_id, seq, type, on_date, recorded_at, district, provider, schema_version,
           payload)                       -- payload: the event document of imflow.dumps
    cases(case_id, district, provider, phase, rule_set, opened_on, period_end, closed_on,
          version, snapshot, snapshot_version)
    case_persons(person_ref, case_id)     -- finds a person's cases for erasure
    idempotency(key, case_id, first_seq, last_seq, created_at)
    outbox(id, case_id, seq, type, done), outbox_deliveries(outbox_id, hook, …)

>>> import os, tempfile
>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
>>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
>>> store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "imflow.db"), engine=engine)
>>> case = engine.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
...                               provider="drk", on=date(2025, 3, 3)), by=im)
>>> store.append("wt-1", case.events, expected_version=0).version
1
>>> store.append("wt-1", case.events, expected_version=0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
imflow.errors.ConcurrencyConflict: case 'wt-1' is at version 1, expected 0: ...
>>> store.load("wt-1") == case
True
>>> store.close()

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from imflow.errors import SchemaMissing, SchemaOutdated
from imflow.store._base import (
    AppendResult,
    Delivery,
    IdempotencyKeyReused,
    OutboxLog,
    SchemaTooNew,
    Store,
)
from imflow.store._memory import MemoryStore
from imflow.store._migrate import migrate, schema_sql
from imflow.store._postgres import PostgresStore
from imflow.store._reseal import Encryption
from imflow.store._session import UnitOfWork
from imflow.store._sqlite import SQLiteStore

__all__ = [
    "AppendResult",
    "Delivery",
    "Encryption",
    "IdempotencyKeyReused",
    "MemoryStore",
    "OutboxLog",
    "PostgresStore",
    "SQLiteStore",
    "SchemaMissing",
    "SchemaOutdated",
    "SchemaTooNew",
    "Store",
    "UnitOfWork",
    "migrate",
    "schema_sql",
]
