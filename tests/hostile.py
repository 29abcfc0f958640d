"""Hostile inputs for the trust-boundary tests: mutated and forged event batches.

:func:`attacks` draws a valid case (through real commands), splits its events into a
stored prefix and a batch, and then attacks the batch the way a hostile client of a
store would: a field set to another value of its type or of another type, values
outside the bounds of domain.md § 8 (NUL, lone surrogates, huge integers, long texts,
dates far away, naive times), events reordered, dropped or repeated, another actor,
role, provider or district, a forged ``person_erased``, or events of commands the
guards refuse. Sequence numbers are mostly repaired afterwards, so that the attack
reaches the guards instead of dying at the sequence check.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from imflow import Actor, Case, Role
from imflow.actors import SYSTEM
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea
from imflow.events import Event, PersonErased
from imflow.testing import cases

__all__ = ["ODD", "Attack", "attacks", "renamed"]

ODD: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    10**30,
    1.5,
    "",
    " ",
    "x",
    "\x00",
    "a\x00b",
    "\ud800",
    "tab\there",
    "x" * 65,
    "n" * 4001,
    "<erased>",
    "housing",
    "moved_away",
    "2025-03-03",
    date(1900, 1, 1),
    date(2017, 12, 31),
    date(2100, 1, 1),
    date(9999, 12, 31),
    datetime(2025, 3, 3, 12),
    datetime(2025, 3, 3, 12, tzinfo=UTC),
    datetime(9999, 12, 31, 12, tzinfo=UTC),
    (),
    ("",),
    ("p-1", "\x00"),
    (LifeArea.WORK,),
    ["language"],
    {"id": "im-1"},
    Channel.PHONE,
    ClosureReason.PERIOD_EXPIRED,
    GoalStatus.ACHIEVED,
    LifeArea.HEALTH,
    SYSTEM,
    Actor("au-1", Role.AUDITOR),
    Actor("im-9", Role.MANAGER, provider="other", district="08337"),
]
"""Values of every kind, many of them outside the bounds or of the wrong type."""

_ROLES = list(Role)
_PROVIDERS = ["drk", "caritas", "awo", "other", "x\x00"]
_DISTRICTS = ["08111", "08337", "08336", "99999", None]


@attrs.frozen
class Attack:
    """A stored prefix, the batch sent after it, and what was done to the batch."""

    case: Case
    stored: tuple[Event, ...]
    batch: tuple[Event, ...]
    kind: str


def renamed(events: tuple[Event, ...], case_id: str) -> tuple[Event, ...]:
    """*events* of another case id (still a history the engine could have recorded)."""
    return tuple(attrs.evolve(e, case_id=case_id) for e in events)


def _similar(draw: st.DrawFn, value: Any) -> Any:
    """Another value of the same kind as *value*, or an odd one."""
    if draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(ODD))
    if type(value) is bool or value is None:
        return draw(st.sampled_from(ODD))
    if isinstance(value, int):
        return value + draw(st.sampled_from([-1000, -13, -1, 1, 2, 12, 13, 10**9]))
    if isinstance(value, datetime):
        delta = draw(st.sampled_from([-3650, -1, 1, 3650]))
        try:
            return value + timedelta(days=delta)
        except OverflowError:  # the odd values sit at the ends of the datetime range
            return value
    if isinstance(value, date):
        delta = draw(st.sampled_from([-4000, -400, -1, 1, 30, 400, 4000]))
        try:
            return value + timedelta(days=delta)
        except OverflowError:
            return value
    if isinstance(value, Actor):
        return Actor(
            draw(st.sampled_from(["im-1", "im-2", "", "\x00"])),
            draw(st.sampled_from(_ROLES)),
            provider=draw(st.sampled_from(_PROVIDERS)),
            district=draw(st.sampled_from(_DISTRICTS)),
        )
    if isinstance(value, ClosureReason | GoalStatus | LifeArea | Channel):
        return draw(st.sampled_from(list(type(value))))
    if isinstance(value, str):
        return draw(
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(["g1", "g2", "p-1", "vwv-2018", "system-2025", "no-such"]),
            )
        )
    if isinstance(value, tuple):
        return draw(st.sampled_from([(), value + value, value[:-1], ("m-x",) * 40]))
    return draw(st.sampled_from(ODD))


def _set_field(draw: st.DrawFn, event: Event) -> Event:
    names = [f.name for f in attrs.fields(type(event))]
    name = draw(st.sampled_from(names))
    value = _similar(draw, getattr(event, name))
    changed = attrs.evolve(event)
    object.__setattr__(changed, name, value)  # past any converter: as a forger would
    return changed


def _renumber(events: list[Event], first_seq: int) -> list[Event]:
    out = []
    for i, e in enumerate(events):
        fixed = attrs.evolve(e)
        object.__setattr__(fixed, "seq", first_seq + i)
        out.append(fixed)
    return out


@st.composite
def attacks(draw: st.DrawFn, *, max_steps: int = 14) -> Attack:
    """A valid case, a split of its events, and an attack on the batch after the split."""
    case = draw(cases(max_steps=max_steps))
    events = list(case.events)
    k = draw(st.integers(0, len(events) - 1), label="stored")
    stored, batch = events[:k], events[k:]
    kind = draw(
        st.sampled_from(
            [
                "field",
                "field",
                "field",
                "two_fields",
                "actor",
                "reorder",
                "drop",
                "repeat",
                "erase",
                "recorded_at",
                "foreign",
                "intact",
            ]
        ),
        label="kind",
    )
    i = draw(st.integers(0, len(batch) - 1), label="at")
    if kind == "field":
        batch[i] = _set_field(draw, batch[i])
    elif kind == "two_fields":
        batch[i] = _set_field(draw, _set_field(draw, batch[i]))
    elif kind == "actor":
        batch[i] = attrs.evolve(batch[i], actor=_similar(draw, batch[i].actor))
    elif kind == "reorder" and len(events) > 1:
        j = draw(st.integers(0, len(events) - 1))
        whole = stored + batch
        whole[k + i], whole[j] = whole[j], whole[k + i]
        batch = whole[k:]
    elif kind == "drop" and len(batch) > 1:
        del batch[i]
    elif kind == "repeat":
        batch.insert(i, draw(st.sampled_from(events)))
    elif kind == "erase":
        latest = (stored + batch)[max(0, k + i - 1)]
        batch.insert(
            i,
            PersonErased(
                case_id=case.case_id,
                seq=k + i + 1,
                on=latest.on,
                recorded_at=latest.recorded_at,
                actor=draw(st.sampled_from([SYSTEM, latest.actor])),
            ),
        )
    elif kind == "recorded_at":
        moment = batch[i].recorded_at
        batch[i] = attrs.evolve(
            batch[i],
            recorded_at=draw(
                st.sampled_from(
                    [
                        moment.replace(tzinfo=None),
                        moment - timedelta(days=1),
                        moment + timedelta(days=30000),
                        datetime(2017, 6, 1, tzinfo=UTC),
                    ]
                )
            ),
        )
    elif kind == "foreign":  # an event of another case, given this case's id
        other = draw(cases(max_steps=max_steps))
        batch[i] = attrs.evolve(draw(st.sampled_from(other.events)), case_id=case.case_id)
    if draw(st.integers(0, 4)) > 0:  # mostly repair seq, so the attack reaches the guards
        batch = _renumber(batch, k + 1)
    return Attack(case, tuple(stored), tuple(batch), kind)
