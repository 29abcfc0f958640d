"""Running calls at the same moment from several threads, as racing servers do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(*calls: Callable[[], Any], timeout: float = 120) -> list[Any]:
    """Run each call in its own thread, all released together by a barrier; what each
    returned, or the exception it raised, in the order they finished.

    A call still running after *timeout* s fails the test: its outcome would be missing,
    and a test that only looks for exceptions among the outcomes would pass without it.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=60)
            outcomes.append(call())
        except BaseException as exc:  # the caller asserts on it
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    running = sum(t.is_alive() for t in threads)
    if running:
        raise AssertionError(f"{running} of {len(calls)} calls still running after {timeout} s")
    return outcomes


def errors_of(outcomes: list[Any]) -> list[BaseException]:
    """The exceptions among *outcomes*."""
    return [o for o in outcomes if isinstance(o, BaseException)]
