"""JSON documents: exact round trips, strict input with field paths, upcasting, JSON Schema."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import (
    Actor,
    Case,
    CaseService,
    ConcurrencyConflict,
    Engine,
    FrozenClock,
    InvalidDocument,
    LifeArea,
    Phase,
    Rejected,
    Role,
    SQLiteStore,
    dumps,
    loads,
)
from imflow import commands as c
from imflow._bounds import bound_problems
from imflow.commands import COMMAND_TYPES, Command
from imflow.events import EVENT_TYPES, Event, NeedRecorded
from imflow.serialization import (
    SCHEMA_VERSION,
    from_document,
    json_schema,
    make_converter,
    to_document,
)
from imflow.testing import cases, commands
from tests.stores import open_case, working_case

ENGINE = Engine(clock=FrozenClock.on(date(2031, 1, 1)))
CASE = working_case(ENGINE, "wt-1", household=3, members=("m-1", "m-2"))
_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
VALIDATORS: dict[Any, jsonschema.Draft202012Validator] = {
    Command: jsonschema.Draft202012Validator(json_schema(only="commands"), format_checker=_CHECKER),
    Event: jsonschema.Draft202012Validator(json_schema(only="events"), format_checker=_CHECKER),
}


def schema_accepts(doc: Any, kind: Any) -> bool:
    """Whether the published JSON Schema of commands (or events) accepts *doc*."""
    return bool(VALIDATORS[kind].is_valid(doc))


# -- round trips ----------------------------------------------------------------------------


@settings(max_examples=40)
@given(case=cases(max_steps=30), data=st.data())
def test_cases_events_and_commands_round_trip_exactly(case: Case, data: st.DataObject) -> None:
    back = loads(dumps(case), Case)
    assert back == case
    assert type(back.phase) is type(case.phase)
    for event in case.events:
        text = dumps(event)
        assert loads(text, Event) == event
        assert loads(text, type(event)) == event
        assert loads(text.encode(), Event) == event
        assert json.loads(text)["schema_version"] == SCHEMA_VERSION
        assert schema_accepts(json.loads(text), Event)
    command = data.draw(commands(case))
    if bound_problems(command):  # e.g. a date before 2018: refused, naming the field
        with pytest.raises(InvalidDocument) as exc:
            loads(dumps(command), Command)
        assert exc.value.path == f"$.{bound_problems(command)[0][0]}"
        assert not schema_accepts(json.loads(dumps(command)), Command)
        return
    assert schema_accepts(json.loads(dumps(command)), Command)
    assert loads(dumps(command), Command) == command
    assert loads(dumps(command), type(command)) == command


def test_documents_are_plain_json_with_iso_dates_enum_values_and_arrays() -> None:
    doc = to_document(CASE.events[2])
    assert doc == {
        "type": "contact_recorded",
        "schema_version": SCHEMA_VERSION,
        "case_id": "wt-1",
        "seq": 3,
        "on": "2025-03-03",
        "recorded_at": "2031-01-01T12:00:00+00:00",
        "actor": {"id": "im-1", "role": "manager", "provider": "drk", "district": "08337"},
        "minutes": 45,
        "channel": "in_person",
        "topics": ["language", "housing"],
    }
    case_doc = json.loads(dumps(CASE))
    assert case_doc["schema_version"] == SCHEMA_VERSION
    assert case_doc["phase"] == "monitoring"
    assert [e["seq"] for e in case_doc["events"]] == list(range(1, CASE.version + 1))


def test_a_datetime_keeps_its_instant_and_offset() -> None:
    berlin = datetime.fromisoformat("2025-03-03T09:30:00+01:00")
    event = attrs.evolve(CASE.events[1], recorded_at=berlin)
    assert '"recorded_at":"2025-03-03T09:30:00+01:00"' in dumps(event)
    assert loads(dumps(event), Event).recorded_at == berlin.astimezone(UTC)


# -- bad input names the field -----------------------------------------------------------------

OPEN = {
    "type": "open_case",
    "on": "2025-03-03",
    "case_id": "wt-9",
    "person": "p-9",
    "district": "08337",
    "provider": "drk",
    "household": 2,
    "members": ["m-1"],
}
CONTACT = {"type": "record_contact", "on": "2025-03-03", "minutes": 30, "topics": ["work"]}


def with_(doc: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**doc, **changes})


BAD_COMMANDS = [
    ('{"type": "open_case", ', "$", "malformed JSON"),
    ("[1, 2]", "$", "expected command object"),
    ("", "$", "malformed JSON"),
    ("[" * 100_000, "$", "malformed JSON"),
    (with_(OPEN, type="open_sesame"), "$.type", "expected a known command type"),
    (json.dumps({k: v for k, v in OPEN.items() if k != "type"}), "$.type", "missing"),
    (json.dumps({k: v for k, v in OPEN.items() if k != "provider"}), "$.provider", "missing"),
    (with_(OPEN, household=True), "$.household", "expected an integer, got a boolean"),
    (with_(OPEN, household="2"), "$.household", "expected an integer, got a string"),
    (with_(OPEN, household=2.0), "$.household", "expected an integer, got a number"),
    (with_(OPEN, person=17), "$.person", "expected a string, got an integer"),
    (with_(OPEN, members="m-1"), "$.members", "expected an array"),
    (with_(OPEN, members=["m-1", None]), "$.members[1]", "expected a string, got null"),
    (with_(OPEN, on="2025-02-30"), "$.on", "impossible date"),
    (with_(OPEN, on="2025-13-01"), "$.on", "impossible date"),
    (with_(OPEN, on="2025-03-03T10:00:00+01:00"), "$.on", "expected a date 'YYYY-MM-DD'"),
    (with_(OPEN, on="03.03.2025"), "$.on", "expected a date"),
    (with_(OPEN, on=20250303), "$.on", "expected a date 'YYYY-MM-DD', got an integer"),
    (with_(OPEN, nickname="Fatima"), "$.nickname", "unknown field"),
    (with_(OPEN, schema_version=SCHEMA_VERSION + 1), "$.schema_version", "unsupported"),
    (with_(CONTACT, topics=["work", "knitting"]), "$.topics[1]", "expected a LifeArea"),
    (with_(CONTACT, channel="carrier pigeon"), "$.channel", "expected a Channel"),
    (with_(CONTACT, minutes=None), "$.minutes", "expected an integer, got null"),
]


@pytest.mark.parametrize(("text", "path", "message"), BAD_COMMANDS)
def test_bad_command_documents_raise_invalid_document_naming_the_field(
    text: str, path: str, message: str
) -> None:
    with pytest.raises(InvalidDocument) as err:
        loads(text, Command)
    assert err.value.path == path
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_bad_event_and_case_documents_name_nested_paths() -> None:
    event = to_document(CASE.events[0])
    cases_: list[tuple[dict[str, Any], Any, str]] = [
        ({**event, "actor": {**event["actor"], "role": "king"}}, Event, "$.actor.role"),
        ({**event, "recorded_at": "2025-03-03T10:00:00"}, Event, "$.recorded_at"),
        ({**event, "recorded_at": "2025-03-03"}, Event, "$.recorded_at"),
        ({**event, "period_end": "2028-02-30"}, Event, "$.period_end"),
        ({k: v for k, v in event.items() if k != "schema_version"}, Event, "$.schema_version"),
        ({**event, "schema_version": 0}, Event, "$.schema_version"),
        ({**event, "schema_version": "1"}, Event, "$.schema_version"),
        ({**event, "type": "open_case"}, Event, "$.type"),
    ]
    case_doc = to_document(CASE)
    broken = [dict(e) for e in case_doc["events"]]
    broken[2]["minutes"] = "45"
    cases_ += [
        ({**case_doc, "events": broken}, Case, "$.events[2].minutes"),
        ({**case_doc, "phase": 3}, Case, "$.phase"),
        ({k: v for k, v in case_doc.items() if k != "schema_version"}, Case, "$.schema_version"),
        ({**case_doc, "needs": [{"area": "housing", "on": "2025-03-04"}]}, Case, "$.needs[0].note"),
    ]
    for doc, target, path in cases_:
        with pytest.raises(InvalidDocument) as err:
            loads(json.dumps(doc), target)
        assert err.value.path == path, (path, str(err.value))


def test_a_document_of_another_type_than_asked_for_is_refused() -> None:
    with pytest.raises(InvalidDocument, match="expected type 'case_opened'") as err:
        loads(dumps(CASE.events[1]), type(CASE.events[0]))
    assert err.value.path == "$.type"
    with pytest.raises(InvalidDocument, match="expected a known event type"):
        loads(dumps(c.RecordConsent(on=date(2025, 3, 3))), Event)


def test_every_problem_is_reported_not_only_the_first() -> None:
    with pytest.raises(InvalidDocument) as err:
        loads(with_(OPEN, household="2", on="2025-02-30", extra=1), Command)
    text = str(err.value)
    assert "$.household" in text and "$.on" in text and "$.extra" in text


# -- thousands of mutated documents ----------------------------------------------------------

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    math.inf,
    "",
    "x",
    "bogus_value",
    "2025-02-30",
    "2025-13-01",
    "2025-03-03T10:00:00",
    "2025-03-03T10:00:00+01:00",
    [],
    [1],
    ["language"],
    {},
    {"id": "im-1"},
    10**30,
]


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path inside a parsed JSON document."""
    found: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.append((*prefix, key))
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found.append((*prefix, i))
            found.extend(paths(value, (*prefix, i)))
    return found


def parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated(draw: st.DrawFn, docs: list[dict[str, Any]]) -> tuple[str, str]:
    """A valid document changed once: ``(kind of change, JSON text)``."""
    doc = json.loads(json.dumps(draw(st.sampled_from(docs))))
    kind = draw(
        st.sampled_from(["drop", "add", "retype", "bad_enum", "bad_date", "tag", "truncate"])
    )
    where = draw(st.sampled_from(paths(doc)))
    holder = parent(doc, where)
    if kind == "truncate":
        text = json.dumps(doc)
        return kind, text[: draw(st.integers(0, len(text) - 1))]
    if kind == "drop":
        if isinstance(holder, dict):
            del holder[where[-1]]
        else:
            holder.pop(where[-1])
    elif kind == "add":
        target = holder if isinstance(holder, dict) else doc
        target[draw(st.sampled_from(["zz", "Type", "note ", "__class__"]))] = draw(
            st.sampled_from(ODD_VALUES)
        )
    elif kind == "retype":
        holder[where[-1]] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "bad_enum":
        holder[where[-1]] = draw(st.sampled_from(["Language", "language ", "IN_PERSON", "ok"]))
    elif kind == "bad_date":
        holder[where[-1]] = draw(
            st.sampled_from(["2025-02-29", "2024-02-30", "0000-01-01", "2025-1-1", "2025-03-03Z"])
        )
    else:
        doc["type"] = draw(st.sampled_from(["", "Open_Case", "case_closed", "record_need", 7]))
    return kind, json.dumps(doc)


COMMAND_DOCS = [
    json.loads(dumps(cmd))
    for cmd in (
        loads(json.dumps(OPEN), c.OpenCase),
        c.RecordContact(
            on=date(2025, 3, 4), minutes=30, channel="phone", topics=["work", "school"]
        ),
        c.RecordNeed(on=date(2025, 3, 4), area="housing", note="n"),
        c.AddGoal(
            goal_id="g1",
            area="language",
            description="B1",
            target_date=date(2026, 1, 1),
            on=date(2025, 3, 4),
        ),
        c.ExtendPeriod(months=6, justification="j", on=date(2025, 3, 4)),
        c.CloseCase(reason="moved_away", note="", on=date(2025, 3, 4)),
        c.SetGoalStatus(goal_id="g1", status="achieved", on=date(2025, 3, 4)),
    )
]
EVENT_DOCS = [json.loads(dumps(e)) for e in CASE.events]


def check_mutant(kind: str, text: str, target: Any) -> Any:
    """Exactly InvalidDocument or a valid value; never anything else."""
    try:
        value = loads(text, target)
    except InvalidDocument as exc:
        assert exc.path.startswith("$")
        assert not schema_accepts_text(text, target), text
        return None
    assert kind not in ("truncate", "add"), text  # these can never be valid
    assert loads(dumps(value), target) == value
    assert schema_accepts(json.loads(text), target), text
    return value


def schema_accepts_text(text: str, kind: Any) -> bool:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return schema_accepts(doc, kind)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutants=st.lists(mutated(COMMAND_DOCS), min_size=10, max_size=10))
def test_mutated_commands_raise_only_invalid_document_and_write_nothing(
    service: CaseService[SQLiteStore], mutants: list[tuple[str, str]]
) -> None:
    store = service.store
    by = Actor("im-1", Role.MANAGER, provider="drk", district="08337")

    def state() -> tuple[int, list[tuple[str, int]]]:
        return store.outbox.count_pending(), [(x.case_id, x.version) for x in store.iter_cases()]

    for kind, text in mutants:
        before = state()
        try:
            service.execute(text, case_id="base", by=by)
        except InvalidDocument:
            assert state() == before
            assert check_mutant(kind, text, Command) is None
        except (Rejected, ConcurrencyConflict):  # a valid command the engine or store refuses
            assert state() == before
            assert check_mutant(kind, text, Command) is not None
        except ValueError as exc:  # an opening of another case, sent to this one
            assert state() == before
            value = check_mutant(kind, text, Command)
            assert isinstance(value, c.OpenCase) and value.case_id != "base", exc
        else:
            assert check_mutant(kind, text, Command) is not None
            pending, versions = state()
            assert pending == before[0] + 1  # exactly one event written
            assert sum(v for _, v in versions) == sum(v for _, v in before[1]) + 1


@settings(max_examples=200)
@given(mutants=st.lists(mutated(EVENT_DOCS), min_size=10, max_size=10))
def test_mutated_events_raise_only_invalid_document(mutants: list[tuple[str, str]]) -> None:
    for kind, text in mutants:
        value = check_mutant(kind, text, Event)
        if value is not None:
            assert isinstance(value, tuple(EVENT_TYPES.values()))


@pytest.fixture
def service(tmp_path: Path) -> Any:
    store = SQLiteStore(
        tmp_path / "mutants.db", engine=Engine(clock=FrozenClock.on(date(2025, 6, 1)))
    )
    base = open_case(store.engine, "base")
    store.append("base", base.events, expected_version=0)
    yield CaseService(store, deliver=False)
    store.close()


# -- upcasting ----------------------------------------------------------------------------------


def test_upcasters_migrate_older_event_documents_on_read() -> None:
    def note_became_structured(doc: dict[str, Any]) -> dict[str, Any]:
        doc["note"] = f"[v1] {doc['note']}"
        return doc

    old = NeedRecorded(
        case_id="wt-1",
        seq=5,
        on=date(2025, 3, 4),
        recorded_at=datetime(2025, 3, 4, 9, tzinfo=UTC),
        actor=Actor("im-1", Role.MANAGER),
        area=LifeArea.HOUSING,
        note="shares a room",
    )
    stored_v1 = dumps(old)
    v2 = make_converter(
        upcasters={("need_recorded", 1): note_became_structured}, schema_version=SCHEMA_VERSION + 1
    )
    read = loads(stored_v1, Event, converter=v2)
    assert read == attrs.evolve(old, note="[v1] shares a room")
    assert json.loads(dumps(read, converter=v2))["schema_version"] == SCHEMA_VERSION + 1
    # documents already at the converter's version, and other types, are left alone
    assert loads(dumps(read, converter=v2), Event, converter=v2) == read
    other = CASE.events[2]
    assert loads(dumps(other), Event, converter=v2) == other
    # a case snapshot of an older version is refused: it must be rebuilt from events
    with pytest.raises(InvalidDocument, match="rebuilt from events"):
        loads(dumps(CASE), Case, converter=v2)
    with pytest.raises(InvalidDocument, match="unsupported schema version 2"):
        loads(dumps(read, converter=v2), Event)


def test_each_call_builds_a_new_converter_that_the_host_owns() -> None:
    first, second = make_converter(), make_converter()
    assert first is not second
    first.register_structure_hook(Phase, lambda value, _: Phase.CLOSED)
    assert from_document(to_document(CASE), Case, converter=second).phase is Phase.MONITORING
    assert loads(dumps(CASE), Case).phase is Phase.MONITORING


# -- JSON Schema ----------------------------------------------------------------------------------


def test_the_json_schema_is_valid_draft_2020_12_with_one_variant_per_type() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    tags = [ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]]
    assert tags == [*COMMAND_TYPES, *EVENT_TYPES]
    for tag in tags:
        variant = schema["$defs"][tag]
        assert variant["properties"]["type"] == {"const": tag}
        assert variant["additionalProperties"] is False
    assert "schema_version" in schema["$defs"]["case_opened"]["required"]
    assert "schema_version" not in schema["$defs"]["open_case"]["required"]
    commands_only = json_schema(only="commands")
    assert len(commands_only["oneOf"]) == len(COMMAND_TYPES)
    assert len(json_schema(only="events")["oneOf"]) == len(EVENT_TYPES)
    assert json.loads(json.dumps(schema)) == schema


def test_the_schema_and_loads_agree_on_the_handwritten_bad_documents() -> None:
    for text, path, _ in BAD_COMMANDS:
        if text == with_(OPEN, household=2.0):
            # JSON Schema counts 2.0 as an integer; loads is stricter and refuses floats
            assert schema_accepts_text(text, Command)
            continue
        assert not schema_accepts_text(text, Command), (path, text)
    assert schema_accepts(OPEN, Command) and schema_accepts(CONTACT, Command)
