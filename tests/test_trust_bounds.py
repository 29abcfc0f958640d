"""Input bounds of domain.md § 8 and aware clocks (#11, item 4).

Every bound is refused where the command is decided, as ``invalid_value`` naming the
field and never quoting the value; ``loads`` refuses the same values with
``InvalidDocument``; a clock imflow cannot use fails at ``Engine(...)``; and no value
that passes the engine fails in any store.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import (
    Actor,
    Engine,
    FrozenClock,
    InvalidClock,
    InvalidDocument,
    OutOfBounds,
    Rejected,
    Role,
    dumps,
    loads,
)
from imflow import commands as c
from imflow.events import Event
from imflow.store import MemoryStore, PostgresStore, SQLiteStore, Store
from tests.stores import migrated_schema, open_case, pg_dsn, working_case

__all__ = ["pg_dsn"]

DAY = date(2025, 3, 3)
ENGINE = Engine(clock=FrozenClock.on(date(2025, 9, 1)))
IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
MARK = "VALUE-7f3a"


def refused_field(call: Any, field: str) -> Rejected:
    with pytest.raises(Rejected) as exc:
        call()
    invalid = [r for r in exc.value.reasons if r.code == "invalid_value"]
    assert invalid, exc.value.codes
    named = invalid[0].params["field"]
    assert named.startswith(field) if field.endswith(".") else named == field, named
    messages = [r.message(lang) for r in exc.value.reasons for lang in ("de", "en")]
    for text in (str(exc.value), *messages):
        assert MARK not in text and "\x00" not in text
    return exc.value


def opening(**changes: Any) -> c.OpenCase:
    fields: dict[str, Any] = {
        "case_id": "wt-1",
        "person": "p-1",
        "district": "08337",
        "provider": "drk",
        "on": DAY,
    }
    fields.update(changes)
    return c.OpenCase(**fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"case_id": ""}, "case_id"),
        ({"case_id": MARK + "x" * 60}, "case_id"),
        ({"case_id": MARK + "\x00"}, "case_id"),
        ({"case_id": MARK + "\ud800"}, "case_id"),
        ({"case_id": MARK + "\n"}, "case_id"),
        ({"person": "   "}, "person"),
        ({"person": MARK + "\x07"}, "person"),
        ({"household": 0}, "household"),
        ({"household": 31}, "household"),
        ({"household": 3_000_000_000}, "household"),
        ({"household": 3, "members": ("",)}, "members"),
        ({"household": 3, "members": (MARK + "\x00",)}, "members"),
        ({"household": 2, "members": ("m-1", "m-2")}, "members"),
        ({"on": date(2017, 12, 31)}, "on"),
    ],
)
def test_opening_values_outside_the_bounds_are_invalid(changes: dict[str, Any], field: str) -> None:
    refused_field(lambda: ENGINE.open(opening(**changes), by=IM), field)


def test_the_bounds_themselves_pass() -> None:
    case = ENGINE.open(
        opening(case_id="c" * 64, household=30, members=tuple(f"m-{i}" for i in range(29))),
        by=IM,
    )
    note = "Zeile eins\nZeile zwei\r\n" + "ä" * 3970
    assert len(note) <= 4000
    case = ENGINE.handle(case, c.RecordConsent(on=DAY), by=IM)
    case = ENGINE.handle(case, c.StartAssessment(on=DAY), by=IM)
    case = ENGINE.handle(case, c.RecordNeed(on=DAY, area="work", note=note), by=IM)
    assert case.needs[-1].note == note


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (c.RecordNeed(on=DAY, area="work", note=MARK + "n" * 4000), "note"),
        (c.RecordNeed(on=DAY, area="work", note=MARK + "\x00"), "note"),
        (c.RecordNeed(on=DAY, area="work", note=MARK + "\t"), "note"),
        (c.RecordNeed(on=DAY, area="work", note=MARK + "\ud83d"), "note"),
        (c.RecordNeed(on=date(2100, 1, 1), area="work", note=""), "on"),
        (c.ReviewPlan(on=DAY, note=MARK + "\x1b[31m"), "note"),
        (c.RecordContact(on=DAY, minutes=0), "minutes"),
        (c.RecordContact(on=DAY, minutes=10**30), "minutes"),
        (c.CloseCase(reason="other", note=MARK + "\x00", on=DAY), "note"),
        (c.CustomAction(name=MARK + "\x00", on=DAY), "name"),
    ],
)
def test_command_values_outside_the_bounds_are_invalid(command: c.Command, field: str) -> None:
    case = working_case(ENGINE, "wt-2", on=DAY)
    refused_field(lambda: ENGINE.handle(case, command, by=IM), field)


def test_goal_and_extension_bounds() -> None:
    case = working_case(ENGINE, "wt-3", on=DAY)
    planning = ENGINE.handle(case, c.RevisePlan(on=date(2025, 7, 1)), by=IM)
    for command, field in (
        (c.AddGoal(goal_id="", area="work", description="d", target_date=DAY, on=DAY), "goal_id"),
        (
            c.AddGoal(goal_id=MARK + "\x00", area="work", description="d", target_date=DAY, on=DAY),
            "goal_id",
        ),
        (
            c.AddGoal(
                goal_id="g7", area="work", description="d", target_date=date(9999, 1, 1), on=DAY
            ),
            "target_date",
        ),
    ):
        refused_field(lambda command=command: ENGINE.handle(planning, command, by=IM), field)
    refused_field(
        lambda: ENGINE.handle(
            case, c.ExtendPeriod(months=-500, justification="j", on=date(2025, 7, 1)), by=IM
        ),
        "months",
    )
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(
            case, c.ExtendPeriod(months=10**30, justification="j", on=date(2025, 7, 1)), by=IM
        )
    assert "extension_limit_exceeded" in exc.value.codes


def test_a_bad_actor_is_refused_without_quoting_it() -> None:
    for actor in (
        Actor("", Role.MANAGER, provider="drk", district="08337"),
        Actor(MARK + "\x00", Role.MANAGER, provider="drk", district="08337"),
        Actor("im-1", Role.MANAGER, provider=MARK + "\ud800", district="08337"),
    ):
        refused_field(lambda actor=actor: ENGINE.open(opening(), by=actor), "by.")
    with pytest.raises(TypeError, match="Actor"):
        ENGINE.open(opening(), by="im-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'role' must be a Role") as exc:
        Actor("im-1", MARK)
    assert MARK not in str(exc.value)


# -- clocks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reading",
    [
        datetime(2025, 3, 3, 12),  # naive
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2017, 12, 31, 12, tzinfo=UTC),
        datetime(2100, 1, 1, 12, tzinfo=UTC),
        date(2025, 3, 3),
        "2025-03-03",
        None,
    ],
)
def test_a_clock_imflow_cannot_use_fails_at_construction(reading: Any) -> None:
    with pytest.raises(InvalidClock):
        Engine(clock=lambda: reading)


def test_a_clock_that_goes_bad_later_gives_invalid_clock_never_a_type_or_overflow_error() -> None:
    readings = itertools.chain(
        [datetime(2025, 3, 3, 12, tzinfo=UTC)] * 3,
        [datetime(2025, 3, 3, 12), datetime(9999, 12, 31, 23, tzinfo=UTC)],
    )
    engine = Engine(clock=lambda: next(readings))
    case = engine.open(opening(), by=IM)
    case = engine.handle(case, c.RecordConsent(on=DAY), by=IM)
    for _ in range(2):
        with pytest.raises(InvalidClock):
            engine.handle(case, c.RecordContact(on=DAY, minutes=5), by=IM)


def test_clocks_in_other_time_zones_work_and_dates_are_berlin_dates() -> None:
    late = datetime(2025, 3, 3, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 05:30 Berlin
    engine = Engine(clock=lambda: late)
    assert engine.today() == date(2025, 3, 4)


def test_library_calls_refuse_dates_outside_the_bounds() -> None:
    case = working_case(ENGINE, "wt-4", on=DAY)
    for call in (
        lambda: ENGINE.deadlines(case, on=date(9999, 12, 31)),
        lambda: ENGINE.allowed(case, by=IM, on=date(1, 1, 1)),
        lambda: ENGINE.sweep([case], on=date(9999, 12, 31)),
        lambda: MemoryStore(engine=ENGINE).erase_person("p-1", on=date(9999, 12, 31)),
    ):
        with pytest.raises(OutOfBounds):
            call()


# -- loads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"note": MARK + "\u0000"}, "$.note"),
        ({"note": MARK + "n" * 4001}, "$.note"),
        ({"on": "2100-01-01"}, "$.on"),
        ({"on": "2017-12-31"}, "$.on"),
    ],
)
def test_loads_refuses_out_of_bounds_values_saying_where_never_what(
    changes: dict[str, Any], path: str
) -> None:
    doc = {"type": "record_need", "on": "2025-03-03", "area": "work", "note": "", **changes}
    with pytest.raises(InvalidDocument) as exc:
        loads(json.dumps(doc), c.Command)
    assert exc.value.path == path
    assert MARK not in str(exc.value)


def test_loads_refuses_an_out_of_bounds_opening_command_and_event() -> None:
    command = json.loads(dumps(opening()))
    event = json.loads(dumps(open_case(ENGINE, "wt-5").events[0]))
    for doc, target in ((command, c.Command), (event, Event)):
        for key, value in (("household", 3_000_000_000), ("members", [""]), ("person", "")):
            with pytest.raises(InvalidDocument) as exc:
                loads(json.dumps({**doc, key: value}), target)
            assert exc.value.path == f"$.{key}"


# -- no value that passes the engine fails in any store -------------------------------------


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=())
    | st.sampled_from("\x00\ud800\n\t"),
    max_size=70,
)
_IDS = itertools.count()


@pytest.fixture
def every_store(tmp_path: Path, pg_dsn: str) -> Iterator[tuple[Store, ...]]:
    schema = migrated_schema(pg_dsn)
    engine = Engine(clock=FrozenClock.on(date(2025, 9, 1)))
    made = (
        MemoryStore(engine=engine),
        SQLiteStore(tmp_path / "bounds.db", engine=engine),
        PostgresStore(pg_dsn, schema=schema, engine=engine),
    )
    yield made
    for store in made:
        store.close()
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    person=_TEXT,
    note=_TEXT | st.text(min_size=3990, max_size=4010, alphabet="ab\n\x00"),
    goal=_TEXT,
    household=st.integers() | st.sampled_from([1, 30, 31, 2**63, 10**30]),
    minutes=st.integers() | st.sampled_from([1, 600, 601, 2**63]),
)
def test_no_value_that_passes_the_engine_fails_in_any_store(
    every_store: tuple[Store, ...], person: str, note: str, goal: str, household: int, minutes: int
) -> None:
    engine = every_store[0].engine
    case_id = f"b-{next(_IDS)}"
    commands: list[c.Command] = [
        c.RecordConsent(on=DAY),
        c.RecordContact(on=DAY, minutes=minutes),
        c.StartAssessment(on=DAY),
        c.RecordNeed(on=DAY, area="work", note=note),
        c.StartPlanning(on=DAY),
        c.AddGoal(goal_id=goal, area="work", description=note, target_date=DAY, on=DAY),
        c.CloseCase(reason="other", note=note, on=DAY),
    ]
    try:
        case = engine.open(opening(case_id=case_id, person=person, household=household), by=IM)
    except Rejected:
        case = engine.open(opening(case_id=case_id), by=IM)
    for command in commands:
        with contextlib.suppress(Rejected):  # a refused command changes nothing
            case = engine.handle(case, command, by=IM)
    for store in every_store:  # whatever the engine accepted, every store keeps and returns
        store.append(case_id, case.events, expected_version=0)
        assert store.load(case_id) == case
        assert store.events(case_id) == case.events
    fresh = SQLiteStore(every_store[1].path, engine=engine, cache_size=0)  # type: ignore[attr-defined]
    try:
        assert fresh.load(case_id) == case
    finally:
        fresh.close()
    assert loads(dumps(case), type(case), engine=engine) == case
    for event in case.events:
        assert attrs.evolve(event) == loads(dumps(event), type(event))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"household": 0}, "wt-1"),  # the id is fine: the refusal says which case
        ({"case_id": MARK + "\x00"}, None),  # an id outside the bounds is never quoted
        ({"case_id": MARK + "\x00", "household": 0}, None),
    ],
)
def test_a_refused_opening_names_its_case_only_when_the_id_is_within_the_bounds(
    changes: dict[str, Any], named: str | None
) -> None:
    with pytest.raises(Rejected) as refused:
        ENGINE.open(opening(**changes), by=IM)
    assert refused.value.case_id == named
    assert MARK not in str(refused.value)
