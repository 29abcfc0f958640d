"""The engine and hooks the ``IMFLOW`` setting names."""

from __future__ import annotations

import os
from datetime import date

from imflow import Engine, FrozenClock, Hooks
from imflow.events import CaseOpened, ConsentRecorded

HOOKS = Hooks()
DELIVERED: list[tuple[str, int]] = []  # what the hooks saw, for the tests to read


@HOOKS.on(CaseOpened)
def case_opened(event: CaseOpened, case: object) -> None:
    DELIVERED.append((event.case_id, event.seq))


@HOOKS.on(ConsentRecorded)
def consent_recorded(event: ConsentRecorded, case: object) -> None:
    DELIVERED.append((event.case_id, event.seq))


def make_engine() -> Engine:
    """The system clock; ``IMFLOW_EXAMPLE_TODAY`` freezes it (for the tests)."""
    today = os.environ.get("IMFLOW_EXAMPLE_TODAY")
    if today:
        return Engine(clock=FrozenClock.on(date.fromisoformat(today)))
    return Engine()
