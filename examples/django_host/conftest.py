"""The example host's tests run on a frozen day, so their dates are always valid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from imflow.contrib.django import close_store

os.environ.setdefault("IMFLOW_EXAMPLE_TODAY", "2025-03-03")


@pytest.fixture(scope="session", autouse=True)
def imflow_store_closed_at_the_end(django_db_setup: Any) -> Iterator[None]:
    """The store's key store has a connection of its own: closed before the test
    database is dropped (PostgreSQL refuses to drop a database in use)."""
    yield
    close_store()
