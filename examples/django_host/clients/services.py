"""Registering a client: the host's row and imflow's first events in one transaction."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from clients.models import Client
from imflow import Actor, Case
from imflow import commands as c
from imflow.contrib.django import get_service


def register(
    *, case_id: str, person_ref: str, name: str, address: str, on: date, by: Actor
) -> Case:
    """Save the client and open the case with consent recorded: all of it or nothing.

    The hooks of the new events run after the commit (never, if it rolls back).
    """
    service = get_service()
    with transaction.atomic():
        Client.objects.create(person_ref=person_ref, case_id=case_id, name=name, address=address)
        assert by.district is not None and by.provider is not None
        service.open(
            c.OpenCase(
                case_id=case_id,
                person=person_ref,
                district=by.district,
                provider=by.provider,
                on=on,
            ),
            by=by,
        )
        return service.handle(case_id, c.RecordConsent(on=on), by=by)
