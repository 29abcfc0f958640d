"""The yearly report: key figures per provider, district and state, findings first.

Every January the coordination office (Koordinationsstelle) of each district sends the
previous year's key figures (Kennzahlen) to the granting authority, due on 31 January.
This example simulates two years of cases into SQLite, reports 2026 for the state and
for Landkreis Waldshut, writes the CSV (German headers, UTF-8 with BOM, for
spreadsheets) and JSON files, shows that merging the providers' reports gives the
district's report, and what the plausibility checks say about a corrupt import.

Run it with ``python examples/yearly_report.py``; it writes its files into
``$IMFLOW_EXAMPLE_DIR`` (or a temporary folder).
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import structlog

from imflow import Engine, FrozenClock
from imflow.actors import Actor
from imflow.enums import Channel, ClosureReason, Role
from imflow.events import CaseClosed, CaseOpened, ContactRecorded, Event
from imflow.kennzahlen import CATALOGUE, Report, from_json, report, to_csv, to_json, to_text
from imflow.simulation import SimulationParams, simulate
from imflow.store import SQLiteStore

YEAR = 2026
WALDSHUT = "08337"


def example_dir() -> Path:
    """Where the example may write: ``$IMFLOW_EXAMPLE_DIR`` or a fresh temporary folder."""
    return Path(os.environ.get("IMFLOW_EXAMPLE_DIR") or tempfile.mkdtemp(prefix="imflow-"))


def fresh_database(path: Path) -> Path:
    """*path*, with any database left there by an earlier run removed."""
    for old in path.parent.glob(f"{path.name}*"):
        old.unlink()
    return path


def corrupt_import() -> list[Event]:
    """One case as an older system might export it: closed before it was opened, and
    with a contact after the closure."""
    clerk = Actor("import", Role.MANAGER, provider="alt-system", district="08111")
    at = datetime(2026, 2, 1, tzinfo=UTC)
    return [
        CaseOpened(
            case_id="alt-1",
            seq=1,
            on=date(2026, 3, 1),
            recorded_at=at,
            actor=clerk,
            person="p-1",
            household=2,
            members=("p-2",),
            district="08111",
            provider="alt-system",
            rule_set="system-2025",
            workflow="bw-integrationsmanagement",
            workflow_hash="",
            period_end=date(2029, 2, 28),
        ),
        CaseClosed(
            case_id="alt-1",
            seq=2,
            on=date(2026, 2, 1),
            recorded_at=at,
            actor=clerk,
            reason=ClosureReason.MOVED_AWAY,
            note="",
        ),
        ContactRecorded(
            case_id="alt-1",
            seq=3,
            on=date(2026, 4, 1),
            recorded_at=at,
            actor=clerk,
            minutes=30,
            channel=Channel.PHONE,
            topics=(),
        ),
    ]


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    folder = example_dir()
    params = SimulationParams()
    staffing = params.staffing()  # the simulated providers' FTE by (district, provider)

    # the store re-decides every event with its engine: one on the simulation's clock
    simulated = Engine(clock=FrozenClock.on(date(2025, 1, 1)))
    with SQLiteStore(fresh_database(folder / "cases.db"), engine=simulated) as store:
        simulate(1500, seed=26, start=date(2025, 1, 1), until=date(2026, 12, 31), store=store)
        state = report(store, year=YEAR, staffing=staffing)
        district = report(store, year=YEAR, district=WALDSHUT, staffing=staffing)
        providers = sorted({unit.provider for unit in district.units})
        parts = [
            report(store, year=YEAR, district=WALDSHUT, provider=p, staffing=staffing)
            for p in providers
        ]

    print(to_text(district, lang="de"))
    figures = state.figures()
    print(f"\nState of Baden-Württemberg, {YEAR} ({len(state.districts)} districts with data):")
    for figure_id in (
        "cases_active",
        "persons_counselled",
        "plan_on_time_share",
        "goals_achieved_share",
        "contacts_per_active_case",
        "caseload_per_fte",
        "open_past_period",
    ):
        figure, value = CATALOGUE[figure_id], figures[figure_id]
        if isinstance(value, float):
            shown = f"{value:.1%}" if figure.kind == "share" else f"{value:.2f} {figure.unit('en')}"
        else:
            shown = str(value)
        print(f"  {figure.name('en')}: {shown}")
    print(f"  findings: {[f.code for f in state.findings] or 'none'}; due on {state.due}")

    csv_file = folder / f"kennzahlen-{YEAR}-{WALDSHUT}.csv"
    csv_file.write_bytes(to_csv(district, lang="de"))
    json_files = []
    for part, provider in zip(parts, providers, strict=True):
        path = folder / f"kennzahlen-{YEAR}-{provider}.json"
        path.write_text(to_json(part), encoding="utf-8")
        json_files.append(path)
    print(f"\nwrote {csv_file.name} ({csv_file.stat().st_size} bytes, UTF-8 with BOM)")
    print("wrote", ", ".join(p.name for p in json_files))

    received = [from_json(p.read_text(encoding="utf-8")) for p in json_files]
    merged = Report.merge(*received)
    print(
        f"merging the {len(received)} providers' reports gives the district's report: "
        f"{merged.figures() == district.figures()}"
    )

    print("\nplausibility checks on a corrupt import:")
    for finding in report(corrupt_import(), year=YEAR).findings:
        affected = ", ".join(finding.case_ids or finding.units)
        print(f"  ! [{finding.code}] {finding.message('de')}: {affected}")


if __name__ == "__main__":
    main()
