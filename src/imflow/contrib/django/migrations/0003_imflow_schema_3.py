"""imflow schema version 3 (see ``imflow schema-sql --from 2``)."""

from __future__ import annotations

from django.db import migrations

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = [("imflow", "0002_imflow_schema_2")]

    operations = [
        apply_imflow_migration(3),
    ]
