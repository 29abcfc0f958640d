"""Access (DSGVO Art. 15): ``export_person`` on every store.

A manager of the case's provider gets the person's cases in clear, as the person or as a
household member, with the other persons' references hidden; other providers' cases
are left out; every other role is refused; an erased person has nothing left to export.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from imflow import Actor, Forbidden, Role
from imflow.access import HIDDEN
from imflow.serialization import to_document
from tests.stores import StoreMaker, store_new, working_case

IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")


def setup(stores: StoreMaker) -> tuple[Any, Any, Any]:
    store: Any = stores()
    e = store.engine
    own = working_case(e, "own", person="p-ex", household=2, members=("p-kid",))
    member = working_case(e, "member", person="p-mum", household=2, members=("p-ex",))
    elsewhere = working_case(e, "elsewhere", person="p-ex", provider="awo")
    for case in (own, member, elsewhere):
        store_new(store, case)
    return store, own, member


def test_a_manager_exports_the_persons_cases_of_its_provider_in_clear(stores: StoreMaker) -> None:
    store, own, _ = setup(stores)
    doc = json.loads(store.export_person("p-ex", by=IM))
    assert (doc["type"], doc["schema_version"], doc["person"]) == ("person_export", 1, "p-ex")
    assert doc["exported_by"] == {
        "id": "im-1",
        "role": "manager",
        "provider": "drk",
        "district": "08337",
    }
    assert [(x["case_id"], x["as"]) for x in doc["cases"]] == [
        ("member", "member"),
        ("own", "person"),
    ]
    by_id = {x["case_id"]: x["case"] for x in doc["cases"]}
    expected = to_document(own)
    expected["events"][0]["members"] = [HIDDEN]
    assert by_id["own"] == expected  # every event, in clear (the review note, the goal …)
    assert "lives with an aunt" in json.dumps(by_id["own"])
    assert by_id["member"]["events"][0]["person"] == HIDDEN
    assert by_id["member"]["events"][0]["members"] == ["p-ex"]
    assert "p-mum" not in json.dumps(doc) and "p-kid" not in json.dumps(doc)


@pytest.mark.parametrize(
    "actor",
    [
        Actor("k-1", Role.COORDINATOR, district="08337"),
        Actor("au-1", Role.AUDITOR, district="08337"),
        Actor("sys", Role.SYSTEM),
    ],
)
def test_only_managers_may_export(stores: StoreMaker, actor: Actor) -> None:
    store, _, _ = setup(stores)
    with pytest.raises(Forbidden):
        store.export_person("p-ex", by=actor)


def test_other_providers_and_erased_persons_export_nothing(stores: StoreMaker) -> None:
    store, _, _ = setup(stores)
    other = Actor("im-9", Role.MANAGER, provider="awo", district="08337")
    assert [x["case_id"] for x in json.loads(store.export_person("p-ex", by=other))["cases"]] == [
        "elsewhere"
    ]
    assert json.loads(store.export_person("p-nobody", by=IM))["cases"] == []
    store.erase_person("p-ex", on=date(2030, 1, 2))
    assert json.loads(store.export_person("p-ex", by=IM))["cases"] == []
    with pytest.raises(TypeError):
        store.export_person(17, by=IM)
