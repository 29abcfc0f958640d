"""The keys of a load (#17): fetched once per load, opened lazily, never kept across loads.

A load fetches the keys of the rows it opens in one batch and remembers them for the
rows it keeps raw (opened when the case's events are first read). Nothing is kept for
the next load, so keys deleted by another store (an erasure in another process) make
the fields unreadable at once, on the real SQL stores.
"""

from __future__ import annotations

from imflow.erasure import TOMBSTONE
from imflow.store._sql import SqlStore
from tests.stores import (
    StoreMaker,
    counting_key_reads,
    delete_case_keys,
    far_future_engine,
    working_case,
)

ENGINE = far_future_engine()


def test_keys_deleted_by_another_store_are_gone_for_the_next_load(
    sql_stores: StoreMaker,
) -> None:
    case = working_case(ENGINE, "lk-1", household=2, members=("m-1",))
    with sql_stores.fresh(engine=ENGINE, cache_size=0, snapshot_every=3) as a:
        a.append("lk-1", case.events, expected_version=0)
        first = a.load("lk-1")
        assert first == case and first.person == "p-1" and first.members == ("m-1",)
        held = a.load("lk-1")  # loaded before the keys go, its old events not read yet
        with sql_stores.fresh(engine=ENGINE, cache_size=0) as b:
            assert isinstance(b, SqlStore)
            assert delete_case_keys(b, "lk-1", "p-1", "m-1") == 3
        again = a.load("lk-1")
        assert again.version == case.version
        assert again.person == TOMBSTONE and again.members == (TOMBSTONE,)
        assert again.needs[0].note == TOMBSTONE
        # the held case read its opening row (and the keys of its persons) with its
        # snapshot, in the one batch of keys of its load: what it read then, it keeps
        assert held.person == "p-1" and held.members == ("m-1",)
        assert [e.type for e in held.events] == [e.type for e in case.events]


def test_a_load_reads_its_old_events_with_one_batch_of_keys(sql_stores: StoreMaker) -> None:
    case = working_case(ENGINE, "lk-2", household=2, members=("m-1",))
    with sql_stores.fresh(engine=ENGINE, cache_size=0, snapshot_every=2) as store:
        assert isinstance(store, SqlStore) and store.key_store is not None
        store.append("lk-2", case.events, expected_version=0)
        loaded = store.load("lk-2")
        asked = counting_key_reads(store)
        assert tuple(loaded.events) == tuple(case.events)
        assert loaded.person == "p-1"
        # every sealed old row opened with keys fetched at most once each for this load
        assert sum(asked) <= 3
        # a load from a snapshot reads the keys of the case (and its persons) once, in
        # one batch: the opening row is opened with the snapshot, before any command
        # (PostgreSQL's own key store: none, the keys come with the load's statement)
        asked.clear()
        fresh = store.load("lk-2")
        assert fresh.person == "p-1" and fresh.members == ("m-1",)
        batches = 0 if sql_stores.kind == "postgres" else 1
        assert len(asked) == batches
        # its old rows are opened with the keys of that load: no further read
        assert tuple(fresh.events) == tuple(case.events) and len(asked) == batches
