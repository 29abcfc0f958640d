"""The report's facts kept in the database (``report_facts``, schema migration 6).

The report of a store at schema 6 reads two rows per case instead of the events. Those
rows must give the very report the events give, and the independent oracle's figures:
for random histories written to a store that was at schema 5 with data and then
migrated (the rows of the old cases come from the fill), for rows written on append,
after erasures, in every scope. They must hold nothing personal, and a write that fails
half-way must leave events and rows consistent.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import Engine, FrozenClock
from imflow.errors import StoreError
from imflow.events import CaseOpened, Event
from imflow.kennzahlen import report
from imflow.kennzahlen._facts import Window, from_events
from imflow.kennzahlen._sql import facts_from_events_sql, facts_from_sql, session
from imflow.kennzahlen._stored import AFTER
from imflow.simulation import simulate
from imflow.store import SQLiteStore, migrate
from imflow.store._summary import fill_done
from imflow.testing import FAR_FUTURE
from tests.kennzahlen_history import STAFFING, hand_history
from tests.profiles import CORE_EXAMPLES
from tests.stores import StoreMaker
from tests.test_erasure_fields import CLOCK, MARKERS, WALDSHUT, personal_case
from tests.test_kennzahlen_oracle import compare, compare_scoped, histories, staffing_of, year_of

DOWNGRADE = [  # what migration 6 added: back to schema 5
    "DROP TABLE report_facts",
    "DROP TABLE imflow_report_fill",
    "DELETE FROM imflow_migrations WHERE version >= 6",
]


def _rows(raw: Any) -> list[tuple[str, int, str, str | None]]:
    return [
        (str(c), int(y), str(f), s)
        for c, y, f, s in raw.execute(
            "SELECT case_id, year, facts, scope FROM report_facts ORDER BY case_id, year"
        ).fetchall()
    ]


def _append_all(store: Any, events: Iterable[Event]) -> None:
    by_case: dict[str, list[Event]] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(e)
    for case_id, case_events in by_case.items():
        store.append(case_id, case_events, expected_version=0)


def _same_facts(source: Any, years: Iterable[int]) -> None:
    """The facts read from report_facts equal those counted over the events, per year."""
    with session(source) as (conn, dialect):
        assert fill_done(conn, dialect)
        for year in years:
            w = Window.of(year)
            kept = facts_from_sql(conn, dialect, w, district=None, provider=None)
            counted = facts_from_events_sql(conn, dialect, w, district=None, provider=None)
            assert kept == counted, year


@settings(settings.default, max_examples=max(CORE_EXAMPLES // 2, 30))
@given(histories(max_cases=4), st.data())
def test_a_schema_5_store_migrated_reports_as_its_events_and_the_oracle(
    events: tuple[Event, ...], data: st.DataObject
) -> None:
    year = year_of(events, data)
    staffing = staffing_of(events, data)
    persons = sorted({e.person for e in events if isinstance(e, CaseOpened)})
    erase = data.draw(st.lists(st.sampled_from(persons), unique=True), label="erased")
    engine = Engine(clock=FrozenClock(FAR_FUTURE))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "o.db"
        with SQLiteStore(path, engine=engine) as store:
            _append_all(store, events)
            for person in erase:
                store.erase_person(person, on=date(2039, 12, 1))
        raw = sqlite3.connect(path, isolation_level=None)
        written = _rows(raw)  # the rows the appends and erasures wrote
        assert {y for _, y, _, _ in written} >= {AFTER}
        for statement in DOWNGRADE:
            raw.execute(statement)
        assert not fill_done(raw, "sqlite")
        with _at_5(path) as old:
            assert report(old, year=year, staffing=staffing) == report(
                events, year=year, staffing=staffing
            )  # schema 5: the report counts over the events
        assert migrate(path) == 7
        assert _rows(raw) == written  # the fill writes what the appends wrote
        raw.close()
        with SQLiteStore(path, engine=engine, migrate=False) as store:
            lib = report(store, year=year, staffing=staffing)
            assert lib == report(events, year=year, staffing=staffing)
            compare_scoped(store, events, year, staffing)
            _same_facts(store, {year - 1, year, year + 1, 2031, 2098})
    compare(lib, events, year, staffing)


class _at_5:  # noqa: N801 - reads as "with _at_5(path) as conn"
    """A plain connection to a file at schema 5 (a store would refuse it)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def test_a_simulated_cohort_migrated_by_the_cli_reports_as_its_events(
    sql_stores: StoreMaker,
) -> None:
    """Three years of 300 simulated cases on SQLite and PostgreSQL, downgraded to schema 5,
    migrated with ``imflow migrate`` (a subprocess): the same report every year and for
    every district, from rows kept on append and from rows of the fill."""
    engine = Engine(clock=FrozenClock.on(date(2024, 1, 1)))
    store = sql_stores(engine=engine, snapshot_every=0)
    cohort = simulate(
        300, seed=7, start=date(2024, 1, 1), until=date(2026, 12, 31), store=store, engine=engine
    )
    events = [e for case in cohort.cases for e in case.events]
    raw = sql_stores.raw()
    written = _rows(raw)
    for statement in DOWNGRADE:
        raw.execute(statement)
    raw.close()
    store.close()
    sql_stores.opened.remove(store)
    db = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    schema = [] if sql_stores.kind == "sqlite" else ["--schema", sql_stores.schema]
    done = subprocess.run(
        [sys.executable, "-m", "imflow", "migrate", "--db", db, *schema],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    raw = sql_stores.raw()
    assert _rows(raw) == written
    raw.close()
    only_check = {"migrate": False} if sql_stores.kind == "sqlite" else {}
    store = sql_stores(engine=engine, **only_check)
    districts = sorted({e.district for e in events if isinstance(e, CaseOpened)})
    for year in (2023, 2024, 2025, 2026, 2027, 2030):
        assert report(store, year=year) == report(events, year=year), year
        for district in districts:
            assert report(store, year=year, district=district) == report(
                events, year=year, district=district
            )
    _same_facts(store, (2024, 2025, 2026, 2027))


def test_the_hand_written_history_from_rows_equals_its_events(sql_stores: StoreMaker) -> None:
    events = [e for evs in hand_history(erase=False).values() for e in evs]
    store = sql_stores()
    _append_all(store, events)
    years = sorted({e.on.year for e in events})
    for year in [years[0] - 1, *years, years[-1] + 1]:
        assert report(store, year=year, staffing=STAFFING) == report(
            events, year=year, staffing=STAFFING
        )
        with session(store) as (conn, dialect):
            w = Window.of(year)
            assert facts_from_sql(conn, dialect, w, district=None, provider=None) == from_events(
                events, w, district=None, provider=None
            )


def test_the_rows_hold_no_personal_field(tmp_path: Path) -> None:
    """Every personal field of domain.md § 8 planted with a marker, stored in clear: no
    marker in report_facts; stored encrypted: no marker anywhere in the SQLite files."""
    engine = Engine(workflow=WALDSHUT, clock=CLOCK)
    case = personal_case(engine)
    for encrypt in (False, True):
        path = tmp_path / f"clear-{encrypt}.db"
        with SQLiteStore(path, engine=engine, encrypt=encrypt) as store:
            store.append(case.case_id, case.events, expected_version=0)
            rows = _rows(sqlite3.connect(path))
            assert rows, "the case has its rows"
            text = "\n".join(f"{f}{s}" for _, _, f, s in rows)
            assert "drk-wt" in text and "housing" in text  # what figures count is there
            for label, marker in MARKERS.items():
                assert marker not in text, label
        if encrypt:
            for file in tmp_path.glob(f"clear-{encrypt}.db*"):
                content = file.read_bytes()
                for label, marker in MARKERS.items():
                    assert marker.encode() not in content, (file.name, label)


def test_a_write_failing_half_way_leaves_events_and_rows_consistent(tmp_path: Path) -> None:
    """The outbox refuses the row of one event (a trigger, after the events and the facts
    rows were written in the transaction): neither the events nor the rows stay, for a
    new case and for a case appended to; the report still equals the stored events."""
    engine = Engine(workflow=WALDSHUT, clock=CLOCK)
    case = personal_case(engine)
    path = tmp_path / "fail.db"
    store = SQLiteStore(path, engine=engine, encrypt=False)
    store.append(case.case_id, case.events[:9], expected_version=0)
    raw = sqlite3.connect(path, isolation_level=None)
    before = _rows(raw)
    raw.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.seq = 12"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    with pytest.raises(StoreError):
        store.append(case.case_id, case.events[9:], expected_version=9)
    other = personal_case(engine)
    with pytest.raises(StoreError):
        store.append("erase-all-2", _renamed(other.events, "erase-all-2"), expected_version=0)
    assert _rows(raw) == before
    assert raw.execute("SELECT max(seq) FROM events").fetchone() == (9,)
    stored = list(store.load(case.case_id).events)
    for year in (2024, 2025, 2026, 2027):
        assert report(store, year=year) == report(stored, year=year)
    raw.execute("DROP TRIGGER refuse")
    store.append(case.case_id, case.events[9:], expected_version=9)
    for year in (2025, 2026, 2027):
        assert report(store, year=year) == report(case.events, year=year)
    raw.close()
    store.close()


def _renamed(events: Iterable[Event], case_id: str) -> list[Event]:
    import attrs

    return [attrs.evolve(e, case_id=case_id) for e in events]
