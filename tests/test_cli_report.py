"""``imflow report`` as a subprocess: every format, files with -o, trends with --years,
PostgreSQL as the source, and the simulation's progress bar on a terminal only."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import psycopg
import pytest

from imflow import Engine, FrozenClock
from imflow.kennzahlen import (
    TREND_FORMAT,
    from_json,
    report,
    to_json,
    trend_from_json,
)
from imflow.simulation import SimulationParams, simulate
from imflow.store import PostgresStore, SQLiteStore, migrate
from tests.pg import fresh_schema
from tests.report_cohort import simulated
from tests.stores import pg_dsn
from tests.test_cli import one_line_error, run

__all__ = ["pg_dsn"]  # the fixture used here

WT = "08337"
CASES, SEED = 300, 7


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli-report")
    db, _ = simulated(folder, cases=CASES, seed=SEED)
    return db, folder / "staffing.csv"


def test_files_by_extension_and_a_summary_that_names_them(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    db, staffing = cohort
    names = [tmp_path / f"kennzahlen-2026.{ext}" for ext in ("xlsx", "html", "csv", "json", "txt")]
    outputs = [arg for path in names for arg in ("-o", str(path))]
    done = run("report", "--year", "2026", "--db", str(db), "--staffing", str(staffing), *outputs)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 40
    assert lines[0] == "Kennzahlen Integrationsmanagement Baden-Württemberg – Berichtsjahr 2026"
    assert "Geschrieben:" in lines
    for path in names:
        assert f"  {path}" in lines
    xlsx, page, table, document, text = names
    assert openpyxl.load_workbook(xlsx).sheetnames[:2] == ["Prüfhinweise", "Land"]
    assert page.read_text(encoding="utf-8").count('<svg class="chart"') == 5
    assert table.read_bytes().startswith(b"\xef\xbb\xbf")
    assert from_json(document.read_text(encoding="utf-8")).year == 2026
    assert text.read_text(encoding="utf-8").startswith("Kennzahlen Integrationsmanagement")
    umask = next(
        int(line.split()[1], 8)
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("Umask:")
    )
    for path in names:  # the usual permissions, not those of a temporary file
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_district_csv_labels_its_totals_as_the_district(cohort: tuple[Path, Path]) -> None:
    db, staffing = cohort
    done = run("report", "--year", "2026", "--db", str(db), "--district", WT,
               "--staffing", str(staffing), "--format", "csv")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout.lstrip("\ufeff")), delimiter=";"))
    levels = [r[1] for r in rows[1:] if r[0] == "Kennzahlen"]
    assert levels[0] == "Kreis" and "Land" not in levels and "Träger" in levels


def test_years_give_a_trend_whose_years_are_the_single_reports(cohort: tuple[Path, Path]) -> None:
    db, staffing = cohort
    done = run("report", "--years", "2024-2026", "--db", str(db), "--staffing", str(staffing),
               "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["format"] == TREND_FORMAT
    trend = trend_from_json(done.stdout)
    assert trend.years == (2024, 2025, 2026)
    single = run("report", "--year", "2025", "--db", str(db), "--staffing", str(staffing),
                 "--format", "json")  # fmt: skip
    assert trend.reports[1] == from_json(single.stdout)
    text = run("report", "--years", "2024-2026", "--db", str(db), "--staffing", str(staffing))
    assert "Zeitreihe 2024–2026" in text.stdout


def test_a_workbook_or_pdf_goes_to_a_file_or_a_pipe(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    db, staffing = cohort
    piped = subprocess.run(
        [sys.executable, "-m", "imflow", "report", "--year", "2026", "--db", str(db),
         "--staffing", str(staffing), "--format", "xlsx"],
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert piped.returncode == 0 and piped.stdout[:2] == b"PK"
    assert openpyxl.load_workbook(io.BytesIO(piped.stdout)).sheetnames[0] == "Prüfhinweise"
    pdf = tmp_path / "ausschuss.pdf"
    done = run("--lang", "en", "report", "--year", "2026", "--db", str(db), "--district", WT,
               "--staffing", str(staffing), "-o", str(pdf))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    assert "Written:" in done.stdout and str(pdf) in done.stdout


def test_a_binary_format_is_not_written_onto_a_terminal(cohort: tuple[Path, Path]) -> None:
    db, _ = cohort
    output, code = _on_a_terminal(
        [sys.executable, "-m", "imflow", "report", "--year", "2026", "--db", str(db),
         "--format", "xlsx"], stdout=True,
    )  # fmt: skip
    assert code == 2 and "-o DATEI" in output and "PK" not in output


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def pg_database(pg_dsn: str) -> Iterator[str]:
    """A database of its own on the test server, as a ``postgresql://`` address."""
    name = fresh_schema()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)  # as the database's owner does once
    try:
        yield url
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
def test_a_report_from_postgresql_equals_the_one_from_sqlite(
    cohort: tuple[Path, Path], pg_database: str
) -> None:
    db, staffing = cohort
    from datetime import date

    engine = Engine(clock=FrozenClock.on(date(2023, 1, 1)))
    with PostgresStore(pg_database, engine=engine) as store:
        simulate(
            CASES,
            seed=SEED,
            start=date(2023, 1, 1),
            until=date(2026, 12, 31),
            params=SimulationParams(),
            store=store,
            engine=engine,
            keep_cases=False,
        )
    for scope in ([], ["--district", WT], ["--provider", f"{WT}-t2"]):
        args = ["report", "--year", "2026", "--staffing", str(staffing), "--format", "json", *scope]
        from_pg = run(*args, "--db", pg_database)
        from_sqlite = run(*args, "--db", str(db))
        assert from_pg.returncode == from_sqlite.returncode, from_pg.stderr
        assert json.loads(from_pg.stdout) == json.loads(from_sqlite.stdout)
        assert json.loads(from_pg.stdout)["figures"]["cases_active"] > 0
    with PostgresStore(pg_database) as store, SQLiteStore(db) as local:
        assert to_json(report(store, year=2026)) == to_json(report(local, year=2026))


@pytest.mark.postgres
def test_a_postgresql_database_without_imflow_tables_is_refused_unchanged(
    pg_database: str,
) -> None:
    line = one_line_error(run("report", "--year", "2026", "--db", pg_database))
    assert "keine imflow-Datenbank" in line
    with psycopg.connect(pg_database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert row == (0,)  # nothing was created


def test_a_postgresql_password_never_shows_in_an_error() -> None:
    line = one_line_error(
        run("report", "--year", "2026", "--db", "postgresql://im:s3cret-pw@127.0.0.1:1/imflow")
    )
    assert "s3cret-pw" not in line and "postgresql://im:***@127.0.0.1:1/imflow" in line


# -- progress --------------------------------------------------------------------------------


def _on_a_terminal(command: list[str], *, stdout: bool = False) -> tuple[str, int]:
    """Run *command* with standard error (and, if asked, output) on a pseudo-terminal."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=child if stdout else subprocess.DEVNULL,
        stderr=child,
        env={k: v for k, v in os.environ.items() if k != "IMFLOW_LANG"},
    )
    os.close(child)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = process.wait(timeout=120)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace"), code


def test_the_simulation_shows_a_bar_with_the_time_left_on_a_terminal_only(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "imflow", "simulate", "--cases", "1500", "--seed", "2",
               "--from", "2023-01-01", "--until", "2026-12-31", "--db", ":memory:"]  # fmt: skip
    shown, code = _on_a_terminal(command)
    assert code == 0
    frames = [f for f in shown.replace("\r\n", "\n").split("\r") if f.strip()]
    assert frames[0].startswith("Simulation [") and "%" in frames[0]
    assert "100 % · fertig in" in shown
    assert any(" % · noch " in f for f in frames[1:-1]), frames  # an estimate on the way
    piped = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == ""
    assert "[" not in piped.stdout.splitlines()[0]
