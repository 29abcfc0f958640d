"""No personal data in repr, str, exception messages or logs (#11, item 5).

A unique marker is planted in every personal field (domain.md § 8: the person and the
household members, every free text) of every event type; repr and str of cases,
events and commands, every exception of the hostile attempts below, and the captured
logs of a run with rejections, conflicts and failing hooks and policies must not show
any of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import structlog
from structlog.testing import capture_logs

from imflow import (
    Actor,
    Case,
    CaseService,
    CommandDef,
    ConcurrencyConflict,
    Engine,
    FrozenClock,
    Hooks,
    ImflowError,
    Rejected,
    Role,
    dumps,
    loads,
)
from imflow import commands as c
from imflow._bounds import PERSONAL_FIELDS
from imflow.commands import COMMAND_TYPES
from imflow.enums import Phase
from imflow.events import EVENT_TYPES, ContactRecorded, Event
from imflow.logging import redact_personal_data
from imflow.store import MemoryStore, PostgresStore, SQLiteStore, Store
from imflow.workflow import bw_integrationsmanagement
from tests.stores import migrated_schema, pg_dsn

__all__ = ["pg_dsn"]

DAY = date(2025, 3, 3)
IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
IM_CARITAS = Actor("im-2", Role.MANAGER, provider="caritas", district="08337")
MARKERS = {
    name: f"MARK-{name}-9c41"
    for name in (
        "person",
        "m1",
        "m2",
        "need",
        "goal",
        "review",
        "just",
        "close",
        "custom",
        "transfer",
    )
}
WORKFLOW = bw_integrationsmanagement().extend(
    id="marker-variant", commands=[CommandDef("note_case", ["monitoring"])]
)


def engine() -> Engine:
    return Engine(workflow=WORKFLOW, clock=FrozenClock.on(date(2025, 12, 1)))


def marked_commands() -> list[c.Command]:
    m = MARKERS
    return [
        c.RecordConsent(on=DAY),
        c.StartAssessment(on=DAY),
        c.RecordNeed(on=DAY, area="health", note=m["need"]),
        c.StartPlanning(on=DAY),
        c.AddGoal(goal_id="g1", area="health", description=m["goal"], target_date=DAY, on=DAY),
        c.AgreePlan(on=DAY),
        c.ReviewPlan(on=DAY + timedelta(days=1), note=m["review"]),
        c.CustomAction(name="note_case", note=m["custom"], on=DAY + timedelta(days=1)),
        c.ExtendPeriod(months=2, justification=m["just"], on=DAY + timedelta(days=2)),
        c.TransferCase(to_provider="caritas", note=m["transfer"], on=DAY + timedelta(days=2)),
        c.CloseCase(reason="other", note=m["close"], on=DAY + timedelta(days=3)),
    ]


def marked_opening(case_id: str = "wt-1") -> c.OpenCase:
    return c.OpenCase(
        case_id=case_id,
        person=MARKERS["person"],
        household=3,
        members=(MARKERS["m1"], MARKERS["m2"]),
        district="08337",
        provider="drk",
        on=DAY,
    )


def marked_case(e: Engine, case_id: str = "wt-1") -> Case:
    case = e.open(marked_opening(case_id), by=IM)
    for command in marked_commands():
        case = e.handle(case, command, by=IM if case.provider == "drk" else IM_CARITAS)
    return case


def assert_clean(*texts: object) -> None:
    for text in texts:
        shown = str(text)
        for marker in MARKERS.values():
            assert marker not in shown, shown[:300]


def test_every_personal_field_of_every_event_type_holds_a_marker() -> None:
    """The fixture reaches every personal field there is (so the scans below mean it)."""
    case = marked_case(engine())
    planted = {
        (type(e).__name__, f.name)
        for e in case.events
        for f in attrs.fields(type(e))
        if f.name in PERSONAL_FIELDS and str(getattr(e, f.name)).find("MARK-") >= 0
    }
    wanted = {
        (cls.__name__, f.name)
        for cls in EVENT_TYPES.values()
        for f in attrs.fields(cls)
        if f.name in PERSONAL_FIELDS
    }
    assert planted == wanted


def test_repr_and_str_of_cases_events_and_commands_show_no_personal_field() -> None:
    e = engine()
    case = marked_case(e)
    assert_clean(repr(case), str(case), case.needs, case.plans, case.extensions, case.closure)
    for event in case.events:
        assert_clean(repr(event), str(event))
    for command in (marked_opening(), *marked_commands()):
        assert_clean(repr(command), str(command))
    assert "<redacted>" in repr(case.events[0]) and "<2 redacted>" in repr(case.events[0])


_CLASSES: list[type] = [*EVENT_TYPES.values()]


@pytest.mark.parametrize("cls", sorted(_CLASSES, key=repr))
def test_every_personal_field_of_every_class_redacts_its_repr(cls: type) -> None:
    """Also a command or event a later change adds: its personal fields must redact."""
    classes: tuple[type, ...] = (cls, *COMMAND_TYPES.values())
    for klass in classes:
        for field in attrs.fields(klass):
            if field.name in PERSONAL_FIELDS:
                assert callable(field.repr), (klass.__name__, field.name)


def hostile_errors(e: Engine, store: Store) -> Iterator[BaseException]:
    """Every exception of attempts that quote markers in the wrong places."""
    case = marked_case(e)
    store.append(case.case_id, case.events[:4], expected_version=0)
    m = MARKERS["need"]
    attempts: list[Any] = [
        lambda: store.append(case.case_id, case.events[5:], expected_version=4),  # a gap
        lambda: store.append(
            case.case_id,
            (attrs.evolve(case.events[4], on=m),),  # type: ignore[arg-type]
            expected_version=4,
        ),
        lambda: store.append(
            case.case_id,
            (attrs.evolve(case.events[2], seq=5, note=m + "\x00"),),  # type: ignore[arg-type]
            expected_version=4,
        ),
        lambda: store.append(case.case_id, case.events[:2], expected_version=0),
        lambda: store.append(MARKERS["person"], case.events[4:5], expected_version=4),
        lambda: e.handle(case, c.RecordContact(on=DAY, minutes=5), by=IM),
        lambda: e.handle(case, c.RecordNeed(on=DAY, area="health", note=m * 400), by=IM),
        lambda: e.open(attrs.evolve(marked_opening("x"), person=m + "\x00"), by=IM),
        lambda: e.open(attrs.evolve(marked_opening(m + "\x00"), person="p"), by=IM),
        lambda: c.RecordNeed(on=DAY, area=m),
        lambda: c.RecordNeed(on=DAY, area="work", note=7),  # type: ignore[arg-type]
        lambda: c.RecordContact(on=DAY, minutes=m),  # type: ignore[arg-type]
        lambda: c.OpenCase(
            case_id="x", person="p", district="08337", provider="drk", on=DAY, members=m
        ),
        lambda: c.RecordContact(on=DAY, minutes=5, topics=[m]),
        lambda: loads(json.dumps({"type": "record_need", "on": m, "area": "work"}), c.Command),
        lambda: loads(
            json.dumps({"type": "record_need", "on": "2025-03-03", "area": m}), c.Command
        ),
        lambda: loads(json.dumps({"type": m, "on": "2025-03-03"}), c.Command),
        lambda: loads(
            json.dumps({"type": "record_need", "on": "2025-03-03", "area": "work", "note": [m]}),
            c.Command,
        ),
        lambda: loads(dumps(attrs.evolve(case, phase=Phase.PLANNING)), Case, engine=e),
        lambda: loads(dumps(attrs.evolve(case, events=case.events[:-1])), Case, engine=e),
        lambda: loads(dumps(case)[:-7] + m + '"}', Case, engine=e),
        lambda: store.erase_person(MARKERS["person"], on=date(9999, 1, 1)),
        lambda: e.deadlines(case, on=date(9999, 1, 1)),
    ]
    for number, attempt in enumerate(attempts):
        try:
            attempt()
        except (ImflowError, TypeError, ValueError) as exc:
            yield exc
        else:
            raise AssertionError(f"attempt {number} was not refused")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    e = engine()
    if request.param == "memory":
        made: Store = MemoryStore(engine=e)
        yield made
        return
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "privacy.db", engine=e)
        yield made
        made.close()
        return
    dsn = request.getfixturevalue("pg_dsn")
    made = PostgresStore(dsn, schema=migrated_schema(dsn), engine=e)
    yield made
    made.close()


def test_no_exception_of_a_hostile_attempt_quotes_a_personal_value(store: Store) -> None:
    errors = list(hostile_errors(store.engine, store))
    assert len(errors) == 23
    for exc in errors:
        assert_clean(str(exc), repr(exc), *getattr(exc, "reasons", ()))
        for chained in (exc.__cause__, exc.__context__):
            if chained is not None and not exc.__suppress_context__:
                assert_clean(str(chained))


def test_a_database_error_is_passed_on_without_its_parameters(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, schema=migrated_schema(pg_dsn), engine=engine())
    try:
        with pytest.raises(ImflowError) as exc, store._session():
            store._query("SELECT %(x)s::int", {"x": MARKERS["person"]})
        assert type(exc.value).__name__ == "StoreError"
        assert_clean(str(exc.value))
        assert exc.value.__context__ is None and exc.value.__cause__ is None
    finally:
        store.close()


def test_logs_of_a_run_with_rejections_conflicts_and_failing_hooks_show_nothing_personal(
    tmp_path: Path,
) -> None:
    hooks = Hooks()

    @hooks.on(ContactRecorded)
    def leaky(event: ContactRecorded, case: Case) -> None:
        raise RuntimeError(f"cannot notify {case.person}")  # a careless host hook

    def leaky_policy(case: Case | None, command: c.Command | None, ctx: object) -> list[Any]:
        if isinstance(command, c.RecordNeed):
            raise ValueError(command.note)
        return []

    e = Engine(workflow=WORKFLOW, clock=FrozenClock.on(date(2025, 12, 1)), policies=[leaky_policy])
    store = SQLiteStore(tmp_path / "logs.db", engine=e)
    service = CaseService(store, hooks=hooks)
    with capture_logs() as logs:
        case = service.open(marked_opening(), by=IM)
        for command in marked_commands()[:2]:
            case = service.handle("wt-1", command, by=IM)
        with pytest.raises(Rejected):
            service.handle("wt-1", marked_commands()[2], by=IM)  # the policy fails
        with pytest.raises(Rejected):
            service.handle("wt-1", c.AgreePlan(on=DAY), by=IM)
        service.handle("wt-1", c.RecordContact(on=DAY, minutes=5), by=IM)  # the hook fails
        stale = e.handle(case, c.RecordContact(on=DAY, minutes=9), by=IM)
        with pytest.raises(ConcurrencyConflict):
            store.append("wt-1", stale.events[case.version :], expected_version=case.version)
        service.deliver()
        store.erase_person(MARKERS["m1"], on=DAY)
        structlog.get_logger("host").info("host_log", event_obj=case.events[0], case=case)
    assert logs
    redacted = [redact_personal_data(None, "info", dict(entry)) for entry in logs]
    assert_clean(*(repr(entry) for entry in redacted))
    imflow_logs = [entry for entry in logs if entry.get("event") != "host_log"]
    assert_clean(*(repr(entry) for entry in imflow_logs))  # imflow's own logs: clean as is
    store.close()


def test_redact_personal_data_looks_inside_attrs_objects() -> None:
    case = marked_case(engine())
    cleaned = redact_personal_data(None, "info", {"event": "x", "opened": case.events[0]})
    assert cleaned["opened"]["district"] == "08337"
    assert "person" not in cleaned["opened"] and "members" not in cleaned["opened"]
    nested = redact_personal_data(None, "info", {"event": "x", "all": [case]})
    assert_clean(repr(nested))
    events: Sequence[Event] = case.events
    assert_clean(repr(redact_personal_data(None, "info", {"event": "x", "events": events})))
