"""imflow schema version 6 (see ``imflow schema-sql --from 5``): the report's facts
per case and year, filled for the cases already stored."""

from __future__ import annotations

from django.db import migrations

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = [("imflow", "0006_imflow_schema_5")]

    operations = [
        apply_imflow_migration(6),
    ]
