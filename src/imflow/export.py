"""Access (DSGVO Art. 15): a person's cases and events in clear, as one JSON document.

:func:`export_person` (also ``store.export_person``) gathers every case the person
appears in — as the counselled person or as a household member — that the actor may
read in full, decrypted, as one JSON document::

    {"type": "person_export", "schema_version": 1, "person": "p-7f3a",
     "exported_at": "2026-02-02T09:00:00+00:00",
     "exported_by": {"id": "im-17", "role": "manager", "provider": "...", "district": "..."},
     "cases": [{"case_id": "wt-42", "as": "person", "case": {...the case document...}}]}

Who may export: a **manager** of the case's provider in its district (the office that
runs the case answers the request, as it holds the data); each case document is the
one :func:`imflow.dumps` writes (its events included). The references of the *other*
persons of a household read :data:`imflow.access.HIDDEN`: they are their personal data,
not the requester's; the household's texts are shared and stay. Cases of other
providers are left out without a trace (each provider answers for its own cases);
coordinators, auditors and ``system`` get :class:`~imflow.Forbidden`. An erased
person has no cases any more: the export lists none.

>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> from imflow.store import MemoryStore
>>> store = MemoryStore(engine=Engine(clock=FrozenClock.on(date(2025, 3, 3))))
>>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
>>> case = store.engine.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
...     provider="drk", on=date(2025, 3, 3), household=2, members=("p-2",)), by=im)
>>> _ = store.append("wt-1", case.events, expected_version=0)
>>> doc = json.loads(export_person(store, "p-2", by=im))
>>> [(c["case_id"], c["as"]) for c in doc["cases"]], doc["cases"][0]["case"]["events"][0]["person"]
([('wt-1', 'member')], '<hidden>')

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from imflow import _bounds
from imflow.access import HIDDEN, in_scope
from imflow.actors import Actor
from imflow.case import Case
from imflow.enums import Role
from imflow.errors import CaseNotFound, Forbidden
from imflow.serialization import to_document

__all__ = ["EXPORT_SCHEMA_VERSION", "ExportableStore", "export_person"]

EXPORT_SCHEMA_VERSION = 1
"""The ``schema_version`` of an export document."""


class ExportableStore(Protocol):
    """What an export needs of a store (every imflow store has it)."""

    def cases_of(self, person_ref: str) -> tuple[str, ...]: ...

    def load(self, case_id: str) -> Case: ...


def _actor(by: Actor) -> dict[str, Any]:
    return {"id": by.id, "role": by.role.value, "provider": by.provider, "district": by.district}


def _case_entry(case: Case, person_ref: str) -> dict[str, Any]:
    doc = to_document(case)
    opened = doc["events"][0]
    opened["person"] = opened["person"] if opened["person"] == person_ref else HIDDEN
    opened["members"] = [m if m == person_ref else HIDDEN for m in opened["members"]]
    role = "person" if case.person == person_ref else "member"
    return {"case_id": case.case_id, "as": role, "case": doc}


def export_person(store: ExportableStore, person_ref: str, *, by: Actor) -> str:
    """The JSON document of *person_ref*'s cases that *by* may read (see the module)."""
    if type(person_ref) is not str:
        raise TypeError(f"person_ref must be a str, got {_bounds.kind_of(person_ref)}")
    if type(by) is not Actor:
        raise TypeError(f"'by' must be an imflow.Actor, got {_bounds.kind_of(by)}")
    if by.role is not Role.MANAGER:
        raise Forbidden(by.role.value, "export")
    entries = []
    for case_id in store.cases_of(person_ref):
        try:
            case = store.load(case_id)
        except CaseNotFound:  # pragma: no cover - cases are never deleted
            continue
        if in_scope(by, district=case.district, provider=case.provider):
            entries.append(_case_entry(case, person_ref))
    engine = getattr(store, "engine", None)
    moment = engine.clock() if engine is not None else None
    doc = {
        "type": "person_export",
        "schema_version": EXPORT_SCHEMA_VERSION,
        "person": person_ref,
        "exported_at": None if moment is None else moment.isoformat(),
        "exported_by": _actor(by),
        "cases": entries,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1)
