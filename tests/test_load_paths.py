"""Loading a case fast must load the same case (#17).

- snapshot + the events after it == a replay of every event, for random histories
  appended in random batches, on every store;
- the fast reader of a store's own rows reads every document as the validating path
  does, and refuses every document the validating path refuses;
- a command on a case of 3,000 events returns a case whose events and replay are right.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import Case, Engine, InvalidDocument
from imflow import commands as c
from imflow._decode import Decoder
from imflow.events import ContactRecorded, Event
from imflow.serialization import from_stored_document, to_document
from imflow.testing import Trajectory, event_histories, trajectories
from tests.stores import StoreMaker, far_future_engine, manager, open_case

_ids = itertools.count()

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


def _append_in_batches(
    store: Any, case_id: str, events: tuple[Event, ...], cuts: list[int]
) -> None:
    version = 0
    for cut in [*sorted(set(cuts)), len(events)]:
        if cut > version:
            store.append(case_id, events[version:cut], expected_version=version)
            version = cut


def _renamed(events: tuple[Event, ...], case_id: str) -> tuple[Event, ...]:
    import attrs

    return tuple(attrs.evolve(e, case_id=case_id) for e in events)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(walk=trajectories(max_steps=30), every=st.integers(1, 7), data=st.data())
def test_snapshot_and_tail_load_equals_a_replay_of_every_event(
    stores: StoreMaker, walk: Trajectory, every: int, data: st.DataObject
) -> None:
    engine = far_future_engine()
    case_id = f"load-{next(_ids)}"
    events = _renamed(walk.case.events[:], case_id)
    replayed = engine.replay(events)
    cuts = data.draw(st.lists(st.integers(1, len(events)), max_size=4), label="batches")
    with stores.fresh(engine=engine, snapshot_every=every) as writer:
        _append_in_batches(writer, case_id, events, cuts)
    with stores.fresh(engine=engine, snapshot_every=every, cache_size=0) as reader:
        loaded = reader.load(case_id)
        # the state from the snapshot, the events (read lazily) and their replay agree
        assert loaded.version == replayed.version
        assert loaded == replayed
        assert loaded.events == events and tuple(loaded.events) == events
        assert engine.replay(loaded.events) == loaded
        assert reader.events(case_id) == events


def test_a_case_loaded_from_a_snapshot_takes_commands_like_one_replayed(
    stores: StoreMaker,
) -> None:
    engine = far_future_engine()
    with stores.fresh(engine=engine, snapshot_every=3) as store:
        case = open_case(engine, "snap-cmd")
        for i in range(10):
            on = case.latest_on + timedelta(days=1)
            case = engine.handle(case, c.RecordContact(on=on, minutes=20 + i), by=manager())
        store.append("snap-cmd", case.events, expected_version=0)
    with stores.fresh(engine=engine, snapshot_every=3, cache_size=0) as store:
        loaded = store.load("snap-cmd")
        on = loaded.latest_on + timedelta(days=1)
        command = c.RecordContact(on=on, minutes=45)
        new = engine.handle(loaded, command, by=manager())
        assert new == engine.handle(engine.replay(case.events), command, by=manager())
        store.append("snap-cmd", new.events[loaded.version :], expected_version=loaded.version)
    with stores.fresh(engine=engine, cache_size=0) as store:
        assert store.load("snap-cmd") == new


# -- the fast reader ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(history=event_histories(max_cases=2, max_steps=12))
def test_the_fast_reader_reads_every_event_as_the_validating_path(
    history: tuple[Event, ...],
) -> None:
    decoder = Decoder()
    for event in history:
        doc = json.loads(json.dumps(to_document(event)))
        assert decoder.event(doc) == event == from_stored_document(doc, Event)


def _near(text: str) -> list[str]:
    """Strings close to *text* (a date, a datetime, an enum value) that are not it."""
    return [
        text.replace("-", ""),
        text[:10],
        text.replace("+00:00", ""),
        text.replace("+00:00", "Z"),
        text.replace("+00:00", ".000001"),
        text.upper(),
        text + " ",
        "2025-W01-1",
        "2025-02-30",
        "2025-03-03T10:00:00",
    ]


def _outcome(read: Any, doc: Any) -> tuple[str, Any]:
    try:
        return ("read", read(doc))
    except InvalidDocument:
        return ("refused", None)


def _variants(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """*doc* with one value of it (or of its actor) removed or replaced, every way."""
    out = [{**doc, "extra": 1}]
    for inner in (None, "actor"):
        target = doc if inner is None else doc.get("actor")
        if type(target) is not dict:
            continue
        for key, current in target.items():
            near = _near(current) if type(current) is str else []
            values: list[Any] = [*near, None, 0, 1.5, True, "", "x", [], {}, ["x"], [1]]
            for value in [*values, "__gone__"]:
                changed = {k: v for k, v in target.items() if k != key}
                if value != "__gone__":
                    changed[key] = value
                out.append(changed if inner is None else {**doc, "actor": changed})
    return out


@settings(max_examples=25, deadline=None)
@given(history=event_histories(max_cases=1, max_steps=10))
def test_the_fast_reader_refuses_what_the_validating_path_refuses(
    history: tuple[Event, ...],
) -> None:
    """An attacker's row: any one value replaced or removed, or one added; both agree."""
    decoder = Decoder()
    for event in history:
        doc = json.loads(json.dumps(to_document(event)))
        for variant in _variants(doc):
            fast = _outcome(decoder.event, variant)
            slow = _outcome(lambda d: from_stored_document(d, Event), variant)
            assert fast == slow, variant


@settings(max_examples=200, deadline=None)
@given(history=event_histories(max_cases=1, max_steps=6), data=st.data())
def test_the_fast_reader_agrees_on_random_values(
    history: tuple[Event, ...], data: st.DataObject
) -> None:
    decoder = Decoder()
    doc = json.loads(json.dumps(to_document(data.draw(st.sampled_from(history)))))
    key = data.draw(st.sampled_from(sorted(doc)), label="key")
    doc[key] = data.draw(JSON, label="value")
    assert _outcome(decoder.event, doc) == _outcome(lambda d: from_stored_document(d, Event), doc)


def test_a_snapshot_the_fast_reader_does_not_take_is_not_used() -> None:
    engine = far_future_engine()
    case = open_case(engine, "snap-doc")
    doc = to_document(case)
    del doc["events"]
    decoder = Decoder()
    read = decoder.snapshot(json.loads(json.dumps(doc)), case.events)
    assert read == case
    assert decoder.snapshot({**doc, "phase": 7}, case.events) is None
    assert decoder.snapshot({**doc, "events": []}, case.events) is None  # an older layout
    assert decoder.snapshot({**doc, "schema_version": 0}, case.events) is None


# -- long histories ------------------------------------------------------------------------


def _long(engine: Engine, n: int) -> Case:
    case = open_case(engine, "long")
    for i in range(n - 1):
        on = case.latest_on + timedelta(days=1 if i % 3 == 0 else 0)
        case = engine.handle(case, c.RecordContact(on=on, minutes=15 + i % 90), by=manager())
    return case


def test_a_command_on_a_case_of_3000_events_returns_the_right_events_and_replay() -> None:
    engine = far_future_engine()
    before = _long(engine, 3000)
    assert before.version == 3000
    command = c.RecordContact(on=before.latest_on, minutes=33)
    after = engine.handle(before, command, by=manager())
    again = engine.handle(before, command, by=manager())  # the same case handled twice
    assert after.version == again.version == 3001 and before.version == 3000
    assert after.events[:3000] == tuple(before.events)
    last = after.events[-1]
    assert isinstance(last, ContactRecorded) and (last.seq, last.minutes) == (3001, 33)
    assert after == again and engine.replay(after.events) == after
    assert len(after.contacts) == 3000 and after.contacts[-1].minutes == 33
    assert tuple(before.contacts) == tuple(after.contacts)[:2999]


@pytest.mark.parametrize("kind", ["sqlite"])
def test_a_3000_event_case_loads_from_its_snapshot(kind: str, tmp_path: Any) -> None:
    from imflow.store import SQLiteStore

    engine = far_future_engine()
    case = _long(engine, 3000)
    with SQLiteStore(tmp_path / "long.db", engine=engine, snapshot_every=50) as store:
        for start in range(0, 3000, 700):
            store.append("long", case.events[start : start + 700], expected_version=start)
    with SQLiteStore(tmp_path / "long.db", engine=engine, cache_size=0) as store:
        loaded = store.load("long")
        assert loaded == case and engine.replay(loaded.events) == loaded
