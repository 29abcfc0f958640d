"""A client of the host: the name and address imflow must never hold."""

from __future__ import annotations

from django.db import models


class Client(models.Model):
    """One counselled person, linked to an imflow case by its pseudonymous reference."""

    person_ref: models.CharField[str, str] = models.CharField(max_length=64, unique=True)
    case_id: models.CharField[str, str] = models.CharField(max_length=64, unique=True)
    name: models.CharField[str, str] = models.CharField(max_length=200)
    address: models.CharField[str, str] = models.CharField(max_length=400)

    def __str__(self) -> str:
        return str(self.person_ref)  # never the name
