"""Fixtures shared by the tests (configuration lives in the repository's conftest.py)."""

from tests.stores import pg_dsn, sql_stores, stores

__all__ = ["pg_dsn", "sql_stores", "stores"]
