"""imflow schema version 5 (see ``imflow schema-sql --from 4``)."""

from __future__ import annotations

from django.db import migrations

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = [("imflow", "0005_imflow_keys")]

    operations = [
        apply_imflow_migration(5),
    ]
