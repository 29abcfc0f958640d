"""imflow schema version 7 (see ``imflow schema-sql --from 6``): the state of the
report's facts an append steps instead of recomputing them over the whole history."""

from __future__ import annotations

from django.db import migrations

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = [("imflow", "0007_imflow_schema_6")]

    operations = [
        apply_imflow_migration(7),
    ]
