"""Erasure (DSGVO Art. 17) in the stores: personal content goes, the statistics stay.

``store.erase_person`` finds every case of a person (as the counselled person or as a
household member), rewrites the stored events with :func:`imflow.erasure.tombstone`,
appends a :class:`~imflow.events.PersonErased` event and forgets the person. A store
load afterwards equals ``engine.evolve(old_case, PersonErased(...))``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, timedelta
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from structlog.testing import capture_logs

from imflow import Case
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.erasure import TOMBSTONE
from imflow.events import (
    CaseClosed,
    CaseOpened,
    ContactRecorded,
    Event,
    GoalAdded,
    NeedRecorded,
    PeriodExtended,
    PersonErased,
)
from imflow.testing import cases
from tests.stores import StoreMaker, advance, far_future_engine, store_new, working_case

SECRET_PERSON = "p-secret-17"
SECRET_MEMBER = "p-secret-member-4"
SECRET_NOTE = "Fatima moved in with her aunt"


def skeleton(event: Event) -> tuple[Any, ...]:
    """What key figures may read from an event: everything but personal content."""
    personal = {"person", "members", "note", "description", "justification"}
    kept = tuple(
        (a.name, getattr(event, a.name))
        for a in attrs.fields(type(event))
        if a.name not in personal
    )
    members = len(event.members) if isinstance(event, CaseOpened) else None
    return (event.type, kept, members)


def figures(events: tuple[Event, ...]) -> Counter[tuple[Any, ...]]:
    """A small stand-in for the key figures: counts, minutes and areas by year and type."""
    found: Counter[tuple[Any, ...]] = Counter()
    for e in events:
        if isinstance(e, PersonErased):
            continue
        found[(e.on.year, e.type)] += 1
        if isinstance(e, ContactRecorded):
            found[(e.on.year, "minutes")] += e.minutes
            for area in e.topics:
                found[(e.on.year, "topic", area.value)] += 1
        if isinstance(e, NeedRecorded | GoalAdded):
            found[(e.on.year, "area", e.area.value)] += 1
        if isinstance(e, CaseClosed):
            found[(e.on.year, "closed", e.reason.value)] += 1
        if isinstance(e, CaseOpened):
            found[(e.on.year, "persons")] += e.household
    return found


def fresh(stores: StoreMaker) -> Any:
    """Another store on the same storage, with nothing cached (the memory store is its own)."""
    return stores(cache_size=0)


def unique(case: Case) -> Case:
    """*case* with a case id and person references no other example uses."""
    tag = uuid.uuid4().hex[:12]
    opened = case.events[0]
    assert isinstance(opened, CaseOpened)
    first = attrs.evolve(
        opened,
        case_id=f"c-{tag}",
        person=f"p-{tag}",
        members=tuple(f"m-{tag}-{i}" for i in range(len(opened.members))),
    )
    rest = [attrs.evolve(e, case_id=f"c-{tag}") for e in case.events[1:]]
    return far_future_engine().replay([first, *rest])


def personal_case(stores: StoreMaker) -> tuple[Any, Case, Case, Case]:
    """A store with the person's own case, a case where they are a member, and another."""
    store = stores(snapshot_every=3)
    e = store.engine
    own = working_case(e, "own", person=SECRET_PERSON, household=2, members=("p-child",))
    own = advance(
        e,
        own,
        c.SetGoalStatus(goal_id="g1", status="achieved", on=own.latest_on),
        c.ExtendPeriod(months=6, justification=f"{SECRET_NOTE}, needs time", on=own.latest_on),
        c.CloseCase(reason="other", note=SECRET_NOTE, on=own.latest_on + timedelta(days=1)),
    )
    member = working_case(
        e, "member", person="p-other", household=3, members=(SECRET_MEMBER, SECRET_PERSON)
    )
    unrelated = working_case(e, "unrelated", person="p-unrelated")
    for case in (own, member, unrelated):
        store_new(store, case)
    return store, own, member, unrelated


def test_erasure_tombstones_every_case_of_the_person_and_equals_the_in_memory_fold(
    stores: StoreMaker,
) -> None:
    store, own, member, unrelated = personal_case(stores)
    erased = store.erase_person(SECRET_PERSON, on=date(2030, 1, 2))
    assert erased == ("member", "own")

    for old in (own, member):
        loaded = store.load(old.case_id)
        last = loaded.events[-1]
        assert isinstance(last, PersonErased)
        assert (last.seq, last.on, last.actor) == (old.version + 1, date(2030, 1, 2), SYSTEM)
        assert loaded == store.engine.evolve(old, last)
        assert fresh(stores).load(old.case_id) == loaded
        assert store.engine.replay(store.events(old.case_id)) == loaded
        for before, after in zip(old.events, loaded.events, strict=False):
            assert skeleton(before) == skeleton(after)
        assert figures(old.events[:]) == figures(loaded.events[:])
        text = repr(loaded.events) + repr(loaded)
        assert SECRET_PERSON not in text and SECRET_NOTE not in text
    opened = store.load("own").opened
    assert (opened.person, opened.members) == (TOMBSTONE, (TOMBSTONE,))
    assert store.load("own").closure is not None
    assert store.load("own").closure.note == TOMBSTONE
    assert store.load("member").members == (TOMBSTONE, TOMBSTONE)
    assert store.load("unrelated") == unrelated


def test_erasure_cannot_be_repeated_or_undone(stores: StoreMaker) -> None:
    store, _, _, _ = personal_case(stores)
    store.erase_person(SECRET_PERSON, on=date(2030, 1, 2))
    after = (store.load("own"), store.load("member"))
    assert store.erase_person(SECRET_PERSON, on=date(2030, 1, 3)) == ()
    assert store.erase_person(SECRET_MEMBER, on=date(2030, 1, 3)) == ()  # the case forgot it
    assert (store.load("own"), store.load("member")) == after
    assert store.erase_person("p-nobody", on=date(2030, 1, 3)) == ()


def test_an_erasure_dated_before_the_latest_event_is_dated_with_it(stores: StoreMaker) -> None:
    store, own, _, _ = personal_case(stores)
    store.erase_person(SECRET_PERSON, on=date(2020, 1, 1))
    assert store.load("own").events[-1].on == own.latest_on


def test_erasure_is_logged_with_case_ids_only(stores: StoreMaker) -> None:
    store, _, _, _ = personal_case(stores)
    with capture_logs() as logs:
        store.erase_person(SECRET_PERSON, on=date(2030, 1, 2))
    entries = [entry for entry in logs if entry["event"] == "person_erased"]
    assert len(entries) == 1
    assert entries[0]["case_ids"] == ["member", "own"]
    # own: opening, need, goal, review, extension, closure; member: opening, need, goal,
    # review (the events with personal content)
    assert entries[0]["events_rewritten"] == 10
    assert SECRET_PERSON not in repr(logs) and SECRET_NOTE not in repr(logs)


def test_no_personal_content_is_left_in_the_database(sql_stores: StoreMaker) -> None:
    store, _, _, unrelated = personal_case(sql_stores)
    raw = sql_stores.raw()
    dump = "SELECT payload FROM events UNION ALL SELECT coalesce(snapshot, '') FROM cases"
    if sql_stores.kind == "postgres":
        dump = (
            "SELECT payload::text FROM events"
            " UNION ALL SELECT coalesce(snapshot::text, '') FROM cases"
        )
    before = " ".join(r[0] for r in raw.execute(dump).fetchall())
    assert '"need_recorded"' in before  # the probe can see the rows
    for secret in (SECRET_PERSON, SECRET_MEMBER, SECRET_NOTE, "p-unrelated"):
        assert secret not in before  # encrypted from the start
    store.erase_person(SECRET_PERSON, on=date(2030, 1, 2))
    if sql_stores.kind == "sqlite":
        raw.close()
        content = b"".join(
            p.read_bytes() for p in sql_stores.path.parent.iterdir() if p.name.startswith("imflow")
        )
        assert b"need_recorded" in content  # the probe reads the database
    else:
        content = " ".join(r[0] for r in raw.execute(dump).fetchall()).encode()
        persons = raw.execute("SELECT person_ref FROM case_persons").fetchall()
        assert len({r[0] for r in persons}) == 1  # the unrelated person's key id
        raw.close()
    for secret in (SECRET_PERSON, SECRET_MEMBER, SECRET_NOTE, "p-unrelated"):
        assert secret.encode() not in content
    assert fresh(sql_stores).load("unrelated") == unrelated  # ... and read back in clear


def test_erasure_keeps_the_statistical_columns_of_the_events_table(sql_stores: StoreMaker) -> None:
    store, _, _, _ = personal_case(sql_stores)
    raw = sql_stores.raw()
    columns = "SELECT case_id, seq, type, on_date, recorded_at, district, provider FROM events"
    order = " WHERE case_id = 'own' ORDER BY seq"
    before = raw.execute(columns + order).fetchall()
    store.erase_person(SECRET_PERSON, on=date(2030, 1, 2))
    after = raw.execute(columns + order).fetchall()
    raw.close()
    assert after[:-1] == before
    assert after[-1][2] == "person_erased"


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(max_steps=20))
def test_erasing_any_case_keeps_its_skeleton_and_figures(stores: StoreMaker, case: Case) -> None:
    case = unique(case)
    with stores.fresh() as store:
        store_new(store, case)
        erased = store.erase_person(case.person, on=case.latest_on)
        assert erased == (case.case_id,)
    with stores.fresh(cache_size=0) as store:
        loaded = store.load(case.case_id)
        assert loaded == store.engine.evolve(case, loaded.events[-1])
    assert [skeleton(e) for e in loaded.events[:-1]] == [skeleton(e) for e in case.events]
    assert figures(loaded.events[:]) == figures(case.events[:])
    assert (loaded.phase, loaded.period_end, loaded.consent) == (
        case.phase,
        case.period_end,
        case.consent,
    )
    assert not any(
        isinstance(e, PeriodExtended) and e.justification not in ("", TOMBSTONE)
        for e in loaded.events
    )


def test_the_erasure_event_is_delivered_like_any_other(stores: StoreMaker) -> None:
    store, _, _, _ = personal_case(stores)
    pending_before = store.outbox.count_pending()
    store.erase_person(SECRET_PERSON, on=date(2030, 1, 2))
    assert store.outbox.count_pending() == pending_before + 2
    tail = store.outbox.pending(after=0, limit=1000)[-2:]
    assert [(p.case_id, p.event_type) for p in tail] == [
        ("member", "person_erased"),
        ("own", "person_erased"),
    ]
