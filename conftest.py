"""Shared test configuration (for tests/, doctests in src/ and the docs).

The tests act as a host application: they configure structlog to stay quiet except for
warnings (the library never configures it). Tests that inspect logs use
``structlog.testing.capture_logs``, which overrides this configuration while it runs.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pytest
import structlog
from structlog.typing import EventDict
from tests.profiles import register_profiles


def _warnings_only(logger: object, method: str, event_dict: EventDict) -> EventDict:
    if logging.getLevelNamesMapping().get(method.upper(), logging.INFO) < logging.WARNING:
        raise structlog.DropEvent
    return event_dict


# Not a filtering bound logger: structlog.testing.capture_logs swaps the processors
# only, so tests can still capture info-level events while the rest of the run is quiet.
structlog.configure(
    processors=[_warnings_only, structlog.dev.ConsoleRenderer(colors=False)],
    cache_logger_on_first_use=False,
)

register_profiles()  # ci, dev, thorough (tests/profiles.py)

# Django's app modules need configured settings: the example project's own tests import
# them (tests/test_django_example.py), not the doctest collection
collect_ignore = ["src/imflow/contrib/django", "examples/django_host"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Forget failing examples a doc example found on purpose (docs/how-to/test-hooks.md).

    Hypothesis remembers them on the current pytest item and, where ``libcst`` is
    installed, tries to write a patch for the item's function; a Markdown example has no
    function, and the plugin's error would crash the xdist worker.
    """
    if not isinstance(item, pytest.Function):
        item.__dict__.pop("_hypothesis_failing_examples", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutation testing (``scripts/mutation.sh``): the fastest tests first.

    mutmut stops a mutant's tests at the first failure; from the durations of its stats
    run (``mutmut-stats.json`` in the working directory) the cheap hand-computed tests
    run before the slow properties, so most mutants die within a second. Does nothing
    outside a mutmut run.
    """
    stats = Path("mutmut-stats.json")
    if "MUTANT_UNDER_TEST" not in os.environ or not stats.is_file():
        return
    durations = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, math.inf))
