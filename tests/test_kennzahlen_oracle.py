"""The key figures against an independent oracle (tests/kennzahlen_oracle.py).

"SQL equals Python" cannot catch a wrong counting rule, since both share the counting
code. The oracle shares none: it recounts every figure from raw events by the rules as
written. It is compared with the library's report, from events and from a SQLite store,
on random valid histories (trajectories that reach every phase, some persons erased),
for random years and scopes, and on a seeded simulated cohort of several years.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.events import CaseOpened, CaseTransferred, Event
from imflow.kennzahlen import CATALOGUE, report
from imflow.simulation import SimulationParams, simulate
from imflow.store import SQLiteStore
from imflow.testing import FAR_FUTURE, manager_for, opening_commands, trajectories
from tests import kennzahlen_oracle as oracle
from tests.kennzahlen_history import STAFFING, YEAR, hand_history
from tests.profiles import CORE_EXAMPLES, core
from tests.test_kennzahlen_transfers import STAFFING as MOVED_STAFFING
from tests.test_kennzahlen_transfers import history as walk_and_move

WT, S = "08337", "08111"
PROVIDERS = ("drk", "awo", "stadt")
WALKER = Engine(clock=FrozenClock(FAR_FUTURE))


def same(library: Mapping[str, Any], expected: Mapping[str, Any], where: str) -> None:
    """Equal figure by figure; shares and ratios up to float rounding."""
    assert set(library) == set(CATALOGUE)
    assert set(expected) == set(CATALOGUE), "the oracle must know every figure"
    for fid in CATALOGUE:
        got, want = library[fid], expected[fid]
        if isinstance(got, float) and isinstance(want, float):
            assert math.isclose(got, want, rel_tol=1e-12), (where, fid, got, want)
        else:
            assert got == want, (where, fid, got, want)


# -- which of the two written plan deadlines the library follows ----------------------------


def _late_november_case() -> list[Event]:
    """Opened 30 November 2025, plan agreed 28 February 2026: on time by domain.md § 4
    (the period of 3 months ends on 28 February), a day late by the catalogue's words
    (30 November + 3 months = 28 February, minus a day)."""
    engine = Engine(clock=FrozenClock(datetime(2026, 6, 1, 12, tzinfo=UTC)))
    im = Actor("im-1", Role.MANAGER, provider="drk", district=WT)
    on, agreed = date(2025, 11, 30), date(2026, 2, 28)
    case = engine.open(
        c.OpenCase(case_id="nov-30", person="p", district=WT, provider="drk", on=on), by=im
    )
    for cmd in (
        c.RecordConsent(on=on),
        c.StartAssessment(on=on),
        c.RecordNeed(on=on, area="work"),
        c.StartPlanning(on=on),
        c.AddGoal(on=on, goal_id="g1", area="work", description="d", target_date=agreed),
        c.AgreePlan(on=agreed),
    ):
        case = engine.handle(case, cmd, by=im)
    return list(case.events)


def test_the_plan_deadline_of_the_key_figure_is_the_period_rule_of_domain_md() -> None:
    events = _late_november_case()
    assert oracle.figures(events, 2026)["plan_on_time_share"] == 1.0
    assert report(events, year=2026).figures()["plan_on_time_share"] == 1.0


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        (date(2025, 11, 30), date(2026, 2, 28)),
        (date(2023, 11, 30), date(2024, 2, 29)),
        (date(2025, 1, 31), date(2025, 4, 30)),
        (date(2023, 8, 31), date(2023, 11, 30)),
        (date(2025, 3, 15), date(2025, 6, 14)),
        (date(2025, 3, 1), date(2025, 5, 31)),
        (date(2025, 10, 1), date(2025, 12, 31)),
    ],
)
def test_the_oracle_deadline_is_the_written_period_rule(opened: date, due: date) -> None:
    assert oracle.period_deadline(opened, 3) == due


# -- the hand-written history -----------------------------------------------------------------


def test_the_oracle_agrees_with_the_report_on_the_hand_written_history() -> None:
    events = [e for evs in hand_history().values() for e in evs]
    for year in (YEAR - 1, YEAR, YEAR + 1):
        lib = report(events, year=year, staffing=STAFFING)
        same(
            lib.figures(),
            oracle.figures(events, year, staffing=STAFFING),
            f"state {year}",
        )
        for district in (WT, S):
            same(
                lib.figures(district=district),
                oracle.figures(events, year, district=district, staffing=STAFFING),
                f"{district} {year}",
            )


def test_the_oracle_agrees_with_the_report_on_the_walk_and_the_move() -> None:
    """The household handed over drk → caritas → drk in Waldshut and the one that moved
    from Stuttgart with ``continues`` (tests/test_kennzahlen_transfers.py), figure by
    figure at every provider, district and the state."""
    events = walk_and_move()
    units = sorted({(e.district, e.provider) for e in events if isinstance(e, CaseOpened)})
    units.append((WT, "caritas-wt"))  # only ever transferred to
    scopes: list[dict[str, str]] = [{}, {"district": WT}, {"district": S}]
    scopes += [{"district": d, "provider": p} for d, p in units]
    for year in (2025, 2026, 2027):
        lib = report(events, year=year, staffing=MOVED_STAFFING)
        for scope in scopes:
            same(
                lib.figures(**scope),
                oracle.figures(events, year, staffing=MOVED_STAFFING, **scope),
                f"{scope} {year}",
            )
    moved = oracle.figures(events, 2026, district=WT, provider="caritas-wt")
    assert (moved["cases_active"], moved["transferred_in"], moved["transferred_out"]) == (1, 1, 1)
    assert oracle.figures(events, 2026, district=WT)["cases_continued"] == 1


def new_year_moves() -> list[Event]:
    """Two Waldshut cases handed over on the year's edges (see the test below)."""
    drk, awo, stadt = (Actor("im", Role.MANAGER, provider=p, district=WT) for p in PROVIDERS)
    e1 = WALKER.open(
        c.OpenCase(case_id="ny-1", person="p", district=WT, provider="drk", on=date(2025, 11, 3)),
        by=drk,
    )
    steps: tuple[tuple[Actor, c.Command], ...] = (
        (drk, c.RecordConsent(on=date(2025, 11, 3))),
        (drk, c.RecordContact(on=date(2025, 12, 31), minutes=10)),
        (drk, c.TransferCase(to_provider="awo", on=date(2025, 12, 31))),
        (awo, c.RecordContact(on=date(2025, 12, 31), minutes=20)),
        (awo, c.TransferCase(to_provider="drk", on=date(2026, 1, 1))),
        (drk, c.RecordContact(on=date(2026, 1, 1), minutes=40)),
    )
    for by, cmd in steps:
        e1 = WALKER.handle(e1, cmd, by=by)
    # plan due 31 December 2025 (last_day of 3 months from 1 October), the day it moves
    e2 = WALKER.open(
        c.OpenCase(case_id="ny-2", person="q", district=WT, provider="stadt", on=date(2025, 10, 1)),
        by=stadt,
    )
    steps = (
        (stadt, c.RecordConsent(on=date(2025, 10, 1))),
        (stadt, c.StartAssessment(on=date(2025, 10, 1))),
        (stadt, c.RecordNeed(on=date(2025, 10, 1), area="housing")),
        (stadt, c.StartPlanning(on=date(2025, 10, 1))),
        (
            stadt,
            c.AddGoal(
                on=date(2025, 10, 1),
                goal_id="g",
                area="housing",
                description="d",
                target_date=date(2026, 6, 30),
            ),
        ),
        (stadt, c.TransferCase(to_provider="awo", on=date(2025, 12, 31))),
        (awo, c.AgreePlan(on=date(2026, 1, 1))),
        (awo, c.ExtendPeriod(on=date(2026, 1, 1), months=2, justification="j")),
    )
    for by, cmd in steps:
        e2 = WALKER.handle(e2, cmd, by=by)
    return [*e1.events, *e2.events]


def test_the_oracle_agrees_on_transfers_on_the_edges_of_the_year(tmp_path: Path) -> None:
    """Handed over on 31 December and back on 1 January, with contacts on both days; a
    plan deadline on the day of a transfer, the plan agreed and the period extended on
    1 January after another: from events and from SQLite, in every scope."""
    events = new_year_moves()
    with SQLiteStore(tmp_path / "ny.db", engine=WALKER) as store:
        for case_id in ("ny-1", "ny-2"):
            store.append(case_id, [e for e in events if e.case_id == case_id], expected_version=0)
        for year in (2025, 2026):
            lib = report(events, year=year)
            compare(lib, events, year, None)
            compare_scoped(events, events, year, None)
            compare_scoped(store, events, year, None)
            compare(report(store, year=year), events, year, None)
    late = oracle.figures(events, 2025, district=WT, provider="awo")
    assert (late["cases_active"], late["plan_on_time_share"], late["contacts"]) == (2, 0.0, 1)
    both = oracle.figures(events, 2026, district=WT, provider="awo")
    assert (both["cases_active"], both["transferred_out"], both["extensions_granted"]) == (2, 1, 1)


# -- random histories -------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn, max_cases: int = 6) -> tuple[Event, ...]:
    """Valid cases with distinct ids in two districts and three providers, opened within
    two years of each other (so that a year sees several of them)."""
    found: list[Event] = []
    first = draw(st.dates(date(2018, 1, 1), date(2034, 12, 31)), label="first opening")
    last = first + timedelta(days=730)
    edges = [
        day for y in range(first.year, last.year + 1) for day in (date(y, 1, 1), date(y, 12, 31))
    ]
    opened = st.one_of(st.dates(first, last), st.sampled_from(edges))
    openings = opening_commands(opened=opened)
    for i in range(draw(st.integers(1, max_cases))):
        opener = attrs.evolve(
            draw(openings),
            case_id=f"case-{i}",
            person=f"p-{i}",
            members=(),
            district=draw(st.sampled_from([WT, S])),
            provider=draw(st.sampled_from(PROVIDERS)),
        )
        walk = draw(trajectories(max_steps=30, opening=st.just(opener), providers=PROVIDERS))
        case = walk.case
        if case.is_open and draw(st.booleans(), label="handed over at New Year"):
            case = handed_over_at_new_year(draw, case)
        found.extend(case.events)
    return tuple(found)


def handed_over_at_new_year(draw: st.DrawFn, case: Case) -> Case:
    """*case* handed over on the next 31 December or 1 January within its period, with a
    contact at the new provider that day: on the day of a transfer a case is with both
    providers, and the year's first and last days belong to it."""
    latest = case.latest_on
    day = draw(st.sampled_from([date(latest.year, 12, 31), date(latest.year + 1, 1, 1)]))
    if case.period_end is not None and day > case.period_end:
        return case
    target = draw(st.sampled_from([p for p in PROVIDERS if p != case.provider]))
    transfer = c.TransferCase(to_provider=target, on=day)
    if WALKER.check(case, transfer, by=manager_for(case)):
        return case
    case = WALKER.handle(case, transfer, by=manager_for(case))
    event(f"handed over on {day:%d %B}")
    contact = c.RecordContact(on=day, minutes=draw(st.integers(1, 90)))
    if not WALKER.check(case, contact, by=manager_for(case)):
        case = WALKER.handle(case, contact, by=manager_for(case))
    return case


def staffing_of(events: Iterable[Event], data: st.DataObject) -> dict[tuple[str, str], str]:
    units = sorted({(e.district, e.provider) for e in events if isinstance(e, CaseOpened)})
    fte = st.sampled_from(["0", "0.5", "1", "1.25", "2.75"])
    chosen = data.draw(st.lists(st.sampled_from(units), unique=True), label="staffed units")
    return {unit: data.draw(fte, label=f"fte {unit}") for unit in chosen}


def year_of(events: Iterable[Event], data: st.DataObject) -> int:
    """A year of the events, often one with a transfer, now and then one before or after."""
    events = list(events)
    years = sorted({e.on.year for e in events})
    moved = sorted({e.on.year for e in events if isinstance(e, CaseTransferred)})
    around = st.integers(years[0] - 1, years[-1] + 1)  # also years before and after
    choices = [st.sampled_from(years), around, *([st.sampled_from(moved)] * 2 if moved else [])]
    return data.draw(st.one_of(choices), label="year")


SCOPES: list[dict[str, str]] = [
    {},
    *({"district": d} for d in (WT, S)),
    *({"district": d, "provider": p} for d in (WT, S) for p in PROVIDERS),
    *({"provider": p} for p in PROVIDERS),  # one provider id in both districts
]


def compare(library: Any, events: Iterable[Event], year: int, staffing: Any) -> None:
    """The state, each district, each provider in each district and each provider id,
    against the oracle."""
    events = list(events)
    for scope in SCOPES:
        same(
            library.figures(**scope),
            oracle.figures(events, year, staffing=staffing, **scope),
            str(scope),
        )
    past = [f.case_ids for f in library.findings if f.code == "open_past_period"]
    assert set(oracle.open_past_period_ids(events, year)) == {
        cid for scope in SCOPES[1:3] for cid in oracle.open_past_period_ids(events, year, **scope)
    }
    ids = oracle.open_past_period_ids(events, year)
    assert past == ([tuple(ids)] if ids else [])
    if not currently_in_test_context():
        return
    if ids:
        event("a case open past its period")
    transfers = [e for e in events if isinstance(e, CaseTransferred)]
    if any(e.on.year == year for e in transfers):
        event("a transfer in the year")
    elif transfers:
        event("a transfer in another year")
    if any(isinstance(e, CaseOpened) and e.continues is not None for e in events):
        event("a case continued from another district")


def compare_scoped(source: Any, events: Iterable[Event], year: int, staffing: Any) -> None:
    """Reports made for each scope of :data:`SCOPES` (the library then reads only that
    scope's cases), against the oracle."""
    events = list(events)
    for scope in SCOPES[1:]:
        same(
            report(
                source,
                year=year,
                district=scope.get("district"),
                provider=scope.get("provider"),
                staffing=staffing,
            ).figures(),
            oracle.figures(events, year, staffing=staffing, **scope),
            f"report for {scope}",
        )


@core
@given(histories(), st.data())
def test_the_report_from_events_equals_the_oracle(
    events: tuple[Event, ...], data: st.DataObject
) -> None:
    year = year_of(events, data)
    staffing = staffing_of(events, data)
    lib = report(events, year=year, staffing=staffing)
    compare(lib, events, year, staffing)
    compare_scoped(events, events, year, staffing)
    figures = lib.figures()
    active = figures["cases_active"]
    assert isinstance(active, int)
    event(f"cases active: {min(active, 3)}{'+' if active >= 3 else ''}")
    if figures["cases_closed"]:
        event("a case closed in the year")
    if figures["plan_on_time_share"] is not None:
        event("a plan deadline in the year")


@settings(settings.default, max_examples=max(CORE_EXAMPLES // 2, 40))
@given(histories(max_cases=4), st.data())
def test_the_report_from_a_sqlite_store_equals_the_oracle_also_after_erasures(
    events: tuple[Event, ...], data: st.DataObject
) -> None:
    year = year_of(events, data)
    staffing = staffing_of(events, data)
    persons = sorted({e.person for e in events if isinstance(e, CaseOpened)})
    erase = data.draw(st.lists(st.sampled_from(persons), unique=True), label="erased")
    engine = Engine(clock=FrozenClock(FAR_FUTURE))
    with (
        tempfile.TemporaryDirectory() as tmp,
        SQLiteStore(Path(tmp) / "o.db", engine=engine) as store,
    ):
        by_case: dict[str, list[Event]] = {}
        for e in events:
            by_case.setdefault(e.case_id, []).append(e)
        for case_id, case_events in by_case.items():
            store.append(case_id, case_events, expected_version=0)
        for person in erase:
            store.erase_person(person, on=date(2039, 12, 1))
        lib = report(store, year=year, staffing=staffing)
        compare_scoped(store, events, year, staffing)  # the SQL path's own scope
    if erase:
        event("persons erased")
    compare(lib, events, year, staffing)  # the oracle reads the events before erasure


# -- a simulated cohort -----------------------------------------------------------------------


def _on(day: date, month: int, dom: int) -> bool:
    return (day.month, day.day) == (month, dom)


def _open_on_its_last_day_31_december(case: Case) -> bool:
    end = case.period_end
    if end is None or not _on(end, 12, 31):
        return False
    return case.closure is None or case.closure.on > end


def test_a_simulated_cohort_of_five_years_equals_the_oracle_every_year(tmp_path: Path) -> None:
    """800 simulated cases, 2023 to 2027; the seed is one whose cohort has the edges."""
    params = SimulationParams(district_weights={WT: 2, S: 1})
    # the store re-decides each event with its own engine, on the simulation's clock
    engine = Engine(clock=FrozenClock.on(date(2023, 7, 1)))
    with SQLiteStore(tmp_path / "sim.db", engine=engine) as store:
        cohort = simulate(
            800, seed=6, start=date(2023, 7, 1), until=date(2027, 12, 31), params=params,
            store=store,
        )  # fmt: skip
        cases = cohort.cases
        assert any(_on(c.period_start, 1, 1) for c in cases)
        assert any(c.closure and _on(c.closure.on, 1, 1) for c in cases)
        assert any(_open_on_its_last_day_31_december(c) for c in cases)
        events = [e for case in cases for e in case.events]
        assert sum(isinstance(e, CaseTransferred) for e in events) >= 10
        staffing = {unit: str(fte) for unit, fte in params.staffing().items()}
        providers = sorted({(e.district, e.provider) for e in events if isinstance(e, CaseOpened)})
        assert len(providers) >= 4
        for year in range(2022, 2029):
            expected = oracle.figures(events, year, staffing=staffing)
            for lib in (
                report(events, year=year, staffing=staffing),
                report(store, year=year, staffing=staffing),
            ):
                same(lib.figures(), expected, f"state {year}")
                for district in (WT, S):
                    same(
                        lib.figures(district=district),
                        oracle.figures(events, year, district=district, staffing=staffing),
                        f"{district} {year}",
                    )
                for district, provider in providers:
                    same(
                        lib.figures(district=district, provider=provider),
                        oracle.figures(
                            events,
                            year,
                            district=district,
                            provider=provider,
                            staffing=staffing,
                        ),
                        f"{district}/{provider} {year}",
                    )
    assert sum(cohort.closures.values()) > 100  # the years see many closures
