"""Acceptance of #13 on the real stores: nothing personal in clear in any file, ever;
an erased person's keys physically gone; everyone else read back in clear.

Unique markers sit in every personal field of many cases (person and member references,
need, goal, review, extension, custom action, transfer and closure texts) and in a
stored hook error. Half of the persons are erased — some while another connection holds
a read transaction, which keeps the checkpoint from finishing (reported, then finished
by ``store.purge()``). Then every file is scanned as bytes: the SQLite database, its
``-wal`` and ``-shm``, the key store and its ``-wal`` / ``-shm``; PostgreSQL's whole data
directory (``base/``, ``pg_wal/``, …, read as root). The documented residual shows too:
``pg_wal`` may still hold an erased person's *wrapped* key, which no longer opens once
the master key is rotated.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from imflow import Actor, Case, Engine, FrozenClock, Role, Workflow
from imflow import commands as c
from imflow.erasure import TOMBSTONE
from imflow.events import ConsentRecorded, Event
from imflow.hooks import Hooks
from imflow.keys import MasterKey
from imflow.outbox import Runner
from imflow.store import PostgresStore, SQLiteStore
from tests.paths import WALDSHUT_TOML
from tests.stores import StoreMaker

WALDSHUT = Workflow.from_toml(WALDSHUT_TOML.read_text(encoding="utf-8"))
CLOCK = FrozenClock(datetime(2027, 6, 1, 10, tzinfo=UTC))
D = date(2025, 3, 3)
CASES = 12
FIELDS = ("p", "m", "n", "g", "r", "j", "a", "t", "c", "h")  # person … hook error


def marker(prefix: str, field: str, i: int) -> str:
    return f"{prefix}{field}{i}x"


def marked_case(engine: Engine, prefix: str, i: int) -> Case:
    """Case *i*: a household of two with a marker in every personal field."""

    def m(field: str) -> str:
        return marker(prefix, field, i)

    by = Actor("im-1", Role.MANAGER, provider="lra-wt", district="08337")
    case = engine.open(
        c.OpenCase(
            case_id=f"case-{i}",
            person=m("p"),
            district="08337",
            provider="lra-wt",
            household=2,
            members=(m("m"),),
            on=D,
        ),
        by=by,
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area="housing", note=f"{m('n')} lives with an aunt"),
        c.StartPlanning(on=D),
        c.AddGoal(
            on=D, goal_id="g1", area="housing", description=m("g"), target_date=date(2026, 6, 30)
        ),
        c.AgreePlan(on=date(2025, 3, 20)),
        c.ReviewPlan(on=date(2025, 9, 1), note=m("r")),
        c.ExtendPeriod(on=date(2025, 9, 2), months=6, justification=m("j")),
        c.CustomAction(name="pause_case", on=date(2025, 10, 1), note=m("a")),
        c.CustomAction(name="resume_case", on=date(2025, 11, 1)),
        c.TransferCase(on=date(2025, 11, 2), to_provider="drk-wt", note=m("t")),
        c.CloseCase(on=date(2025, 12, 1), reason="other", note=m("c")),
    ):
        who = Actor("im-1", Role.MANAGER, provider=case.provider, district=case.district)
        case = engine.handle(case, cmd, by=who)
    return case


def failing_hooks(prefix: str) -> Hooks:
    """A hook whose error text quotes personal data (the case's own marker)."""
    hooks = Hooks()

    @hooks.on(ConsentRecorded)
    def notify(event: Event, case: Case) -> None:
        i = int(case.case_id.split("-")[1])
        raise RuntimeError(f"mail to {marker(prefix, 'h', i)} bounced")

    return hooks


def scan(files: list[Path], needles: list[bytes]) -> dict[bytes, list[str]]:
    """Where each needle occurs, by file name."""
    found: dict[bytes, list[str]] = {n: [] for n in needles}
    for path in files:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
        for needle in needles:
            if needle in data:
                found[needle].append(str(path))
    return found


def store_files(stores: StoreMaker, data_dir: Path | None) -> list[Path]:
    if stores.kind == "sqlite":
        return sorted(p for p in stores.path.parent.iterdir() if p.is_file())
    assert data_dir is not None
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def key_rows(stores: StoreMaker, store: Any) -> dict[str, bytes]:
    """Every (key id, wrapped key) row of the store's key store."""
    if stores.kind == "sqlite":
        with sqlite3.connect(store.key_store.path) as conn:
            return {k: bytes(w) for k, w in conn.execute("SELECT kid, wrapped FROM data_keys")}
    raw = stores.raw()
    try:
        rows = raw.execute(f"SELECT kid, wrapped FROM {store.key_store.schema}.data_keys")
        return {k: bytes(w) for k, w in rows.fetchall()}
    finally:
        raw.close()


def hold_readers(stores: StoreMaker, store: Any) -> list[Any]:
    """Connections in the middle of a read transaction on the data and on the keys."""
    if stores.kind == "sqlite":
        data = sqlite3.connect(stores.path, isolation_level=None)
        data.execute("BEGIN")
        data.execute("SELECT count(*) FROM events").fetchall()
        keys = sqlite3.connect(store.key_store.path, isolation_level=None)
        keys.execute("BEGIN")
        keys.execute("SELECT count(*) FROM data_keys").fetchall()
        return [data, keys]
    assert stores.dsn is not None
    reader = psycopg.connect(stores.dsn)
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute(f"SELECT count(*) FROM {store.key_store.schema}.data_keys").fetchall()
    return [reader]


def release(readers: list[Any]) -> None:
    for conn in readers:
        conn.rollback() if isinstance(conn, psycopg.Connection) else conn.execute("ROLLBACK")
        conn.close()


def test_no_personal_field_is_ever_on_disk_in_clear_and_erased_keys_are_gone(
    sql_stores: StoreMaker,
) -> None:
    prefix = f"zq{uuid.uuid4().hex[:6]}"
    engine = Engine(workflow=WALDSHUT, clock=CLOCK)
    store: Any = sql_stores(engine=engine, snapshot_every=5, purge_timeout=0.3)
    cases = [marked_case(engine, prefix, i) for i in range(CASES)]
    for case in cases:
        store.append(case.case_id, case.events, expected_version=0)
    dead = Runner(store, failing_hooks(prefix), max_attempts=1, clock=CLOCK).run_once()
    assert dead.parked == CASES  # every hook error is stored
    data_dir = None
    if sql_stores.kind == "postgres":
        raw = sql_stores.raw()
        data_dir = Path(raw.execute("SHOW data_directory").fetchone()[0])
        raw.close()

    erased = [i for i in range(CASES) if i % 2 == 0]
    kept = [i for i in range(CASES) if i % 2 == 1]
    # by the person, or by the member: either way the case key goes with their own key
    who = {i: marker(prefix, "p" if n % 3 else "m", i) for n, i in enumerate(erased)}
    rows_before = key_rows(sql_stores, store)
    erased_kids = {store.key_store.key_id("person", who[i]) for i in erased}
    erased_kids |= {store.key_store.key_id("case", f"case-{i}\x000") for i in erased}
    assert erased_kids <= set(rows_before)
    raw_keys = store.key_store.keys(list(rows_before))  # the data keys, unwrapped

    results = []
    for n, i in enumerate(erased):
        readers = hold_readers(sql_stores, store) if n % 2 == 0 else []
        result = store.erase_person(who[i], on=date(2027, 5, 2))
        assert result == (f"case-{i}",)
        if readers:  # the checkpoint waits, then reports that it could not finish
            assert not result.complete and result.pending
            release(readers)
        else:
            assert result.complete, result
        assert result.keys_deleted == 2  # the person's (or member's) key and the case key
        results.append(result)
    finished = store.purge(timeout=10)
    assert finished.complete, finished
    if sql_stores.kind == "postgres":
        raw = sql_stores.raw()
        raw.execute("CHECKPOINT")
        raw.close()

    rows_after = key_rows(sql_stores, store)
    assert not erased_kids & set(rows_after)  # the erased persons' keys are gone
    # the other person of an erased case keeps their key: their reference in the case
    # is shredded with the case key, their references in other cases are not
    files = store_files(sql_stores, data_dir)
    assert files
    markers = [marker(prefix, f, i).encode() for i in range(CASES) for f in FIELDS]
    found = scan(files, markers)
    assert not {m: w for m, w in found.items() if w}, "personal data in clear on disk"
    secrets = [raw_keys[k] for k in raw_keys]
    assert not any(scan(files, secrets).values()), "a data key in clear on disk"
    wrapped = [rows_before[k] for k in sorted(erased_kids)]
    copies = scan(files, wrapped)
    for where in copies.values():  # the residual: only the server's write-ahead log
        assert all("/pg_wal/" in w for w in where), where
    if sql_stores.kind == "sqlite":
        assert not any(copies.values())

    # the others read back in clear, through the API, from a store with nothing cached
    fresh: Any = sql_stores(engine=engine, cache_size=0)
    for i in kept:
        assert fresh.load(f"case-{i}") == cases[i]
    errors = {d.case_id: d.last_error for d in fresh.outbox.dead_letters()}
    for i in kept:
        assert marker(prefix, "h", i) in errors[f"case-{i}"]
    for i in erased:
        loaded = fresh.load(f"case-{i}")
        assert (loaded.person, loaded.members) == (TOMBSTONE, (TOMBSTONE,))
        assert loaded.closure is not None and loaded.closure.note == TOMBSTONE
        assert errors[f"case-{i}"] == TOMBSTONE

    # rotating the master key makes every old copy of a wrapped key useless
    from imflow import _crypto

    new_master = MasterKey.generate()
    store.key_store.rotate(new_master)
    for kid in erased_kids:
        assert _crypto.unwrap(new_master.secret, kid, rows_before[kid]) is None
    reopened = reopen(sql_stores, engine, new_master)
    assert reopened.load(f"case-{kept[0]}") == cases[kept[0]]


def reopen(stores: StoreMaker, engine: Engine, master: MasterKey) -> Any:
    if stores.kind == "sqlite":
        store: Any = SQLiteStore(stores.path, engine=engine, master_key=master, cache_size=0)
    else:
        assert stores.dsn is not None
        store = PostgresStore(
            stores.dsn, schema=stores.schema, engine=engine, master_key=master, cache_size=0
        )
    stores.opened.append(store)
    return store
