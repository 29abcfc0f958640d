"""Round trips of a PostgreSQL command (#17): a load is one, the append after it one.

Counted, not timed: libpq's protocol trace of every pooled connection of a host's pool
(``PGconn.trace``) shows each ``Sync`` and simple ``Query`` the client sends, one per
round trip. The load reads the case's data keys in its own statement, so the key store
is not asked, and the case's report-facts state; the append after it sends BEGIN, the
conditional write of the case row (checked by the server), the inserts and COMMIT at
once (an append no load came before reads the state mid-way: two). Refusals and
conflicts inside the pipeline still leave nothing behind.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import pq
from psycopg_pool import ConnectionPool

from imflow import ConcurrencyConflict, StoreError
from imflow.erasure import TOMBSTONE
from imflow.keys import MasterKey
from imflow.store import PostgresStore, migrate
from imflow.store._cipher import case_key_id
from imflow.store._postgres import _MEMO_SIZE, _SQL, combined
from tests.crashes import more
from tests.pg import fresh_schema
from tests.stores import (
    counting_key_reads,
    delete_case_keys,
    far_future_engine,
    working_case,
)

ENGINE = far_future_engine()
MASTER = MasterKey.generate()
# a Sync or a simple Query ends a round trip; so does a Flush that does not follow a
# Sync at once: the client waits on the results of what it sent (the read of the
# report-facts state inside an append)
_SENT = re.compile(r"^F\t\d+\t(\w+)", re.M)
# a statement the client sends: each runs with a Bind (a prepared one has no Parse) or
# as a simple Query; the text of a Parse (after the statement's name) or of a Query
_RUNS = re.compile(r"^F\t\d+\t(Bind|Query)\t", re.M)
_TEXTS = re.compile(r'^F\t\d+\t(?:Parse\t "[^"]*" |Query\t )"([^"]*)"', re.M)


def _waits(trace: str) -> int:
    """How many times the client waited on the server in *trace* (libpq's trace)."""
    sent = _SENT.findall(trace)
    ends = ("Sync", "Query")
    return sum(
        1
        for i, m in enumerate(sent)
        if m in ends or (m == "Flush" and (i == 0 or sent[i - 1] != "Sync"))
    )


class Traced:
    """A host's pool whose connections write libpq's trace into one file."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.file: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        self._seen = 0
        self._runs = self._texts = 0

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"SET search_path TO {schema}")
            conn.pgconn.trace(self.file.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

        self.pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=1,
            kwargs={"autocommit": True},
            configure=configure,
            open=False,
        )
        self.pool.open(wait=True)

    def round_trips(self) -> int:
        """Round trips since the last call."""
        self.file.seek(0)
        found = _waits(self.file.read())
        new, self._seen = found - self._seen, found
        return new

    def sent(self) -> tuple[int, list[str]]:
        """How many statements the client ran since the last call, and the texts it
        parsed meanwhile (a statement psycopg prepared before is run by name)."""
        self.file.seek(0)
        trace = self.file.read()
        runs, texts = len(_RUNS.findall(trace)), _TEXTS.findall(trace)
        new = (runs - self._runs, texts[self._texts :])
        self._runs, self._texts = runs, len(texts)
        return new

    def close(self) -> None:
        self.pool.close()
        self.file.close()


@pytest.fixture
def traced(pg_dsn: str) -> Iterator[tuple[Traced, str]]:
    schema = fresh_schema()
    migrate(pg_dsn, schema=schema)
    host = Traced(pg_dsn, schema)
    try:
        yield host, schema
    finally:
        host.close()


def _store(host: Traced, schema: str, **options: Any) -> PostgresStore:
    return PostgresStore(
        host.pool, engine=ENGINE, master_key=MASTER, key_schema=f"{schema}_keys", **options
    )


def test_a_cold_load_is_one_round_trip_with_its_keys_and_the_append_after_it_one(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-1", household=2, members=("m-1",))
    with _store(host, schema, cache_size=0, snapshot_every=0) as store:
        store.append("rt-1", case.events, expected_version=0)
        host.round_trips()
        asked = counting_key_reads(store)
        loaded = store.load("rt-1")
        assert host.round_trips() == 1 and asked == []  # the keys came with the rows
        assert loaded == case and loaded.person == "p-1" and loaded.members == ("m-1",)
        new = more(ENGINE, loaded, 3)
        store.append("rt-1", new.events[case.version :], expected_version=case.version)
        # BEGIN, the checked UPDATE, the event, facts and outbox writes and COMMIT: the
        # report facts' state came with the load
        assert host.round_trips() == 1
        assert store.load("rt-1") == new


def test_an_append_without_a_load_before_it_reads_the_facts_state_itself(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-7")
    with _store(host, schema, snapshot_every=0) as store:  # the case cache serves the base
        store.append("rt-7", case.events, expected_version=0)
        first, second = more(ENGINE, case, 1), more(ENGINE, case, 3)
        host.round_trips()
        store.append("rt-7", first.events[case.version :], expected_version=case.version)
        assert host.round_trips() == 2  # no load since: the facts state is read mid-way
        store.append("rt-7", second.events[first.version :], expected_version=first.version)
        assert host.round_trips() == 2
        store.load("rt-7")  # served from the cache, yet its statement brings the state
        assert host.round_trips() == 1
        third = more(ENGINE, second, 1)
        store.append("rt-7", third.events[second.version :], expected_version=second.version)
        assert host.round_trips() == 1
        assert store.events("rt-7") == third.events


def test_keys_read_with_a_load_are_not_kept_for_the_next_load(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-2", household=2, members=("m-1",))
    with _store(host, schema, cache_size=0, snapshot_every=2) as store:
        store.append("rt-2", case.events, expected_version=0)
        held = store.load("rt-2")  # its events before the snapshot stay unread
        assert held.person == "p-1"  # the opening row is opened with the snapshot
        assert delete_case_keys(store, "rt-2", "p-1") == 2  # as an erasure elsewhere does
        again = store.load("rt-2")  # the keys its statement brings: none any more
        assert again.person == TOMBSTONE and again.needs[0].note == TOMBSTONE
        assert [e.type for e in held.events] == [e.type for e in case.events]


def test_a_stale_append_in_the_pipeline_is_a_conflict_and_writes_nothing(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-3")
    with _store(host, schema, cache_size=0) as store:
        store.append("rt-3", case.events, expected_version=0)
        first, second = more(ENGINE, case, 1), more(ENGINE, case, 2)
        store.append("rt-3", first.events[case.version :], expected_version=case.version)
        with pytest.raises(ConcurrencyConflict):
            store.append("rt-3", second.events[case.version :], expected_version=case.version)
        assert store.load("rt-3") == first
        assert store.events("rt-3") == first.events
        with host.pool.connection() as conn:  # given back idle, no transaction left open
            assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_case_row_changed_since_the_load_fails_the_pipeline_as_a_conflict(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-5")
    with _store(host, schema, cache_size=0) as a, _store(host, schema, cache_size=0) as b:
        a.append("rt-5", case.events, expected_version=0)
        held = a.load("rt-5")  # a's own case at its version: re-decided without a load
        theirs, mine = more(ENGINE, held, 2), more(ENGINE, held, 1)
        b.append("rt-5", theirs.events[held.version :], expected_version=held.version)
        host.round_trips()
        with pytest.raises(ConcurrencyConflict) as lost:
            a.append("rt-5", mine.events[held.version :], expected_version=held.version)
        assert lost.value.expected == held.version and lost.value.actual == theirs.version
        assert host.round_trips() >= 1
        assert b.events("rt-5") == theirs.events
        assert len(a.outbox.pending(after=0, limit=100)) == theirs.version
        # a new case another store opened first: its insert finds the row, nothing written
        other = working_case(ENGINE, "rt-6")
        b.append("rt-6", other.events, expected_version=0)
        again = working_case(ENGINE, "rt-6", household=3)
        with pytest.raises(ConcurrencyConflict):
            a.append("rt-6", again.events, expected_version=0)
        assert a.load("rt-6") == other
        with host.pool.connection() as conn:
            assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_an_append_after_a_load_is_one_statement_without_begin_or_commit(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-8")
    with _store(host, schema, cache_size=0) as store:
        store.append("rt-8", case.events, expected_version=0)
        loaded = store.load("rt-8")
        new = more(ENGINE, loaded, 2)
        host.sent()
        store.append("rt-8", new.events[case.version :], expected_version=case.version)
        runs, texts = host.sent()
        # one statement, in autocommit a transaction of its own (all of it or nothing)
        assert runs == 1 and "BEGIN" not in texts and "COMMIT" not in texts
        assert store.load("rt-8") == new


def test_an_append_that_reads_mid_way_still_runs_in_one_transaction(
    traced: tuple[Traced, str],
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-9")
    with _store(host, schema, snapshot_every=0) as store:  # the case cache serves the base
        store.append("rt-9", case.events, expected_version=0)
        new = more(ENGINE, case, 2)
        host.sent()
        store.append("rt-9", new.events[case.version :], expected_version=case.version)
        runs, texts = host.sent()
        # no load before: the facts state is read mid-way, inside the append's transaction
        assert texts[0] == "BEGIN" and texts[-1] == "COMMIT" and runs >= 4
        assert store.events("rt-9") == new.events


@settings(max_examples=10, deadline=None)
@given(where=st.integers(min_value=1, max_value=3), cached=st.booleans())
def test_a_statement_refused_in_the_pipeline_leaves_nothing_and_quotes_nothing(
    pg_dsn: str, where: int, cached: bool
) -> None:
    schema = fresh_schema()
    migrate(pg_dsn, schema=schema)
    host = Traced(pg_dsn, schema)
    try:
        case = working_case(ENGINE, "rt-4")
        # no cache: the append loads its base and sends its writes as one statement alone;
        # cached: it reads the facts state mid-way, in a pipelined transaction
        with _store(host, schema, cache_size=256 if cached else 0) as store:
            store.append("rt-4", case.events, expected_version=0)
            with psycopg.connect(pg_dsn, autocommit=True) as owner:
                owner.execute(
                    f"CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql"
                    " AS $$ BEGIN RAISE EXCEPTION 'secret %', NEW.case_id; END $$"
                )
                owner.execute(
                    f"CREATE TRIGGER refuse BEFORE INSERT ON {schema}.outbox FOR EACH ROW"
                    f" WHEN (NEW.seq = {case.version + where}) EXECUTE FUNCTION {schema}.refuse()"
                )
            new = more(ENGINE, case, 3)
            with pytest.raises(StoreError) as refused:
                store.append("rt-4", new.events[case.version :], expected_version=case.version)
            assert "secret" not in str(refused.value) and "rt-4" not in str(refused.value)
            assert refused.value.__cause__ is None and refused.value.__context__ is None
            assert store.load("rt-4") == case
            assert store.events("rt-4") == case.events
            assert len(store.outbox.pending(after=0, limit=100)) == case.version
            with host.pool.connection() as conn:
                assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    finally:
        host.close()


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``(node type, relation)`` of an ``EXPLAIN (FORMAT JSON)`` plan."""
    yield plan["Node Type"], plan.get("Relation Name", "")
    for child in plan.get("Plans", ()):
        yield from _scans(child)


def test_a_load_finds_its_data_keys_by_primary_key_among_many(
    traced: tuple[Traced, str], pg_dsn: str
) -> None:
    host, schema = traced
    case = working_case(ENGINE, "rt-10", household=2, members=("m-1",))
    with _store(host, schema, cache_size=0, snapshot_every=2) as store:
        store.append("rt-10", case.events, expected_version=0)
        with psycopg.connect(pg_dsn, autocommit=True) as owner:  # other cases' keys
            owner.execute(
                f"INSERT INTO {schema}_keys.data_keys (kid, wrapped)"
                " SELECT 'other-' || n, '\\x00'::bytea FROM generate_series(1, 20000) n"
            )
            owner.execute(f"ANALYZE {schema}_keys.data_keys")
        assert store.load("rt-10") == case and store.load("rt-10").person == "p-1"
        sql = store._keyed_load
        assert sql is not None and store.key_store is not None
        kid = case_key_id(store.key_store, "rt-10", 0)
        with host.pool.connection() as conn:
            row = conn.execute(
                "EXPLAIN (FORMAT JSON) " + sql, {"case_id": "rt-10", "have": 0, "kid": kid}
            ).fetchone()
        assert row is not None
        scans = set(_scans(row[0][0]["Plan"]))
        assert ("Seq Scan", "data_keys") not in scans  # never every key of the schema
        assert any(rel == "data_keys" for _, rel in scans)


_WRITES = sorted(k for k in _SQL if k.startswith(("insert_", "update_")))


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.sampled_from(_WRITES), min_size=1, max_size=6), min_size=1, max_size=40
    )
)
def test_the_statement_of_an_append_kept_by_its_keys_is_the_one_made_anew(
    batches: list[list[str]],
) -> None:
    memo: dict[tuple[str, ...], str] = {}
    for i, keys in enumerate(batches):
        writes = [(key, {"case_id": f"c{i}", "seq": n}) for n, key in enumerate(keys)]
        sql, params = combined(writes, memo)
        assert (sql, params) == combined(writes)  # the same text for the same keys
        # each placeholder is one of its write's, renamed by the write's place
        assert not re.search(r"%\((?!q\d+_)\w+\)s", sql)
        for n, name in re.findall(r"%\(q(\d+)_(\w+)\)s", sql):
            assert name in _placeholders(keys[int(n)])
        assert len(memo) <= _MEMO_SIZE


def _placeholders(key: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", _SQL[key]))


def test_a_load_brings_the_keys_of_its_own_case_only(
    traced: tuple[Traced, str],
) -> None:
    # another tenant's case in the same schemas: a load's one statement brings the keys
    # of the case asked for (its case key, its persons' keys), never the other's, even
    # for a case id that names no case or is built like SQL
    host, schema = traced
    mine = working_case(ENGINE, "rt-11", person="p-mine", household=2, members=("m-mine",))
    theirs = working_case(
        ENGINE, "rt-12", district="08111", provider="stadt", person="p-theirs",
        household=2, members=("m-theirs",),
    )  # fmt: skip
    with _store(host, schema, cache_size=0) as store:
        store.append("rt-11", mine.events, expected_version=0)
        store.append("rt-12", theirs.events, expected_version=0)
        keys, sql = store.key_store, store._keyed_load
        assert keys is not None and sql is not None

        def kids_loaded(case_id: str) -> set[str]:
            params = {"case_id": case_id, "have": 0, "kid": case_key_id(keys, case_id, 0)}
            with host.pool.connection() as conn:
                rows = conn.execute(sql, params).fetchall()
            return {row[3] for row in rows if row[0] == 2}

        own = {case_key_id(keys, "rt-11", 0)} | {
            keys.key_id("person", ref) for ref in ("p-mine", "m-mine")
        }
        other = {case_key_id(keys, "rt-12", 0)} | {
            keys.key_id("person", ref) for ref in ("p-theirs", "m-theirs")
        }
        assert kids_loaded("rt-11") == own
        assert not kids_loaded("rt-11") & other
        for forged in ("rt-13", "rt-11' OR '1'='1", "rt-12%"):
            assert not kids_loaded(forged) & (own | other), forged
        assert store.load("rt-11") == mine and store.load("rt-12") == theirs
