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
