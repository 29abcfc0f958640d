"""Key stores and master keys: one contract for memory, SQLite and PostgreSQL; rotation;
the defaults (a key file beside a SQLite database, a clear error on PostgreSQL)."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow import MasterKeyMismatch, MasterKeyMissing, SchemaMissing
from imflow.keys import (
    KeyStore,
    MasterKey,
    MemoryKeyStore,
    PostgresKeyStore,
    SQLiteKeyStore,
    master_key_from,
)
from imflow.store import PostgresStore, SQLiteStore
from imflow.store._keys_postgres import key_schema_statements
from tests.pg import fresh_schema
from tests.stores import StoreMaker, far_future_engine, store_new, working_case
from tests.threads import at_once, errors_of

MASTER = MasterKey.generate()


def made_key_schema(dsn: str) -> str:
    """A fresh key schema, made as the owner's ``imflow migrate`` makes it."""
    schema = fresh_schema()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in key_schema_statements(schema):
            conn.execute(statement)
    return schema


def test_a_postgres_key_store_never_creates_its_schema(pg_dsn: str) -> None:
    schema = fresh_schema()
    with pytest.raises(SchemaMissing, match=f"imflow migrate .*--key-schema {schema}"):
        PostgresKeyStore(pg_dsn, master_key=MASTER, schema=schema)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    assert found == (0,)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def key_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryKeyStore(MASTER)
        return
    if request.param == "sqlite":
        ks: Any = SQLiteKeyStore(tmp_path / "k.keys", master_key=MASTER)
    else:
        dsn = request.getfixturevalue("pg_dsn")
        ks = PostgresKeyStore(dsn, master_key=MASTER, schema=made_key_schema(dsn))
    try:
        yield ks
    finally:
        if request.param == "postgres":
            ks._connection().execute(f"DROP SCHEMA {ks.schema} CASCADE")
        ks.close()


def test_every_key_store_makes_reads_and_deletes_keys_by_id(key_store: Any) -> None:
    assert isinstance(key_store, KeyStore)
    a, b = key_store.key_id("person", "p-1"), key_store.key_id("case", "p-1")
    assert a != b and "p-1" not in a and len(a) == 22  # kind-separated keyed hashes
    assert key_store.keys([a, b]) == {}
    made = key_store.keys([a, b], create=True)
    assert set(made) == {a, b} and len(made[a]) == 32 and made[a] != made[b]
    assert key_store.keys([a, b, a], create=True) == made  # made once
    assert key_store.delete([a, "nothing"]) == 1
    assert key_store.keys([a, b]) == {b: made[b]}
    assert key_store.purge(timeout=5).complete
    again = key_store.keys([a], create=True)
    assert again[a] != made[a]  # a deleted key never comes back


def test_a_key_store_refuses_another_master_key(tmp_path: Path, pg_dsn: str) -> None:
    SQLiteKeyStore(tmp_path / "k.keys", master_key=MASTER).close()
    with pytest.raises(MasterKeyMismatch):
        SQLiteKeyStore(tmp_path / "k.keys", master_key=MasterKey.generate())
    schema = made_key_schema(pg_dsn)
    PostgresKeyStore(pg_dsn, master_key=MASTER, schema=schema).close()
    with pytest.raises(MasterKeyMismatch):
        PostgresKeyStore(pg_dsn, master_key=MasterKey.generate(), schema=schema)


def test_rotation_rewraps_every_key(tmp_path: Path, pg_dsn: str) -> None:
    schema = made_key_schema(pg_dsn)
    for make in (
        lambda m: SQLiteKeyStore(tmp_path / "r.keys", master_key=m),
        lambda m: PostgresKeyStore(pg_dsn, master_key=m, schema=schema),
    ):
        ks: Any = make(MASTER)
        ids = [ks.key_id("person", f"p-{i}") for i in range(5)]
        keys = ks.keys(ids, create=True)
        new = MasterKey.generate()
        assert ks.rotate(new) == 5
        ks.close()
        with pytest.raises(MasterKeyMismatch):
            make(MASTER)
        rotated = make(new)
        assert rotated.keys(ids) == keys
        assert rotated.key_id("person", "p-0") == ids[0]  # the ids survive rotation
        rotated.close()


def test_a_store_reads_its_cases_after_a_rotation(tmp_path: Path) -> None:
    engine = far_future_engine()
    store = SQLiteStore(tmp_path / "c.db", engine=engine, master_key=MASTER)
    case = working_case(engine, "rot-1")
    store_new(store, case)
    new = MasterKey.generate()
    store.key_store.rotate(new)  # type: ignore[union-attr]
    store.close()
    with pytest.raises(MasterKeyMismatch):
        SQLiteStore(tmp_path / "c.db", engine=engine, master_key=MASTER)
    with SQLiteStore(tmp_path / "c.db", engine=engine, master_key=new, cache_size=0) as again:
        assert again.load("rot-1") == case


def test_an_embedded_sqlite_store_makes_its_own_master_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMFLOW_MASTER_KEY", raising=False)
    monkeypatch.delenv("IMFLOW_MASTER_KEY_FILE", raising=False)
    engine = far_future_engine()
    case = working_case(engine, "emb-1")
    with SQLiteStore(tmp_path / "cases.db", engine=engine) as store:
        store_new(store, case)
    key_file = tmp_path / "cases.db.master-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cases.db.keys").stat().st_mode) == 0o600
    with SQLiteStore(tmp_path / "cases.db", engine=engine, cache_size=0) as store:
        assert store.load("emb-1") == case  # the same key file, read again
    key_file.unlink()  # without its master key the key store cannot be opened
    with pytest.raises(MasterKeyMismatch):
        SQLiteStore(tmp_path / "cases.db", engine=engine)


def test_embedded_stores_opening_a_new_file_together_share_one_whole_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two servers starting together on a new file: one makes the key file, the others
    # read it, never a half-written one (CI once saw "a master key is 32 bytes ...")
    monkeypatch.delenv("IMFLOW_MASTER_KEY", raising=False)
    monkeypatch.delenv("IMFLOW_MASTER_KEY_FILE", raising=False)
    for attempt in range(15):
        beside = str(tmp_path / f"new-{attempt}.db")
        keys = at_once(*[functools.partial(master_key_from, None, beside=beside)] * 8)
        assert not errors_of(keys), errors_of(keys)
        assert len({k.fingerprint for k in keys}) == 1
    assert not list(tmp_path.glob("*.partial"))  # no temporary file left behind
    stores = at_once(*[lambda: SQLiteStore(tmp_path / "together.db")] * 4)
    assert not errors_of(stores), errors_of(stores)
    case = working_case(stores[0].engine, "tog-1")
    store_new(stores[0], case)
    assert all(s.load("tog-1") == case for s in stores)  # one key for every opener
    for s in stores:
        s.close()


def test_a_planted_key_file_is_refused_without_echo_and_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # someone plants text where the default key file goes: the store refuses to open,
    # says so without the planted text, and neither overwrites it nor writes a key beside
    monkeypatch.delenv("IMFLOW_MASTER_KEY", raising=False)
    monkeypatch.delenv("IMFLOW_MASTER_KEY_FILE", raising=False)
    marker = "PLANTED-KEY-MARKER-7c1e"
    planted = tmp_path / "cases.db.master-key"
    planted.write_text(marker + "\n", encoding="ascii")
    with pytest.raises(ValueError, match="a master key is 32 bytes") as refused:
        SQLiteStore(tmp_path / "cases.db", engine=far_future_engine())
    assert marker not in str(refused.value) and marker not in repr(refused.value)
    assert planted.read_text(encoding="ascii") == marker + "\n"
    assert not list(tmp_path.glob("*.partial"))
    assert not (tmp_path / "cases.db.keys").exists()  # no key store made under it


def test_writing_a_master_key_over_an_existing_file_keeps_the_file(tmp_path: Path) -> None:
    first, second = MasterKey.generate(), MasterKey.generate()
    first.write(tmp_path / "mk")
    with pytest.raises(FileExistsError):
        second.write(tmp_path / "mk")
    assert MasterKey.from_file(tmp_path / "mk") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mk"]


def test_postgres_needs_a_configured_master_key(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMFLOW_MASTER_KEY", raising=False)
    monkeypatch.delenv("IMFLOW_MASTER_KEY_FILE", raising=False)
    with pytest.raises(MasterKeyMissing, match="IMFLOW_MASTER_KEY"):
        PostgresStore(pg_dsn, schema=fresh_schema())


def test_master_keys_come_from_the_environment_a_file_or_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = MasterKey.generate()
    monkeypatch.setenv("IMFLOW_MASTER_KEY", key.text())
    assert master_key_from(None) == key
    monkeypatch.delenv("IMFLOW_MASTER_KEY")
    key.write(tmp_path / "mk")
    assert stat.S_IMODE(os.stat(tmp_path / "mk").st_mode) == 0o600
    monkeypatch.setenv("IMFLOW_MASTER_KEY_FILE", str(tmp_path / "mk"))
    assert master_key_from(None) == key
    assert master_key_from(tmp_path / "mk") == key == master_key_from(key.secret)
    assert MasterKey.from_text(key.secret.hex()) == key
    assert key.text() not in repr(key) and key.secret.hex() not in repr(key)
    with pytest.raises(FileExistsError):
        key.write(tmp_path / "mk")  # never overwritten
    with pytest.raises(MasterKeyMissing):
        MasterKey.from_file(tmp_path / "none")


@given(st.binary(min_size=0, max_size=64) | st.text(max_size=80))
def test_anything_but_32_bytes_is_no_master_key(value: Any) -> None:
    if isinstance(value, bytes) and len(value) == 32:
        assert MasterKey(value).secret == value
        return
    with pytest.raises(ValueError, match="master key"):
        MasterKey(value) if isinstance(value, bytes) else MasterKey.from_text(value)


def test_a_pooled_store_makes_keys_for_many_threads_at_once(pg_dsn: str, tmp_path: Path) -> None:
    """The default key store has one connection; threads of a pooled store take turns
    on it instead of nesting each other's transactions."""
    engine = far_future_engine()
    maker = StoreMaker("postgres", tmp_path, pg_dsn)
    store: Any = maker(engine=engine, pool_size=8, cache_size=0)
    cases = [working_case(engine, f"thr-{i:02d}", person=f"p-thr-{i}") for i in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda case: store_new(store, case), cases))
    try:
        for case in cases:
            assert store.load(case.case_id) == case
    finally:
        maker.close_all()
