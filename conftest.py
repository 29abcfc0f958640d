"""Shared test configuration (for tests/, doctests in src/ and the docs).

The tests act as a host application: they configure structlog to stay quiet except for
warnings (the library never configures it). Tests that inspect logs use
``structlog.testing.capture_logs``, which overrides this configuration while it runs.
"""

from __future__ import annotations

import logging
import os

import structlog
from hypothesis import HealthCheck, settings

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=False,
)

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
