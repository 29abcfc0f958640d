"""Personal fields encrypted in Django's database (domain.md § 8), on SQLite and PostgreSQL.

Markers sit in a case's person and member references and in a need's note. They are in
no byte of the SQLite file, its ``-wal`` and ``-shm`` (nor the key store's files beside
it), and in no row of any table of the PostgreSQL database, while the store loads the
case back in clear. Erasing the person deletes the keys, so a backup taken before (the
SQLite online backup; ``pg_dump`` of the database without the key schema) reads as
tombstones. The same scan finds the host's own columns and an unencrypted store's rows,
so it sees what is there.

Run by ``tests/test_django_example.py`` (``IMFLOW_DJANGO_DB`` selects PostgreSQL).
"""

from __future__ import annotations

import glob
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clients.models import Client
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from imflow import Actor, CaseNotFound, MasterKeyMismatch, MasterKeyMissing, Role
from imflow import commands as c
from imflow.contrib.django import get_service, get_store, store_from_settings
from imflow.contrib.django._store import postgres_conninfo
from imflow.erasure import TOMBSTONE
from imflow.keys import MasterKey, MemoryKeyStore, PostgresKeyStore, SQLiteKeyStore
from imflow.outbox import CaseService
from imflow.store import PostgresStore, SQLiteStore
from imflow.store._cipher import case_key_id

DAY = date(2025, 3, 3)
IM = Actor("im-17", Role.MANAGER, provider="caritas-wt", district="08337")
SQLITE = connection.vendor == "sqlite"


class Boom(Exception):
    """The host's failure before its commit."""


def markers(tag: str) -> tuple[str, str, str]:
    """Unique person, member and note markers."""
    unique = uuid.uuid4().hex[:8]
    return f"zq{tag}p{unique}x", f"zq{tag}m{unique}x", f"zq{tag}n{unique}x"


def open_marked(service: Any, case_id: str, planted: tuple[str, str, str]) -> None:
    """A household of two with its note: every kind of personal field."""
    person, member, note = planted
    handle = get_service() if service is None else service
    handle.open(
        c.OpenCase(
            case_id=case_id,
            person=person,
            district="08337",
            provider="caritas-wt",
            on=DAY,
            household=2,
            members=(member,),
        ),
        by=IM,
    )
    for command in (
        c.RecordConsent(on=DAY),
        c.StartAssessment(on=DAY),
        c.RecordNeed(on=DAY, area="housing", note=note),
    ):
        handle.handle(case_id, command, by=IM)


def database_text() -> Iterator[bytes]:
    """Everything Django's database holds: SQLite's files as bytes (the store's and
    the key store's, with their ``-wal`` and ``-shm``); every row of every PostgreSQL
    table as text."""
    if SQLITE:
        for path in sorted(glob.glob(f"{connection.settings_dict['NAME']}*")):
            yield Path(path).read_bytes()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)"
            " FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = [row[0] for row in cursor.fetchall()]
        assert {"public.events", "public.cases", "imflow_keys.data_keys"} <= set(tables)
        for table in tables:
            cursor.execute(f"SELECT t::text FROM {table} t")  # names from the catalogue
            yield "\n".join(row[0] for row in cursor.fetchall()).encode("utf-8")


def found(planted: tuple[str, ...]) -> set[str]:
    """The markers of *planted* found anywhere in the database."""
    chunks = list(database_text())
    return {m for m in planted if any(m.encode("utf-8") in chunk for chunk in chunks)}


@pytest.mark.django_db(transaction=True)
def test_personal_fields_are_in_no_file_or_row_yet_load_in_clear() -> None:
    planted = markers("a")
    open_marked(None, "wt-10", planted)
    assert found(planted) == set()
    case = get_store().load("wt-10")
    assert (case.person, case.members) == (planted[0], (planted[1],))
    assert [n.note for n in case.needs] == [planted[2]]
    # the scan sees what is there: the host's own column, an unencrypted store's rows
    Client.objects.create(person_ref="p-10", case_id="wt-10", name=planted[0], address="-")
    assert found(planted) == {planted[0]}
    in_clear = markers("b")
    with store_from_settings({"ENCRYPT": False}) as clear:
        assert clear.key_store is None
        open_marked(CaseService(clear), "wt-11", in_clear)
    assert found(in_clear) == set(in_clear)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_block_leaves_nothing() -> None:
    planted = markers("c")

    def doomed() -> None:
        with transaction.atomic():
            open_marked(None, "wt-12", planted)
            raise Boom

    with pytest.raises(Boom):
        doomed()
    with pytest.raises(CaseNotFound):
        get_store().load("wt-12")
    assert found(planted) == set()


def take_backup(folder: Path) -> str:
    """A copy of Django's database as it is now, without the key store's keys; returns
    what a store opens it with."""
    if SQLITE:
        target = folder / "backup.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)
        copy.close()
        return str(target)
    dump = folder / "backup.dump"
    source = postgres_conninfo(connection.settings_dict)
    tools = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    without_keys = ["--format=custom", "--exclude-schema=imflow_keys"]
    subprocess.run(
        [f"{tools}/pg_dump", *without_keys, "-f", str(dump), "--dbname", source],
        check=True,
        capture_output=True,
    )
    name = f"backup_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    restored = postgres_conninfo({**connection.settings_dict, "NAME": name})
    subprocess.run(
        [f"{tools}/pg_restore", "--dbname", restored, str(dump)], check=True, capture_output=True
    )
    return restored


def drop_backup(target: str) -> None:
    if not SQLITE:
        name = psycopg.conninfo.conninfo_to_dict(target)["dbname"]
        with psycopg.connect(postgres_conninfo(connection.settings_dict), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.django_db(transaction=True)
def test_erasure_deletes_the_keys_so_a_backup_from_before_reads_as_tombstones(
    tmp_path: Path,
) -> None:
    erased, kept = markers("d"), markers("e")
    open_marked(None, "wt-13", erased)
    open_marked(None, "wt-14", kept)
    backup = take_backup(tmp_path)
    try:
        store = get_store()
        keys = store.key_store
        assert keys is not None
        key_ids = [keys.key_id("person", erased[0]), case_key_id(keys, "wt-13", 0)]
        assert set(keys.keys(key_ids)) == set(key_ids)
        erasure = store.erase_person(erased[0], on=date(2025, 3, 4))
        assert erasure.keys_deleted == 2 and tuple(erasure) == ("wt-13",)
        assert keys.keys(key_ids) == {}
        assert store.load("wt-13").person == TOMBSTONE
        opened = (
            SQLiteStore(backup, key_store=keys, migrate=False)
            if SQLITE
            else PostgresStore(backup, key_store=keys, pool_size=1)
        )
        with opened as before:
            old = before.load("wt-13")
            assert (old.person, old.members) == (TOMBSTONE, (TOMBSTONE,))
            assert [n.note for n in old.needs] == [TOMBSTONE]
            other = before.load("wt-14")  # the backup itself reads: everyone else in clear
            assert (other.person, other.members) == (kept[0], (kept[1],))
        assert found(erased) == set()
    finally:
        drop_backup(backup)


@pytest.mark.django_db(transaction=True)
def test_the_settings_choose_the_key_store_and_the_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = get_store().key_store
    assert isinstance(default, SQLiteKeyStore if SQLITE else PostgresKeyStore)
    with store_from_settings({"KEY_STORE": "imflow.keys.MemoryKeyStore"}) as own:
        assert isinstance(own.key_store, MemoryKeyStore)
    mine = MemoryKeyStore()
    with store_from_settings({"KEY_STORE": mine}) as own:
        assert own.key_store is mine
    wrong = MasterKey.generate()
    with pytest.raises(MasterKeyMismatch):
        store_from_settings({"MASTER_KEY": wrong.text()})
    key_file = tmp_path / "other.key"
    wrong.write(key_file)
    with pytest.raises(MasterKeyMismatch):
        store_from_settings({"MASTER_KEY_FILE": str(key_file)})
    with pytest.raises(ImproperlyConfigured, match="not both"):
        store_from_settings({"MASTER_KEY": wrong.text(), "MASTER_KEY_FILE": str(key_file)})
    secret = "zq-not-a-key"
    with pytest.raises(ImproperlyConfigured) as refused:
        store_from_settings({"MASTER_KEY": secret})
    assert secret not in str(refused.value)
    with pytest.raises(ImproperlyConfigured, match="KEY_STORE"):
        store_from_settings({"KEY_STORE": "uuid.uuid4"})
    planted = markers("f")
    open_marked(None, "wt-15", planted)
    beside = f"{connection.settings_dict['NAME']}.master-key"
    right = os.environ["IMFLOW_MASTER_KEY"] if not SQLITE else Path(beside).read_text()
    with store_from_settings({"MASTER_KEY": right.strip()}) as named:
        assert named.load("wt-15").person == planted[0]
    monkeypatch.delenv("IMFLOW_MASTER_KEY", raising=False)
    monkeypatch.delenv("IMFLOW_MASTER_KEY_FILE", raising=False)
    if SQLITE:  # the key file the first store made beside the database, owner-only
        assert Path(beside).stat().st_mode & 0o777 == 0o600
        with store_from_settings({}) as again:
            assert again.load("wt-15").members == (planted[1],)
    else:  # PostgreSQL has no file default
        with pytest.raises(MasterKeyMissing):
            store_from_settings({})
