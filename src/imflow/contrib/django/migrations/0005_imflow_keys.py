"""The key schema ``imflow_keys`` of the PostgreSQL store's data keys (nothing on SQLite).

The Django PostgreSQL store's default key store (:class:`~imflow.keys.PostgresKeyStore`)
never runs DDL; this migration makes its schema with the statements ``imflow migrate``
runs. Its reverse leaves the keys alone: dropping them would make every case unreadable.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from imflow.contrib.django._store import KEY_SCHEMA
from imflow.store._keys_postgres import key_schema_statements


class PostgresOnlySQL(migrations.RunSQL):
    """``RunSQL`` that runs on PostgreSQL only (a no-op on SQLite)."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("imflow", "0004_imflow_schema_4")]

    operations = [
        PostgresOnlySQL(
            tuple(key_schema_statements(KEY_SCHEMA)), migrations.RunSQL.noop, elidable=False
        ),
    ]
