"""imflow schema version 4 (see ``imflow schema-sql --from 3``)."""

from __future__ import annotations

from django.db import migrations

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = [("imflow", "0003_imflow_schema_3")]

    operations = [
        apply_imflow_migration(4),
    ]
