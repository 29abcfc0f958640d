"""A small simulated cohort for the report outputs (workbook, committee report, CLI, PG).

:func:`simulated` writes a seeded cohort over four years into a SQLite file, with the
providers' staffing beside it, so that every year from 2023 to 2026 has figures, every
district has two providers, and the findings are those of real simulated data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from imflow import Engine, FrozenClock
from imflow.kennzahlen import CATALOGUE, FigureKind
from imflow.simulation import SimulationParams, simulate
from imflow.store import SQLiteStore

__all__ = ["YEARS", "read_xlsx_levels", "simulated"]

YEARS = (2023, 2024, 2025, 2026)


def simulated(
    folder: Path, *, cases: int = 300, seed: int = 7
) -> tuple[Path, dict[tuple[str, str], Decimal]]:
    """``(database, staffing)`` of a cohort simulated from 2023 to 2026 into *folder*."""
    db = folder / "cohort.db"
    params = SimulationParams()
    engine = Engine(clock=FrozenClock.on(date(2023, 1, 1)))
    with SQLiteStore(db, engine=engine) as store:
        simulate(
            cases,
            seed=seed,
            start=date(2023, 1, 1),
            until=date(2026, 12, 31),
            params=params,
            store=store,
            engine=engine,
            keep_cases=False,
        )
    staffing = params.staffing()
    lines = ["district;provider;fte", *(f"{d};{p};{f}" for (d, p), f in staffing.items())]
    (folder / "staffing.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return db, staffing


def read_xlsx_levels(workbook: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Every figure sheet of a workbook read back: sheet title → column header →
    ``{figure id: value}``, a breakdown as ``{key: count}``."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for ws in workbook.worksheets[1:]:
        rows = list(ws.iter_rows(values_only=True))
        header = rows[0]
        assert header[:5] == ("Kennzahl", "Bezeichnung", "Schlüssel", "Aufschlüsselung", "Einheit")
        columns = [h for h in header[5:] if h != "Zählregel"]
        sheet: dict[str, dict[str, Any]] = {str(h): {} for h in columns}
        for row in rows[1:]:
            fid, key = str(row[0]), row[2]
            breakdown = CATALOGUE[fid].kind is FigureKind.BREAKDOWN
            for head, value in zip(columns, row[5 : 5 + len(columns)], strict=True):
                values = sheet[str(head)]
                if breakdown:
                    counts = values.setdefault(fid, {})
                    if key:
                        counts[key] = value
                    else:
                        assert value is None, (ws.title, fid)
                else:
                    values[fid] = value
        found[ws.title] = sheet
    return found


def without_zero_pairs(figures: Mapping[str, Any]) -> dict[str, Any]:
    """*figures* with the zero counts of ``goal_outcomes_by_area`` left out (that figure
    lists only the pairs with goals; a sheet lists every pair any of its columns has)."""
    out = dict(figures)
    pairs = out.get("goal_outcomes_by_area")
    if isinstance(pairs, Mapping):
        out["goal_outcomes_by_area"] = {k: v for k, v in pairs.items() if v}
    return out
