"""The SQL stores' schema: migrations, the agreed columns, the due index and snapshots."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from imflow import Case, IdempotencyKeyReused, InvalidDocument, dumps
from imflow import commands as c
from imflow.events import NeedRecorded
from imflow.serialization import make_converter
from imflow.store import SchemaOutdated, SchemaTooNew, SQLiteStore, migrate
from tests.crashes import more
from tests.stores import StoreMaker, advance, far_future_engine, open_case, store_new, working_case
from tests.threads import at_once, errors_of

TABLES = {"events", "cases", "case_persons", "idempotency_keys", "outbox", "outbox_deliveries"}
LATEST = SQLiteStore.MIGRATIONS[-1][0]  # the schema this imflow writes


def tables(stores: StoreMaker) -> set[str]:
    raw = stores.raw()
    if stores.kind == "sqlite":
        rows = raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        rows = raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (stores.schema,),
        ).fetchall()
    raw.close()
    return {r[0] for r in rows}


def migrations(stores: StoreMaker) -> list[tuple[int, str]]:
    raw = stores.raw()
    rows = raw.execute("SELECT version, name FROM imflow_migrations ORDER BY version").fetchall()
    raw.close()
    return [(int(r[0]), r[1]) for r in rows]


def test_a_new_database_gets_every_migration_once(sql_stores: StoreMaker) -> None:
    store = sql_stores()
    assert store.schema_version == LATEST  # type: ignore[attr-defined]
    assert tables(sql_stores) >= TABLES
    assert "idempotency" not in tables(sql_stores)  # replaced by idempotency_keys
    applied = migrations(sql_stores)
    assert [v for v, _ in applied] == [1, 2, 3, 4, 5, 6, 7]
    sql_stores().close()
    assert migrations(sql_stores) == applied


def migrate_maker(stores: StoreMaker) -> int:
    """Migrate the maker's storage as its owner would (``imflow migrate``)."""
    if stores.kind == "sqlite":
        return migrate(stores.path)
    return migrate(str(stores.dsn), schema=stores.schema)


def test_migrators_racing_on_a_new_database_migrate_it_once(sql_stores: StoreMaker) -> None:
    racers: list[Callable[[], object]] = [functools.partial(migrate_maker, sql_stores)] * 3
    if sql_stores.kind == "sqlite":  # a new SQLite file is also migrated by its openers
        racers += [sql_stores] * 3
    errors = errors_of(at_once(*racers))
    assert not errors, errors
    assert [v for v, _ in migrations(sql_stores)] == [1, 2, 3, 4, 5, 6, 7]
    assert migrate_maker(sql_stores) == LATEST  # again: nothing to do
    assert [v for v, _ in migrations(sql_stores)] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("opener", ["migrate", "store"])
def test_a_new_sqlite_file_held_by_another_writer_is_waited_for(
    tmp_path: Path, opener: str
) -> None:
    # switching a new file to WAL is refused at once (not after the busy timeout) while
    # another connection holds its write lock; CI once saw "database is locked" here
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        if opener == "migrate":
            assert migrate(path) == LATEST
        else:
            SQLiteStore(path, engine=far_future_engine()).close()
    finally:
        release.join()
        holder.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT max(version) FROM imflow_migrations").fetchone()[0] == LATEST
    raw.close()


def test_a_database_of_schema_version_1_is_migrated_forward_with_its_data(
    sql_stores: StoreMaker,
) -> None:
    store = sql_stores()
    case = working_case(store.engine, "old")
    store_new(store, case, key="old-form-1")
    store.close()
    raw = sql_stores.raw()
    moment = "TEXT" if sql_stores.kind == "sqlite" else "TIMESTAMPTZ"
    for statement in (  # back to the layout of schema version 1, its key kept
        "DROP TABLE report_facts",
        "DROP TABLE imflow_report_fill",
        "DROP TABLE outbox_leases",
        "DROP INDEX cases_retention",
        "ALTER TABLE cases DROP COLUMN erased_version",
        "DROP TABLE imflow_shred",
        "DROP TABLE imflow_encryption",
        "DROP TABLE outbox_deliveries",
        "DROP TABLE outbox",
        f"""CREATE TABLE idempotency (key TEXT PRIMARY KEY, case_id TEXT NOT NULL,
            first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, created_at {moment} NOT NULL)""",
        "INSERT INTO idempotency SELECT key, case_id, first_seq, last_seq, created_at"
        " FROM idempotency_keys",
        "DROP TABLE idempotency_keys",
        "DELETE FROM imflow_migrations WHERE version >= 2",
    ):
        raw.execute(statement)
    raw.close()
    assert "outbox" not in tables(sql_stores)
    before = tables(sql_stores)
    with pytest.raises(SchemaOutdated, match="imflow migrate") as refused:
        sql_stores(migrate=False) if sql_stores.kind == "sqlite" else sql_stores()
    assert (refused.value.current, refused.value.latest) == (1, LATEST)
    assert tables(sql_stores) == before  # the check changed nothing
    if sql_stores.kind == "postgres":  # a server's schema changes only when its owner says so
        assert migrate_maker(sql_stores) == LATEST

    upgraded = sql_stores(cache_size=0)  # SQLite: an older file is migrated on open
    assert [v for v, _ in migrations(sql_stores)] == [1, 2, 3, 4, 5, 6, 7]
    assert upgraded.load("old") == case
    # the old key moved into its actor's tenant: a retry is still answered from it ...
    again = upgraded.append("old", case.events, expected_version=0, idempotency_key="old-form-1")
    assert again.replayed and again.events == case.events
    by = case.events[0].actor
    recalled = upgraded.recall("old-form-1", by=by)
    assert recalled is not None and recalled.case_id == "old"
    # ... and anything else sent with it is refused
    with pytest.raises(IdempotencyKeyReused):
        upgraded.append(
            "old",
            more(upgraded.engine, case, 1).events[case.version :],
            expected_version=case.version,
            idempotency_key="old-form-1",
        )
    newer = more(upgraded.engine, case, 2)
    store_new(upgraded, newer, since=case.version)
    assert [(p.case_id, p.seq) for p in upgraded.outbox.pending(after=0, limit=10)] == [
        ("old", case.version + 1),
        ("old", case.version + 2),
    ]


def test_a_database_from_a_newer_imflow_is_refused_untouched(sql_stores: StoreMaker) -> None:
    sql_stores().close()
    raw = sql_stores.raw()
    now = "2031-01-01" if sql_stores.kind == "sqlite" else datetime(2031, 1, 1).isoformat()
    placeholder = "?" if sql_stores.kind == "sqlite" else "%s"
    raw.execute(
        "INSERT INTO imflow_migrations (version, name, applied_at)"
        f" VALUES (99, 'future', {placeholder})",
        (now,),
    )
    raw.close()
    with pytest.raises(SchemaTooNew, match="99"):
        sql_stores()
    with pytest.raises(SchemaTooNew, match="99"):
        migrate_maker(sql_stores)
    assert [v for v, _ in migrations(sql_stores)] == [1, 2, 3, 4, 5, 6, 7, 99]


def test_the_events_table_holds_the_agreed_columns(sql_stores: StoreMaker) -> None:
    store = sql_stores()
    case = working_case(store.engine, "cols", district="08111", provider="awo")
    store_new(store, case)
    raw = sql_stores.raw()
    rows = raw.execute(
        "SELECT case_id, seq, type, on_date, recorded_at, district, provider, schema_version,"
        " payload FROM events ORDER BY seq"
    ).fetchall()
    head = raw.execute(
        "SELECT district, provider, phase, rule_set, opened_on, period_end, closed_on, version"
        " FROM cases WHERE case_id = 'cols'"
    ).fetchone()
    raw.close()
    for row, event in zip(rows, case.events, strict=True):
        on_date, recorded_at, payload = row[3], row[4], row[8]
        if sql_stores.kind == "sqlite":
            on_date, recorded_at = date.fromisoformat(on_date), datetime.fromisoformat(recorded_at)
            payload = json.loads(payload)
        assert row[:3] == ("cols", event.seq, event.type)
        assert (on_date, recorded_at) == (event.on, event.recorded_at)
        assert row[5:8] == ("08111", "awo", 1)
        expected = json.loads(dumps(event))
        for name in ("person", "members", "note", "description", "justification"):
            if name in payload:  # personal fields are sealed (docs: data protection)
                sealed = payload.pop(name)
                plain = expected.pop(name)
                values = sealed if isinstance(sealed, list) else [sealed]
                texts = plain if isinstance(plain, list) else [plain]
                for value, text in zip(values, texts, strict=True):
                    assert value == "" if text == "" else set(value) >= {"c"}
        assert payload == expected
    day = str if sql_stores.kind == "sqlite" else (lambda d: d)
    assert head == (
        "08111",
        "awo",
        "monitoring",
        case.rule_set,
        day(case.period_start),
        day(case.period_end),
        None,
        case.version,
    )


def test_closing_and_reopening_updates_the_case_row(sql_stores: StoreMaker) -> None:
    store = sql_stores()
    case = open_case(store.engine, "row")
    store_new(store, case)
    closed = advance(
        store.engine,
        case,
        c.RecordConsent(on=date(2025, 3, 4)),
        c.CloseCase(reason="client_request", on=date(2025, 4, 1)),
    )
    store_new(store, closed, since=1)
    raw = sql_stores.raw()
    query = "SELECT phase, closed_on, version FROM cases WHERE case_id = 'row'"
    closed_on: Any = "2025-04-01" if sql_stores.kind == "sqlite" else date(2025, 4, 1)
    assert tuple(raw.execute(query).fetchone()) == ("closed", closed_on, 3)
    reopened = advance(store.engine, closed, c.ReopenCase(on=date(2025, 4, 2)))
    store_new(store, reopened, since=3)
    assert tuple(raw.execute(query).fetchone()) == ("assessment", None, 4)
    raw.close()


def test_due_cases_are_found_through_the_partial_index(sql_stores: StoreMaker) -> None:
    store = sql_stores()
    for i in range(30):
        store_new(store, open_case(store.engine, f"c{i}", on=date(2024, 1, 1 + i)))
    due = "SELECT case_id FROM cases WHERE closed_on IS NULL AND period_end IS NOT NULL"
    raw = sql_stores.raw()
    if sql_stores.kind == "sqlite":
        plan = raw.execute(f"EXPLAIN QUERY PLAN {due} AND period_end < '2027-01-05'").fetchall()
    else:
        raw.execute("SET enable_seqscan = off")  # a tiny table: make the planner show its index
        plan = raw.execute(f"EXPLAIN {due} AND period_end < DATE '2027-01-05'").fetchall()
    raw.close()
    assert "cases_due" in " ".join(str(part) for row in plan for part in row)
    # opened on 2024-01-05, the period ends on 2027-01-04: due on the 5th
    assert [x.case_id for x in store.due_cases(date(2027, 1, 5))] == ["c0", "c1", "c2", "c3", "c4"]


def test_a_load_reads_the_snapshot_and_only_the_events_after_it(sql_stores: StoreMaker) -> None:
    store = sql_stores(snapshot_every=5)
    case = more(store.engine, working_case(store.engine, "snap"), 3)  # 12 events
    for start in range(0, case.version, 4):
        store.append("snap", case.events[start : start + 4], expected_version=start)
    raw = sql_stores.raw()
    (snapshot_version, snapshot) = raw.execute(
        "SELECT snapshot_version, snapshot FROM cases WHERE case_id = 'snap'"
    ).fetchone()
    assert snapshot_version == 12  # written when the version passed 5 and 10: the newest
    doc = json.loads(snapshot) if isinstance(snapshot, str) else snapshot
    # the case without its events: they are the rows before it, read when someone reads them
    assert doc["schema_version"] == 1 and "events" not in doc
    assert sql_stores(cache_size=0).load("snap") == case

    # break an early event in place (seq 4, no contact): a load that decoded it would fail
    broken = '{"type": "nonsense"}'
    cast = "" if sql_stores.kind == "sqlite" else "::jsonb"
    raw.execute(f"UPDATE events SET payload = '{broken}'{cast} WHERE case_id = 'snap' AND seq = 4")
    loaded = sql_stores(cache_size=0).load("snap")
    assert attrs.evolve(loaded, events=case.events) == case
    assert (loaded.version, loaded.person, loaded.latest_on) == (12, case.person, case.latest_on)
    with pytest.raises(InvalidDocument):
        loaded.events[3]  # the broken row, read only now
    with pytest.raises(InvalidDocument):
        sql_stores(cache_size=0).events("snap")
    # a contact is read from its row (seq 3) too: a broken one shows when it is read
    raw.execute(f"UPDATE events SET payload = '{broken}'{cast} WHERE case_id = 'snap' AND seq = 3")
    loaded = sql_stores(cache_size=0).load("snap")
    assert loaded.version == 12 and loaded.phase == case.phase
    with pytest.raises(InvalidDocument):
        tuple(loaded.contacts)
    raw.close()


def test_a_snapshot_of_an_older_schema_is_ignored_and_the_events_are_folded(
    sql_stores: StoreMaker,
) -> None:
    store = sql_stores(snapshot_every=4)
    case: Case = more(store.engine, working_case(store.engine, "old-snap"), 2)
    store_new(store, case)
    raw = sql_stores.raw()
    row = raw.execute("SELECT snapshot FROM cases WHERE case_id = 'old-snap'").fetchone()
    doc = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    doc["schema_version"] = 0
    doc["phase"] = "closed"  # what a stale snapshot might claim
    placeholder = "?" if sql_stores.kind == "sqlite" else "%s::jsonb"
    raw.execute(
        f"UPDATE cases SET snapshot = {placeholder} WHERE case_id = 'old-snap'", (json.dumps(doc),)
    )
    raw.close()
    assert sql_stores(cache_size=0).load("old-snap") == case


def test_a_store_upcasts_older_event_documents_when_it_reads_them(sql_stores: StoreMaker) -> None:
    store = sql_stores(snapshot_every=4)
    case = working_case(store.engine, "up")  # written at schema version 1, with a snapshot
    store_new(store, case)
    store.close()

    def mark_notes(doc: dict[str, Any]) -> dict[str, Any]:
        doc["note"] = f"(v1) {doc['note']}"
        return doc

    newer = make_converter(upcasters={("need_recorded", 1): mark_notes}, schema_version=2)
    reader = sql_stores(converter=newer, cache_size=0)
    loaded = reader.load("up")  # the version-1 snapshot is ignored, the events upcast
    assert [n.note for n in loaded.needs] == ["(v1) lives with an aunt"]
    expected = [
        attrs.evolve(e, note=f"(v1) {e.note}") if isinstance(e, NeedRecorded) else e
        for e in case.events
    ]
    assert list(loaded.events) == expected
    more_events = more(reader.engine, loaded, 1)
    store_new(reader, more_events, since=loaded.version)
    raw = sql_stores.raw()
    versions = raw.execute("SELECT seq, schema_version FROM events ORDER BY seq").fetchall()
    raw.close()
    assert [tuple(v) for v in versions] == [(s, 1) for s in range(1, case.version + 1)] + [
        (case.version + 1, 2)
    ]


def open_and_close(path: Path) -> None:
    SQLiteStore(path).close()


def test_servers_starting_together_on_a_new_sqlite_file_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL can fail at once with "database is locked" while
    another opener holds it (about one round in ten before the store retried)."""
    for round_ in range(40):
        path = tmp_path / f"new-{round_}.db"
        errors = errors_of(at_once(*[functools.partial(open_and_close, path)] * 3))
        assert not errors, (round_, errors)
        with SQLiteStore(path) as store:
            assert store.schema_version == LATEST
