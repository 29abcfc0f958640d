"""Hypothesis profiles, and the larger example counts of the core properties.

The profile is ``ci`` when the ``CI`` environment variable is set, otherwise the one
named in ``HYPOTHESIS_PROFILE`` (default ``dev``). Most property tests run with the
profile's ``max_examples``; the core properties (trajectories, the key-figure oracle)
decorate themselves with :func:`core`, which runs a few hundred examples under ``ci``.

``thorough`` is for an occasional long run::

    HYPOTHESIS_PROFILE=thorough .venv/bin/pytest -n 2 tests/test_properties.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings

__all__ = ["CORE_EXAMPLES", "PROFILE", "core", "register_profiles"]

PROFILE = "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev")

_EXAMPLES = {"ci": 60, "dev": 40, "thorough": 500}
_CORE_EXAMPLES = {"ci": 300, "dev": 80, "thorough": 3000}
CORE_EXAMPLES = _CORE_EXAMPLES.get(PROFILE, _CORE_EXAMPLES["dev"])
"""How many examples each core property runs under the active profile."""

F = TypeVar("F", bound=Callable[..., object])


def register_profiles() -> None:
    """Register ``ci``, ``dev`` and ``thorough`` and load the active one."""
    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    for name, examples in _EXAMPLES.items():
        settings.register_profile(
            name,
            max_examples=examples,
            deadline=None,
            suppress_health_check=quiet,
            print_blob=name == "ci",
        )
    settings.load_profile(PROFILE)


def core(test: F) -> F:
    """Run *test* with :data:`CORE_EXAMPLES` examples (the profile's other settings stay)."""
    return settings(settings.default, max_examples=CORE_EXAMPLES)(test)
