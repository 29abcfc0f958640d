"""The append path at its edges (#19, item 4): what each refusal says, where each bound lies.

Written against the surviving mutants of ``bash scripts/mutation.sh store``
(tests/MUTANTS.md): every refusal of :meth:`Engine.admit`, of the stores' batch check and
of the idempotency keys is asserted with its exact message (it names the event and the
rule, :class:`~imflow.InvalidHistory`), every bound from both sides (``recorded_at`` equal
to the latest event's and to the clock's now is admitted, a moment before is not), and
the keys on real stores: tenants that share only a district or only a provider, keys of
an older imflow without a fingerprint, erased keys whose content holds nothing personal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow import (
    Actor,
    Case,
    CaseService,
    Engine,
    FrozenClock,
    GuardContext,
    IdempotencyKeyReused,
    InvalidHistory,
    OutOfBounds,
    Reason,
    Role,
    WorkflowMismatch,
)
from imflow import commands as c
from imflow.events import CaseOpened, ContactRecorded, PersonErased
from imflow.store._base import fingerprint, replay_of
from tests.stores import StoreMaker, advance, manager, open_case, pg_dsn, sql_stores, stores

__all__ = ["pg_dsn", "sql_stores", "stores"]

DAY = date(2025, 3, 3)
NOON = datetime(2025, 3, 3, 12, tzinfo=UTC)
# What this release stores as the fingerprint of the batch of the pinning test below: the
# sha-256 of the compact, key-sorted JSON of its documents (non-ASCII kept, no recorded_at).
PINNED = "4b5a37375311eca3d6a547a65cb47265e6a9396d1b636e07436d456aca53bef2"


def three_moments() -> tuple[Engine, Case]:
    """A case of three events recorded at 09:00, 10:00 and 11:00, and an engine at noon."""
    clock = FrozenClock(NOON.replace(hour=9))
    engine = Engine(clock=clock)
    case = open_case(engine, "e-1", on=DAY)
    clock.set(NOON.replace(hour=10))
    case = advance(engine, case, c.RecordConsent(on=DAY))
    clock.set(NOON.replace(hour=11))
    case = advance(engine, case, c.RecordContact(on=DAY, minutes=30))
    clock.set(NOON)
    return engine, case


def changed(event: Any, **changes: Any) -> Any:
    """*event* with *changes*, typed loosely: forged events are the point here."""
    return attrs.evolve(event, **changes)


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidHistory) as exc:
        call()
    return str(exc.value)


def next_contact(case: Case, **changes: object) -> ContactRecorded:
    """A contact that would follow *case* (seq, case id) recorded at noon, with *changes*."""
    last = case.events[-1]
    assert isinstance(last, ContactRecorded)
    fields: dict[str, object] = {"seq": case.version + 1, "recorded_at": NOON, **changes}
    forged: ContactRecorded = changed(last, **fields)
    return forged


# -- Engine.admit: every refusal names the event (by its position) and the rule ---------


def test_admit_names_the_position_and_the_rule_of_each_refusal() -> None:
    engine, case = three_moments()
    ev = case.events
    assert refused(lambda: engine.admit(None, ())) == "no events to append"
    assert engine.admit(case, ()) is case  # nothing to add: the case as it stands
    assert refused(lambda: engine.admit(None, (1,))) == "event 1: a int is no imflow event"  # type: ignore[arg-type]
    assert refused(lambda: engine.admit(case, (None,))) == "event 4: None is no imflow event"  # type: ignore[arg-type]
    assert refused(lambda: engine.admit(None, ev[1:2])) == (
        "a history starts with case_opened, not consent_recorded"
    )
    assert refused(lambda: engine.admit(case, (next_contact(case, minutes="30"),))) == (
        "event 4 (contact_recorded): field minutes: expected an integer, got a str"
    )
    assert refused(lambda: engine.admit(case, (changed(ev[0], seq=4),))) == (
        "event 4 (case_opened): the case is already open"
    )
    assert refused(lambda: engine.admit(case, (next_contact(case, case_id="e-2"),))) == (
        "event 4 (contact_recorded): the event belongs to another case"
    )
    for seq in (3, 5):
        with pytest.raises(InvalidHistory) as exc:
            engine.admit(case, (next_contact(case, seq=seq),))
        assert str(exc.value) == (
            "event 4 (contact_recorded): its seq does not follow the case's version"
        )
    late = datetime(2100, 1, 1, tzinfo=UTC)
    assert refused(lambda: engine.admit(case, (next_contact(case, recorded_at=late),))) == (
        "event 4 (contact_recorded): recorded_at must be a date from 2018-01-01 to 2099-12-31"
    )
    wrong = next_contact(case, minutes=-5, on=DAY + timedelta(400))
    assert refused(lambda: engine.admit(case, (wrong,))) == (
        "event 4 (contact_recorded): the engine refuses its command (date_in_future, invalid_value)"
    )
    opening = case.events[0]
    assert isinstance(opening, CaseOpened) and opening.period_end is not None
    forged = changed(opening, period_end=opening.period_end + timedelta(days=1))
    assert refused(lambda: engine.admit(None, (forged,))) == (
        "event 1 (case_opened): field period_end is not what the engine records for its command"
    )
    erased = PersonErased(case_id="e-1", seq=4, on=DAY, recorded_at=NOON, actor=ev[0].actor)
    assert refused(lambda: engine.admit(case, (erased,))) == (
        "event 4 (person_erased): person_erased is recorded only by erase_person"
    )
    foreign = changed(ev[0], workflow_hash="0" * 64)
    assert refused(lambda: engine.admit(None, (foreign,))) == (
        "event 1 (case_opened): recorded under another workflow than the store's engine"
    )


def test_recorded_at_may_equal_the_latest_event_and_now_but_not_pass_them() -> None:
    engine, case = three_moments()
    latest = case.events[-1].recorded_at  # 11:00; the event before it was at 10:00
    admitted = engine.admit(case, (next_contact(case, recorded_at=latest),))
    assert admitted.version == 4
    assert engine.admit(case, (next_contact(case),)).events[-1].recorded_at == NOON  # now
    for moment, rule in (
        (latest - timedelta(minutes=30), "is earlier than the case's latest event"),
        (latest - timedelta(microseconds=1), "is earlier than the case's latest event"),
        (NOON + timedelta(microseconds=1), "is later than the engine clock's now"),
    ):
        forged = next_contact(case, recorded_at=moment)
        with pytest.raises(InvalidHistory) as exc:
            engine.admit(case, (forged,))
        assert str(exc.value) == f"event 4 (contact_recorded): recorded_at {rule}"


def test_admit_decides_with_the_hosts_policies_and_replay_without() -> None:
    def no_contacts(
        case: Case | None, command: c.Command | None, ctx: GuardContext
    ) -> list[Reason]:
        if isinstance(command, c.OpenCase) and command.household > 1:
            return [Reason("no_households", "Keine Haushalte.", "No households.")]
        if not isinstance(command, c.RecordContact):
            return []
        return [Reason("no_contacts_today", "Heute keine Kontakte.", "No contacts today.")]

    _, case = three_moments()
    strict = Engine(clock=FrozenClock(NOON), policies=[no_contacts])
    contact = next_contact(case)
    assert refused(lambda: strict.admit(case, (contact,))) == (
        "event 4 (contact_recorded): the engine refuses its command (no_contacts_today)"
    )
    assert strict.replay((*case.events, contact)).version == 4  # recorded before the policy
    household = open_case(Engine(clock=FrozenClock(NOON)), "h-1", household=3).events
    assert refused(lambda: strict.admit(None, household)) == (
        "event 1 (case_opened): the engine refuses its command (no_households)"
    )
    assert strict.replay(household).household == 3


def test_an_opening_of_an_accepted_earlier_workflow_keeps_its_hash() -> None:
    engine, case = three_moments()
    older = changed(case.events[0], workflow_hash="1" * 64)
    lenient = Engine(clock=FrozenClock(NOON), accept_hashes=["1" * 64])
    opened = lenient.admit(None, (older,))
    assert opened.events == (older,)
    assert refused(lambda: engine.admit(None, (older,))).endswith(
        "another workflow than the store's engine"
    )


def test_a_foreign_workflow_is_named_in_the_mismatch_unless_it_is_no_id() -> None:
    engine, case = three_moments()
    opening = case.events[0]
    current = f"{engine.workflow.id}@{engine.workflow.hash}"
    for changes, case_id, recorded in (
        ({"workflow": "other-wf"}, "e-1", f"other-wf@{engine.workflow.hash}"),
        ({"workflow_hash": "f" * 8}, "e-1", f"{engine.workflow.id}@{'f' * 8}"),
        ({"workflow": "bad\nid"}, "e-1", "<invalid>"),
        ({"workflow_hash": "x" * 300}, "e-1", "<invalid>"),
    ):
        with pytest.raises(WorkflowMismatch) as exc:
            engine.replay((changed(opening, **changes),))
        assert (exc.value.case_id, exc.value.recorded, exc.value.current) == (
            case_id,
            recorded,
            current,
        )
    with pytest.raises(WorkflowMismatch) as exc:
        engine.replay((changed(opening, case_id="bad\tid", workflow="other-wf"),))
    assert exc.value.case_id == "<invalid>"


def test_an_erasure_in_a_history_is_checked_for_its_actor_and_its_date() -> None:
    engine, case = three_moments()
    actor = case.events[0].actor

    def erasure(**changes: object) -> PersonErased:
        fields: dict[str, object] = {
            "case_id": "e-1",
            "seq": 4,
            "on": case.latest_on,
            "recorded_at": NOON,
            "actor": actor,
            **changes,
        }
        return PersonErased(**fields)  # type: ignore[arg-type]

    assert engine.replay((*case.events, erasure())).version == 4  # on the latest day
    label = "event 4 (person_erased)"
    for changes in (
        {"actor": Actor("bad\nid", Role.MANAGER, provider="drk", district="08337")},
        {"on": date(2100, 1, 1)},
    ):
        with pytest.raises(InvalidHistory) as exc:
            engine.replay((*case.events, erasure(**changes)))
        assert str(exc.value) == f"{label}: its actor or date is outside the bounds"
    with pytest.raises(InvalidHistory) as exc:
        engine.replay((*case.events, erasure(on=case.latest_on - timedelta(days=1))))
    assert str(exc.value) == f"{label}: its date is earlier than the case's latest event"


# -- the stores' batch check: refused before the store is touched, with the reason ------


def test_a_batch_no_store_could_append_is_refused_with_its_reason(stores: StoreMaker) -> None:
    store = stores(engine=Engine(clock=FrozenClock(NOON)))
    engine = store.engine
    case = advance(engine, open_case(engine, "b-1", on=DAY), c.RecordConsent(on=DAY))
    store.append("b-1", case.events, expected_version=0)
    more = advance(engine, case, c.RecordContact(on=DAY, minutes=5), c.StartAssessment(on=DAY))
    two = more.events[2:]
    for args, message in (
        (("b-1", (), 2), "append needs at least one event"),
        (("b-1", two, -1), "expected_version must be an integer of at least 0"),
        (("b-1", two, True), "expected_version must be an integer of at least 0"),
        (("b-1", two, 2.0), "expected_version must be an integer of at least 0"),
        (("", two, 2), "case_id must be 1 to 64 printable characters"),
        ((7, two, 2), "case_id must be 1 to 64 printable characters"),
        (
            ("b-1", (two[0], changed(two[1], case_id="b-2")), 2),
            "event 2 of the batch belongs to another case",
        ),
        (("b-1", (object(),), 2), "event 1 of the batch belongs to another case"),
        (("b-1", (SimpleNamespace(case_id="b-1"),), 2), "event 1 of the batch has not seq 3"),
        (("b-1", (two[0], changed(two[1], seq=5)), 2), "event 2 of the batch has not seq 4"),
        (("b-1", (two[0], changed(two[1], seq=3)), 2), "event 2 of the batch has not seq 4"),
        (("b-1", two, 1), "event 1 of the batch has not seq 2"),
    ):
        case_id, batch, version = args
        with pytest.raises(InvalidHistory) as exc:
            store.append(case_id, batch, expected_version=version)  # type: ignore[arg-type]
        assert str(exc.value) == message
        # the same with a key: the key is looked up first, and changes nothing
        with pytest.raises(InvalidHistory) as exc:
            store.append(case_id, batch, expected_version=version, idempotency_key="k-b")  # type: ignore[arg-type]
        assert str(exc.value) == message
    assert store.load("b-1").version == 2
    assert store.append("b-1", two, expected_version=2, idempotency_key="k-b").version == 4


# -- idempotency keys: tenants, older keys, erased keys, odd retries ------------------------


def test_tenants_that_share_a_district_or_a_provider_keep_apart_keys(stores: StoreMaker) -> None:
    service = CaseService(stores(engine=Engine(clock=FrozenClock(NOON))))
    actors = {
        "t-1": manager("drk", "08337"),
        "t-2": manager("drk", "08111"),  # same provider, another district
        "t-3": manager("awo", "08337"),  # same district, another provider
    }
    for case_id, by in actors.items():
        assert by.district is not None and by.provider is not None
        opening = c.OpenCase(
            case_id=case_id, person="p-1", district=by.district, provider=by.provider, on=DAY
        )
        opened = service.open(opening, by=by, idempotency_key="same")
        assert (opened.case_id, opened.version) == (case_id, 1)
    for case_id, by in actors.items():
        recalled = service.store.recall("same", by=by)
        assert recalled is not None and recalled.case_id == case_id and recalled.replayed


def test_an_actor_without_a_provider_never_sees_a_key_of_any_provider(stores: StoreMaker) -> None:
    """``""`` stands for "no provider": it cannot be a provider's id, whatever that is."""
    store = stores(engine=Engine(clock=FrozenClock(NOON)))
    for provider in ("XXXX", "drk"):
        case = open_case(store.engine, f"n-{provider}", provider=provider)
        store.append(case.case_id, case.events, expected_version=0, idempotency_key=provider)
    auditor = Actor("au-1", Role.AUDITOR, district="08337")
    assert [store.recall(key, by=auditor) for key in ("XXXX", "drk")] == [None, None]


def test_a_key_of_the_system_actor_is_kept_and_replayed(stores: StoreMaker) -> None:
    """The system actor has neither district nor provider: its keys live in ``("", "")``."""
    store = stores(engine=Engine(clock=FrozenClock.on(date(2029, 6, 1))))
    engine = store.engine
    case = open_case(engine, "s-1", on=DAY)
    store.append("s-1", case.events, expected_version=0)
    system = Actor("imflow-system", Role.SYSTEM)
    closing = c.CloseCase(reason="period_expired", on=date(2029, 6, 1))
    closed = engine.handle(case, closing, by=system).events[1:]
    first = store.append("s-1", closed, expected_version=1, idempotency_key="sweep-s-1")
    again = store.append("s-1", closed, expected_version=1, idempotency_key="sweep-s-1")
    assert (first.replayed, again.replayed, again.version, again.events) == (
        False,
        True,
        2,
        first.events,
    )
    recalled = store.recall("sweep-s-1", by=system)
    assert recalled is not None and recalled.events == first.events
    assert store.recall("sweep-s-1", by=manager()) is None  # another tenant


def test_a_replayed_key_answers_with_the_whole_batch_it_recorded(stores: StoreMaker) -> None:
    store = stores(engine=Engine(clock=FrozenClock(NOON)))
    engine = store.engine
    case = open_case(engine, "r-1", on=DAY)
    store.append("r-1", case.events, expected_version=0, idempotency_key="one")
    more = advance(
        engine,
        case,
        c.RecordConsent(on=DAY),
        c.RecordContact(on=DAY, minutes=5),
        c.StartAssessment(on=DAY),
    )
    batch = more.events[1:]
    store.append("r-1", batch, expected_version=1, idempotency_key="three")
    for key, events in (("one", case.events), ("three", batch)):
        expected = (
            "r-1",
            events[-1].seq,
            events,
            True,
        )
        again = store.append("r-1", events, expected_version=events[0].seq - 1, idempotency_key=key)
        assert (again.case_id, again.version, again.events, again.replayed) == expected
        recalled = store.recall(key, by=manager())
        assert recalled is not None
        assert (recalled.case_id, recalled.version, recalled.events, recalled.replayed) == expected


def test_a_key_without_a_fingerprint_is_compared_with_the_events_it_recorded(
    sql_stores: StoreMaker,
) -> None:
    """A key an older imflow kept (migration 3 moves it over with no fingerprint)."""
    store = sql_stores(engine=Engine(clock=FrozenClock(NOON)))
    engine = store.engine
    case = open_case(engine, "o-1", on=DAY)
    store.append("o-1", case.events, expected_version=0)
    consent = advance(engine, case, c.RecordConsent(on=DAY)).events[1:]
    store.append("o-1", consent, expected_version=1, idempotency_key="old")
    with contextlib.closing(sql_stores.raw()) as raw:
        raw.execute("UPDATE idempotency_keys SET fingerprint = NULL")
    with sql_stores.fresh() as reopened:
        again = reopened.append("o-1", consent, expected_version=1, idempotency_key="old")
        assert again.replayed and again.events == consent
        contact = advance(engine, case, c.RecordContact(on=DAY, minutes=5)).events[1:]
        with pytest.raises(IdempotencyKeyReused):
            reopened.append("o-1", contact, expected_version=1, idempotency_key="old")
        assert reopened.load("o-1").version == 2


def test_an_erased_key_is_never_replayed_even_when_its_events_held_nothing_personal(
    stores: StoreMaker,
) -> None:
    store = stores(engine=Engine(clock=FrozenClock(NOON)))
    engine = store.engine
    case = open_case(engine, "x-1", on=DAY, person="p-erase")
    store.append("x-1", case.events, expected_version=0)
    consent = advance(engine, case, c.RecordConsent(on=DAY)).events[1:]  # no personal field
    store.append("x-1", consent, expected_version=1, idempotency_key="consent")
    store.erase_person("p-erase", on=DAY)
    with pytest.raises(IdempotencyKeyReused):
        store.append("x-1", consent, expected_version=1, idempotency_key="consent")
    assert store.load("x-1").version == 3


def test_a_retry_with_a_lone_surrogate_is_refused_as_a_reused_key(stores: StoreMaker) -> None:
    store = stores(engine=Engine(clock=FrozenClock(NOON)))
    engine = store.engine
    case = open_case(engine, "u-1", on=DAY)
    store.append("u-1", case.events, expected_version=0)
    need = advance(
        engine,
        case,
        c.RecordConsent(on=DAY),
        c.StartAssessment(on=DAY),
        c.RecordNeed(on=DAY, area="housing", note="flat"),
    ).events[1:]
    store.append("u-1", need, expected_version=1, idempotency_key="need")
    forged = (*need[:2], changed(need[2], note="fl\ud800at"))
    with pytest.raises(IdempotencyKeyReused):
        store.append("u-1", forged, expected_version=1, idempotency_key="need")
    assert store.load("u-1").version == 4


def test_recall_refuses_a_key_no_store_could_keep(stores: StoreMaker) -> None:
    store = stores()
    for key in ("", " ", "k\x00", "k" * 201):
        with pytest.raises(OutOfBounds) as exc:
            store.recall(key, by=manager())
        assert exc.value.field == "idempotency_key"
        assert str(exc.value) == "idempotency_key: must be 1 to 200 printable characters"
    assert store.recall("k" * 200, by=manager()) is None


# -- the fingerprint is persisted with each key: its computation is a stored format --------


def test_the_fingerprint_of_a_batch_is_pinned() -> None:
    """SQLite and PostgreSQL keep each key's fingerprint; a release that computed it
    differently would refuse every retry of a key written before the upgrade."""
    engine, case = three_moments()
    need = advance(
        engine,
        case,
        c.StartAssessment(on=DAY),
        c.RecordNeed(on=DAY, area="housing", note="Wohnung in Lörrach"),
    )
    batch = need.events[3:]
    assert fingerprint(batch) == PINNED
    moved = tuple(changed(e, recorded_at=e.recorded_at + timedelta(days=1)) for e in batch)
    assert fingerprint(moved) == PINNED  # recorded_at is no part of it
    assert fingerprint((object(),)) is None  # type: ignore[arg-type]


@given(note=st.text(min_size=1, max_size=30))
def test_fingerprints_differ_exactly_when_the_batches_do(note: str) -> None:
    engine, case = three_moments()
    need = c.RecordNeed(on=DAY, area="housing", note="flat")
    base = advance(engine, case, c.StartAssessment(on=DAY), need).events[3:]
    other = (base[0], changed(base[1], note=note))
    assert (fingerprint(base) == fingerprint(other)) == (note == "flat")
    stored = replay_of("e-1", base, None, case_id="e-1", batch=base, by=None)
    assert (stored.version, stored.replayed) == (5, True)
