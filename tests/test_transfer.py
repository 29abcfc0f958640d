"""Transfers to another provider of the same district (domain.md § 3).

The case keeps its id, history and period; from the transfer on, the new provider's
managers act on it and the old provider's no longer. Stores follow the current provider
(the ``cases.provider`` column, the ``events.provider`` column, the provider filter).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from imflow import Actor, Case, Engine, FrozenClock, Rejected, Role
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.erasure import TOMBSTONE
from imflow.events import CaseTransferred
from imflow.organisations import DistrictOrganisation, Provider
from imflow.serialization import dumps, loads
from tests.stores import StoreMaker, store_new

D0 = date(2025, 3, 3)
DISTRICT = "08337"  # Landkreis Waldshut
DRK = Actor("im-1", Role.MANAGER, provider="drk-wt", district=DISTRICT)
CARITAS = Actor("im-2", Role.MANAGER, provider="caritas-wt", district=DISTRICT)
ENGINE = Engine(clock=FrozenClock(datetime(2029, 6, 30, 10, tzinfo=UTC)))


def opened(engine: Engine = ENGINE, *, case_id: str = "wt-1", person: str = "p-1") -> Case:
    return engine.open(
        c.OpenCase(
            case_id=case_id,
            person=person,
            district=DISTRICT,
            provider="drk-wt",
            household=3,
            on=D0,
        ),
        by=DRK,
    )


def codes(exc: pytest.ExceptionInfo[Rejected]) -> list[str]:
    return list(exc.value.codes)


def test_a_transfer_keeps_id_history_and_period_and_moves_the_rights() -> None:
    case = opened()
    case = ENGINE.handle(case, c.RecordConsent(on=D0), by=DRK)
    case = ENGINE.handle(case, c.RecordContact(on=D0, minutes=30), by=DRK)
    end = case.period_end
    moved = ENGINE.handle(
        case,
        c.TransferCase(to_provider="caritas-wt", note="moved to Bad Säckingen", on=D0),
        by=DRK,
    )
    assert (moved.case_id, moved.period_end, moved.period_start) == ("wt-1", end, D0)
    assert moved.events[: case.version] == case.events  # the history continues
    assert moved.provider == "caritas-wt" and moved.opened.provider == "drk-wt"
    (event,) = moved.events[case.version :]
    assert isinstance(event, CaseTransferred)
    assert (event.from_provider, event.to_provider, event.actor) == ("drk-wt", "caritas-wt", DRK)
    assert [(t.from_provider, t.to_provider) for t in moved.transfers] == [("drk-wt", "caritas-wt")]
    assert moved.phase == case.phase and moved.consent == case.consent
    # the new provider's managers act now, the old provider's no longer
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(moved, c.RecordContact(on=D0, minutes=10), by=DRK)
    assert codes(exc) == ["forbidden"]
    moved = ENGINE.handle(moved, c.RecordContact(on=D0, minutes=10), by=CARITAS)
    assert ENGINE.replay(moved.events) == moved
    assert loads(dumps(moved), Case) == moved


def test_only_a_manager_of_the_current_provider_hands_over() -> None:
    case = opened()
    pull = c.TransferCase(to_provider="caritas-wt", on=D0)
    for actor in (
        CARITAS,  # the receiving provider cannot pull the case
        Actor("im-3", Role.MANAGER, provider="drk-wt", district="08111"),  # other district
        Actor("k-1", Role.COORDINATOR, district=DISTRICT),
        Actor("a-1", Role.AUDITOR, district=DISTRICT),
        SYSTEM,
    ):
        with pytest.raises(Rejected) as exc:
            ENGINE.handle(case, pull, by=actor)
        assert codes(exc) == ["forbidden"], actor.role
    assert ENGINE.check(case, pull, by=DRK) == ()


def test_unknown_provider_the_current_one() -> None:
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(opened(), c.TransferCase(to_provider="drk-wt", on=D0), by=DRK)
    assert codes(exc) == ["unknown_provider"]
    assert "08337" in exc.value.reasons[0].message("de")


@pytest.mark.parametrize("target", ["", "   "])
def test_an_empty_provider_is_an_invalid_value(target: str) -> None:
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(opened(), c.TransferCase(to_provider=target, on=D0), by=DRK)
    assert codes(exc) == ["invalid_value"]
    assert exc.value.reasons[0].params["field"] == "to_provider"


def test_with_a_registry_only_providers_of_the_district_are_known() -> None:
    registry: list[DistrictOrganisation | Provider] = [
        DistrictOrganisation(
            district=DISTRICT,
            providers=[
                Provider(id="drk-wt", district=DISTRICT),
                Provider(id="caritas-wt", district=DISTRICT),
            ],
        ),
        Provider(id="awo-s", district="08111"),
    ]
    engine = Engine(clock=ENGINE.clock, providers=registry)
    case = opened(engine)
    for target in ("awo-s", "diakonie-wt", "drk-wt"):  # another district's, unknown, itself
        with pytest.raises(Rejected) as exc:
            engine.handle(case, c.TransferCase(to_provider=target, on=D0), by=DRK)
        assert codes(exc) == ["unknown_provider"], target
    moved = engine.handle(case, c.TransferCase(to_provider="caritas-wt", on=D0), by=DRK)
    assert moved.provider == "caritas-wt"


def test_withdrawn_consent_does_not_block_a_transfer_but_the_period_end_does() -> None:
    case = ENGINE.handle(opened(), c.RecordConsent(on=D0), by=DRK)
    case = ENGINE.handle(case, c.WithdrawConsent(on=D0), by=DRK)
    moved = ENGINE.handle(case, c.TransferCase(to_provider="caritas-wt", on=D0), by=DRK)
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(moved, c.RecordContact(on=D0, minutes=5), by=CARITAS)
    assert codes(exc) == ["consent_missing"]
    assert moved.period_end == date(2028, 3, 2)
    after = date(2028, 3, 3)
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(moved, c.TransferCase(to_provider="drk-wt", on=after), by=CARITAS)
    assert codes(exc) == ["period_ended"]
    closed = ENGINE.handle(moved, c.CloseCase(reason="period_expired", on=after), by=CARITAS)
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(closed, c.TransferCase(to_provider="drk-wt", on=after), by=CARITAS)
    assert codes(exc) == ["case_closed", "period_ended"]


def test_a_transfer_and_a_transfer_back() -> None:
    case = opened()
    there = ENGINE.handle(case, c.TransferCase(to_provider="caritas-wt", on=D0), by=DRK)
    back = ENGINE.handle(
        there, c.TransferCase(to_provider="drk-wt", on=date(2025, 9, 1)), by=CARITAS
    )
    assert back.provider == "drk-wt"
    assert [t.to_provider for t in back.transfers] == ["caritas-wt", "drk-wt"]
    with pytest.raises(Rejected):
        ENGINE.handle(back, c.RecordContact(on=date(2025, 9, 1), minutes=5), by=CARITAS)
    ENGINE.handle(back, c.RecordContact(on=date(2025, 9, 1), minutes=5), by=DRK)


def test_the_transfer_note_is_erased_with_the_person(stores: StoreMaker) -> None:
    store = stores(engine=ENGINE)
    case = opened(person="p-secret")
    secret = "moved in with her aunt in Laufenburg"
    case = ENGINE.handle(case, c.TransferCase(to_provider="caritas-wt", note=secret, on=D0), by=DRK)
    store_new(store, case)
    assert store.erase_person("p-secret", on=D0) == ("wt-1",)
    erased = store.load("wt-1")
    assert erased.transfers[0].note == TOMBSTONE
    moved = erased.events[1]
    assert isinstance(moved, CaseTransferred) and moved.note == TOMBSTONE
    assert (moved.from_provider, moved.to_provider) == ("drk-wt", "caritas-wt")
    assert secret not in dumps(erased) and secret not in repr(erased)


@pytest.mark.parametrize("batches", ["one", "each"])
def test_stores_follow_the_current_provider(stores: StoreMaker, batches: str) -> None:
    store = stores(engine=ENGINE)
    case = ENGINE.handle(opened(), c.RecordConsent(on=D0), by=DRK)
    moved = ENGINE.handle(case, c.TransferCase(to_provider="caritas-wt", on=D0), by=DRK)
    later = ENGINE.handle(moved, c.RecordContact(on=D0, minutes=20), by=CARITAS)
    if batches == "one":  # before, the transfer and after in one append
        store_new(store, later)
    else:  # one append per event, so the case row is updated by the transfer
        for version in range(later.version):
            store.append("wt-1", later.events[version : version + 1], expected_version=version)
    assert [x.case_id for x in store.iter_cases(provider="caritas-wt")] == ["wt-1"]
    assert list(store.iter_cases(provider="drk-wt")) == []
    assert store.load("wt-1") == later
    if stores.kind == "memory":
        return
    raw = stores.raw()
    try:
        (row,) = raw.execute("SELECT provider FROM cases").fetchall()
        assert row[0] == "caritas-wt"
        by_seq = raw.execute("SELECT seq, provider FROM events ORDER BY seq").fetchall()
    finally:
        raw.close()
    # each event row names the provider the case was with after that event
    assert [tuple(r) for r in by_seq] == [
        (1, "drk-wt"),
        (2, "drk-wt"),
        (3, "caritas-wt"),
        (4, "caritas-wt"),
    ]


def test_documents_written_before_transfers_existed_still_load() -> None:
    """Documents without the new fields (``transfers`` in snapshots, ``continues`` in the
    opening) read as before: no transfer, no continuation."""
    case = opened()
    doc = dumps(case).replace(',"transfers":[]', "")
    assert '"transfers"' not in doc
    assert loads(doc, Case) == case
    event = dumps(case.events[0]).replace(',"continues":null,"counted_from":null', "")
    assert '"continues"' not in event
    assert loads(event, type(case.events[0])) == case.events[0]
