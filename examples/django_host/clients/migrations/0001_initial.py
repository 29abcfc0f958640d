"""The clients table."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Client",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("person_ref", models.CharField(max_length=64, unique=True)),
                ("case_id", models.CharField(max_length=64, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("address", models.CharField(max_length=400)),
            ],
        ),
    ]
