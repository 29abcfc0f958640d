"""The command line as a hostile user meets it: every invocation of issue #11 that used to
print a traceback is one line on standard error with exit 2, and a database that is not
imflow's stays byte-for-byte unchanged.

Every invocation runs ``python -m imflow`` as a subprocess, on real files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import _cli_safety as safety
from imflow.cli import _date_type, main
from tests.test_cli import run

ACTOR = {"id": "im-1", "role": "manager", "provider": "drk", "district": "08337"}
OPEN = {"type": "open_case", "case_id": "wt-1", "person": "p-1", "district": "08337",
        "provider": "drk", "household": 3, "on": "2025-03-03"}  # fmt: skip
SWEEP_ON = "2029-06-30"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def events_digest(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM events ORDER BY case_id, seq").fetchall()
        cases = conn.execute("SELECT case_id, phase, version FROM cases ORDER BY 1").fetchall()
    return hashlib.sha256(repr((rows, cases)).encode()).hexdigest()


def due_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT case_id FROM cases WHERE closed_on IS NULL AND period_end < ? ORDER BY case_id",
            (SWEEP_ON,),
        ).fetchall()
    return [r[0] for r in rows]


def line(command: object, **top: object) -> str:
    return json.dumps({"actor": ACTOR, "command": command, **top})


def huge(text: str) -> str:
    """*text* with its (one) ``0`` value made a 5,000-digit integer."""
    return text.replace(": 0", ": " + "9" * 5000)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An imflow database, another application's database, and hostile input files."""
    here = tmp_path_factory.mktemp("hostile_cli")
    made = run("simulate", "--cases", "120", "--seed", "7", "--until", "2026-06-30",
               "--db", "imflow.db", cwd=here)  # fmt: skip
    assert made.returncode == 0, made.stderr
    # someone else's databases, in rollback-journal mode, with a row of theirs: one that
    # imflow's tables would fit into, one with a table named like one of imflow's
    for name, tables in (("other-app.db", ()), ("other-events.db", ("events",))):
        with sqlite3.connect(here / name) as conn:
            conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
            for table in tables:
                conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, what TEXT)")
            conn.execute("INSERT INTO customers (name) VALUES ('Anna Beispiel')")
        conn.close()
        (here / f"{name}.sha256").write_text(digest(here / name))
    # a copy of imflow's database with a sequence gap in a case the sweep would close
    shutil.copy(here / "imflow.db", here / "gap.db")
    victim = due_ids(here / "gap.db")[0]
    with sqlite3.connect(here / "gap.db") as conn:
        conn.execute("DELETE FROM events WHERE case_id = ? AND seq = 2", (victim,))
        conn.execute(
            "UPDATE cases SET snapshot = NULL, snapshot_version = NULL WHERE case_id = ?",
            (victim,),
        )
    conn.close()
    (here / "fte-huge.csv").write_text("district;provider;fte\n08337;drk;1e400\n")
    (here / "fte-digits.csv").write_text("district;provider;fte\n08337;drk;" + "9" * 29 + "\n")
    (here / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (here / "deep-object.json").write_text('{"phases": ' + "[" * 5000 + "]" * 5000 + "}")
    (here / "digits.json").write_text('{"id": ' + "9" * 5000 + "}")
    (here / "deep.toml").write_text("id = " + "[" * 5000 + "]" * 5000 + "\n")
    for name, toml in {
        "kinds-phases.toml": 'id = "x"\nphases = "intake"\n',
        "kinds-name.toml": 'id = "x"\n[[phases]]\nname = 5\n',
        "kinds-allow.toml": 'extends = "bw-integrationsmanagement"\nallow_in = 5\n',
        "kinds-allow-list.toml": (
            'extends = "bw-integrationsmanagement"\n[allow_in]\nclose_case = 5\n'
        ),
        "kinds-guards.toml": 'extends = "bw-integrationsmanagement"\nadd_guards = ["x"]\n',
        "kinds-target.toml": (
            'extends = "bw-integrationsmanagement"\n[[commands]]\nname = "c"\n'
            'sources = ["monitoring"]\ntarget = { a = 1 }\n'
        ),
        "kinds-initial.toml": 'id = "x"\ninitial = ["intake"]\n[[phases]]\nname = "intake"\n',
        "kinds-labels.toml": 'extends = "bw-integrationsmanagement"\n[labels]\nintake = 3\n',
    }.items():
        (here / name).write_text(toml)
    return here


# the invocations of issue #11, and their relatives; {db} is imflow's own database
MATRIX: dict[str, list[str]] = {
    "year 0": ["report", "--year", "0", "--db", "imflow.db"],
    "year -5": ["report", "--year=-5", "--db", "imflow.db"],
    "year 1000000": ["report", "--year", "1000000", "--db", "imflow.db"],
    "year 10**30": ["report", "--year", str(10**30), "--db", "imflow.db"],
    "year 2017": ["report", "--year", "2017", "--db", "imflow.db"],
    "year 2100": ["report", "--year", "2100", "--db", "imflow.db"],
    "year 5000 digits": ["report", "--year", "9" * 5000, "--db", "imflow.db"],
    "fte 1e400": ["report", "--year", "2025", "--db", "imflow.db", "--staffing", "fte-huge.csv"],
    "fte 29 digits": [
        "report",
        "--year",
        "2025",
        "--db",
        "imflow.db",
        "--staffing",
        "fte-digits.csv",
    ],
    "unknown provider": ["report", "--year", "2025", "--db", "imflow.db", "--provider", "nobody"],
    "provider of another district": [
        "report",
        "--year",
        "2025",
        "--db",
        "imflow.db",
        "--provider",
        "08111-t1",
        "--district",
        "08337",
    ],
    "report another app's db": ["report", "--year", "2025", "--db", "other-app.db"],
    "sweep another app's db": ["sweep", "--on", "2026-01-01", "--db", "other-app.db"],
    "dry sweep another app's db": [
        "sweep",
        "--on",
        "2026-01-01",
        "--db",
        "other-app.db",
        "--dry-run",
    ],
    "simulate into another app's db": ["simulate", "--cases", "3", "--db", "other-app.db"],
    "simulate from 9999-06-01": ["simulate", "--from", "9999-06-01", "--db", ":memory:"],
    "simulate from 0001-01-01": ["simulate", "--from", "0001-01-01", "--db", ":memory:"],
    "simulate until 2100": ["simulate", "--until", "2100-01-01", "--db", ":memory:"],
    "simulate 10**12 cases": ["simulate", "--cases", "1000000000000", "--db", ":memory:"],
    "simulate 5000-digit seed": ["simulate", "--seed", "9" * 5000, "--db", ":memory:"],
    "sweep with a sequence gap": ["sweep", "--on", SWEEP_ON, "--db", "gap.db"],
    "dry sweep with a sequence gap": ["sweep", "--on", SWEEP_ON, "--db", "gap.db", "--dry-run"],
    "sweep on 9999-12-31": ["sweep", "--on", "9999-12-31", "--db", "imflow.db"],
    "diagram deep JSON array": ["diagram", "--workflow", "deep.json"],
    "diagram deep JSON object": ["diagram", "--workflow", "deep-object.json"],
    "diagram 5000-digit JSON": ["diagram", "--workflow", "digits.json"],
    "diagram deep TOML": ["diagram", "--workflow", "deep.toml"],
    **{
        f"diagram TOML {name}": ["diagram", "--workflow", f"kinds-{name}.toml"]
        for name in ("phases", "name", "allow", "allow-list", "guards", "target", "initial")
    },
    "diagram TOML labels": ["diagram", "--workflow", "kinds-labels.toml"],
    "validate with the clock on 9999-12-31": ["validate", "-", "--today", "9999-12-31"],
}


FOREIGN = ("other-app.db", "other-events.db")
MATRIX |= {
    f"{command} {name}": [*args, "--db", name]
    for name in FOREIGN[1:]
    for command, args in {
        "report": ["report", "--year", "2025"],
        "sweep": ["sweep", "--on", "2026-01-01"],
        "simulate": ["simulate", "--cases", "3"],
    }.items()
}


def pristine(folder: Path) -> list[tuple[str, str]]:
    """Each foreign database's digest now and as it was made."""
    return [(digest(folder / n), (folder / f"{n}.sha256").read_text()) for n in FOREIGN]


@pytest.mark.parametrize(
    ("lang", "args"),
    [("de" if i % 2 else "en", args) for i, args in enumerate(MATRIX.values())],
    ids=MATRIX.keys(),
)
def test_every_hostile_invocation_is_one_line_and_exit_2(
    folder: Path, lang: str, args: list[str]
) -> None:
    """Half of them in German, half in English (each language's words are checked in
    test_cli.py; here the one line matters)."""
    before = events_digest(folder / "imflow.db"), events_digest(folder / "gap.db")
    result = run("--lang", lang, *args, cwd=folder, stdin="")
    assert result.returncode == 2, (result.stdout[-500:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("imflow: ")
    assert len(lines[0]) < 600  # a 5,000-digit value is not echoed whole
    assert "internal error" not in lines[0] and "interner Fehler" not in lines[0]
    # nothing anywhere changed: another app's files byte for byte, no WAL beside them
    assert (events_digest(folder / "imflow.db"), events_digest(folder / "gap.db")) == before
    for now, made in pristine(folder):
        assert now == made
    assert sorted(p.name for p in folder.glob("other-*")) == sorted(
        [*FOREIGN, *(f"{n}.sha256" for n in FOREIGN)]
    )


def test_a_foreign_database_is_named_as_such_and_keeps_its_rows(folder: Path) -> None:
    result = run("--lang", "en", "report", "--year", "2025", "--db", "other-app.db", cwd=folder)
    assert result.stderr == "imflow: other-app.db is not an imflow database; nothing was changed\n"
    with sqlite3.connect(folder / "other-app.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"customers"}


def test_an_empty_file_is_no_imflow_database_for_report_but_simulate_may_fill_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "new.db").write_bytes(b"")
    refused = run("report", "--year", "2025", "--db", "new.db", cwd=tmp_path)
    assert refused.returncode == 2 and "keine imflow-Datenbank" in refused.stderr
    assert (tmp_path / "new.db").read_bytes() == b""
    filled = run("simulate", "--cases", "3", "--db", "new.db", cwd=tmp_path)
    assert filled.returncode == 0, filled.stderr
    again = run("report", "--year", "2025", "--db", "new.db", cwd=tmp_path)
    assert again.returncode in (0, 1), again.stderr


def test_the_gap_names_the_damage_and_the_sweep_closes_nothing(folder: Path) -> None:
    result = run("--lang", "en", "sweep", "--on", SWEEP_ON, "--db", "gap.db", cwd=folder)
    assert result.returncode == 2
    assert "a stored case history is damaged" in result.stderr
    assert "nothing was changed" in result.stderr
    assert len(due_ids(folder / "gap.db")) == len(due_ids(folder / "imflow.db"))


def test_a_known_provider_is_reported_and_an_unknown_one_is_named(folder: Path) -> None:
    with sqlite3.connect(folder / "imflow.db") as conn:
        (district, provider) = conn.execute(
            "SELECT district, provider FROM cases ORDER BY case_id LIMIT 1"
        ).fetchone()
    conn.close()
    known = run("report", "--year", "2025", "--db", "imflow.db", "--provider", provider,
                "--district", district, "--format", "json", cwd=folder)  # fmt: skip
    assert known.returncode in (0, 1), known.stderr
    assert json.loads(known.stdout)["scope"] == {"district": district, "provider": provider}
    # a provider the database knows, in a year without any of its cases: an empty report
    quiet = run("report", "--year", "2018", "--db", "imflow.db", "--provider", provider,
                cwd=folder)  # fmt: skip
    assert quiet.returncode in (0, 1), quiet.stderr
    unknown = run("--lang", "en", "report", "--year", "2025", "--db", "imflow.db",
                  "--provider", provider + "x", cwd=folder)  # fmt: skip
    assert unknown.stderr == f"imflow: no case of provider {provider}x in imflow.db\n"


def test_a_dry_run_lists_what_the_sweep_then_closes(tmp_path: Path, folder: Path) -> None:
    shutil.copy(folder / "imflow.db", tmp_path / "s.db")
    due = due_ids(tmp_path / "s.db")
    assert len(due) >= 5
    before = events_digest(tmp_path / "s.db")
    dry = run("--lang", "en", "sweep", "--on", SWEEP_ON, "--db", "s.db", "--dry-run",
              cwd=tmp_path)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    listed = [row.split(":")[0] for row in dry.stdout.splitlines()[:-1]]
    assert listed == due
    assert all(": period ended on 20" in row for row in dry.stdout.splitlines()[:-1])
    assert dry.stdout.splitlines()[-1] == (
        f"{len(due)} cases would be closed as “Counselling period expired”"
        f" (sweep of {SWEEP_ON}); nothing was changed"
    )
    assert events_digest(tmp_path / "s.db") == before
    real = run("sweep", "--on", SWEEP_ON, "--db", "s.db", cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert real.stdout.split()[0] == str(len(due))
    assert due_ids(tmp_path / "s.db") == []
    with sqlite3.connect(tmp_path / "s.db") as conn:
        closed = {
            r[0]
            for r in conn.execute(
                "SELECT case_id FROM events WHERE type = 'case_closed'"
                " AND json_extract(payload, '$.reason') = 'period_expired'"
                " AND json_extract(payload, '$.actor.role') = 'system'"
            )
        }
    conn.close()
    assert set(due) <= closed


def test_simulate_in_memory_writes_the_staffing_it_was_asked_for(tmp_path: Path) -> None:
    result = run("--lang", "en", "simulate", "--cases", "20", "--db", ":memory:",
                 "--staffing", "fte.csv", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("nothing stored (--db :memory:); providers' FTE in fte.csv\n")
    rows = (tmp_path / "fte.csv").read_text().splitlines()
    assert rows[0] == "district;provider;fte" and len(rows) > 1
    used = run("report", "--year", "2025", "--db", ":memory:", cwd=tmp_path)
    assert used.returncode == 2  # and :memory: is no database to report from


def test_simulate_near_the_last_date_stops_at_2099(tmp_path: Path) -> None:
    result = run("--lang", "en", "simulate", "--cases", "5", "--from", "2099-06-01",
                 "--db", ":memory:", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2099-06-01 to 2099-12-31" in result.stdout


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"actor": ' + "[" * 5000 + "]" * 5000 + ', "command": {}}', "JSON nested too deeply"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        (huge(line({**OPEN, "household": 0})), "JSON: a number with too many digits"),
        (huge(line({"type": "record_consent"}, case_id=0)), "JSON: a number with too many digits"),
        (line({**OPEN, "on": "9999-12-31"}), "$.command.on: must be a date from 2018-01-01"),
        (line({**OPEN, "person": json.loads("[" * 900 + "]" * 900)}), "$.command.person"),
    ],
)
def test_validate_reports_a_hostile_line_as_malformed(text: str, problem: str) -> None:
    """validate's contract: a malformed line is a finding (exit 1) named on stdout, like a
    line with a JSON syntax error; the run goes on with the next line."""
    second = line({**OPEN, "case_id": "wt-2"})
    result = run("--lang", "en", "validate", "-", "--today", "2025-06-01",
                 stdin=text + "\n" + second + "\n")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == ""
    first, summary = result.stdout.splitlines()
    assert first.startswith("line 1: malformed: ") and problem in first
    assert summary == "2 commands: 1 accepted, 0 rejected, 1 malformed"


PLANTED = """
import sys
import imflow.kennzahlen

def boom(*args, **kwargs):
    raise RuntimeError("p-MARKER-4711 Anna Beispiel")

imflow.kennzahlen.report = imflow.kennzahlen.report_years = boom
from imflow.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_safety_net_names_only_the_kind_of_an_unexpected_error(folder: Path) -> None:
    """A fault planted in the library: one line, exit 2, the exception's type, no value."""
    result = subprocess.run(
        [sys.executable, "-c", PLANTED, "--lang", "en", "report", "--year", "2025",
         "--db", "imflow.db"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "imflow: internal error (RuntimeError); nothing of the input is shown – please report it\n"
    )
    assert "MARKER" not in result.stdout + result.stderr


# -- the argument types, for any text --------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.integers().map(str), st.dates().map(date.isoformat)))
def test_a_year_is_accepted_only_from_2018_to_2099(text: str) -> None:
    try:
        year = safety.year_type("en")(text)
    except Exception as exc:
        assert type(exc).__name__ == "ArgumentTypeError"
        assert "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert 2018 <= year <= 2099 and str(year) == text.strip()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.integers().map(str)))
def test_a_number_of_cases_is_bounded(text: str) -> None:
    try:
        n = safety.cases_type("en")(text)
    except Exception as exc:
        assert type(exc).__name__ == "ArgumentTypeError"
        assert "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert 0 <= n <= safety.MAX_CASES


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.dates().map(date.isoformat),
        st.dates().map(lambda d: f"{d.day}.{d.month}.{d.year:04d}"),
    )
)
def test_a_date_argument_lies_within_imflows_bounds(text: str) -> None:
    try:
        day = _date_type("de")(text)
    except Exception as exc:
        assert type(exc).__name__ == "ArgumentTypeError"
        assert "\n" not in str(exc) and len(str(exc)) < 300
    else:
        assert date(2018, 1, 1) <= day <= date(2099, 12, 31)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(year=st.text(max_size=12), provider=st.text(max_size=12))
def test_report_in_process_never_raises(
    folder: Path, capsys: pytest.CaptureFixture[str], year: str, provider: str
) -> None:
    """:func:`imflow.cli.main` called by a host: an exit code, never an exception."""
    db = str(folder / "imflow.db")
    code = main(["report", "--year", year, "--db", db, "--provider", provider])
    err = capsys.readouterr().err
    assert code in (0, 1, 2)
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("imflow: ")
