"""Private: a Django migration operation that applies one of imflow's own migrations.

Each Django migration of this app applies exactly one imflow schema version, with the
statements ``imflow migrate`` runs for the database's vendor, and records it in
``imflow_migrations``; a version applied already (by ``imflow migrate``) is skipped.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from imflow.store._migrate import migrations_of
from imflow.store._schema import MIGRATIONS_TABLE, Backend, current_version, steps
from imflow.store._summary import fill

__all__ = ["apply_imflow_migration"]


def _backend(vendor: str) -> Backend:
    if vendor == "sqlite":
        return "sqlite"
    if vendor == "postgresql":
        return "postgresql"
    raise ValueError(f"imflow runs on Django's sqlite and postgresql backends, not {vendor!r}")


def apply_imflow_migration(version: int) -> migrations.RunPython:
    """The operation that brings the database to imflow schema *version*."""

    def forward(apps: Any, schema_editor: Any) -> None:
        connection = schema_editor.connection
        backend = _backend(connection.vendor)
        connection.ensure_connection()
        raw = connection.connection
        with connection.cursor() as cursor:
            if (current_version(backend, raw) or 0) >= version:
                return
            cursor.execute(MIGRATIONS_TABLE)
            for found, _, statements in steps(migrations_of(backend), version - 1):
                if found != version:
                    continue
                for statement in statements:
                    cursor.execute(statement)
        if version == 6:  # the report's facts of the cases stored before (no DDL)
            fill(raw, backend)

    return migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)
