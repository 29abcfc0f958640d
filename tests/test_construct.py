"""The engine's fast constructors build exactly what the attrs classes build."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given

from imflow import Case, commands
from imflow._construct import constructor
from imflow.actors import Actor
from imflow.events import EVENT_TYPES, Event
from imflow.testing import cases, event_histories


def rebuilt(value: attrs.AttrsInstance) -> object:
    values = [getattr(value, f.name) for f in attrs.fields(type(value))]
    return constructor(type(value))(*values)


@given(event_histories())
def test_events_rebuilt_fast_equal_the_originals(events: tuple[Event, ...]) -> None:
    for event in events:
        copy = rebuilt(event)
        assert copy == event and hash(copy) == hash(event)
        assert type(copy) is type(event) and repr(copy) == repr(event)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            copy.seq = 0  # type: ignore[misc]


@given(cases())
def test_cases_rebuilt_fast_equal_the_originals(case: Case) -> None:
    copy = rebuilt(case)
    assert copy == case and hash(copy) == hash(case)
    parts: list[attrs.AttrsInstance] = [*case.plans, *case.needs, *case.contacts]
    for value in parts:
        assert rebuilt(value) == value


def test_every_event_class_has_a_fast_constructor() -> None:
    for cls in EVENT_TYPES.values():
        assert constructor(cls) is constructor(cls)  # built once


@pytest.mark.parametrize("cls", [commands.OpenCase, commands.RecordContact, Actor])
def test_classes_whose_init_does_more_are_refused(cls: type) -> None:
    with pytest.raises(TypeError, match="needs its own __init__"):
        constructor(cls)
