"""imflow schema version 1 (see ``imflow schema-sql --from 0``)."""

from __future__ import annotations

from django.db import migrations, models

from imflow.contrib.django.migrations._imflow import apply_imflow_migration


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        apply_imflow_migration(1),
        migrations.CreateModel(
            name="CaseRecord",
            fields=[
                (
                    "case_id",
                    models.TextField(primary_key=True, serialize=False, verbose_name="Fall / case"),
                ),
                ("district", models.TextField(verbose_name="Kreis / district")),
                ("provider", models.TextField(verbose_name="Träger / provider")),
                ("phase", models.TextField(verbose_name="Phase / phase")),
                ("rule_set", models.TextField(verbose_name="Regelwerk / rule set")),
                ("opened_on", models.DateField(verbose_name="eröffnet / opened")),
                (
                    "period_end",
                    models.DateField(null=True, verbose_name="Ende des Zeitraums / period end"),
                ),
                ("closed_on", models.DateField(null=True, verbose_name="abgeschlossen / closed")),
                ("version", models.IntegerField(verbose_name="Version / version")),
            ],
            options={
                "verbose_name": "Fallverlauf / case history",
                "verbose_name_plural": "Fallverläufe / case histories",
                "db_table": "cases",
                "ordering": ["case_id"],
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
