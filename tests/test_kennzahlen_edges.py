"""Key figures at the edges of the year, computed by hand.

Nine cases of one provider, each on an edge: opened on 1 January, closed on 1 January
and on 31 December (of this year, of the year before, of the next one), a period whose
last day is 31 December and one ending the day before. The expected figures of 2025,
2026 and 2027 are written out below with the reasoning; the report must give them from
plain events, from the memory store and from the SQL stores alike.

=========  ==========  ==========  ==============  =========  ====================
case       opened      closed      reason          household  period's last day
=========  ==========  ==========  ==============  =========  ====================
jan1-open  2026-01-01  --                          2          2028-12-31
jan1-day   2026-01-01  2026-01-01  client_request  1          2028-12-31
closed-j1  2025-06-10  2026-01-01  moved_away      1          2028-06-09
closed-d31 2026-03-02  2026-12-31  handed_over     1          2029-03-01
prev-d31   2025-02-03  2025-12-31  no_contact      1          2028-02-02
next-j1    2026-05-04  2027-01-01  client_request  1          2029-05-03
ends-d31   2024-01-01  --                          1          2026-12-31
ends-d30   2023-12-31  --                          1          2026-12-30
opened-d31 2025-12-31  --                          1          2028-12-30
=========  ==========  ==========  ==============  =========  ====================

``jan1-open`` agrees its plan on 2026-03-31, the last day of its plan deadline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.events import CaseOpened, Event
from imflow.kennzahlen import report
from imflow.store import Store
from tests.stores import StoreMaker

WT, DRK = "08337", "drk-wt"
IM = Actor("im-1", Role.MANAGER, provider=DRK, district=WT)
ENGINE = Engine(clock=FrozenClock(datetime(2027, 6, 1, 12, tzinfo=UTC)))


def d(text: str) -> date:
    return date.fromisoformat(text)


def case(case_id: str, opened: str, *commands: c.Command, household: int = 1) -> Case:
    members = tuple(f"m-{case_id}-{i}" for i in range(household - 1))
    found = ENGINE.open(
        c.OpenCase(
            case_id=case_id,
            person=f"p-{case_id}",
            district=WT,
            provider=DRK,
            household=household,
            members=members,
            on=d(opened),
        ),
        by=IM,
    )
    for cmd in commands:
        found = ENGINE.handle(found, cmd, by=IM)
    return found


def close(on: str, reason: str) -> c.CloseCase:
    return c.CloseCase(on=d(on), reason=reason)


def history() -> list[Event]:
    planned = (
        c.RecordConsent(on=d("2026-01-01")),
        c.StartAssessment(on=d("2026-01-01")),
        c.RecordNeed(on=d("2026-01-01"), area="language"),
        c.StartPlanning(on=d("2026-02-01")),
        c.AddGoal(
            on=d("2026-02-01"),
            goal_id="g1",
            area="language",
            description="B1",
            target_date=d("2027-06-30"),
        ),
        c.AgreePlan(on=d("2026-03-31")),
    )
    cases = [
        case("jan1-open", "2026-01-01", *planned, household=2),
        case("jan1-day", "2026-01-01", close("2026-01-01", "client_request")),
        case("closed-j1", "2025-06-10", close("2026-01-01", "moved_away")),
        case("closed-d31", "2026-03-02", close("2026-12-31", "handed_over")),
        case("prev-d31", "2025-02-03", close("2025-12-31", "no_contact")),
        case("next-j1", "2026-05-04", close("2027-01-01", "client_request")),
        case("ends-d31", "2024-01-01"),
        case("ends-d30", "2023-12-31"),
        case("opened-d31", "2025-12-31"),
    ]
    return [e for found in cases for e in found.events]


def test_the_periods_end_where_the_table_says() -> None:
    ends = {e.case_id: e.period_end for e in history() if isinstance(e, CaseOpened)}
    assert ends == {
        "jan1-open": d("2028-12-31"),
        "jan1-day": d("2028-12-31"),
        "closed-j1": d("2028-06-09"),
        "closed-d31": d("2029-03-01"),
        "prev-d31": d("2028-02-02"),
        "next-j1": d("2029-05-03"),
        "ends-d31": d("2026-12-31"),
        "ends-d30": d("2026-12-30"),
        "opened-d31": d("2028-12-30"),
    }


EXPECTED: dict[int, dict[str, Any]] = {
    2026: {
        # all but prev-d31, closed on 31.12.2025, before the year
        "cases_active": 8,
        # jan1-open and jan1-day (both on 1 January), closed-d31, next-j1
        "cases_opened": 4,
        "cases_reopened": 0,
        # jan1-day and closed-j1 on 1 January, closed-d31 on 31 December
        "cases_closed": 3,
        "cases_closed_by_reason": {
            "goals_achieved": 0,
            "period_expired": 0,
            "moved_away": 1,
            "handed_over": 1,
            "no_contact": 0,
            "client_request": 1,
            "other": 0,
        },
        # jan1-open, next-j1 (closed only in 2027), ends-d31, ends-d30, opened-d31
        "cases_open_at_year_end": 5,
        # ends-d30 only: ends-d31's period ends on 31.12., not before it
        "open_past_period": 1,
        # jan1-open counts 2
        "persons_counselled": 9,
        # lengths 0 (jan1-day), 205 (closed-j1), 304 (closed-d31)
        "median_length_days": 205.0,
        # cohort (deadline in 2026): jan1-open (due 2026-03-31, agreed that day),
        # closed-d31 (due 2026-06-01), next-j1 (due 2026-08-03), opened-d31 (due
        # 2026-03-30); jan1-day closed before its deadline without a plan: left out
        "plan_on_time_share": 0.25,
        "plans_agreed": 1,
        "goals_agreed": 1,
        "goal_outcomes": {
            "open": 1,
            "achieved": 0,
            "partly_achieved": 0,
            "not_achieved": 0,
            "dropped": 0,
        },
    },
    2025: {
        # closed-j1, prev-d31, opened-d31 (all opened in 2025) and the two opened earlier
        "cases_active": 5,
        "cases_opened": 3,
        # prev-d31 on 31 December; closed-j1 closes only on 1 January 2026
        "cases_closed": 1,
        "cases_open_at_year_end": 4,
        "open_past_period": 0,
        "persons_counselled": 5,
        "median_length_days": 331.0,
        # closed-j1 (due 2025-09-09) and prev-d31 (due 2025-05-02), neither with a plan
        "plan_on_time_share": 0.0,
    },
    2027: {
        # next-j1 (closed on 1 January) and the four still open
        "cases_active": 5,
        "cases_opened": 0,
        "cases_closed": 1,
        "cases_open_at_year_end": 4,
        # ends-d31 and ends-d30: both periods ended before 31.12.2027
        "open_past_period": 2,
        "persons_counselled": 6,
        "median_length_days": 242.0,
        "plan_on_time_share": None,
    },
}


def _check(figures: dict[str, Any], year: int) -> None:
    expected = EXPECTED[year]
    assert {k: figures[k] for k in expected} == expected


@pytest.mark.parametrize("year", sorted(EXPECTED))
def test_figures_at_the_edges_of_the_year_from_events(year: int) -> None:
    result = report(history(), year=year)
    _check(result.figures(), year)
    assert result.figures(district=WT, provider=DRK) == result.figures()
    past_period = [f.case_ids for f in result.findings if f.code == "open_past_period"]
    assert past_period == (
        [tuple(sorted({"ends-d30", "ends-d31"} if year == 2027 else {"ends-d30"}))]
        if year >= 2026
        else []
    )


def _stored(store: Store) -> Store:
    found: dict[str, list[Event]] = {}
    for e in history():
        found.setdefault(e.case_id, []).append(e)
    for case_id, events in found.items():
        store.append(case_id, events, expected_version=0)
    return store


def test_figures_at_the_edges_of_the_year_from_each_store(stores: StoreMaker) -> None:
    store = _stored(stores(engine=ENGINE))
    for year in sorted(EXPECTED):
        _check(report(store, year=year).figures(), year)
        assert report(store, year=year) == report(history(), year=year)
