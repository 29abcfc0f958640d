"""``imflow sweep --db postgresql://…``: the nightly sweep of a database that several
servers share, run as a subprocess against a real PostgreSQL server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from imflow import Engine, FrozenClock
from imflow import commands as c
from imflow.simulation import simulate
from imflow.store import PostgresStore, migrate
from tests.pg import fresh_schema
from tests.stores import advance, pg_dsn, working_case
from tests.test_cli import one_line_error, run

__all__ = ["pg_dsn"]  # the fixture used here

SWEEP_ON = "2029-06-30"
DUE_SQL = "SELECT count(*) FROM cases WHERE closed_on IS NULL AND period_end < %s"
EXPIRED_SQL = (
    "SELECT case_id, count(*) FROM events WHERE type = 'case_closed'"
    " AND payload->>'reason' = 'period_expired' GROUP BY case_id"
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def cohort(pg_dsn: str) -> Iterator[str]:
    """A migrated schema holding a simulated cohort (until mid-2026), written with the
    tests' master key (``IMFLOW_MASTER_KEY``)."""
    schema = fresh_schema()
    migrate(pg_dsn, schema=schema)  # as the database's owner does once
    engine = Engine(clock=FrozenClock.on(date(2023, 1, 1)))
    with PostgresStore(pg_dsn, schema=schema, engine=engine) as store:
        simulate(
            80,
            seed=5,
            start=date(2023, 1, 1),
            until=date(2026, 6, 30),
            store=store,
            engine=engine,
            keep_cases=False,
        )
    try:
        yield schema
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")


def _count(dsn: str, schema: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        return conn.execute(sql, params).fetchall()


def _sweep(dsn: str, schema: str | None, *extra: str) -> list[str]:
    """The arguments of ``imflow --lang en sweep`` on the sweep's day (*schema*: of
    ``--schema``, none for a SQLite file)."""
    scope = [] if schema is None else ["--schema", schema]
    return ["--lang", "en", "sweep", "--on", SWEEP_ON, "--db", dsn, *scope, *extra]


IMFLOW = [sys.executable, "-m", "imflow"]


def _due(dsn: str, schema: str) -> int:
    (row,) = _count(dsn, schema, DUE_SQL, date.fromisoformat(SWEEP_ON))
    return int(str(row[0]))


def test_a_sweep_closes_the_due_cases_of_a_postgresql_schema_once(pg_dsn: str, cohort: str) -> None:
    due = _due(pg_dsn, cohort)
    assert due >= 10  # many periods of a cohort until mid-2026 end by mid-2029
    dry = run(*_sweep(pg_dsn, cohort, "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1].startswith(f"{due} cases would be closed")
    assert _due(pg_dsn, cohort) == due  # a dry run changes nothing
    first = run("sweep", "--on", SWEEP_ON, "--db", pg_dsn, "--schema", cohort)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == str(due)
    assert "„Beratungszeitraum abgelaufen“ abgeschlossen (Stichtag 30.06.2029)" in first.stdout
    again = run(*_sweep(pg_dsn, cohort))
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"0 cases closed as “Counselling period expired” (sweep of {SWEEP_ON})\n"
    assert _due(pg_dsn, cohort) == 0
    closures = _count(pg_dsn, cohort, EXPIRED_SQL)
    assert len(closures) >= due and all(n == 1 for _, n in closures)


def test_two_servers_sweeping_at_once_close_every_due_case_exactly_once(
    pg_dsn: str, cohort: str
) -> None:
    due = _due(pg_dsn, cohort)
    before = {case_id for case_id, _ in _count(pg_dsn, cohort, EXPIRED_SQL)}
    env = {k: v for k, v in os.environ.items() if k != "IMFLOW_LANG"}
    runs = [
        subprocess.Popen(
            [*IMFLOW, *_sweep(pg_dsn, cohort)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    closed = sum(int(out.split()[0]) for out, _ in outputs)
    assert closed == due  # each due case closed by exactly one of the two runs
    closures = _count(pg_dsn, cohort, EXPIRED_SQL)
    assert all(n == 1 for _, n in closures)
    assert len({c for c, _ in closures} - before) == due
    assert _due(pg_dsn, cohort) == 0


def test_a_sweep_without_the_master_key_is_one_line_and_changes_nothing(
    pg_dsn: str, cohort: str
) -> None:
    due = _due(pg_dsn, cohort)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IMFLOW_LANG", "IMFLOW_MASTER_KEY", "IMFLOW_MASTER_KEY_FILE")
    }
    result = subprocess.run(
        [*IMFLOW, *_sweep(pg_dsn, cohort)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    line = one_line_error(result)
    assert "master key" in line and "IMFLOW_MASTER_KEY" in line
    assert _due(pg_dsn, cohort) == due


def test_a_wrong_master_key_file_is_refused_before_anything_is_closed(
    pg_dsn: str, cohort: str, tmp_path: Path
) -> None:
    from imflow.keys import MasterKey

    other = tmp_path / "other.key"
    MasterKey.generate().write(str(other))
    due = _due(pg_dsn, cohort)
    result = run(*_sweep(pg_dsn, cohort, "--master-key-file", str(other)))
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert _due(pg_dsn, cohort) == due  # nothing was closed with keys it cannot open


def test_a_missing_schema_is_refused_and_never_created(pg_dsn: str) -> None:
    missing = fresh_schema()
    line = one_line_error(run(*_sweep(pg_dsn, missing)))
    assert "not a readable imflow database" in line
    with psycopg.connect(pg_dsn) as conn:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (missing,)
        ).fetchone()
    assert found == (0,)


def test_a_password_in_the_url_never_shows_in_an_error() -> None:
    line = one_line_error(
        run("sweep", "--on", SWEEP_ON, "--db", "postgresql://im:s3cret-pw@127.0.0.1:1/imflow")
    )
    assert "s3cret-pw" not in line and "postgresql://im:***@127.0.0.1:1/imflow" in line


def test_postgresql_options_with_a_sqlite_file_are_refused(tmp_path: Path) -> None:
    made = run("simulate", "--cases", "5", "--until", "2025-06-30", "--db", "s.db", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    for extra in (["--schema", "imflow"], ["--master-key-file", "k"]):
        line = one_line_error(run(*_sweep("s.db", None, *extra), cwd=tmp_path))
        assert "apply to a postgresql:// database only" in line


MARKERS = ("MARK-person-7f3a", "MARK-member-7f3a", "MARK-note-7f3a")


def _plant_marked_case(dsn: str, schema: str) -> None:
    """A due case (opened 2025-03-03, last day 2028-03-02) whose person, member and a
    need's note are marker strings."""
    engine = Engine(clock=FrozenClock.on(date(2026, 6, 30)))
    person, member, note = MARKERS
    case = working_case(engine, "marked-1", person=person, members=(member,), household=2)
    last = case.events[-1].on
    case = advance(engine, case, c.RecordNeed(on=last, area="work", note=note))
    with PostgresStore(dsn, schema=schema, engine=engine) as store:
        store.append("marked-1", case.events, expected_version=0)


def _every_text(dsn: str, *schemas: str) -> str:
    """Every row of every table of *schemas*, as PostgreSQL prints it."""
    found: list[str] = []
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema = ANY(%s)",
            (list(schemas),),
        ).fetchall()
        for table_schema, table in tables:
            rows = conn.execute(f"SELECT t::text FROM {table_schema}.{table} t").fetchall()
            found += [r[0] for r in rows]
    return "\n".join(found)


def test_a_sweep_shows_and_writes_no_personal_data_in_clear(pg_dsn: str, cohort: str) -> None:
    _plant_marked_case(pg_dsn, cohort)
    assert "marked-1" in {r[0] for r in _count(pg_dsn, cohort, "SELECT case_id FROM cases")}
    for args in (_sweep(pg_dsn, cohort, "--dry-run"), _sweep(pg_dsn, cohort, "--retention")):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        assert "marked-1" in result.stdout or "--dry-run" not in args
        for marker in MARKERS:
            assert marker not in result.stdout + result.stderr
    closed = _count(pg_dsn, cohort, "SELECT closed_on FROM cases WHERE case_id = 'marked-1'")
    assert closed[0][0] is not None  # the marked case was due and is closed
    written = _every_text(pg_dsn, cohort, f"{cohort}_keys")
    assert "marked-1" in written  # the rows are there, read as text
    for marker in MARKERS:
        assert marker not in written  # sealed in every row the store and the sweep wrote


def test_a_history_changed_behind_imflows_back_stops_the_sweep_before_any_closure(
    pg_dsn: str, cohort: str
) -> None:
    _plant_marked_case(pg_dsn, cohort)
    due = _due(pg_dsn, cohort)
    with psycopg.connect(pg_dsn, options=f"-c search_path={cohort}") as conn:
        conn.execute("DELETE FROM events WHERE case_id = 'marked-1' AND seq = 2")
    line = one_line_error(run(*_sweep(pg_dsn, cohort)))
    assert "a stored case history is damaged (case 'marked-1'" in line
    assert line.endswith("nothing was changed")
    for marker in MARKERS:
        assert marker not in line
    assert _due(pg_dsn, cohort) == due  # nothing was closed
