"""domain.md, a second pass from outside: every door holds the same rule.

The doors are the engine (:meth:`imflow.Engine.handle`), the JSON documents
(:func:`imflow.serialization.loads` of commands and events), a store's
:meth:`~imflow.store.Store.append` of events built outside the engine, and the ``imflow``
command line (as a subprocess). Only what ``tests/test_domain_acceptance.py`` does not pin
already; grouped by section, each docstring quoting the statement it checks.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import (
    Actor,
    Case,
    Engine,
    Forbidden,
    FrozenClock,
    InvalidDocument,
    InvalidHistory,
    Rejected,
    Role,
)
from imflow import commands as c
from imflow.access import read_case, read_history
from imflow.commands import Command
from imflow.deadlines import sweep
from imflow.events import Event
from imflow.kennzahlen import CATALOGUE, report
from imflow.organisations import Provider
from imflow.serialization import dumps, json_schema, loads
from imflow.store import MemoryStore, SQLiteStore
from tests.test_domain_acceptance import (
    D0,
    DISTRICT,
    ENGINE,
    IM,
    LAST,
    PROVIDER,
    cli_validate,
    codes_of,
    goal,
    in_assessment,
    in_monitoring,
    in_planning,
    opened,
    refused,
    run,
)

BERLIN = ZoneInfo("Europe/Berlin")
LATE = LAST + timedelta(days=1)
COORDINATOR = Actor("k-1", Role.COORDINATOR, district=DISTRICT)
SECRET = "GEHEIM-Klartext"


def forge(event: Event, **changes: Any) -> Event:
    """*event* with *changes*, built outside the engine (as a host's own code could)."""
    forged: Event = attrs.evolve(cast(Any, event), **changes)
    return forged


def withdrawn(case: Case) -> Case:
    return run(case, c.WithdrawConsent(on=D0))


# ---------------------------------------------------------------- § 3 commands and guards


@settings(max_examples=60, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2025, 3, 2),
        max_value=datetime(2027, 12, 30),
        timezones=st.sampled_from(
            [UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]
        ),
    )
)
def test_today_is_the_date_in_berlin_for_every_aware_clock(moment: datetime) -> None:
    """§ 3 "``date_in_future`` (``on`` later than the engine clock's today)", today being
    the date in Europe/Berlin (summer and winter time), whatever zone the clock is in."""
    engine = Engine(clock=FrozenClock(moment))
    today = moment.astimezone(BERLIN).date()
    case = opened(engine=engine)
    assert codes_of(case, c.RecordContact(on=today, minutes=5), engine=engine) == set()
    tomorrow = c.RecordContact(on=today + timedelta(days=1), minutes=5)
    assert codes_of(case, tomorrow, engine=engine) == {"date_in_future"}


@pytest.mark.parametrize(
    ("instant", "allowed"),
    [
        (datetime(2025, 6, 30, 21, 59, 59, tzinfo=UTC), False),  # 23:59:59 CEST
        (datetime(2025, 6, 30, 22, 0, tzinfo=UTC), True),  # midnight CEST
        (datetime(2025, 12, 31, 22, 59, 59, tzinfo=UTC), False),  # 23:59:59 CET
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), True),  # midnight CET, 1 January
    ],
    ids=str,
)
def test_the_next_day_begins_at_midnight_in_berlin(instant: datetime, allowed: bool) -> None:
    """§ 3 ``date_in_future`` at midnight Europe/Berlin, in summer and in winter time."""
    engine = Engine(clock=FrozenClock(instant))
    case = opened(engine=engine)
    next_day = (instant + timedelta(hours=3)).date()
    found = codes_of(case, c.RecordContact(on=next_day, minutes=5), engine=engine)
    assert found == (set() if allowed else {"date_in_future"})


@pytest.mark.parametrize(
    ("recorded", "accepted"),
    [
        (datetime(2025, 6, 30, 21, 59, tzinfo=UTC), False),  # 23:59 on 30 June in Berlin
        (datetime(2025, 6, 30, 22, 0, tzinfo=UTC), True),  # midnight: 1 July in Berlin
    ],
    ids=["before-midnight", "midnight"],
)
def test_the_store_and_the_json_door_judge_today_in_berlin_too(
    recorded: datetime, accepted: bool
) -> None:
    """§ 3 ``date_in_future`` at the store door and the JSON door: an event dated 1 July
    recorded before midnight in Berlin could not have been recorded, one recorded after
    midnight could."""
    engine = Engine(clock=FrozenClock(datetime(2026, 1, 1, 12, tzinfo=UTC)))
    case = run(opened(date(2025, 6, 1), engine=engine), c.RecordContact(on=date(2025, 6, 30),
               minutes=5), engine=engine)  # fmt: skip
    first = forge(case.events[0], recorded_at=datetime(2025, 6, 1, 8, tzinfo=UTC))
    late = forge(case.events[1], recorded_at=recorded, on=date(2025, 7, 1))
    store = MemoryStore(engine=engine)
    if accepted:
        assert store.append("c-1", [first, late], expected_version=0).version == 2
        kept = dumps(store.load("c-1"))
        assert loads(kept, Case, engine=engine).events[-1].on == date(2025, 7, 1)
        return
    with pytest.raises(InvalidHistory, match="date_in_future"):
        store.append("c-1", [first, late], expected_version=0)
    doc = json.loads(dumps(case))
    doc["events"] = [json.loads(dumps(first)), json.loads(dumps(late))]
    with pytest.raises(InvalidDocument, match="date_in_future"):
        loads(json.dumps(doc), Case, engine=engine)


def _before_plan() -> Iterator[tuple[str, Case, c.Command]]:
    """Work after the last day in intake, assessment and planning (monitoring is pinned)."""
    yield "intake/record_consent", opened(), c.RecordConsent(on=LATE)
    yield "intake/record_contact", opened(), c.RecordContact(on=LATE, minutes=5)
    consented = run(opened(), c.RecordConsent(on=D0))
    yield "intake/start_assessment", consented, c.StartAssessment(on=LATE)
    needy = run(in_assessment(), c.RecordNeed(area="work", note="n", on=D0))
    yield "assessment/start_planning", needy, c.StartPlanning(on=LATE)
    yield "assessment/record_need", needy, c.RecordNeed(area="work", note="n", on=LATE)
    yield "planning/add_goal", in_planning(), goal("g9", LATE, LATE)
    yield "planning/agree_plan", run(in_planning(), goal()), c.AgreePlan(on=LATE)
    yield "planning/transfer_case", in_planning(), c.TransferCase(to_provider="drk", on=LATE)


@pytest.mark.parametrize(("name", "case", "command"), list(_before_plan()), ids=lambda x: "")
def test_after_the_last_day_only_closing_is_allowed_in_every_open_phase(
    name: str, case: Case, command: c.Command
) -> None:
    """§ 3 "``period_ended`` (case work after the last day of the period; closing stays
    allowed)"; § 4 "After the last day, only closing is allowed" — in every open phase."""
    assert "period_ended" in refused(case, command), name
    assert run(case, c.CloseCase(reason="no_contact", on=LATE)).closure is not None


def _after_withdrawal() -> Iterator[tuple[str, Case, c.Command]]:
    """Case work after a withdrawal in intake, assessment and planning."""
    intake = withdrawn(run(opened(), c.RecordConsent(on=D0)))
    yield "intake/start_assessment", intake, c.StartAssessment(on=D0)
    yield "intake/record_contact", intake, c.RecordContact(on=D0, minutes=5)
    assessment = withdrawn(run(in_assessment(), c.RecordNeed(area="work", note="n", on=D0)))
    yield "assessment/record_need", assessment, c.RecordNeed(area="work", note="n", on=D0)
    yield "assessment/start_planning", assessment, c.StartPlanning(on=D0)
    yield "assessment/record_contact", assessment, c.RecordContact(on=D0, minutes=5)
    planning = withdrawn(in_planning())
    yield "planning/add_goal", planning, goal()
    yield "planning/record_need", planning, c.RecordNeed(area="work", note="n", on=D0)
    yield "planning/record_contact", planning, c.RecordContact(on=D0, minutes=5)


@pytest.mark.parametrize(("name", "case", "command"), list(_after_withdrawal()), ids=lambda x: "")
def test_after_withdrawal_case_work_is_consent_missing_in_every_open_phase(
    name: str, case: Case, command: c.Command
) -> None:
    """§ 3 ``consent_missing``: "every command except ``record_consent``, ``close_case``
    and ``transfer_case``, including ``record_contact``" — before a plan exists too; the
    three exceptions stay allowed there."""
    assert "consent_missing" in refused(case, command), name
    for allowed in (
        c.RecordConsent(on=D0),
        c.CloseCase(reason="client_request", on=D0),
        c.TransferCase(to_provider="drk-wt", on=D0),
    ):
        assert codes_of(case, allowed) == set(), (name, allowed.type)


def test_with_a_provider_registry_a_transfer_stays_in_the_district() -> None:
    """§ 3 ``transfer_case``: "the case moves to another provider of the **same
    district**"; a provider of another district (or none known) is ``unknown_provider``."""
    engine = Engine(
        clock=ENGINE.clock,
        providers=[
            Provider(id=PROVIDER, district=DISTRICT),
            Provider(id="drk-wt", district=DISTRICT),
            Provider(id="stadt-s", district="08111"),
        ],
    )
    case = in_monitoring(engine=engine)
    for target in ("stadt-s", "nobody-wt"):
        transfer = c.TransferCase(to_provider=target, on=D0)
        assert refused(case, transfer, engine=engine) == {"unknown_provider"}, target
    moved = run(case, c.TransferCase(to_provider="drk-wt", on=D0), engine=engine)
    assert (moved.provider, moved.district) == ("drk-wt", DISTRICT)


# ---------------------------------------------------------------- § 4 the period at the doors


def bgb_last_day(start: date, months: int) -> date:
    """§§ 187 (2), 188 (2), (3) BGB, written out once more for the test: the day before the
    same calendar date *months* later, or the end of that month if the date is missing."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    try:
        return date(year, month, start.day) - timedelta(days=1)
    except ValueError:
        following = date(year + month // 12, month % 12 + 1, 1)
        return following - timedelta(days=1)


EDGE_DAYS = st.sampled_from(
    [date(2024, 2, 29), date(2023, 12, 31), date(2024, 1, 1), date(2025, 1, 31), date(2025, 3, 1)]
    + [date(2024, m, 31) for m in (1, 3, 5, 7, 8, 10)]
    + [date(2023, 11, 30), date(2024, 11, 30), date(2024, 12, 31), date(2025, 2, 28)]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    opening=EDGE_DAYS | st.dates(date(2023, 6, 6), date(2027, 12, 31)), months=st.integers(1, 12)
)
def test_the_period_a_store_keeps_is_the_bgb_period_and_a_forged_one_is_refused(
    opening: date, months: int
) -> None:
    """§ 4: the period "ends at the end of the day before the same calendar date three
    years later ... at the end of that month" where it does not exist; "Extensions add
    calendar months to the same computation". A store keeps that day, and refuses an
    event that claims another one (:class:`~imflow.InvalidHistory`)."""
    engine = Engine(clock=FrozenClock(datetime(2031, 1, 1, 12, tzinfo=UTC)))
    case = run(in_monitoring(opening, engine=engine), c.ExtendPeriod(
        months=months, justification="exam", on=opening), engine=engine)  # fmt: skip
    store = MemoryStore(engine=engine)
    store.append("c-1", case.events, expected_version=0)
    kept = store.load("c-1")
    assert kept.events[0].period_end == bgb_last_day(opening, 36)  # type: ignore[union-attr]
    assert kept.period_end == bgb_last_day(opening, 36 + months)
    *rest, extension = case.events
    forged = forge(extension, period_end=kept.period_end + timedelta(days=1))
    with pytest.raises(InvalidHistory):
        MemoryStore(engine=engine).append("c-1", [*rest, forged], expected_version=0)


def test_the_sweep_of_a_store_closes_every_open_phase_after_the_last_day(tmp_path: Path) -> None:
    """§ 4 "After the last day, only closing is allowed; a deadline sweep closes such
    cases as ``period_expired``" through a real SQLite store: nothing on the last day, the
    next day every open case past its period (in intake, after a withdrawal of consent),
    an extended one only after its own last day, once."""
    engine = Engine(clock=FrozenClock(datetime(2031, 1, 1, 12, tzinfo=UTC)))
    store = SQLiteStore(tmp_path / "imflow.db", engine=engine)
    try:
        monitoring = in_monitoring(case_id="w-1", engine=engine)
        for case in (
            opened(case_id="i-1", engine=engine),
            run(monitoring, c.WithdrawConsent(on=D0), engine=engine),
            run(in_monitoring(case_id="e-1", engine=engine),
                c.ExtendPeriod(months=1, justification="exam", on=D0), engine=engine),
            run(in_monitoring(case_id="k-1", engine=engine),
                c.CloseCase(reason="no_contact", on=D0), engine=engine),
        ):  # fmt: skip
            store.append(case.case_id, case.events, expected_version=0)

        def swept(day: date) -> list[tuple[str, str, date]]:
            closed = sweep(store, on=day, engine=engine).closed
            return [(k.case_id, str(k.closure.reason), k.closure.on) for k in closed if k.closure]

        assert swept(LAST) == []
        assert sorted(swept(LATE)) == [
            ("i-1", "period_expired", LATE),
            ("w-1", "period_expired", LATE),
        ]
        assert swept(date(2028, 3, 31)) == []  # the extended case's last day
        assert swept(date(2028, 4, 1)) == [("e-1", "period_expired", date(2028, 4, 1))]
        assert swept(date(2028, 4, 2)) == []
        assert store.load("k-1").closure.reason == "no_contact"  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_case_document_with_another_period_end_is_an_invalid_document() -> None:
    """§ 4 at the JSON door: a case whose ``period_end`` is not the BGB day of its events
    is not a valid document."""
    case = run(in_monitoring(date(2025, 1, 31)), c.ExtendPeriod(months=1, justification="j",
               on=date(2025, 1, 31)))  # fmt: skip
    assert case.period_end == date(2028, 2, 29)  # last_day(2025-01-31, 37 months)
    doc = json.loads(dumps(case))
    assert loads(json.dumps(doc), Case) == case
    doc["period_end"] = "2028-02-28"  # "add a month to the end, minus a day" would say so
    with pytest.raises(InvalidDocument, match=r"\$\.period_end"):
        loads(json.dumps(doc), Case)


# ---------------------------------------------------------------- § 6 who may do what


def test_after_a_transfer_only_the_new_provider_reads_the_case() -> None:
    """§ 6 ``manager`` reads "own provider's cases"; § 3 ``transfer_case``: the case
    moves to the other provider, its history with it."""
    moved = run(in_monitoring(), c.TransferCase(to_provider="drk-wt", on=D0))
    new = Actor("im-2", Role.MANAGER, provider="drk-wt", district=DISTRICT)
    assert read_case(moved, by=new).provider == "drk-wt"
    assert len(read_history(moved, by=new)) == len(moved.events)
    for reader in (IM, Actor("im-3", Role.MANAGER, provider="drk-wt")):
        with pytest.raises(Forbidden):
            read_case(moved, by=reader)
        with pytest.raises(Forbidden):
            read_history(moved, by=reader)


def test_reports_outside_the_scope_are_forbidden() -> None:
    """§ 6 key figures: ``coordinator`` "own district, each provider of it", ``auditor``
    "its scope"; "gets ``forbidden`` outside that actor's scope"."""
    events = list(in_monitoring().events)
    district: str | None
    for actor, district in (
        (COORDINATOR, "08111"),
        (Actor("k-2", Role.COORDINATOR), None),
        (Actor("a-1", Role.AUDITOR, district="08111"), DISTRICT),
    ):
        with pytest.raises(Forbidden):
            report(events, year=2025, by=actor, district=district)
    assert report(events, year=2025, by=COORDINATOR).figures()["cases_active"] == 1
    auditor = Actor("a-2", Role.AUDITOR)
    assert report(events, year=2025, by=auditor, district=DISTRICT).figures()["cases_active"] == 1


def test_the_auditor_sees_no_free_text() -> None:
    """§ 6 ``auditor``: "pseudonymised case histories ..., personal fields hidden"; § 8
    personal fields are "every free text (need notes, goal descriptions, review notes,
    justifications, closure notes ...)"."""
    case = run(
        in_planning(),
        c.RecordNeed(area="work", note=SECRET + "-need", on=D0),
        c.AddGoal(goal_id="g1", area="work", description=SECRET + "-goal",
                  target_date=date(2026, 1, 1), on=D0),
        c.AgreePlan(on=D0),
        c.ReviewPlan(on=D0, note=SECRET + "-review"),
        c.ExtendPeriod(months=2, justification=SECRET + "-why", on=D0),
        c.CloseCase(reason="other", note=SECRET + "-closure", on=D0),
    )  # fmt: skip
    auditor = Actor("a-1", Role.AUDITOR, district=DISTRICT)
    assert SECRET in _everything(read_history(case, by=IM))
    assert SECRET not in _everything(read_history(case, by=auditor))
    assert SECRET not in _everything(read_case(case, by=auditor))


def _everything(value: object, depth: int = 0) -> str:
    """Every value reachable in *value*'s fields, as text."""
    if depth > 8:
        return ""
    if attrs.has(type(value)):
        fields = attrs.fields(cast(Any, type(value)))
        return " ".join(_everything(getattr(value, f.name), depth + 1) for f in fields)
    if isinstance(value, tuple | list):
        return " ".join(_everything(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return " ".join(_everything(v, depth + 1) for v in value.values())
    return str(value)


# ---------------------------------------------------------------- § 7 key figures


@settings(max_examples=40, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(["", "p1", "p2", "p3"]),
                  st.integers(1, 5)),
        min_size=1,
        max_size=6,
    )
)  # fmt: skip
def test_a_coordinator_s_district_totals_are_the_exact_ones(
    moves: list[tuple[str, str, int]],
) -> None:
    """§ 4 "Key figures count the person once per district"; § 6 ``coordinator`` "own
    district": however small its providers and however cases moved between them, the
    district totals a coordinator gets are those of the exact report."""
    events: list[Event] = []
    for i, (start, to, household) in enumerate(moves):
        im = Actor(f"im-{start}", Role.MANAGER, provider=start, district=DISTRICT)
        case = ENGINE.open(
            c.OpenCase(case_id=f"c-{i}", person=f"p-{i}", district=DISTRICT, provider=start,
                       household=household, on=D0),
            by=im,
        )  # fmt: skip
        if to and to != start:
            case = run(case, c.TransferCase(to_provider=to, on=D0), by=im)
        events += case.events
    exact = report(events, year=2025).figures(district=DISTRICT)
    seen = report(events, year=2025, by=COORDINATOR).figures(district=DISTRICT)
    assert seen["cases_active"] == len(moves)
    assert seen["persons_counselled"] == sum(h for _, _, h in moves)
    assert {f: seen[f] for f in CATALOGUE} == exact


def test_a_coordinator_s_report_from_sqlite_counts_a_moved_case_once(tmp_path: Path) -> None:
    """§ 4 "Key figures count the person once per district" through a real SQLite store
    (the counting runs in the database): two small providers, one case moved between
    them; the coordinator's district has 2 active cases and 5 persons, as the exact
    report says."""
    store = SQLiteStore(tmp_path / "imflow.db", engine=ENGINE)
    try:
        for case_id, provider, household, to in (("c-1", "drk", 2, "awo"), ("c-2", "awo", 3, "")):
            im = Actor(f"im-{provider}", Role.MANAGER, provider=provider, district=DISTRICT)
            case = ENGINE.open(
                c.OpenCase(case_id=case_id, person="p", district=DISTRICT, provider=provider,
                           household=household, on=D0),
                by=im,
            )  # fmt: skip
            if to:
                case = run(case, c.TransferCase(to_provider=to, on=D0), by=im)
            store.append(case_id, case.events, expected_version=0)
        seen = report(store, year=2025, by=COORDINATOR).figures(district=DISTRICT)
        assert (seen["cases_active"], seen["persons_counselled"]) == (2, 5)
        assert seen == report(store, year=2025).figures(district=DISTRICT)
    finally:
        store.close()


def test_a_coordinator_s_merged_unit_keeps_a_provider_without_fte_visible() -> None:
    """§ 7 "caseload per FTE" and "Each report also lists its plausibility findings": a
    coordinator's small providers are merged into one unit; when one of them has cases
    but no FTE, the merged unit's FTE is unknown (no caseload from part of the FTE over
    all the cases) and the report still says that an FTE is missing."""
    events: list[Event] = []
    for i, provider in enumerate(("p1", "p2")):
        im = Actor(f"im-{provider}", Role.MANAGER, provider=provider, district=DISTRICT)
        case = ENGINE.open(
            c.OpenCase(case_id=f"f-{i}", person=f"p-{i}", district=DISTRICT, provider=provider,
                       household=1, on=D0),
            by=im,
        )  # fmt: skip
        events += case.events
    staffing = {(DISTRICT, "p1"): "1"}
    exact = report(events, year=2025, staffing=staffing)
    seen = report(events, year=2025, staffing=staffing, by=COORDINATOR)
    assert [f.code for f in exact.findings] == ["fte_missing"]
    assert exact.figures(district=DISTRICT)["caseload_per_fte"] == 1  # p1's case, p1's FTE
    assert "fte_missing" in [f.code for f in seen.findings]
    assert seen.figures(district=DISTRICT)["caseload_per_fte"] is None  # never 2 cases / 1
    fully = {(DISTRICT, "p1"): "1", (DISTRICT, "p2"): "1"}
    merged = report(events, year=2025, staffing=fully, by=COORDINATOR)
    assert merged.figures(district=DISTRICT)["caseload_per_fte"] == 1  # 2 cases / 2 FTE
    assert not merged.findings


def test_the_named_plausibility_findings_are_reported() -> None:
    """§ 7 "Each report also lists its plausibility findings (for example ... a goal
    achieved before it was agreed, more persons than household members)"."""
    case = run(
        in_monitoring(date(2025, 3, 1), agreed=date(2025, 3, 10)),
        c.SetGoalStatus(goal_id="g1", status="achieved", on=date(2025, 3, 20)),
    )
    *before, status = case.events
    early = [*before, forge(status, on=date(2025, 3, 5))]
    assert "goal_status_before_plan" in {f.code for f in report(early, year=2025).findings}
    pair = ENGINE.open(
        c.OpenCase(case_id="c-2", person="p-2", district=DISTRICT, provider=PROVIDER,
                   household=2, members=("m-1",), on=D0),
        by=IM,
    )  # fmt: skip
    assert "persons_exceed_household" not in {
        f.code for f in report(pair.events, year=2025).findings
    }
    crowded = [forge(pair.events[0], members=("m-1", "m-2"))]  # 3 persons, household 2
    assert "persons_exceed_household" in {f.code for f in report(crowded, year=2025).findings}


# ---------------------------------------------------------------- § 8 bounds at every door

BAD_TEXTS = st.one_of(
    st.text(min_size=4001, max_size=4100),
    st.builds(
        lambda a, bad, b: a + bad + b,
        st.text(max_size=20),
        st.sampled_from(["\x00", "\x07", "\t", "\x1b", "\x7f", "\x85", "\ud800", "\udfff"]),
        st.text(max_size=20),
    ),
)
GOOD_TEXTS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\r"),
    min_size=1,
    max_size=200,
).filter(lambda t: not t.isspace())


def _need_doors(note: str) -> dict[str, bool]:
    """Which doors accept a need whose note is *note*: the engine, the JSON document
    of the command, and a store appending the event built outside the engine."""
    case = in_assessment()
    accepted = {}
    accepted["engine"] = codes_of(case, c.RecordNeed(area="work", note=note, on=D0)) == set()
    doc = {
        "type": "record_need",
        "schema_version": 1,
        "area": "work",
        "note": note,
        "on": "2025-03-01",
    }
    try:
        loads(json.dumps(doc), Command)
        accepted["json"] = True
    except InvalidDocument:
        accepted["json"] = False
    good = run(case, c.RecordNeed(area="work", note="fine", on=D0))
    forged = [*good.events[:-1], forge(good.events[-1], note=note)]
    try:
        MemoryStore(engine=ENGINE).append("c-1", forged, expected_version=0)
        accepted["store"] = True
    except InvalidHistory:
        accepted["store"] = False
    return accepted


@settings(max_examples=40, deadline=None)
@given(note=BAD_TEXTS)
def test_a_free_text_outside_the_bounds_is_refused_at_every_door(note: str) -> None:
    """§ 8 "free texts at most 4,000 characters; no NUL bytes, no lone surrogates, no
    control characters except line breaks ... Anything else is ``invalid_value`` (or
    ``InvalidDocument``)" — at the engine, the JSON door and the store door alike."""
    assert _need_doors(note) == {"engine": False, "json": False, "store": False}


@settings(max_examples=40, deadline=None)
@given(note=GOOD_TEXTS)
def test_a_free_text_within_the_bounds_passes_every_door(note: str) -> None:
    """§ 8: line breaks and any printable text up to 4,000 characters are accepted, at
    every door the same."""
    assert _need_doors(note) == {"engine": True, "json": True, "store": True}


def _opening_doc(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "type": "open_case", "schema_version": 1, "case_id": "s-1", "person": "p-1",
        "district": "08111", "provider": "stadt-s", "household": 1, "on": "2026-05-10",
        "continues": {"case_id": "c-1", "district": DISTRICT, "period_start": "2025-03-01",
                      "extended_months": 0},
    }  # fmt: skip
    continues = dict(doc["continues"])  # type: ignore[call-overload]
    for key, value in changes.items():
        if key.startswith("continues."):
            continues[key.removeprefix("continues.")] = value
        else:
            doc[key] = value
    doc["continues"] = continues
    return doc


OPENING_OUT_OF_BOUNDS = [
    ("household", 31),
    ("household", 0),
    ("case_id", "x" * 65),
    ("person", "p\x00"),
    ("on", "2100-01-01"),
    ("continues.case_id", "x" * 65),
    ("continues.case_id", "\ud800"),
    ("continues.district", ""),
    ("continues.period_start", "2017-12-31"),
    ("continues.period_start", "2100-01-01"),
]


@pytest.mark.parametrize(("field", "value"), OPENING_OUT_OF_BOUNDS, ids=lambda x: str(x)[:12])
def test_an_opening_out_of_bounds_is_refused_at_every_door(field: str, value: object) -> None:
    """§ 8 "ids 1-64 printable characters; household 1-30 persons; ... dates from
    2018-01-01 to 2099-12-31. Anything else is ``invalid_value`` (or
    ``InvalidDocument``)" — the ``continues`` of a continued case (§ 4) included, and the
    message names the field, never the value."""
    doc = json.dumps(_opening_doc(**{field: value}))
    with pytest.raises(InvalidDocument) as exc:
        loads(doc, Command)
    assert f"$.{field}" in str(exc.value)
    assert str(value) not in str(exc.value) or len(str(value)) < 2
    event_doc = json.loads(dumps(_continued().events[0]))
    head, _, tail = field.partition(".")
    if tail:
        event_doc[head][tail] = value
    else:
        event_doc[head] = value
    with pytest.raises(InvalidDocument, match=rf"\$\.{field}"):
        loads(json.dumps(event_doc), Event)


@pytest.mark.parametrize(("field", "value"), OPENING_OUT_OF_BOUNDS, ids=lambda x: str(x)[:12])
def test_the_published_schema_refuses_what_loads_refuses(field: str, value: object) -> None:
    """§ 8 at the JSON door: the JSON Schema a host validates with (``imflow schema``)
    and :func:`~imflow.serialization.loads` agree on every bound listed here, and both
    accept the opening within them."""
    validator = jsonschema.Draft202012Validator(json_schema(only="commands"))
    assert validator.is_valid(_opening_doc())
    assert not validator.is_valid(_opening_doc(**{field: value}))


def test_the_json_door_accepts_what_the_engine_accepts() -> None:
    """§ 8: a continued opening within the bounds passes the JSON door and the engine."""
    command = loads(json.dumps(_opening_doc()), Command)
    assert command == _continued_command()
    assert _continued().period_end == date(2028, 2, 29)


def _continued_command() -> c.OpenCase:
    return c.OpenCase(
        case_id="s-1", person="p-1", district="08111", provider="stadt-s", on=date(2026, 5, 10),
        continues=c.Continuation(case_id="c-1", district=DISTRICT, period_start=D0),
    )  # fmt: skip


def _continued() -> Case:
    stuttgart = Actor("im-s", Role.MANAGER, provider="stadt-s", district="08111")
    return ENGINE.open(_continued_command(), by=stuttgart)


@pytest.mark.parametrize(
    "change",
    [
        {"continues": c.Continuation(case_id="x" * 65, district=DISTRICT, period_start=D0)},
        {"continues": c.Continuation(case_id="c-1", district=DISTRICT,
                                     period_start=date(2017, 12, 31))},
        {"household": 31},
        {"person": "p\x00"},
    ],
    ids=["continues.case_id", "continues.period_start", "household", "person"],
)  # fmt: skip
def test_a_store_refuses_an_opening_out_of_bounds(
    tmp_path: Path, change: dict[str, object]
) -> None:
    """§ 8 "never a crash later": a real SQLite store refuses an opening event out of the
    bounds (built outside the engine), writes nothing, and the message quotes no value."""
    store = SQLiteStore(tmp_path / "imflow.db", engine=ENGINE)
    try:
        forged = forge(_continued().events[0], **change)
        with pytest.raises(InvalidHistory) as exc:
            store.append("s-1", [forged], expected_version=0)
        assert "p\x00" not in str(exc.value) and "x" * 65 not in str(exc.value)
        assert store.append("s-1", _continued().events, expected_version=0).version == 1
    finally:
        store.close()


def test_the_cli_holds_the_bounds_and_never_quotes_a_personal_value() -> None:
    """§ 8 through the ``imflow`` command line (as a subprocess): every value out of the
    bounds is malformed, naming its field, and no rejected personal value is shown."""
    actor = {"id": "im-1", "role": "manager", "provider": "drk", "district": DISTRICT}
    opening = {"type": "open_case", "case_id": "wt-1", "person": "p-1", "district": DISTRICT,
               "provider": "drk", "on": "2025-03-01"}  # fmt: skip

    def line(command: dict[str, Any], case_id: str | None = "wt-1") -> str:
        doc: dict[str, object] = {"actor": actor, "command": command}
        if case_id:
            doc["case_id"] = case_id
        return json.dumps(doc)

    def need(note: str) -> str:
        return line({"type": "record_need", "area": "work", "note": note, "on": "2025-03-01"})

    lines = [
        line(opening, None),
        line({**opening, "case_id": "wt-2", "household": 31}, None),
        line({**opening, "case_id": "wt-3", "person": SECRET + "\x00"}, None),
        line({**opening, "case_id": "wt-4", "on": "2017-12-31"}, None),
        line(
            {
                **opening,
                "case_id": "wt-5",
                "continues": {
                    "case_id": "x" * 65,
                    "district": "08111",
                    "period_start": "2024-01-01",
                },
            },
            None,
        ),
        line({"type": "record_consent", "on": "2025-03-01"}),
        line({"type": "start_assessment", "on": "2025-03-01"}),
        need(SECRET + "x" * 4000),
        need(SECRET + "\x07"),
        need(SECRET + "\ud800"),
        need("two\nlines"),
    ]
    result = cli_validate(lines, today="2025-12-31")
    out = result.stdout
    assert result.returncode == 1, result.stderr
    for number, field in [(2, "household"), (3, "person"), (4, "on"), (5, "continues.case_id"),
                          (8, "note"), (9, "note"), (10, "note")]:  # fmt: skip
        assert f"line {number}: malformed: $.command.{field}: " in out, (number, out)
    assert out.endswith("11 commands: 4 accepted, 0 rejected, 7 malformed\n"), out
    assert SECRET not in out + result.stderr


def test_personal_fields_never_reach_the_logs() -> None:
    """§ 8 "Logs ... never show personal fields or the values of rejected fields": with
    every logger at DEBUG, accepted and rejected work with personal texts, a store's
    append and a refused forged event leave no personal value in any record."""
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(args)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        case = run(
            in_planning(),
            c.RecordNeed(area="work", note=SECRET + "-need", on=D0),
            c.AddGoal(goal_id="g2", area="work", description=SECRET + "-goal",
                      target_date=date(2026, 1, 1), on=D0),
        )  # fmt: skip
        for bad in (
            c.RecordNeed(area="work", note=SECRET + "\x00", on=D0),
            c.CloseCase(reason="other", note=SECRET, on=D0 - timedelta(days=1)),
            c.ExtendPeriod(months=20, justification=SECRET, on=D0),
        ):
            with pytest.raises(Rejected) as exc:
                ENGINE.handle(case, bad, by=IM)
            assert SECRET not in str(exc.value) + repr(exc.value)
        store = MemoryStore(engine=ENGINE)
        store.append("c-1", case.events, expected_version=0)
        forged = forge(case.events[-1], description=SECRET + "\x00", seq=len(case.events) + 1)
        with pytest.raises(InvalidHistory) as refused_event:
            store.append("c-1", [forged], expected_version=len(case.events))
        assert SECRET not in str(refused_event.value)
        report(store, year=2025, by=IM)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert SECRET not in records.getvalue()
