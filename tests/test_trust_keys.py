"""Idempotency keys that cannot cross cases, actors or tenants (#11, item 2), on every store."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import (
    Actor,
    CaseNotFound,
    CaseService,
    Engine,
    Forbidden,
    FrozenClock,
    IdempotencyKeyReused,
    ImflowError,
    OutOfBounds,
    Rejected,
    Role,
)
from imflow import commands as c
from imflow.store import MemoryStore, Store
from tests.stores import StoreMaker, open_case, pg_dsn, stores

__all__ = ["pg_dsn", "stores"]

DAY = date(2025, 3, 3)
DRK = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
DRK_2 = Actor("im-2", Role.MANAGER, provider="drk", district="08337")
AWO = Actor("im-3", Role.MANAGER, provider="awo", district="08111")


def opening(case_id: str, by: Actor, person: str = "p-secret-1") -> c.OpenCase:
    assert by.provider is not None and by.district is not None
    return c.OpenCase(
        case_id=case_id, person=person, district=by.district, provider=by.provider, on=DAY
    )


def service_on(stores: StoreMaker) -> CaseService[Store]:
    return CaseService(stores(engine=Engine(clock=FrozenClock.on(DAY))))


def reused(call: object) -> IdempotencyKeyReused:
    assert callable(call)
    with pytest.raises(IdempotencyKeyReused) as exc:
        call()
    assert isinstance(exc.value, ImflowError)
    text = str(exc.value)
    for secret in ("A-1", "B-8", "p-secret", "im-1", "drk", "08337", "k-1"):
        assert secret not in text  # nothing about the first use
    return exc.value


def test_a_key_of_one_case_never_opens_or_returns_another(stores: StoreMaker) -> None:
    service = service_on(stores)
    service.open(opening("A-1", DRK), by=DRK, idempotency_key="k-1")
    reused(lambda: service.open(opening("B-8", DRK), by=DRK, idempotency_key="k-1"))
    assert not [case for case in service.store.iter_cases() if case.case_id == "B-8"]
    # the same opening again is answered from the key, and opens nothing new
    again = service.open(opening("A-1", DRK), by=DRK, idempotency_key="k-1")
    assert again.case_id == "A-1" and again.version == 1


def test_a_key_is_bound_to_its_command_case_and_actor(stores: StoreMaker) -> None:
    service = service_on(stores)
    service.open(opening("A-1", DRK), by=DRK)
    service.open(opening("A-2", DRK), by=DRK)
    consent = c.RecordConsent(on=DAY)
    first = service.handle("A-1", consent, by=DRK, idempotency_key="k-1")
    assert service.handle("A-1", consent, by=DRK, idempotency_key="k-1") == first
    reused(lambda: service.handle("A-2", consent, by=DRK, idempotency_key="k-1"))  # case
    reused(lambda: service.handle("A-1", c.WithdrawConsent(on=DAY), by=DRK, idempotency_key="k-1"))
    reused(
        lambda: service.handle(
            "A-1", c.RecordContact(on=DAY, minutes=5), by=DRK, idempotency_key="k-1"
        )
    )
    reused(lambda: service.handle("A-1", consent, by=DRK_2, idempotency_key="k-1"))  # actor
    store = service.store
    reused(lambda: store.recall("k-1", by=DRK_2))
    assert store.recall("k-1", by=DRK) is not None
    # the store itself binds the key to the events it recorded (recorded_at aside)
    case = store.load("A-1")
    contact = service.engine.handle(case, c.RecordContact(on=DAY, minutes=5), by=DRK)
    reused(
        lambda: store.append(
            "A-1",
            contact.events[case.version :],
            expected_version=case.version,
            idempotency_key="k-1",
        )
    )
    assert store.load("A-1").version == case.version


def test_tenants_never_see_block_or_collide_with_each_others_keys(stores: StoreMaker) -> None:
    service = service_on(stores)
    mine = service.open(opening("A-1", DRK), by=DRK, idempotency_key="shared")
    theirs = service.open(opening("B-8", AWO), by=AWO, idempotency_key="shared")
    assert (mine.case_id, theirs.case_id) == ("A-1", "B-8")
    for actor, case_id in ((AWO, "B-8"), (DRK, "A-1")):
        recalled = service.store.recall("shared", by=actor)
        assert recalled is not None and recalled.case_id == case_id
    auditor = Actor("au-1", Role.AUDITOR, district="08337")
    assert service.store.recall("shared", by=auditor) is None
    # an auditor of A-1's district sending A-1's key gets no case, and changes nothing
    with pytest.raises(Rejected) as exc:
        service.handle("A-1", c.RecordConsent(on=DAY), by=auditor, idempotency_key="shared")
    assert exc.value.codes == ("forbidden",)
    with pytest.raises(Forbidden):  # and another provider's manager gets "not yours"
        service.handle("A-1", c.RecordConsent(on=DAY), by=AWO, idempotency_key="fresh")
    reused(  # its own key "shared" was its opening of B-8
        lambda: service.handle("A-1", c.RecordConsent(on=DAY), by=AWO, idempotency_key="shared")
    )
    assert service.store.load("A-1").version == 1


def test_a_replayed_answer_needs_the_same_permission_as_a_fresh_command(
    stores: StoreMaker,
) -> None:
    service = service_on(stores)
    service.open(opening("A-1", DRK), by=DRK)
    service.handle("A-1", c.RecordConsent(on=DAY), by=DRK, idempotency_key="k-1")
    moved = Actor("im-1", Role.MANAGER, provider="drk", district="08111")  # same id, elsewhere
    with pytest.raises((Forbidden, IdempotencyKeyReused)):
        service.handle("A-1", c.RecordConsent(on=DAY), by=moved, idempotency_key="k-1")
    assert service.store.load("A-1").version == 2


@settings(max_examples=150, deadline=None)
@given(
    first=st.sampled_from(["A-1", "A-2"]),
    second=st.sampled_from(["A-1", "A-2"]),
    actor=st.sampled_from([DRK, DRK_2, AWO]),
    minutes=st.sampled_from([5, 30]),
)
def test_any_reuse_but_an_exact_retry_is_refused(
    first: str, second: str, actor: Actor, minutes: int
) -> None:
    service = CaseService(MemoryStore(engine=Engine(clock=FrozenClock.on(DAY))))
    for case_id in ("A-1", "A-2"):
        service.store.append(case_id, open_case(service.engine, case_id).events, expected_version=0)
    service.handle(first, c.RecordContact(on=DAY, minutes=5), by=DRK, idempotency_key="k")
    retry = (second, actor, minutes) == (first, DRK, 5)
    command = c.RecordContact(on=DAY, minutes=minutes)
    if retry:
        assert service.handle(second, command, by=actor, idempotency_key="k").version == 2
    elif actor is AWO:  # another tenant: its own fresh key, but not its case
        with pytest.raises(Forbidden):
            service.handle(second, command, by=actor, idempotency_key="k")
    else:
        reused(lambda: service.handle(second, command, by=actor, idempotency_key="k"))
    assert sum(case.version for case in service.store.iter_cases()) == 3


def test_keys_and_ids_no_store_could_keep_are_refused_before_the_database(
    stores: StoreMaker,
) -> None:
    service = service_on(stores)
    case = service.open(opening("A-1", DRK), by=DRK)
    consent = service.engine.handle(case, c.RecordConsent(on=DAY), by=DRK)
    for key in ("", "k\x00", "k\ud800", "k" * 201):
        with pytest.raises(OutOfBounds):
            service.store.append("A-1", consent.events[1:], expected_version=1, idempotency_key=key)
    for case_id in ("", "A\x00", "A\ud800", "A" * 65):
        with pytest.raises(CaseNotFound) as exc:
            service.store.load(case_id)
        assert "\x00" not in str(exc.value) and "AAAA" not in str(exc.value)
        with pytest.raises(CaseNotFound):
            service.read(case_id, by=DRK)
    assert list(service.store.iter_cases(district="\x00")) == []
    assert service.store.load("A-1").version == 1


def test_a_retry_decided_again_a_day_later_is_answered_from_its_key(stores: StoreMaker) -> None:
    """The key binds the command's content, not the moment it was decided: the retry of
    a request whose answer got lost, decided again later, replays the first write."""
    service = service_on(stores)
    store = service.store
    service.open(opening("A-1", DRK), by=DRK)
    before = store.load("A-1")
    consent = c.RecordConsent(on=DAY)
    first = store.append(
        "A-1",
        service.engine.handle(before, consent, by=DRK).events[before.version :],
        expected_version=before.version,
        idempotency_key="k-1",
    )
    later = Engine(clock=FrozenClock.on(date(2025, 3, 4)))
    retry = later.handle(before, consent, by=DRK).events[before.version :]
    assert retry[0].recorded_at != first.events[0].recorded_at
    again = store.append("A-1", retry, expected_version=before.version, idempotency_key="k-1")
    assert again.replayed and again.version == first.version == before.version + 1
    assert again.events == first.events  # the stored answer, not the retry's
    assert store.load("A-1").version == first.version
