"""Erasure covers every personal field of every event type (domain.md § 8).

Personal fields are the person and household-member references and every free text:
need notes, goal descriptions, review notes, justifications, closure notes and custom
action notes. Each is planted here with its own marker, through real commands, and
after ``erase_person`` none of the markers is left in the store's events, its snapshot
or the case it loads, on the memory, SQLite and PostgreSQL stores. A classification of
every text field of every event class makes sure a new field cannot slip past: it must
be declared personal (and is then checked) or statistical.
"""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest

from imflow import Actor, Case, Engine, FrozenClock, Role, Workflow
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.erasure import TOMBSTONE, Erasure, tombstone
from imflow.events import EVENT_TYPES, Event, PersonErased
from imflow.serialization import dumps
from imflow.store import Store
from tests.paths import WALDSHUT_TOML
from tests.stores import StoreMaker

WALDSHUT = Workflow.from_toml(WALDSHUT_TOML.read_text(encoding="utf-8"))
CLOCK = FrozenClock(datetime(2027, 6, 1, 10, tzinfo=UTC))
D = date(2025, 3, 3)
ERASED_ON = date(2027, 5, 2)

# the personal fields by event type, from domain.md § 8, and the text fields that are not
PERSONAL: dict[str, frozenset[str]] = {
    "case_opened": frozenset({"person", "members"}),
    "need_recorded": frozenset({"note"}),
    "goal_added": frozenset({"description"}),
    "plan_reviewed": frozenset({"note"}),
    "period_extended": frozenset({"justification"}),
    "case_closed": frozenset({"note"}),
    "custom_action_taken": frozenset({"note"}),
    "case_transferred": frozenset({"note"}),
}
NOT_PERSONAL = frozenset(
    {
        "case_id",  # a pseudonymous case number
        "district",  # an AGS code
        "provider",  # an organisation
        "to_provider",  # an organisation (transfer_case)
        "from_provider",  # an organisation (transfer_case)
        "rule_set",
        "workflow",
        "workflow_hash",
        "goal_id",  # a goal number within the case
        "name",  # a custom action's command name, part of the workflow
    }
)

# one marker per personal field planted below; none is a substring of another
MARKERS = {
    "person": "zq-person-81",
    "member": "zq-member-52",
    "other member": "zq-member-53",
    "need note": "zq-need-note",
    "second need note": "zq-need-other",
    "goal description": "zq-goal-text",
    "review note": "zq-review-note",
    "justification": "zq-justify",
    "custom action note": "zq-pause-note",
    "closure note": "zq-closure-1",
    "second closure note": "zq-closure-2",
    "transfer note": "zq-transfer-note",
}


def _text_fields(cls: type[Event]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    found = {}
    for f in attrs.fields(cls):
        hint = hints[f.name]
        args = set(typing.get_args(hint))
        if hint is str or hint == tuple[str, ...] or str in args:
            found[f.name] = hint
    return found


def test_every_text_field_of_every_event_is_classified() -> None:
    for tag, cls in EVENT_TYPES.items():
        for name in _text_fields(cls):
            personal = name in PERSONAL.get(tag, frozenset())
            assert personal or name in NOT_PERSONAL, (
                f"{tag}.{name}: personal (domain.md § 8)? add it to PERSONAL (and plant it in"
                " this module) or to NOT_PERSONAL"
            )
    for tag, names in PERSONAL.items():
        assert names <= set(_text_fields(EVENT_TYPES[tag])), tag


def _filled(cls: type[Event]) -> Event:
    """An instance of *cls* with a distinct marker in every text field."""
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in attrs.fields(cls):
        hint = hints[f.name]
        if f.name in ("case_id", "seq", "on", "recorded_at", "actor"):
            continue
        if hint == tuple[str, ...]:
            values[f.name] = (f"zq-{f.name}-1", f"zq-{f.name}-2")
        elif hint is str or str in typing.get_args(hint):
            values[f.name] = f"zq-{f.name}"
        elif hint is int:
            values[f.name] = 2
        elif hint in (date, date | None):
            values[f.name] = D
        elif type(None) in typing.get_args(hint):  # an optional value object (continues)
            values[f.name] = None
        else:  # enums and tuples of enums: their first member
            values[f.name] = _first(hint)
    return cls(
        case_id="c-1",
        seq=2,
        on=D,
        recorded_at=CLOCK(),
        actor=SYSTEM,
        **values,
    )


def _first(hint: Any) -> Any:
    if typing.get_origin(hint) is tuple:
        return (next(iter(typing.get_args(hint)[0])),)
    return next(iter(hint))


@pytest.mark.parametrize("tag", sorted(EVENT_TYPES))
def test_tombstone_blanks_the_personal_fields_of_each_event_type_and_keeps_the_rest(
    tag: str,
) -> None:
    event = _filled(EVENT_TYPES[tag])
    erased = tombstone(event)
    personal = PERSONAL.get(tag, frozenset())
    for f in attrs.fields(type(event)):
        before, after = getattr(event, f.name), getattr(erased, f.name)
        if f.name not in personal:
            assert after == before, f"{tag}.{f.name} is statistical and must stay"
        elif isinstance(before, tuple):
            assert after == (TOMBSTONE,) * len(before), f"{tag}.{f.name}"
        else:
            assert after == TOMBSTONE, f"{tag}.{f.name}"
    assert "zq-" not in repr([getattr(erased, name) for name in personal])
    assert tombstone(erased) == erased  # erasing twice changes nothing more


def _own(case: Case) -> Actor:
    return Actor("im-1", Role.MANAGER, provider=case.provider, district=case.district)


def personal_case(engine: Engine) -> Case:
    """A household case with every personal field of domain.md § 8 holding a marker."""
    m = MARKERS
    case = engine.open(
        c.OpenCase(
            case_id="erase-all",
            person=m["person"],
            district="08337",
            provider="lra-wt",
            household=3,
            members=(m["member"], m["other member"]),
            on=D,
        ),
        by=Actor("im-1", Role.MANAGER, provider="lra-wt", district="08337"),
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area="housing", note=m["need note"]),
        c.RecordNeed(on=D, area="work", note=""),  # an empty note stays empty
        c.StartPlanning(on=D),
        c.AddGoal(
            on=D,
            goal_id="g1",
            area="housing",
            description=m["goal description"],
            target_date=date(2026, 6, 30),
        ),
        c.AgreePlan(on=date(2025, 3, 20)),
        c.ReviewPlan(on=date(2025, 9, 1), note=m["review note"]),
        c.ExtendPeriod(on=date(2025, 9, 2), months=6, justification=m["justification"]),
        c.CustomAction(name="pause_case", on=date(2025, 10, 1), note=m["custom action note"]),
        c.CustomAction(name="resume_case", on=date(2025, 11, 1)),
        c.TransferCase(on=date(2025, 11, 2), to_provider="drk-wt", note=m["transfer note"]),
        c.CloseCase(on=date(2025, 12, 1), reason="other", note=m["closure note"]),
        c.ReopenCase(on=date(2026, 1, 5)),
        c.RecordNeed(on=date(2026, 1, 5), area="language", note=m["second need note"]),
        c.CloseCase(on=date(2026, 2, 1), reason="client_request", note=m["second closure note"]),
    ):
        case = engine.handle(case, cmd, by=_own(case))
    return case


def test_the_planted_case_holds_every_marker_in_its_personal_fields() -> None:
    case = personal_case(Engine(workflow=WALDSHUT, clock=CLOCK))
    text = dumps(case)
    for label, marker in MARKERS.items():
        assert marker in text, label
    planted = {
        (e.type, name)
        for e in case.events
        for name in PERSONAL.get(e.type, ())
        if "zq-" in repr(getattr(e, name))
    }
    assert planted == {(tag, name) for tag, names in PERSONAL.items() for name in names}


def _raw_text(stores: StoreMaker) -> str:
    """Every payload and snapshot as the database holds them (SQL stores)."""
    raw = stores.raw()
    try:
        cast = "::text" if stores.kind == "postgres" else ""
        rows = raw.execute(
            f"SELECT payload{cast} FROM events UNION ALL"
            f" SELECT coalesce(snapshot{cast}, '') FROM cases"
        ).fetchall()
        return "\n".join(r[0] for r in rows)
    finally:
        raw.close()


def _snapshot(stores: StoreMaker, case_id: str) -> tuple[int | None, str]:
    raw = stores.raw()
    try:
        cast = "::text" if stores.kind == "postgres" else ""
        (version, snapshot), *_ = raw.execute(
            f"SELECT snapshot_version, snapshot{cast} FROM cases WHERE case_id = '{case_id}'"
        ).fetchall()
        return version, snapshot or ""
    finally:
        raw.close()


def _assert_no_marker(text: str, where: str) -> None:
    left = [label for label, marker in MARKERS.items() if marker in text]
    assert not left, f"{where} still holds: {left}"


def test_erasure_removes_every_personal_field_from_events_snapshot_and_loaded_case(
    stores: StoreMaker,
) -> None:
    engine = Engine(workflow=WALDSHUT, clock=CLOCK)
    store: Store = stores(engine=engine, snapshot_every=4)
    case = personal_case(engine)
    store.append(case.case_id, case.events, expected_version=0)
    if stores.kind != "memory":
        raw = _raw_text(stores)
        assert '"case_opened"' in raw  # the probe sees the rows, and no marker in clear
        _assert_no_marker(raw, "the database before the erasure")

    assert store.erase_person(MARKERS["member"], on=ERASED_ON) == ("erase-all",)

    events = store.events("erase-all")
    assert isinstance(events[-1], PersonErased) and events[-1].seq == case.version + 1
    _assert_no_marker(repr(events) + "".join(dumps(e) for e in events), "the events")
    for old, new in zip(case.events, events, strict=False):
        for name in PERSONAL.get(old.type, ()):
            before, after = getattr(old, name), getattr(new, name)
            expected = (
                tuple(TOMBSTONE for _ in before)
                if isinstance(before, tuple)
                else (TOMBSTONE if before else "")
            )
            assert after == expected, (old.type, name)
    for loaded in (store.load("erase-all"), stores(engine=engine, cache_size=0).load("erase-all")):
        assert loaded == engine.evolve(case, events[-1])
        _assert_no_marker(dumps(loaded) + repr(loaded) + str(loaded), "the loaded case")
        assert [n.note for n in loaded.needs] == [TOMBSTONE, "", TOMBSTONE]
        assert {g.description for p in loaded.plans for g in p.goals} == {TOMBSTONE}
        assert [x.justification for x in loaded.extensions] == [TOMBSTONE]
        assert loaded.closure is not None and loaded.closure.note == TOMBSTONE
        assert (loaded.person, loaded.members) == (TOMBSTONE, (TOMBSTONE, TOMBSTONE))
    if stores.kind != "memory":
        version, snapshot = _snapshot(stores, "erase-all")
        # the snapshot of the erased case (its events are the rows before it, not in it)
        assert version == case.version + 1 and '"events"' not in snapshot
        assert TOMBSTONE in snapshot
        _assert_no_marker(snapshot, "the snapshot")
        _assert_no_marker(_raw_text(stores), "the database")
    assert store.erase_person(MARKERS["person"], on=ERASED_ON) == ()  # forgotten as well


def test_an_erasure_is_the_tuple_of_its_case_ids_with_frozen_details() -> None:
    done = Erasure(iter(["c-1", "c-2"]), events_rewritten=3, keys_deleted=2)
    assert done.case_ids == ("c-1", "c-2") and list(done) == ["c-1", "c-2"]
    details = (done.events_rewritten, done.keys_deleted, done.keys_purged, done.log_flushed)
    assert details == (3, 2, True, True)
    assert done.pending == () and done.complete
    assert repr(done) == (
        "Erasure(('c-1', 'c-2'), events_rewritten=3, keys_deleted=2,"
        " keys_purged=True, log_flushed=True, pending=())"
    )
    with pytest.raises(AttributeError, match="cannot be changed"):
        done.keys_deleted = 0
    assert done.keys_deleted == 2
    nothing = Erasure(())
    assert (len(nothing), nothing.events_rewritten, nothing.keys_deleted) == (0, 0, 0)
    assert nothing.complete
    waiting = Erasure(["c-1"], keys_purged=False, pending=("readers",))
    assert (waiting.pending, waiting.complete) == (("readers",), False)
    assert not Erasure(["c-1"], log_flushed=False, pending=("locked",)).complete
