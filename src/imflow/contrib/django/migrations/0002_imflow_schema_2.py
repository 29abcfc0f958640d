"""imflow schema version 2 (see ``imflow schema-sql --from 1``)."""

from __future__ import annotations

from django.db import migrations

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = [("imflow", "0001_imflow_schema_1")]

    operations = [
        apply_imflow_migration(2),
    ]
