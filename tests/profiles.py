"""Hypothesis profiles, and the larger example counts of the core properties.

The profile is ``ci`` when the ``CI`` environment variable is set, otherwise the one
named in ``HYPOTHESIS_PROFILE`` (default ``dev``). Most property tests run with the
profile's ``max_examples``; the core properties (trajectories, the key-figure oracle)
decorate themselves with :func:`core`, which runs a few hundred examples under ``ci``.

``thorough`` is for an occasional long run, ``mutation`` for runs against planted bugs
(mutation testing): it stops at the first failing example instead of shrinking it::

    HYPOTHESIS_PROFILE=thorough .venv/bin/pytest -n 2 tests/test_properties.py
    HYPOTHESIS_PROFILE=mutation .venv/bin/pytest -x -q tests
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, Phase, settings

__all__ = ["CORE_EXAMPLES", "PROFILE", "core", "register_profiles"]

PROFILE = "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev")

_EXAMPLES = {"ci": 60, "dev": 40, "thorough": 500, "mutation": 40}
_CORE_EXAMPLES = {"ci": 300, "dev": 80, "thorough": 3000, "mutation": 80}
CORE_EXAMPLES = _CORE_EXAMPLES.get(PROFILE, _CORE_EXAMPLES["dev"])
"""How many examples each core property runs under the active profile."""

F = TypeVar("F", bound=Callable[..., object])


def register_profiles() -> None:
    """Register ``ci``, ``dev``, ``thorough`` and ``mutation``; load the active one."""
    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    for name, examples in _EXAMPLES.items():
        settings.register_profile(
            name,
            max_examples=examples,
            deadline=None,
            suppress_health_check=quiet,
            print_blob=name == "ci",
        )
    settings.register_profile(
        "mutation",
        settings.get_profile("dev"),
        max_examples=_EXAMPLES["mutation"],
        phases=[Phase.explicit, Phase.generate],
        database=None,
    )
    settings.load_profile(PROFILE)


def core(test: F) -> F:
    """Run *test* with :data:`CORE_EXAMPLES` examples (the profile's other settings stay)."""
    return settings(settings.default, max_examples=CORE_EXAMPLES)(test)
