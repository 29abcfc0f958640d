"""Testing tools for imflow and for hosts that embed it.

Hypothesis strategies that reach valid cases through real commands, and fake clocks.
This is the only imflow module that imports hypothesis (install ``imflow[testing]``).

>>> from hypothesis import given, settings
>>> from imflow import Engine
>>> @settings(max_examples=5)
... @given(cases())
... def test_replay(case):
...     assert Engine(clock=FrozenClock(FAR_FUTURE)).replay(case.events) == case
>>> test_replay()

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from imflow.clock import FrozenClock, SteppingClock
from imflow.testing._stateful import CaseMachine
from imflow.testing._strategies import (
    FAR_FUTURE,
    CommandSequence,
    actors,
    cases,
    command_sequences,
    commands,
    event_histories,
    foreign_managers,
    manager_for,
    opening_commands,
)
from imflow.testing._trajectories import Step, Trajectory, trajectories

__all__ = [
    "FAR_FUTURE",
    "CaseMachine",
    "CommandSequence",
    "FrozenClock",
    "Step",
    "SteppingClock",
    "Trajectory",
    "actors",
    "cases",
    "command_sequences",
    "commands",
    "event_histories",
    "foreign_managers",
    "manager_for",
    "opening_commands",
    "trajectories",
]
