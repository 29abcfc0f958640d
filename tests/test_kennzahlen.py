"""Key figures: hand-computed figures for a hand-written history, merge, SQL == Python,
corrupt histories and their findings, and the outputs."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow import Engine, FrozenClock
from imflow import commands as c
from imflow.enums import Channel
from imflow.events import (
    CaseClosed,
    CaseOpened,
    ConsentRecorded,
    ContactRecorded,
    Event,
    GoalStatusSet,
    PlanAgreed,
)
from imflow.i18n import Messages
from imflow.kennzahlen import (
    CATALOGUE,
    FINDINGS,
    FigureKind,
    Finding,
    Report,
    from_json,
    report,
    to_csv,
    to_json,
    to_text,
)
from imflow.serialization import dumps
from imflow.store import SQLiteStore
from imflow.testing import cases
from tests.kennzahlen_history import CLOCK_DAY, STAFFING, YEAR, d, hand_history, story
from tests.stores import StoreMaker, pg_dsn, sql_stores, stores

__all__ = ["pg_dsn", "sql_stores", "stores"]  # fixtures used here

WT, S = "08337", "08111"
SCOPES: tuple[tuple[str | None, str | None], ...] = ((None, None), (WT, None), (None, "awo-s"))


def flat(history: dict[str, tuple[Event, ...]]) -> list[Event]:
    return [e for events in history.values() for e in events]


# -- an SQLite file with exactly the agreed schema, written without a store ---------------

AGREED_SCHEMA = """
CREATE TABLE events (case_id TEXT, seq INTEGER, type TEXT, on_date TEXT, recorded_at TEXT,
                     district TEXT, provider TEXT, schema_version INTEGER, payload TEXT,
                     PRIMARY KEY (case_id, seq));
CREATE TABLE cases (case_id TEXT PRIMARY KEY, district TEXT, provider TEXT, phase TEXT,
                    rule_set TEXT, opened_on TEXT, period_end TEXT, closed_on TEXT,
                    version INTEGER, snapshot TEXT, snapshot_version INTEGER);
"""


def agreed_sqlite(path: Path, events: Iterable[Event]) -> sqlite3.Connection:
    """A SQLite file with the agreed tables holding *events* (corrupt ones too)."""
    events = list(events)
    scope = {e.case_id: (e.district, e.provider) for e in events if isinstance(e, CaseOpened)}
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(AGREED_SCHEMA)
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
        [
            (
                e.case_id,
                e.seq,
                e.type,
                e.on.isoformat(),
                e.recorded_at.isoformat(),
                *scope.get(e.case_id, ("", "")),
                dumps(e),
            )
            for e in events
        ],
    )
    return conn


def sql_report(events: Iterable[Event], **options: Any) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        conn = agreed_sqlite(Path(tmp) / "events.db", events)
        try:
            return report(conn, **options)
        finally:
            conn.close()


# -- the hand-written history (tests/kennzahlen_history.py) ---------------------------------


def test_state_figures_of_the_hand_written_history_are_computed_by_hand() -> None:
    figures = report(flat(hand_history()), year=YEAR, staffing=STAFFING).figures()
    assert figures == {
        # active: all but s-12 (closed 2025) and wt-14 (opened 2027): 17 - 2
        "cases_active": 15,
        # opened in 2026: wt-02, wt-04, wt-05, wt-06, s-11, wt-13, wt-16
        "cases_opened": 7,
        # reopened in 2026: wt-03, wt-04, wt-05 (wt-13's reopening is in 2027)
        "cases_reopened": 3,
        # closed on 31.12. with the last closure in 2026: wt-01, wt-04, wt-06, wt-09, wt-13,
        # wt-15 (wt-05 was closed and reopened: open at year end)
        "cases_closed": 6,
        "cases_closed_by_reason": {
            "goals_achieved": 2,  # wt-01, wt-06
            "period_expired": 1,  # wt-09
            "moved_away": 0,  # wt-03 and s-12 moved away in 2025
            "handed_over": 0,  # wt-05's hand-over was undone by its reopening
            "no_contact": 2,  # wt-04 (its last closure), wt-13
            "client_request": 1,  # wt-15 (closed on 1 January)
            "other": 0,
        },
        # 15 active - 6 closed: wt-02, wt-03, wt-05, wt-07, wt-08, wt-10, s-11, wt-16, wt-17
        "cases_open_at_year_end": 9,
        # no transfer between providers, no case continued from another district
        "transferred_out": 0,
        "transferred_in": 0,
        "cases_continued": 0,
        # households: wt-02 five, wt-06 two (erased, size kept), wt-09 three, 12 others one
        "persons_counselled": 5 + 2 + 3 + 12,
        # wt-03 1, wt-05 2 (first plan and the plan after reopening), wt-06 1, s-11 1,
        # wt-16 1, wt-17 1
        "plans_agreed": 7,
        # deadline (opening + 3 months - 1 day) in 2026: wt-04 (2026-04-04, closed before it
        # without a plan: left out), wt-05 (05-01, agreed 03-15 yes), wt-06 (06-01, 04-10 yes),
        # s-11 (12-14, agreed 12-20 no), wt-13 (06-30, no plan, closed later: no),
        # wt-16 (08-03, 06-01 yes), wt-17 (opened 2025-11-10, 2026-02-09, 01-20 yes);
        # wt-02 (2027-02-19) falls into 2027
        "plan_on_time_share": 4 / 6,
        # first agreed in 2026: wt-03 work, wt-05 housing, wt-06 language, s-11 health and
        # participation, wt-16 school and housing, wt-17 other (wt-05's g1 again after the
        # reopening does not count twice; wt-01 and wt-08 were agreed earlier)
        "goals_agreed": 8,
        "goals_agreed_by_area": {
            "language": 1,
            "school": 1,
            "vocational_training": 0,
            "work": 1,
            "housing": 2,
            "health": 1,
            "childcare": 0,
            "participation": 1,
            "regular_services": 0,
            "other": 1,
        },
        "goal_outcomes": {
            "open": 5,  # wt-03 g1, s-11 g1 and g2, wt-16 g1, wt-17 g1
            "achieved": 2,  # wt-01 g1, wt-06 g1 (wt-08 g2 was achieved in 2025)
            "partly_achieved": 1,  # wt-05 g1
            "not_achieved": 1,  # wt-08 g1
            "dropped": 1,  # wt-16 g2
        },
        "goal_outcomes_by_area": {
            "health/open": 1,
            "housing/dropped": 1,
            "housing/partly_achieved": 1,
            "language/achieved": 2,
            "other/open": 1,
            "participation/open": 1,
            "school/open": 1,
            "vocational_training/not_achieved": 1,
            "work/open": 1,
        },
        # achieved / (achieved + partly + not achieved); dropped left out
        "goals_achieved_share": 2 / (2 + 1 + 1),
        "extensions_granted": 2,  # wt-08, twice
        "extension_months": 6 + 3,
        # contacts dated 2026: wt-01 (60, 30), wt-02 45, wt-03 20, wt-04 60, wt-06 90,
        # wt-07 30, wt-08 120, wt-10 15, s-11 60, wt-17 50 (its 2025 contact and wt-13's
        # 2027 contact are outside the year)
        "contacts": 11,
        "contact_minutes": 60 + 30 + 45 + 20 + 60 + 90 + 30 + 120 + 15 + 60 + 50,
        "contacts_per_active_case": 11 / 15,
        "minutes_per_active_case": 580 / 15,
        # lengths in days: wt-15 92, wt-04 176 (first opening to last closure), wt-06 183,
        # wt-13 183, wt-01 428, wt-09 1096 -> median (183 + 183) / 2
        "median_length_days": 183.0,
        "fte": 2.0,  # drk-wt 1.5 + caritas-wt 0.5; awo-s has none
        # active cases of staffed providers (drk-wt 11, caritas-wt 3) per FTE (2.0)
        "caseload_per_fte": 14 / 2.0,
        "open_past_period": 1,  # wt-07: period ended 2026-07-02, open on 31.12.
    }


def test_district_and_provider_figures_of_the_hand_written_history() -> None:
    r = report(flat(hand_history()), year=YEAR, staffing=STAFFING)
    assert r.districts == (S, WT)
    drk = r.figures(district=WT, provider="drk-wt")
    caritas = r.figures(district=WT, provider="caritas-wt")
    stuttgart = r.figures(district=S)
    waldshut = r.figures(district=WT)
    # drk-wt: wt-01..07, wt-13, wt-15, wt-16, wt-17 active; 1.5 FTE
    assert drk["cases_active"] == 11
    assert drk["caseload_per_fte"] == 11 / 1.5
    assert drk["persons_counselled"] == 5 + 2 + 9  # wt-02, wt-06 and nine singles
    # caritas-wt: wt-08, wt-09, wt-10; 0.5 FTE; wt-09 period_expired
    assert caritas["cases_active"] == 3
    assert caritas["caseload_per_fte"] == 6.0
    assert caritas["extensions_granted"] == 2
    assert caritas["median_length_days"] == 1096.0
    # Stuttgart: only s-11 is active; no FTE, so no caseload; its plan came too late
    assert stuttgart["cases_active"] == 1
    assert stuttgart["caseload_per_fte"] is None
    assert stuttgart["fte"] is None
    assert stuttgart["plan_on_time_share"] == 0.0
    assert stuttgart["goals_agreed"] == 2
    # Waldshut: everything but Stuttgart
    assert waldshut["cases_active"] == 14
    assert waldshut["plan_on_time_share"] == 4 / 5
    assert waldshut["open_past_period"] == 1


def test_findings_of_the_hand_written_history() -> None:
    r = report(flat(hand_history()), year=YEAR, staffing=STAFFING)
    assert r.findings == (
        Finding(code="open_past_period", case_ids=["wt-07"]),
        Finding(code="consent_missing_in_monitoring", case_ids=["wt-16"]),
        Finding(code="fte_missing", units=["08111/awo-s"]),
    )


def test_an_erased_person_counts_exactly_as_before() -> None:
    before = report(flat(hand_history(erase=False)), year=YEAR, staffing=STAFFING)
    after = report(flat(hand_history()), year=YEAR, staffing=STAFFING)
    assert after == before


def test_other_years_of_the_hand_written_history() -> None:
    events = flat(hand_history())
    r2025 = report(events, year=2025).figures()
    # 2025: wt-01, wt-03, wt-07, wt-08, wt-09, wt-10, s-12, wt-15, wt-17 (wt-03 and s-12
    # closed in 2025)
    assert r2025["cases_active"] == 9
    by_reason = r2025["cases_closed_by_reason"]
    assert isinstance(by_reason, Mapping)
    assert by_reason["moved_away"] == 2
    assert r2025["cases_open_at_year_end"] == 7
    r2027 = report(events, year=2027).figures()
    # 2027 (until the clock's day): open since 2026 plus wt-13 reopened and wt-14 opened
    assert r2027["cases_active"] == 9 + 2
    assert r2027["cases_reopened"] == 1
    assert r2027["cases_opened"] == 1
    assert report(events, year=2019).figures()["cases_active"] == 0


def test_a_scoped_report_equals_the_slice_of_the_full_report() -> None:
    events = flat(hand_history())
    full = report(events, year=YEAR, staffing=STAFFING)
    for district in (WT, S):
        scoped = report(events, year=YEAR, district=district, staffing=STAFFING)
        assert scoped.figures() == full.figures(district=district)
        assert scoped.district == district
    drk = report(events, year=YEAR, provider="drk-wt", staffing=STAFFING)
    assert drk.figures() == full.figures(provider="drk-wt")
    assert {u.provider for u in drk.units} == {"drk-wt"}


def test_merging_the_providers_reports_gives_the_state_report() -> None:
    events = flat(hand_history())
    full = report(events, year=YEAR, staffing=STAFFING)
    parts = [
        report(events, year=YEAR, district=d, provider=p, staffing=STAFFING)
        for d, p in ((WT, "drk-wt"), (WT, "caritas-wt"), (S, "awo-s"))
    ]
    assert Report.merge(*parts) == full
    waldshut = Report.merge(parts[0], parts[1])
    assert waldshut.district == WT and waldshut.provider is None
    assert waldshut.figures() == full.figures(district=WT)


def test_merge_refuses_other_years_and_conflicting_staffing() -> None:
    events = flat(hand_history())
    with pytest.raises(ValueError, match="different years"):
        Report.merge(report(events, year=2025), report(events, year=2026))
    with pytest.raises(ValueError, match="conflicting FTE"):
        Report.merge(
            report(events, year=YEAR, staffing={(WT, "drk-wt"): 1}),
            report(events, year=YEAR, staffing={(WT, "drk-wt"): 2}),
        )
    with pytest.raises(ValueError, match="at least one"):
        Report.merge()


def test_staffing_without_cases_and_from_organisation_data() -> None:
    from imflow.organisations import DistrictOrganisation, Provider

    orgs = [
        DistrictOrganisation(
            district=WT,
            providers=[
                Provider(id="drk-wt", district=WT, fte="1.5"),
                Provider(id="caritas-wt", district=WT, fte="0.5"),
                Provider(id="diakonie-wt", district=WT, fte="0.75"),  # no cases yet
            ],
        )
    ]
    r = report(flat(hand_history()), year=YEAR, staffing=orgs)
    assert r.figures()["fte"] == 2.75
    assert r.figures(provider="diakonie-wt")["cases_active"] == 0
    assert r.figures(provider="diakonie-wt")["caseload_per_fte"] == 0.0


# -- SQL == Python -----------------------------------------------------------------------


def test_sql_on_the_agreed_schema_equals_python(tmp_path: Path) -> None:
    events = flat(hand_history())
    conn = agreed_sqlite(tmp_path / "agreed.db", events)
    try:
        for year in (2025, 2026, 2027):
            for district, provider in SCOPES:
                python = report(
                    events, year=year, staffing=STAFFING, district=district, provider=provider
                )
                got = report(
                    conn, year=year, staffing=STAFFING, district=district, provider=provider
                )
                assert got == python
    finally:
        conn.close()


def test_every_store_reports_like_the_events(stores: StoreMaker) -> None:
    """Memory, a SQLite file and PostgreSQL; the erasure runs through the store itself."""
    store = stores()
    for case_id, events in hand_history(erase=False).items():
        store.append(case_id, events, expected_version=0)
    assert store.erase_person("p-wt-06", on=date(2026, 12, 1)) == ("wt-06",)
    expected = report(flat(hand_history()), year=YEAR, staffing=STAFFING)
    assert report(store, year=YEAR, staffing=STAFFING) == expected
    for district, provider in ((S, None), (None, "caritas-wt")):
        got = report(store, year=YEAR, staffing=STAFFING, district=district, provider=provider)
        want = report(
            flat(hand_history()), year=YEAR, staffing=STAFFING, district=district, provider=provider
        )
        assert got == want


def test_sql_stores_report_through_their_raw_connection(sql_stores: StoreMaker) -> None:
    store = sql_stores()
    for case_id, events in hand_history(erase=False).items():
        store.append(case_id, events, expected_version=0)
    # a person_erased event is recorded only by the store's erasure, never appended
    assert store.erase_person("p-wt-06", on=date(2026, 12, 1)) == ("wt-06",)
    raw = sql_stores.raw()
    try:
        assert report(raw, year=YEAR) == report(flat(hand_history()), year=YEAR)
    finally:
        raw.close()


def test_postgres_on_the_agreed_schema_equals_python_corrupt_rows_included(pg_dsn: str) -> None:
    """DATE and JSONB columns, filled directly (the store would refuse corrupt histories)."""
    import psycopg

    from tests.pg import fresh_schema

    events = [*flat(hand_history()), *flat(corrupt_history())]
    scope = {e.case_id: (e.district, e.provider) for e in events if isinstance(e, CaseOpened)}
    schema = fresh_schema()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(
            "CREATE TABLE events (case_id TEXT, seq INTEGER, type TEXT, on_date DATE,"
            " recorded_at TIMESTAMPTZ, district TEXT, provider TEXT, schema_version INTEGER,"
            " payload JSONB, PRIMARY KEY (case_id, seq))"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s::jsonb)",
                [
                    (
                        e.case_id,
                        e.seq,
                        e.type,
                        e.on,
                        e.recorded_at,
                        *scope.get(e.case_id, ("", "")),
                        dumps(e),
                    )
                    for e in events
                ],
            )
        try:
            for year in (2025, 2026, 2027):
                for district, provider in SCOPES:
                    python = report(
                        events, year=year, staffing=STAFFING, district=district, provider=provider
                    )
                    got = report(
                        conn, year=year, staffing=STAFFING, district=district, provider=provider
                    )
                    assert got == python
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_report_reads_a_consistent_snapshot_of_a_store_in_use(tmp_path: Path) -> None:
    """The report reads through its own read-only connection: the store keeps working."""
    history = hand_history(erase=False)  # a store records an erasure only by erase_person
    folder = tmp_path / "a folder with spaces, #hash and ?question"
    folder.mkdir()
    engine = Engine(clock=FrozenClock.on(CLOCK_DAY))  # the history's clock: it admits them
    with SQLiteStore(folder / "busy.db", engine=engine) as s:
        for case_id, events in history.items():
            s.append(case_id, events, expected_version=0)
        assert not s.connection.in_transaction
        report(s, year=YEAR)
        assert not s.connection.in_transaction
        extra = story("wt-99", date(2026, 6, 1)).consent(date(2026, 6, 1))
        s.append("wt-99", extra.events, expected_version=0)  # the store still writes
        assert report(s, year=YEAR).figures()["cases_opened"] == 8


def test_a_report_needs_events_or_a_store() -> None:
    with pytest.raises(TypeError, match="reads events"):
        report(42, year=YEAR)


# -- properties --------------------------------------------------------------------------


def by_case(events: Sequence[Event]) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {}
    for e in events:
        found.setdefault(e.case_id, []).append(e)
    return found


def staffing_for(events: Sequence[Event]) -> dict[tuple[str, str], str]:
    opened = sorted({(e.district, e.provider) for e in events if isinstance(e, CaseOpened)})
    return {key: f"{i % 3}.25" for i, key in enumerate(opened) if i % 2 == 0}


@st.composite
def histories(draw: st.DrawFn, max_cases: int = 6) -> tuple[Event, ...]:
    """Valid cases with distinct ids, in two districts so that providers meet.

    (Not ``imflow.testing.event_histories``: it calls ``bool()`` on a strategy, which
    hypothesis warns about and the test settings turn into an error.)
    """
    found: list[Event] = []
    for i in range(draw(st.integers(1, max_cases))):
        case = draw(cases(max_steps=20))
        district = draw(st.sampled_from([WT, S]))
        found.extend(
            attrs.evolve(e, case_id=f"case-{i}", district=district)
            if isinstance(e, CaseOpened)
            else attrs.evolve(e, case_id=f"case-{i}")
            for e in case.events
        )
    return tuple(found)


@given(data=st.data(), events=histories())
def test_merging_the_reports_of_a_random_split_equals_the_joint_report(
    data: st.DataObject, events: tuple[Event, ...]
) -> None:
    cases = by_case(events)
    year = data.draw(st.sampled_from(sorted({e.on.year for e in events})), label="year")
    parts = data.draw(st.lists(st.integers(0, 2), min_size=len(cases), max_size=len(cases)))
    staffing = staffing_for(events)
    split: list[list[Event]] = [[], [], []]
    for part, case_events in zip(parts, cases.values(), strict=True):
        split[part].extend(case_events)
    reports = [report(p, year=year, staffing=staffing) for p in split]
    joint = report(events, year=year, staffing=staffing)
    assert Report.merge(*reports) == joint
    assert Report.merge(*reports).figures() == joint.figures()
    assert Report.merge(*reports).findings == joint.findings
    for district in (WT, S):  # a scoped report is the slice of the joint one
        scoped = report(events, year=year, district=district, staffing=staffing)
        assert scoped.figures() == joint.figures(district=district)


@given(data=st.data(), events=histories(max_cases=4))
def test_sql_equals_python_on_random_histories(
    data: st.DataObject, events: tuple[Event, ...]
) -> None:
    years = sorted({e.on.year for e in events})
    year = data.draw(st.sampled_from([years[0] - 1, *years, years[-1] + 1]), label="year")
    staffing = staffing_for(events)
    assert sql_report(events, year=year, staffing=staffing) == report(
        events, year=year, staffing=staffing
    )


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[Event, ...]:
    """Valid histories broken at random: events dropped, reordered, re-dated, goals renamed."""
    found: list[Event] = []
    for case_events in by_case(draw(histories(max_cases=4))).values():
        kept = [e for e in case_events if draw(st.integers(0, 7)) != 0]
        if draw(st.booleans()):
            kept = draw(st.permutations(kept))
        for i, e in enumerate(kept, start=1):
            changes: dict[str, Any] = {"seq": i}
            if draw(st.integers(0, 5)) == 0:
                changes["on"] = date.fromordinal(e.on.toordinal() + draw(st.integers(-400, 400)))
            if isinstance(e, GoalStatusSet) and draw(st.integers(0, 3)) == 0:
                changes["goal_id"] = "renamed"
            found.append(attrs.evolve(e, **changes))
    return tuple(found)


@given(data=st.data(), events=corrupted())
def test_sql_equals_python_on_corrupt_histories(
    data: st.DataObject, events: tuple[Event, ...]
) -> None:
    years = sorted({e.on.year for e in events}) or [YEAR]
    year = data.draw(st.sampled_from(years), label="year")
    assert sql_report(events, year=year) == report(events, year=year)


@given(events=histories(max_cases=4))
def test_valid_histories_have_no_findings_about_event_order(events: tuple[Event, ...]) -> None:
    for year in sorted({e.on.year for e in events}):
        codes = {f.code for f in report(events, year=year).findings}
        assert not codes & {
            "opening_missing",
            "closure_before_opening",
            "events_out_of_order",
            "contact_after_closure",
            "goal_status_before_plan",
            "persons_exceed_household",
        }


# -- corrupt histories -------------------------------------------------------------------


def renumber(events: Iterable[Event]) -> tuple[Event, ...]:
    return tuple(attrs.evolve(e, seq=i) for i, e in enumerate(events, start=1))


def corrupt_history() -> dict[str, tuple[Event, ...]]:
    """Histories the engine would never write, built by editing valid ones."""
    h = hand_history()
    found: dict[str, tuple[Event, ...]] = {}
    # closure dated before the opening (and so also backwards in time)
    ev = h["wt-04"]
    found["bad-close"] = tuple(
        attrs.evolve(e, case_id="bad-close", on=date(2025, 12, 1))
        if isinstance(e, CaseClosed) and e.seq == 4
        else attrs.evolve(e, case_id="bad-close")
        for e in ev
    )
    # a goal achieved before its plan was agreed: the status event moved before agree_plan
    ev = h["wt-06"]
    status = next(e for e in ev if isinstance(e, GoalStatusSet))
    agreed = next(e for e in ev if isinstance(e, PlanAgreed))
    reordered = [e for e in ev if e is not status]
    reordered.insert(reordered.index(agreed), attrs.evolve(status, on=date(2026, 4, 1)))
    found["bad-goal"] = renumber(attrs.evolve(e, case_id="bad-goal") for e in reordered)
    # a status for a goal that was never added
    ev = h["wt-16"]
    found["bad-unknown-goal"] = renumber(
        attrs.evolve(e, case_id="bad-unknown-goal", goal_id="nope")
        if isinstance(e, GoalStatusSet)
        else attrs.evolve(e, case_id="bad-unknown-goal")
        for e in ev
    )
    # a contact after the closure (dates in order)
    ev = h["wt-15"]
    last = ev[-1]
    contact = ContactRecorded(
        case_id="bad-contact",
        seq=0,
        on=date(2026, 2, 1),
        recorded_at=last.recorded_at,
        actor=last.actor,
        minutes=30,
        channel=Channel.PHONE,
        topics=(),
    )
    found["bad-contact"] = renumber(
        (*(attrs.evolve(e, case_id="bad-contact") for e in ev), contact)
    )
    # events out of order: a contact dated before the one recorded before it
    ev = h["wt-01"]
    found["bad-order"] = tuple(
        attrs.evolve(e, case_id="bad-order", on=date(2025, 1, 1))
        if isinstance(e, ContactRecorded) and e.on == date(2026, 2, 10)
        else attrs.evolve(e, case_id="bad-order")
        for e in ev
    )
    # more persons than household members
    ev = h["wt-02"]
    found["bad-household"] = tuple(
        attrs.evolve(e, case_id="bad-household", household=2)
        if isinstance(e, CaseOpened)
        else attrs.evolve(e, case_id="bad-household")
        for e in ev
    )
    # a plan agreed without any consent: in monitoring without consent
    ev = h["wt-17"]
    found["bad-consent"] = renumber(
        attrs.evolve(e, case_id="bad-consent") for e in ev if not isinstance(e, ConsentRecorded)
    )
    # events without their opening
    found["bad-no-opening"] = renumber(
        attrs.evolve(e, case_id="bad-no-opening") for e in h["wt-07"][1:]
    )
    # an unknown rule set
    ev = h["wt-05"]
    found["bad-rules"] = tuple(
        attrs.evolve(e, case_id="bad-rules", rule_set="vwv-1999")
        if isinstance(e, CaseOpened)
        else attrs.evolve(e, case_id="bad-rules")
        for e in ev
    )
    return found


def test_corrupt_histories_are_reported_as_findings() -> None:
    bad = corrupt_history()
    r = report(flat(bad), year=YEAR)
    found = {f.code: f.case_ids for f in r.findings}
    assert found == {
        "opening_missing": ("bad-no-opening",),
        # the closure on 2025-12-01 lies before the opening on 2026-01-05 ...
        "closure_before_opening": ("bad-close",),
        # ... and before the events recorded before it, as is the re-dated contact (the
        # moved goal status, dated 2026-04-01, lies between its goal and the agreement)
        "events_out_of_order": ("bad-close", "bad-order"),
        "contact_after_closure": ("bad-contact",),
        "goal_status_before_plan": ("bad-goal", "bad-unknown-goal"),
        # bad-unknown-goal is wt-16, whose consent was withdrawn in monitoring
        "consent_missing_in_monitoring": ("bad-consent", "bad-unknown-goal"),
        "persons_exceed_household": ("bad-household",),
        "unknown_rule_set": ("bad-rules",),
        "fte_missing": (),
    }
    assert next(f for f in r.findings if f.code == "fte_missing").units == ("08337/drk-wt",)
    # the same in SQL, corrupt rows and all
    assert sql_report(flat(bad), year=YEAR) == r


def test_findings_carry_ids_only() -> None:
    bad = corrupt_history()
    document = json.loads(to_json(report(flat(bad), year=YEAR)))
    assert "p-wt" not in json.dumps(document)  # person references never appear
    for finding in document["findings"]:
        assert set(finding["case_ids"]) <= set(bad)  # case ids, nothing else


def test_corrupt_history_of_one_case_at_a_time_in_both_paths() -> None:
    for case_id, events in corrupt_history().items():
        python = report(events, year=YEAR)
        assert python.findings, case_id
        assert sql_report(events, year=YEAR) == python, case_id


# -- catalogue ----------------------------------------------------------------------------


def test_the_catalogue_covers_domain_section_7_in_two_languages() -> None:
    required = {
        "cases_active",
        "cases_opened",
        "cases_closed_by_reason",
        "persons_counselled",
        "plans_agreed",
        "plan_on_time_share",
        "goals_agreed_by_area",
        "goal_outcomes",
        "extensions_granted",
        "median_length_days",
        "contacts_per_active_case",
        "minutes_per_active_case",
        "caseload_per_fte",
        "open_past_period",
    }
    assert required <= set(CATALOGUE)
    for fid, fig in CATALOGUE.items():
        assert fig.id == fid
        assert fig.name_de and fig.name_en and fig.name_de != fig.name_en
        assert fig.rule_de and fig.rule_en and fig.unit_de and fig.unit_en
        assert len(fig.edges("de")) == len(fig.edges("en")) == len(fig.edge_cases)
        if fig.kind is FigureKind.BREAKDOWN and fig.keys:
            for key in fig.keys:
                assert fig.key_label(key, "de") and fig.key_label(key, "en")
    for code, (de, en) in FINDINGS.items():
        assert code and de and en and de != en
        assert Finding(code=code, case_ids=["c-1"]).message("de") == de


def test_the_words_of_figures_and_findings_live_in_the_catalogue_only() -> None:
    """Every figure and finding has its words in both languages, the catalogue has no
    words for figures or findings that do not exist, and a host's override shows."""
    m = Messages.default()
    for lang in ("de", "en"):
        catalog = m.catalogs[lang]
        figure_keys = {k for k in catalog if k.startswith("figure.")}
        wanted = {f"figure.{fid}.{part}" for fid in CATALOGUE for part in ("name", "unit", "rule")}
        assert wanted <= figure_keys
        for key in figure_keys - wanted:
            fid, part, number = key.split(".")[1:]
            assert fid in CATALOGUE and part == "edge" and int(number) >= 1, key
        finding_keys = {k.removeprefix("finding.") for k in catalog if k.startswith("finding.")}
        assert finding_keys == set(FINDINGS)
    ours = m.with_overrides(
        {"de": {"figure.cases_active.name": "Fälle (aktiv)", "finding.fte_missing": "VZÄ fehlt"}}
    )
    assert CATALOGUE["cases_active"].name("de", messages=ours) == "Fälle (aktiv)"
    assert Finding(code="fte_missing", units=["x/y"]).message("de", messages=ours) == "VZÄ fehlt"
    assert CATALOGUE["cases_active"].name("de") == "Aktive Fälle im Berichtsjahr"
    text = to_text(Report(year=2026), lang="de", messages=ours)
    assert "Fälle (aktiv): 0" in text


# -- outputs ------------------------------------------------------------------------------


def full_report() -> Report:
    return report(flat(hand_history()), year=YEAR, staffing=STAFFING)


def test_json_round_trip_and_cattrs() -> None:
    r = full_report()
    text = to_json(r)
    document = json.loads(text)
    assert document["due"] == "2027-01-31"
    assert list(document)[:5] == ["format", "year", "due", "scope", "findings"]
    assert document["figures"]["cases_active"] == 15
    assert [d["ags"] for d in document["districts"]] == [S, WT]
    assert from_json(text) == r
    conv = cattrs.Converter()
    assert conv.structure(json.loads(json.dumps(conv.unstructure(r))), Report) == r
    with pytest.raises(ValueError, match="not an imflow-kennzahlen"):
        from_json('{"format": "other"}')


def test_merging_reports_read_back_from_json() -> None:
    events = flat(hand_history())
    sent = [to_json(report(events, year=YEAR, district=d, staffing=STAFFING)) for d in (WT, S)]
    assert Report.merge(*(from_json(t) for t in sent)) == full_report()


def test_csv_is_semicolon_separated_utf8_with_bom_and_german() -> None:
    data = to_csv(full_report())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Abschnitt",
        "Ebene",
        "AGS",
        "Kreis",
        "Träger",
        "Kennzahl",
        "Bezeichnung",
        "Aufschlüsselung",
        "Wert",
        "Einheit",
    ]
    assert rows[2][5:] == [
        "due",
        "Fällig bei der Bewilligungsstelle (Regierungspräsidium Stuttgart) am",
        "",
        "31.01.2027",
        "",
    ]
    sections = [r[0] for r in rows[1:]]
    first_figure = sections.index("Kennzahlen")
    assert "Plausibilitätsprüfung" in sections[:first_figure]  # the findings come first
    assert "Plausibilitätsprüfung" not in sections[first_figure:]
    finding = next(r for r in rows if r[5] == "open_past_period" and r[0] != "Kennzahlen")
    assert finding[7:] == ["wt-07", "1", "Fälle"]
    state = {(r[5], r[7]): r[8] for r in rows if r[0] == "Kennzahlen" and r[1] == "Land"}
    assert state["cases_active", ""] == "15"
    assert state["plan_on_time_share", ""] == "66,7"  # percent, decimal comma
    assert state["minutes_per_active_case", ""] == "38,67"
    assert state["cases_closed_by_reason", "Ziele erreicht"] == "2"
    drk = {r[5]: r[8] for r in rows if r[1] == "Träger" and r[4] == "drk-wt" and not r[7]}
    assert drk["caseload_per_fte"] == "7,33"
    english = to_csv(full_report(), lang="en").decode("utf-8-sig")
    assert english.startswith("Section;Level;AGS;District;Provider;Figure;Name;")
    rows_en = list(csv.reader(io.StringIO(english), delimiter=";"))
    state_en = {r[5]: r[8] for r in rows_en if r[1] == "State" and not r[7]}
    assert state_en["plan_on_time_share"] == "66.7"


@pytest.mark.parametrize(
    ("scope", "top"),
    [({}, "Land"), ({"district": WT}, "Kreis"), ({"provider": "drk-wt"}, "Träger")],
)
def test_csv_names_each_level_by_what_it_is(scope: dict[str, str], top: str) -> None:
    """A district's (or provider's) totals are labelled as the district's, not the state's,
    and every row of a level holds exactly the figures of that level."""
    yearly = report(
        flat(hand_history()),
        year=YEAR,
        staffing=STAFFING,
        district=scope.get("district"),
        provider=scope.get("provider"),
    )
    rows = list(csv.reader(io.StringIO(to_csv(yearly).decode("utf-8-sig")), delimiter=";"))
    figures = [r for r in rows[1:] if r[0] == "Kennzahlen"]
    assert figures[0][1] == top
    assert figures[0][2] == scope.get("district", "")
    assert figures[0][4] == scope.get("provider", "")
    if scope:
        assert "Land" not in {r[1] for r in figures}
    by_level: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in figures:
        if not r[7]:
            by_level.setdefault((r[1], r[2], r[4]), {})[r[5]] = r[8]
    assert len(by_level) == len({(r[1], r[2], r[4]) for r in figures})  # no level twice
    for (level, ags, provider), values in by_level.items():
        where = {"district": ags, "provider": provider}
        if level == top:
            where = dict(scope)
        expected = yearly.figures(**{k: v for k, v in where.items() if v})
        assert values["cases_active"] == str(expected["cases_active"]), (level, ags, provider)


def test_text_summary_shows_due_date_and_findings_first() -> None:
    text = to_text(full_report(), lang="de")
    lines = text.splitlines()
    assert lines[2].endswith("am 31.01.2027")
    assert text.index("Plausibilitätsprüfung") < text.index("Aktive Fälle im Berichtsjahr")
    assert "! [open_past_period]" in text and "wt-07" in text
    assert "Aktive Fälle im Berichtsjahr: 15" in text
    assert "Anteil Fälle mit Integrationsplan innerhalb von 3 Monaten: 66,7 %" in text
    assert "Kreis Waldshut (Landkreis), AGS 08337" in text
    english = to_text(full_report(), lang="en")
    assert "Due at the granting authority" in english and "2027-01-31" in english
    assert "Cases active in the year: 15" in english
    clean = to_text(report([], year=YEAR), lang="en")
    assert "Plausibility checks: no findings" in clean


# -- what the mutation run of the counting left alive (tests/MUTANTS.md) ------------------


def test_a_contact_after_the_second_closure_is_a_finding() -> None:
    """Closed, reopened, closed again: a contact then comes after a closure (the count of
    closures minus reopenings is 1); after the reopening alone it would not."""
    twice = story("twice", date(2026, 1, 5)).close(date(2026, 2, 2), "client_request")
    twice.reopen(date(2026, 3, 2)).close(date(2026, 4, 1), "client_request")
    once = story("once", date(2026, 1, 5)).close(date(2026, 2, 2), "client_request")
    once.reopen(date(2026, 3, 2))
    events: list[Event] = []
    for s in (twice, once):
        last = s.events[-1]
        contact = ContactRecorded(
            case_id=s.case.case_id,
            seq=last.seq + 1,
            on=date(2026, 5, 4),
            recorded_at=last.recorded_at,
            actor=last.actor,
            minutes=30,
            channel=Channel.PHONE,
            topics=(),
        )
        events += [*s.events, contact]
    found = {f.code: f.case_ids for f in report(events, year=YEAR).findings}
    assert found["contact_after_closure"] == ("twice",)


def test_a_status_for_a_goal_added_after_the_only_agreement_is_a_finding() -> None:
    """g2 is added to the revised plan, and its status set with no agreement after it:
    the earlier agreement (of g1, dated before the status) does not count for g2."""
    s = story("late-goal", date(2026, 1, 5)).consent(date(2026, 1, 5))
    target = d("2027-01-29")
    s.assess(date(2026, 1, 5), "language").plan(date(2026, 2, 2), ("g1", "language", target))
    s.agree(date(2026, 2, 2)).then(c.RevisePlan(on=date(2026, 3, 2)))
    s.then(
        c.AddGoal(
            on=date(2026, 3, 2),
            goal_id="g2",
            area="work",
            description="Ziel",
            target_date=target,
        )
    )
    s.agree(date(2026, 3, 2)).status(date(2026, 4, 1), "g2", "achieved")
    valid = s.events
    assert report(valid, year=YEAR).case_findings == ()
    second = [e for e in valid if isinstance(e, PlanAgreed)][-1]
    forged = renumber(e for e in valid if e is not second)
    found = {f.code: f.case_ids for f in report(forged, year=YEAR).findings}
    assert found["goal_status_before_plan"] == ("late-goal",)
