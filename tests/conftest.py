"""Fixtures shared by the tests (configuration lives in the repository's conftest.py).

The tests play a host that configures its master key in the environment
(``IMFLOW_MASTER_KEY``), as production hosts do; tests of the defaults remove it.
"""

import os

from tests.stores import TEST_MASTER_KEY, pg_dsn, sql_stores, stores

os.environ.setdefault("IMFLOW_MASTER_KEY", TEST_MASTER_KEY)

__all__ = ["pg_dsn", "sql_stores", "stores"]
