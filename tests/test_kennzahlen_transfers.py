"""Key figures with transfers between providers and cases continued from another district.

A household walks opening → transfer → transfer back → closure in Waldshut; another
moves from Stuttgart to Waldshut with ``continues`` and hits its period end on the
earlier case's date. Every expected figure is worked out by hand in the comments. Then
properties: district and state figures do not change when the transfers are taken out,
merged per-provider reports equal the joint report, and the SQL path (SQLite and
PostgreSQL stores) equals the Python path on histories with transfers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.events import CaseOpened, CaseTransferred, Event
from imflow.kennzahlen import FigureValue, Report, report
from imflow.testing import FAR_FUTURE, cases
from tests.stores import StoreMaker, pg_dsn, sql_stores

__all__ = ["pg_dsn", "sql_stores"]  # fixtures used here

WT, S = "08337", "08111"
ENGINE = Engine(clock=FrozenClock(datetime(2027, 1, 10, 12, tzinfo=UTC)))
DRK = Actor("im-d", Role.MANAGER, provider="drk-wt", district=WT)
CARITAS = Actor("im-c", Role.MANAGER, provider="caritas-wt", district=WT)
AWO = Actor("im-a", Role.MANAGER, provider="awo-s", district=S)
STAFFING = {(WT, "drk-wt"): "1.0", (WT, "caritas-wt"): "0.5", (S, "awo-s"): "1.0"}


def run(case: Case, *steps: tuple[Actor, c.Command]) -> Case:
    for by, cmd in steps:
        case = ENGINE.handle(case, cmd, by=by)
    return case


def walking_household() -> Case:
    """wt-1, four persons: drk-wt → caritas-wt → drk-wt, closed as goals achieved."""
    case = ENGINE.open(
        c.OpenCase(
            case_id="wt-1",
            person="p-1",
            district=WT,
            provider="drk-wt",
            household=4,
            members=("p-2", "p-3", "p-4"),
            on=date(2026, 1, 15),
        ),
        by=DRK,
    )
    return run(
        case,
        (DRK, c.RecordConsent(on=date(2026, 1, 15))),
        (DRK, c.RecordContact(on=date(2026, 1, 15), minutes=30)),
        (DRK, c.TransferCase(to_provider="caritas-wt", on=date(2026, 3, 2), note="moved")),
        (CARITAS, c.RecordContact(on=date(2026, 3, 10), minutes=45)),
        (CARITAS, c.StartAssessment(on=date(2026, 3, 10))),
        (CARITAS, c.RecordNeed(on=date(2026, 3, 10), area="language")),
        (CARITAS, c.StartPlanning(on=date(2026, 3, 20))),
        (
            CARITAS,
            c.AddGoal(
                goal_id="b1",
                area="language",
                description="B1",
                target_date=date(2026, 12, 31),
                on=date(2026, 3, 20),
            ),
        ),
        (CARITAS, c.AgreePlan(on=date(2026, 4, 10))),
        (CARITAS, c.TransferCase(to_provider="drk-wt", on=date(2026, 6, 1), note="back")),
        (DRK, c.RecordContact(on=date(2026, 6, 5), minutes=20)),
        (DRK, c.ExtendPeriod(months=2, justification="course", on=date(2026, 7, 1))),
        (DRK, c.SetGoalStatus(goal_id="b1", status="achieved", on=date(2026, 9, 1))),
        (DRK, c.CloseCase(reason="goals_achieved", on=date(2026, 9, 15))),
    )


def moving_household() -> tuple[Case, Case]:
    """s-7 in Stuttgart (two persons, opened 3 July 2023, extended by 3 months: last day
    2 October 2026), closed as moved away; wt-2 continues it in Waldshut."""
    earlier = ENGINE.open(
        c.OpenCase(
            case_id="s-7",
            person="p-7",
            district=S,
            provider="awo-s",
            household=2,
            members=("p-8",),
            on=date(2023, 7, 3),
        ),
        by=AWO,
    )
    earlier = run(
        earlier,
        (AWO, c.RecordConsent(on=date(2023, 7, 3))),
        (AWO, c.StartAssessment(on=date(2023, 7, 3))),
        (AWO, c.RecordNeed(on=date(2023, 7, 3), area="work")),
        (AWO, c.StartPlanning(on=date(2023, 7, 10))),
        (
            AWO,
            c.AddGoal(
                goal_id="job",
                area="work",
                description="job",
                target_date=date(2026, 6, 30),
                on=date(2023, 7, 10),
            ),
        ),
        (AWO, c.AgreePlan(on=date(2023, 8, 1))),
        (AWO, c.ExtendPeriod(months=3, justification="training", on=date(2025, 11, 3))),
        (AWO, c.CloseCase(reason="moved_away", on=date(2026, 2, 27))),
    )
    assert earlier.period_end == date(2026, 10, 2)  # 39 months from 3 July 2023
    later = ENGINE.open(
        c.OpenCase(
            case_id="wt-2",
            person="p-7",
            district=WT,
            provider="drk-wt",
            household=2,
            members=("p-8",),
            on=date(2026, 3, 2),
            continues=c.Continuation.of(earlier),
        ),
        by=DRK,
    )
    later = run(later, (DRK, c.RecordConsent(on=date(2026, 3, 2))))
    assert later.period_end == date(2026, 10, 2)  # where the earlier case would have ended
    (swept,) = ENGINE.sweep([later], on=date(2026, 10, 3)).closed
    closure = swept.closure
    assert closure is not None and closure.on == date(2026, 10, 3)
    return earlier, swept


def history() -> list[Event]:
    earlier, later = moving_household()
    return [*walking_household().events, *earlier.events, *later.events]


def keyed(figures: Mapping[str, FigureValue], figure: str) -> Mapping[str, int]:
    value = figures[figure]
    assert isinstance(value, Mapping)
    return value


def test_the_walk_and_the_move_counted_by_hand() -> None:
    r = report(history(), year=2026, staffing=STAFFING)
    drk = r.figures(district=WT, provider="drk-wt")
    caritas = r.figures(district=WT, provider="caritas-wt")
    awo = r.figures(district=S, provider="awo-s")
    waldshut = r.figures(district=WT)
    stuttgart = r.figures(district=S)
    state = r.figures()
    by = {"drk": drk, "caritas": caritas, "awo": awo, "wt": waldshut, "s": stuttgart, "bw": state}

    def row(figure: str) -> dict[str, Any]:
        return {k: v[figure] for k, v in by.items()}

    # wt-1 was with drk (at year end) and caritas (left on 1 June); wt-2 with drk; s-7 awo
    assert row("cases_active") == {"drk": 2, "caritas": 1, "awo": 1, "wt": 2, "s": 1, "bw": 3}
    # wt-1: 4 persons at drk and caritas, once in Waldshut; the moving household (2) is new
    # to Waldshut and counted in both districts
    assert row("persons_counselled") == {
        "drk": 6, "caritas": 4, "awo": 2, "wt": 6, "s": 2, "bw": 8,
    }  # fmt: skip
    # wt-1 and wt-2 opened at drk in 2026; s-7 was opened in 2023
    assert row("cases_opened") == {"drk": 2, "caritas": 0, "awo": 0, "wt": 2, "s": 0, "bw": 2}
    assert row("cases_continued") == {
        "drk": 1, "caritas": 0, "awo": 0, "wt": 1, "s": 0, "bw": 1,
    }  # fmt: skip
    # wt-1: out at drk on 2 March and at caritas on 1 June; in at caritas and at drk
    assert row("transferred_out") == {"drk": 1, "caritas": 1, "awo": 0, "wt": 2, "s": 0, "bw": 2}
    assert row("transferred_in") == {"drk": 1, "caritas": 1, "awo": 0, "wt": 2, "s": 0, "bw": 2}
    # contacts where they were recorded: drk 30 + 20 minutes, caritas 45
    assert row("contacts") == {"drk": 2, "caritas": 1, "awo": 0, "wt": 3, "s": 0, "bw": 3}
    assert row("contact_minutes") == {
        "drk": 50, "caritas": 45, "awo": 0, "wt": 95, "s": 0, "bw": 95,
    }  # fmt: skip
    assert row("plans_agreed") == {"drk": 0, "caritas": 1, "awo": 0, "wt": 1, "s": 0, "bw": 1}
    assert row("goals_agreed") == {"drk": 0, "caritas": 1, "awo": 0, "wt": 1, "s": 0, "bw": 1}
    assert row("extensions_granted") == {
        "drk": 1, "caritas": 0, "awo": 0, "wt": 1, "s": 0, "bw": 1,
    }  # fmt: skip
    # plan deadlines in 2026: wt-1 by 14 April (with caritas that day, agreed 10 April:
    # on time), wt-2 by 1 June (with drk, no plan: late); s-7's fell in 2023
    assert row("plan_on_time_share") == {
        "drk": 0.0, "caritas": 1.0, "awo": None, "wt": 0.5, "s": None, "bw": 0.5,
    }  # fmt: skip
    # wt-1's goal achieved at drk (1 September); s-7's goal still open when it closed
    assert keyed(drk, "goal_outcomes")["achieved"] == 1
    assert keyed(caritas, "goal_outcomes")["achieved"] == 0
    assert keyed(awo, "goal_outcomes")["open"] == 1
    # closures at the provider the case was with: wt-1 goals achieved, wt-2 period expired
    # on 3 October (the day after 2 October), s-7 moved away
    assert keyed(drk, "cases_closed_by_reason")["goals_achieved"] == 1
    assert keyed(drk, "cases_closed_by_reason")["period_expired"] == 1
    assert keyed(awo, "cases_closed_by_reason")["moved_away"] == 1
    assert row("cases_closed") == {"drk": 2, "caritas": 0, "awo": 1, "wt": 2, "s": 1, "bw": 3}
    assert row("cases_open_at_year_end") == {
        "drk": 0, "caritas": 0, "awo": 0, "wt": 0, "s": 0, "bw": 0,
    }  # fmt: skip
    # wt-1: 15 Jan → 15 Sep 2026 = 243 days; wt-2: 2 Mar → 3 Oct 2026 = 215 days
    assert drk["median_length_days"] == (215 + 243) / 2
    # s-7: 3 July 2023 → 27 February 2026 = 970 days
    assert awo["median_length_days"] == 970
    assert state["median_length_days"] == 243
    # caseload: drk 2 cases / 1.0 FTE; caritas 1 / 0.5; Waldshut 2 cases / 1.5 FTE
    assert drk["caseload_per_fte"] == 2.0 and caritas["caseload_per_fte"] == 2.0
    assert waldshut["caseload_per_fte"] == 2 / 1.5
    assert row("open_past_period") == {
        "drk": 0, "caritas": 0, "awo": 0, "wt": 0, "s": 0, "bw": 0,
    }  # fmt: skip
    assert r.findings == ()


def test_a_provider_sees_the_cases_transferred_to_it() -> None:
    events = history()
    full = report(events, year=2026, staffing=STAFFING)
    parts = [
        report(events, year=2026, district=d, provider=p, staffing=STAFFING)
        for d, p in ((WT, "drk-wt"), (WT, "caritas-wt"), (S, "awo-s"))
    ]
    caritas = parts[1]
    assert {u.provider for u in caritas.units} == {"caritas-wt"}
    assert caritas.figures() == full.figures(district=WT, provider="caritas-wt")
    assert caritas.figures()["cases_active"] == 1
    assert Report.merge(*parts) == full
    assert Report.merge(parts[0], parts[1]).figures() == full.figures(district=WT)
    # the year before, wt-1 did not exist yet; the year after, nothing is active
    assert report(events, year=2025, provider="caritas-wt").figures()["cases_active"] == 0
    assert report(events, year=2027, provider="caritas-wt").figures()["cases_active"] == 0


def test_a_case_transferred_on_1_january_counts_at_both_providers() -> None:
    case = ENGINE.open(
        c.OpenCase(
            case_id="wt-9", person="p", district=WT, provider="drk-wt", on=date(2025, 11, 3)
        ),
        by=DRK,
    )
    case = run(case, (DRK, c.TransferCase(to_provider="caritas-wt", on=date(2026, 1, 1))))
    r = report(case.events, year=2026)
    assert r.figures(district=WT, provider="drk-wt")["cases_active"] == 1
    assert r.figures(district=WT, provider="caritas-wt")["cases_active"] == 1
    assert r.figures(district=WT)["cases_active"] == 1
    previous = report(case.events, year=2025)  # transferred the next year: drk only
    assert previous.figures(district=WT, provider="caritas-wt")["cases_active"] == 0
    assert previous.figures(district=WT, provider="drk-wt")["cases_active"] == 1


def test_sql_stores_agree_with_python_on_the_walk_and_the_move(sql_stores: StoreMaker) -> None:
    store = sql_stores(engine=ENGINE)
    events = history()
    for case_id, case_events in by_case(events).items():
        store.append(case_id, case_events, expected_version=0)
    for year in (2025, 2026, 2027):
        for district, provider in ((None, None), (WT, None), (WT, "caritas-wt"), (S, None)):
            options: dict[str, Any] = {
                "year": year,
                "district": district,
                "provider": provider,
                "staffing": STAFFING,
            }
            assert report(store, **options) == report(events, **options)


# -- properties ------------------------------------------------------------------------------


def by_case(events: Sequence[Event]) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {}
    for e in events:
        found.setdefault(e.case_id, []).append(e)
    return found


def moved(actor: Actor, district: str) -> Actor:
    """*actor* working in *district* (managers act only in their own district)."""
    return attrs.evolve(actor, district=district) if actor.role is Role.MANAGER else actor


def elsewhere(earlier: c.Continuation | None, district: str) -> c.Continuation | None:
    """*earlier*, from a district other than *district* (a continuation never names the
    case's own district)."""
    if earlier is None or earlier.district != district:
        return earlier
    return attrs.evolve(earlier, district=S if district == WT else WT)


@st.composite
def moved_histories(draw: st.DrawFn, max_cases: int = 4) -> tuple[Event, ...]:
    """Valid cases in one of two districts, most of them handed over at least once."""
    found: list[Event] = []
    prefix = uuid.uuid4().hex[:8]
    for i in range(draw(st.integers(1, max_cases))):
        case = draw(cases(max_steps=15))
        engine = Engine(clock=FrozenClock(FAR_FUTURE))
        district = draw(st.sampled_from([WT, S]))
        case = engine.replay(
            attrs.evolve(
                e,
                case_id=f"{prefix}-{i}",
                district=district,
                actor=moved(e.actor, district),
                continues=elsewhere(e.continues, district),
            )
            if isinstance(e, CaseOpened)
            else attrs.evolve(e, case_id=f"{prefix}-{i}", actor=moved(e.actor, district))
            for e in case.events
        )
        for _ in range(draw(st.integers(0, 2))):
            if not case.is_open:
                break
            on = date.fromordinal(case.latest_on.toordinal() + draw(st.integers(0, 200)))
            target = draw(st.sampled_from(["drk", "caritas", "awo"]))
            by = Actor("im", Role.MANAGER, provider=case.provider, district=case.district)
            if engine.check(case, c.TransferCase(to_provider=target, on=on), by=by):
                break
            case = engine.handle(case, c.TransferCase(to_provider=target, on=on), by=by)
            with_new = Actor("im", Role.MANAGER, provider=target, district=case.district)
            contact = c.RecordContact(on=on, minutes=draw(st.integers(1, 90)))
            if not engine.check(case, contact, by=with_new):
                case = engine.handle(case, contact, by=with_new)
        found.extend(case.events)
    return tuple(found)


def without_transfers(events: Sequence[Event]) -> list[Event]:
    kept: list[Event] = []
    for case_events in by_case(events).values():
        rest = [e for e in case_events if not isinstance(e, CaseTransferred)]
        kept.extend(attrs.evolve(e, seq=i) for i, e in enumerate(rest, start=1))
    return kept


MOVED_ONLY = {"transferred_out", "transferred_in"}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), events=moved_histories())
def test_transfers_only_redistribute_between_providers(
    data: st.DataObject, events: tuple[Event, ...]
) -> None:
    """District and state figures are what they would be without the transfers, and
    merged per-provider reports equal the joint report."""
    year = data.draw(st.sampled_from(sorted({e.on.year for e in events})), label="year")
    joint = report(events, year=year)
    plain = report(without_transfers(events), year=year)
    for district in (None, WT, S):
        moved = {k: v for k, v in joint.figures(district=district).items() if k not in MOVED_ONLY}
        kept = {k: v for k, v in plain.figures(district=district).items() if k not in MOVED_ONLY}
        assert moved == kept, district
        outs = joint.figures(district=district)
        assert outs["transferred_out"] == outs["transferred_in"]
    providers = {(u.district, u.provider) for u in joint.units}
    parts = [report(events, year=year, district=d, provider=p) for d, p in sorted(providers)]
    if parts:
        merged = Report.merge(*parts)
        assert (merged.units, merged.case_findings) == (joint.units, joint.case_findings)
    for d, p in providers:
        scoped = report(events, year=year, district=d, provider=p)
        assert scoped.figures() == joint.figures(district=d, provider=p)
        # a provider counts at least the cases it ended the year with
        home = joint.select(district=d, provider=p).tally.cases_active
        assert scoped.figures()["cases_active"] == joint.select(district=d, provider=p).cases_active
        assert joint.select(district=d, provider=p).cases_active >= home


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), events=moved_histories())
def test_sql_equals_python_on_histories_with_transfers(
    sql_stores: StoreMaker, data: st.DataObject, events: tuple[Event, ...]
) -> None:
    """SQLite and PostgreSQL stores, the whole store compared (earlier examples too)."""
    seen: list[Event] = getattr(sql_stores, "seen", [])
    with sql_stores.fresh() as store:
        for case_id, case_events in by_case(events).items():
            store.append(case_id, case_events, expected_version=0)
        seen.extend(events)
        sql_stores.seen = seen  # type: ignore[attr-defined]
        year = data.draw(st.sampled_from(sorted({e.on.year for e in events})), label="year")
        scopes: list[tuple[str | None, str | None]] = [(None, None), (WT, None), (S, None)]
        scopes += [(WT, p) for p in ("drk", "caritas", "awo", "stadt")]
        for district, provider in scopes:
            assert report(store, year=year, district=district, provider=provider) == report(
                seen, year=year, district=district, provider=provider
            ), (district, provider)
