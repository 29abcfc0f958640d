"""``imflow sweep --retention`` erases the personal content that is due, once."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from imflow.retention import due
from imflow.store import SQLiteStore
from tests.test_cli import run


def test_sweep_with_retention_erases_due_cases_once(tmp_path: Path) -> None:
    made = run("simulate", "--cases", "150", "--seed", "4", "--until", "2025-12-31",
               "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with SQLiteStore(tmp_path / "r.db") as store:
        expected = len(due(store, on=date(2030, 1, 1)))
    assert expected > 0
    first = run("sweep", "--on", "2030-01-01", "--retention", "--db", "r.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == (
        f"Personenbezogene Inhalte von {expected} abgeschlossenen Fällen gelöscht"
        " (Löschfrist, Stichtag 01.01.2030)"
    )
    again = run("--lang", "en", "sweep", "--on", "2030-01-01", "--retention", "--db", "r.db",
                cwd=tmp_path)  # fmt: skip
    assert again.stdout.splitlines()[-1] == (
        "Erased the personal content of 0 closed cases (retention, as of 2030-01-01)"
    )
    with sqlite3.connect(tmp_path / "r.db") as conn:
        erased = conn.execute("SELECT count(*) FROM events WHERE type = 'person_erased'")
        assert erased.fetchone()[0] >= expected


def test_a_dry_run_lists_what_retention_would_erase_and_changes_nothing(tmp_path: Path) -> None:
    made = run("simulate", "--cases", "150", "--seed", "4", "--until", "2025-12-31",
               "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with SQLiteStore(tmp_path / "r.db") as store:
        listed = due(store, on=date(2030, 1, 1))
    assert listed
    before = (tmp_path / "r.db").read_bytes()
    dry = run("--lang", "en", "sweep", "--on", "2030-01-01", "--retention", "--dry-run",
              "--db", "r.db", cwd=tmp_path)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[-1] == (
        f"The personal content of {len(listed)} closed cases would be erased"
        " (retention, as of 2030-01-01); nothing was changed"
    )
    for d in listed:
        assert f"{d.case_id}: closed on {d.closed_on.isoformat()}, retention period over" in lines
    assert (tmp_path / "r.db").read_bytes() == before
    with SQLiteStore(tmp_path / "r.db") as store:
        assert due(store, on=date(2030, 1, 1)) == listed
