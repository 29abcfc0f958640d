"""The ``imflow`` command line, run as a subprocess: output and exit codes for good and bad
input, in German and English."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from imflow.simulation import SimulationParams
from tests.paths import WALDSHUT_TOML

VENV_IMFLOW = Path(sys.executable).with_name("imflow")
ACTOR = {"id": "im-1", "role": "manager", "provider": "drk", "district": "08337"}


def run(
    *args: str, cwd: Path | None = None, stdin: str | None = None, script: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m imflow ARGS`` (or the installed ``imflow`` script), output captured."""
    command: Sequence[str] = (
        [str(VENV_IMFLOW), *args] if script else [sys.executable, "-m", "imflow", *args]
    )
    env = {k: v for k, v in os.environ.items() if k != "IMFLOW_LANG"}
    return subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, env=env, timeout=300
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("imflow: ")
    return lines[0]


def events_hash(db: Path) -> str:
    """The events as the store reads them, in clear: the same for the same seed, while
    the rows on disk differ (each database has its own keys, each field a fresh nonce)."""
    from imflow.serialization import dumps
    from imflow.store import SQLiteStore

    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        for row in conn.execute(
            "SELECT case_id, seq, type, on_date, recorded_at, district, provider FROM events"
            " ORDER BY case_id, seq"
        ):
            digest.update(repr(row).encode())
    with SQLiteStore(db, cache_size=0) as store:
        for case in store.iter_cases():
            for event in case.events:
                digest.update(dumps(event).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def cohort_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated cohort in SQLite, with the providers' staffing next to it."""
    folder = tmp_path_factory.mktemp("cohort")
    result = run(
        "simulate", "--cases", "400", "--seed", "3", "--from", "2025-01-01",
        "--until", "2027-12-31", "--db", "cohort.db", "--staffing", "staffing.csv",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder / "cohort.db"


# -- help, version, usage errors --------------------------------------------------------


@pytest.mark.parametrize(
    "subcommand", [[], ["simulate"], ["report"], ["diagram"], ["schema"], ["validate"], ["sweep"]]
)
def test_help_in_both_languages(subcommand: list[str]) -> None:
    german = run(*subcommand, "--help")
    english = run(*subcommand, "--help", "--lang", "en")
    assert german.returncode == english.returncode == 0
    assert german.stdout.startswith("Aufruf: imflow") and "Optionen:" in german.stdout
    assert english.stdout.startswith("usage: imflow") and "options:" in english.stdout
    assert "Exit-Codes: 0" in german.stdout and "Exit codes: 0" in english.stdout


def test_the_installed_script_and_python_dash_m_agree() -> None:
    script = run("--version", script=True)
    module = run("--version")
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout == "imflow 0.1.0\n"


@pytest.mark.parametrize(
    ("args", "german", "english"),
    [
        ([], "folgende Angaben fehlen", "the following arguments are required"),
        (["frobnicate"], "ungültige Wahl 'frobnicate'", "invalid choice: 'frobnicate'"),
        (["simulate", "--cases", "many"], "ungültige Zahl 'many'", "invalid number 'many'"),
        (["simulate", "--cases", "-5"], "darf nicht negativ sein", "must not be negative"),
        (["simulate", "--from", "2025-02-30"], "ungültiges Datum '2025-02-30'", "invalid date"),
        (
            ["simulate", "--from", "2026-01-01", "--until", "2025-01-01", "--db", ":memory:"],
            "liegt vor --from",
            "is before --from",
        ),
        (["simulate", "--opening-window", "2"], "von 0 bis 1", "0 to 1"),
        (
            ["report", "--db", "x.db"],
            "eine der Angaben --year --years ist nötig",
            "one of the arguments --year --years is required",
        ),
        (["report", "--year", "2026", "--years", "2025-2026"], "nicht zusammen mit", "not allowed"),
        (["report", "--years", "2026-2023"], "kein Bereich von Berichtsjahren", "not a range"),
        (["report", "--years", "2017-2019"], "von 2018 bis 2099", "from 2018 to 2099"),
        (["report", "--year", "2026", "-o", "k.docx"], "Format unbekannt", "unknown format"),
        (["report", "--year", "2026", "--db", "missing.db"], "nicht gefunden", "not found"),
        (["report", "--year", "2026", "--format", "docx"], "ungültige Wahl", "invalid choice"),
        (["sweep", "--on", "tomorrow"], "ungültiges Datum 'tomorrow'", "invalid date"),
        (["sweep", "--on", "2030-01-01", "--db", "missing.db"], "nicht gefunden", "not found"),
        (["validate", "missing.jsonl"], "nicht gefunden", "not found"),
        (["validate", "x.jsonl", "--today", "2025-1-1"], "ungültiges Datum", "invalid date"),
        (["diagram", "--workflow", "missing.toml"], "nicht gefunden", "not found"),
        (["schema", "--only", "cases"], "ungültige Wahl", "invalid choice"),
        (["simulate", "--bogus"], "unbekannte Angaben: --bogus", "unrecognized arguments"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], german: str, english: str
) -> None:
    assert german in one_line_error(run(*args, cwd=tmp_path))
    assert english in one_line_error(run("--lang", "en", *args, cwd=tmp_path))


def test_a_file_that_is_no_database_is_bad_usage(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database, just notes\n" * 100)
    line = one_line_error(run("report", "--year", "2026", "--db", "notes.db", cwd=tmp_path))
    assert "keine lesbare imflow-Datenbank" in line
    line = one_line_error(run("sweep", "--on", "2026-01-01", "--db", "notes.db", cwd=tmp_path))
    assert "notes.db" in line


# -- simulate -------------------------------------------------------------------------------


def test_simulate_twice_gives_identical_sqlite_contents(tmp_path: Path) -> None:
    args = ["simulate", "--cases", "10000", "--seed", "1", "--from", "2025-01-01"]
    args += ["--until", "2025-12-31"]
    # the two runs go side by side: they share nothing but the seed
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "imflow", *args, "--db", name],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first.db", "second.db")
    ]
    outputs = [p.communicate(timeout=600) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    assert outputs[0][0].replace("first.db", "second.db") == outputs[1][0]
    assert outputs[0][1] == ""  # no progress bar when stderr is not a terminal
    assert outputs[0][0].startswith("10.000 Fälle simuliert vom 01.01.2025 bis 31.12.2025")
    first, second = events_hash(tmp_path / "first.db"), events_hash(tmp_path / "second.db")
    assert first == second
    with sqlite3.connect(tmp_path / "first.db") as conn:
        (cases,) = conn.execute("SELECT count(DISTINCT case_id) FROM events").fetchone()
        (recorded,) = conn.execute("SELECT max(recorded_at) FROM events").fetchone()
    assert cases == 10000
    assert recorded.startswith("2025-12-31T12:00:00")  # the fake clock, not the wall clock


def test_another_seed_gives_other_events(tmp_path: Path) -> None:
    for seed in ("1", "2"):
        args = ["simulate", "--cases", "50", "--seed", seed, "--until", "2025-06-30"]
        assert run(*args, "--db", f"s{seed}.db", cwd=tmp_path).returncode == 0
    assert events_hash(tmp_path / "s1.db") != events_hash(tmp_path / "s2.db")


def test_simulate_refuses_to_write_a_cohort_twice_into_one_file(cohort_db: Path) -> None:
    again = run("simulate", "--cases", "10", "--seed", "3", "--db", str(cohort_db))
    assert "sim-3-0000000" in one_line_error(again)


def test_simulate_in_memory_in_english() -> None:
    result = run("simulate", "--cases", "30", "--db", ":memory:", "--lang", "en")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("30 cases simulated from 2025-01-01 to 2028-12-31 (seed 1)")
    assert "closures:" in result.stdout


def test_simulate_writes_the_staffing_of_its_providers(cohort_db: Path) -> None:
    lines = (cohort_db.parent / "staffing.csv").read_text().splitlines()
    assert lines[0] == "district;provider;fte"
    assert len(lines) - 1 == len(SimulationParams().providers()) == 88


# -- report ---------------------------------------------------------------------------------


def test_report_prints_findings_first_and_exits_1(cohort_db: Path) -> None:
    result = run("report", "--year", "2026", "--db", str(cohort_db))
    assert result.returncode == 1
    out = result.stdout
    assert out.index("Plausibilitätsprüfung") < out.index("Aktive Fälle im Berichtsjahr")
    assert "[fte_missing]" in out  # no staffing given: caseload per FTE cannot be computed
    assert "Plausibilitätshinweis" in result.stderr


def test_report_with_staffing_has_no_findings(cohort_db: Path) -> None:
    staffing = str(cohort_db.parent / "staffing.csv")
    result = run("report", "--year", "2026", "--db", str(cohort_db), "--staffing", staffing)
    assert result.returncode == 0, result.stdout
    assert "Plausibilitätsprüfung: keine Hinweise" in result.stdout
    english = run("--lang", "en", "report", "--year", "2026", "--db", str(cohort_db),
                  "--staffing", staffing, "--district", "08337")  # fmt: skip
    assert english.returncode == 0
    assert "Waldshut" in english.stdout and "Cases active in the year" in english.stdout


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("08337;caritas-wt;-1", "'-1' is not an FTE figure"),
        ("08337;caritas-wt;NaN", "'NaN' is not an FTE figure"),
        ("08337;caritas-wt;0,333", "'0,333' is not an FTE figure"),
        ("08337;caritas-wt", "expected district;provider;FTE"),
    ],
)
def test_a_bad_staffing_file_is_one_line_naming_the_line(
    cohort_db: Path, row: str, expected: str
) -> None:
    staffing = cohort_db.parent / "bad-staffing.csv"
    staffing.write_text(f"district;provider;fte\n08337;diakonie-wt;1,5\n{row}\n")
    result = run("--lang", "en", "report", "--year", "2026", "--db", str(cohort_db),
                 "--staffing", str(staffing))  # fmt: skip
    line = one_line_error(result)
    assert result.stdout == ""
    assert "line 3" in line and expected in line


def test_report_formats(cohort_db: Path) -> None:
    as_json = run("report", "--year", "2026", "--db", str(cohort_db), "--format", "json")
    assert as_json.returncode == 1  # findings, as above
    doc = json.loads(as_json.stdout)
    assert doc["year"] == 2026
    as_csv = subprocess.run(
        [sys.executable, "-m", "imflow", "report", "--year", "2026", "--db", str(cohort_db),
         "--format", "csv"],
        capture_output=True,
    )  # fmt: skip
    assert as_csv.stdout.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM for spreadsheets
    assert b";" in as_csv.stdout.splitlines()[1]


def test_report_for_an_unknown_district_is_bad_usage(cohort_db: Path) -> None:
    line = one_line_error(
        run("report", "--year", "2026", "--db", str(cohort_db), "--district", "09162")
    )
    assert "09162" in line


# -- sweep ----------------------------------------------------------------------------------


def test_sweep_closes_expired_cases_once(tmp_path: Path) -> None:
    made = run("simulate", "--cases", "200", "--seed", "5", "--until", "2026-06-30",
               "--db", "s.db", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0
    due_sql = "SELECT count(*) FROM cases WHERE closed_on IS NULL AND period_end < '2029-06-30'"
    expired_sql = (
        "SELECT count(*) FROM events WHERE type = 'case_closed'"
        " AND json_extract(payload, '$.reason') = 'period_expired'"
    )
    with sqlite3.connect(tmp_path / "s.db") as conn:
        (due,) = conn.execute(due_sql).fetchone()
        (expired_before,) = conn.execute(expired_sql).fetchone()
    assert due >= 20  # the cohort runs until mid-2026; many periods end by mid-2029
    first = run("sweep", "--on", "2029-06-30", "--db", "s.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == str(due)
    assert "„Beratungszeitraum abgelaufen“ abgeschlossen (Stichtag 30.06.2029)" in first.stdout
    second = run("--lang", "en", "sweep", "--on", "2029-06-30", "--db", "s.db", cwd=tmp_path)
    assert second.returncode == 0
    assert second.stdout == "0 cases closed as “Counselling period expired” (sweep of 2029-06-30)\n"
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute(due_sql).fetchone() == (0,)
        assert conn.execute(expired_sql).fetchone() == (expired_before + due,)
        late = conn.execute(  # each closed the day after its last day, by the system actor
            "SELECT count(*) FROM events e JOIN cases c ON c.case_id = e.case_id"
            " WHERE e.type = 'case_closed' AND e.seq = c.version"
            " AND json_extract(e.payload, '$.reason') = 'period_expired'"
            " AND json_extract(e.payload, '$.actor.role') = 'system'"
            " AND e.on_date = date(c.period_end, '+1 day')"
        ).fetchone()
    assert late[0] >= due


# -- diagram and schema -----------------------------------------------------------------------


def test_diagram_in_both_languages_and_formats() -> None:
    german = run("diagram")
    english = run("diagram", "--lang", "en")
    dot = run("diagram", "--format", "dot")
    assert german.returncode == english.returncode == dot.returncode == 0
    assert "stateDiagram-v2" in german.stdout and "Integrationsplanung" in german.stdout
    assert "Planning" in english.stdout and "Integrationsplanung" not in english.stdout
    assert dot.stdout.startswith("digraph")


PAUSED = WALDSHUT_TOML.read_text(encoding="utf-8")


def test_diagram_of_a_district_variant(tmp_path: Path) -> None:
    (tmp_path / "paused.toml").write_text(PAUSED)
    result = run("diagram", "--workflow", "paused.toml", cwd=tmp_path)
    assert result.returncode == 0
    assert "Ruhend" in result.stdout


def test_a_broken_workflow_is_rejected_with_every_problem(tmp_path: Path) -> None:
    broken = PAUSED.replace('target = "monitoring"', 'target = "nowhere"')
    (tmp_path / "broken.toml").write_text(broken)
    result = run("diagram", "--workflow", "broken.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_schema_is_json_schema_of_commands_and_events() -> None:
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    text = result.stdout
    assert '"open_case"' in text and '"case_opened"' in text
    only = json.loads(run("schema", "--only", "commands").stdout)
    assert '"case_opened"' not in json.dumps(only)


# -- validate -------------------------------------------------------------------------------


def line(command: dict[str, object], case_id: str | None = "wt-1", actor: object = ACTOR) -> str:
    doc: dict[str, object] = {"actor": actor, "command": command}
    if case_id is not None:
        doc["case_id"] = case_id
    return json.dumps(doc)


OPEN = {"type": "open_case", "case_id": "wt-1", "person": "p-1", "district": "08337",
        "provider": "drk", "household": 3, "on": "2025-03-03"}  # fmt: skip


def test_validate_a_clean_file(tmp_path: Path) -> None:
    lines = [
        line(OPEN, case_id=None),
        line({"type": "record_consent", "on": "2025-03-03"}),
        "",
        line({"type": "start_assessment", "on": "2025-03-04"}),
        line({"type": "record_need", "on": "2025-03-04", "area": "language", "note": "A1"}),
    ]
    (tmp_path / "ok.jsonl").write_text("\n".join(lines) + "\n")
    result = run("validate", "ok.jsonl", "--today", "2025-12-31", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout == "4 Befehle: 4 angenommen, 0 abgelehnt, 0 ungültig\n"
    verbose = run("validate", "-", "-v", "--today", "2025-12-31", "--lang", "en",
                  stdin="\n".join(lines))  # fmt: skip
    assert "line 4: wt-1: start_assessment accepted, phase Assessment" in verbose.stdout


def test_validate_prints_rejections_with_line_numbers_and_reason_codes(tmp_path: Path) -> None:
    lines = [
        line(OPEN, case_id=None),
        line({"type": "start_assessment", "on": "2025-03-03"}),  # 2: consent missing
        line({"type": "record_consent", "on": "2025-03-01"}),  # 3: before the opening
        line({"type": "record_consent", "on": "2026-01-05"}),  # 4: after --today
        line({"type": "record_consent", "on": "2025-03-03"}, actor={"id": "a", "role": "auditor"}),
        line({"type": "record_need", "on": "2025-02-30", "area": "housing"}),  # 6: bad date
        "{not json",  # 7
        line({"type": "record_consent", "on": "2025-03-03"}, case_id="wt-9"),  # 8: no such case
        line({"type": "record_consent", "on": "2025-03-03"}, case_id=None),  # 9: no case id
        line(OPEN, case_id=None),  # 10: opened twice
        line({"type": "record_contact", "on": "2025-03-04", "minutes": 0}),  # 11: invalid value
    ]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    result = run("validate", "bad.jsonl", "--today", "2025-12-31", "--lang", "en", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    for expected in (
        "line 2: wt-1: start_assessment rejected\n  consent_missing: ",
        "line 3: wt-1: record_consent rejected\n  date_out_of_order: ",
        "line 4: wt-1: record_consent rejected\n  date_in_future: ",
        "line 5: wt-1: record_consent rejected\n  forbidden: ",
        "line 6: malformed: $.command.on: impossible date\n",
        "line 7: malformed: JSON: ",
        "line 8: wt-9: record_consent rejected\n  case_not_found: ",
        "line 9: malformed: case_id is missing",
        "line 10: wt-1: open_case rejected\n  case_exists: ",
        "line 11: wt-1: record_contact rejected\n  invalid_value: ",
    ):
        assert expected in out
    assert out.endswith("11 commands: 1 accepted, 7 rejected, 3 malformed\n")
    german = run("validate", "bad.jsonl", "--today", "2025-12-31", cwd=tmp_path)
    assert "Zeile 2: wt-1: start_assessment abgelehnt" in german.stdout
    assert "Die Einwilligung in die Datenverarbeitung fehlt" in german.stdout
