"""The one Django model of imflow: the ``cases`` table, read-only, for the admin."""

from __future__ import annotations

from datetime import date

from django.db import models

__all__ = ["CaseRecord"]


class CaseRecord(models.Model):
    """A row of imflow's ``cases`` table (written by the store only, never by Django).

    Its columns are statistical (phase, dates, district, provider), none personal.
    """

    case_id: models.TextField[str, str] = models.TextField(
        primary_key=True, verbose_name="Fall / case"
    )
    district: models.TextField[str, str] = models.TextField(verbose_name="Kreis / district")
    provider: models.TextField[str, str] = models.TextField(verbose_name="Träger / provider")
    phase: models.TextField[str, str] = models.TextField(verbose_name="Phase / phase")
    rule_set: models.TextField[str, str] = models.TextField(verbose_name="Regelwerk / rule set")
    opened_on: models.DateField[date, date] = models.DateField(verbose_name="eröffnet / opened")
    period_end: models.DateField[date | None, date | None] = models.DateField(
        null=True, verbose_name="Ende des Zeitraums / period end"
    )
    closed_on: models.DateField[date | None, date | None] = models.DateField(
        null=True, verbose_name="abgeschlossen / closed"
    )
    version: models.IntegerField[int, int] = models.IntegerField(verbose_name="Version / version")

    class Meta:
        managed = False  # the schema is imflow's (migrations 0001…), not the ORM's
        db_table = "cases"
        ordering = ["case_id"]
        verbose_name = "Fallverlauf / case history"
        verbose_name_plural = "Fallverläufe / case histories"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return str(self.case_id)
