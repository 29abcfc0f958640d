"""Private: the PostgreSQL key store (the default of :class:`~imflow.store.PostgresStore`).

psycopg is imported when a key store is opened, not when this module is.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from imflow import _crypto
from imflow._keys import KeyKind, MasterKey, Purge
from imflow.errors import MasterKeyMismatch, SchemaMissing

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresKeyStore", "default_key_schema", "key_schema_statements"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def default_key_schema(schema: str | None) -> str:
    """The key schema beside the data schema *schema*: ``<schema>_keys`` or ``imflow_keys``."""
    return f"{schema or 'imflow'}_keys"


def key_schema_statements(schema: str, grant_to: str | None = None) -> list[str]:
    """The DDL of the key schema *schema* (idempotent), and *grant_to*'s rights on it.

    Run by :func:`imflow.store.migrate` and printed by ``imflow schema-sql``: the key
    store itself never creates anything. The application role may read, add and delete
    keys; the owner's rights (``VACUUM FULL`` in :meth:`PostgresKeyStore.purge`) stay
    with the owner.
    """
    if not _IDENTIFIER.fullmatch(schema):
        raise ValueError(f"schema must be a lower-case SQL identifier, not {schema!r}")
    statements = [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE TABLE IF NOT EXISTS {schema}.meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {schema}.data_keys"
        " (kid TEXT PRIMARY KEY, wrapped BYTEA NOT NULL)",
    ]
    if grant_to is not None:
        statements += [
            f"GRANT USAGE ON SCHEMA {schema} TO {grant_to}",
            f"GRANT SELECT, INSERT ON {schema}.meta TO {grant_to}",
            f"GRANT SELECT, INSERT, DELETE ON {schema}.data_keys TO {grant_to}",
        ]
    return statements


class PostgresKeyStore:
    """Data keys in a table of their own PostgreSQL schema, wrapped by a master key.

    The schema (default ``imflow_keys``) keeps the keys apart from the data: grant it to
    the application role only, and leave it out of the data's backups
    (``pg_dump --exclude-schema``). :meth:`purge` makes deletions physical as far as a
    server allows: ``VACUUM FULL`` of the key table (a new file; the old one is emptied),
    waiting while an older transaction might still see a deleted row, then
    ``CHECKPOINT`` (needs superuser or the ``pg_checkpoint`` role). What stays is the
    server's write-ahead log: ``pg_wal`` keeps the wrapped key until its segment is
    recycled, a WAL archive or a base backup keeps it as long as they are kept. A
    wrapped key is useless without the master key: :meth:`rotate` the master key to
    make every old copy useless.

    :param conninfo: a libpq connection string.
    :param schema: the schema of the key tables (made by :func:`imflow.store.migrate`;
        missing, it raises :class:`~imflow.SchemaMissing`).
    :param master_key: the master key; another one than the store was made with raises
        :class:`~imflow.MasterKeyMismatch`.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        master_key: MasterKey,
        schema: str = "imflow_keys",
        connect_timeout: int = 10,
    ) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"schema must be a lower-case SQL identifier, not {schema!r}")

        self.conninfo = conninfo
        self.schema = schema
        self._master = master_key
        self._unwrap = _crypto.unwrapper(master_key.secret)  # one cipher for every read
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._deleted_at: datetime | None = None
        # one connection: callers on several threads (a pooled store) take turns on it
        self._lock = threading.RLock()
        conn = self._connection()
        try:
            self._check_tables(conn)
            self._index = self._index_key(conn)
        except BaseException:
            conn.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresKeyStore(schema={self.schema!r})"

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        import psycopg

        self._conn = psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=self._connect_timeout
        )
        return self._conn

    def _check_tables(self, conn: psycopg.Connection[Any]) -> None:
        """Read-only: the key tables exist (``imflow migrate`` makes them)."""
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
            (f"{self.schema}.meta", f"{self.schema}.data_keys"),
        ).fetchone()
        if not row or not row[0]:
            from imflow.store._postgres import PostgresStore

            raise SchemaMissing(
                PostgresStore.MIGRATIONS[-1][0],
                how=(
                    f"the key schema {self.schema!r} is missing: run `imflow migrate --db"
                    f" postgresql://<owner>@<host>/<db> --key-schema {self.schema}` as the"
                    " database's owner, or give your DBA the SQL of `imflow schema-sql"
                    f" --backend postgresql --key-schema {self.schema}`"
                ),
            )

    def _index_key(self, conn: psycopg.Connection[Any]) -> bytes:
        """The blinding key of the key ids; the first store to open the schema makes it."""
        query = f"SELECT value FROM {self.schema}.meta WHERE name = 'index'"
        row = conn.execute(query).fetchone()
        if row is None:
            wrapped = _crypto.wrap(self._master.secret, "index", _crypto.new_key())
            conn.execute(
                f"INSERT INTO {self.schema}.meta (name, value) VALUES ('index', %s)"
                " ON CONFLICT (name) DO NOTHING",
                (wrapped,),
            )
            row = conn.execute(query).fetchone()  # another server's, if it came first
            assert row is not None
        index_key = _crypto.unwrap(self._master.secret, "index", bytes(row[0]))
        if index_key is None:
            raise MasterKeyMismatch(f"the master key does not open the key schema {self.schema!r}")
        return index_key

    def key_id(self, kind: KeyKind, name: str) -> str:
        return _crypto.blind(self._index, kind, name)

    def keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        with self._lock:
            return self._keys(key_ids, create=create)

    def _keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(key_ids))
        if not wanted:
            return {}
        found = self._read(wanted)
        missing = [k for k in wanted if k not in found]
        if create and missing:
            master = self._master.secret
            rows = [(kid, _crypto.wrap(master, kid, _crypto.new_key())) for kid in missing]
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self.schema}.data_keys (kid, wrapped) VALUES (%s, %s)"
                    " ON CONFLICT (kid) DO NOTHING",
                    rows,
                )
            found.update(self._read(missing))  # another server may have made them first
        return found

    def _read(self, key_ids: list[str]) -> dict[str, bytes]:
        rows = (
            self._connection()
            .execute(
                f"SELECT kid, wrapped FROM {self.schema}.data_keys WHERE kid = ANY(%s)",
                (key_ids,),
            )
            .fetchall()
        )
        return self.unwrapped(rows)

    def unwrapped(self, rows: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
        """The data keys of ``(kid, wrapped)`` rows of :attr:`schema`'s ``data_keys``,
        unwrapped with the master key (a :class:`~imflow.store.PostgresStore` reads
        them with a case's rows, in the same statement)."""
        found: dict[str, bytes] = {}
        unwrap = self._unwrap
        for kid, wrapped in rows:
            key = unwrap(kid, wrapped)
            if key is None:
                raise MasterKeyMismatch(f"a data key in {self.schema!r} does not unwrap")
            found[kid] = key
        return found

    def delete(self, key_ids: Collection[str]) -> int:
        with self._lock:
            return self._delete(key_ids)

    def _delete(self, key_ids: Collection[str]) -> int:
        ids = list(dict.fromkeys(key_ids))
        if not ids:
            return 0
        conn = self._connection()
        with conn.transaction():
            cur = conn.execute(f"DELETE FROM {self.schema}.data_keys WHERE kid = ANY(%s)", (ids,))
            deleted = cur.rowcount
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        self._deleted_at = row[0] if row else None
        return deleted

    def purge(self, *, timeout: float = 5.0) -> Purge:
        with self._lock:
            return self._purge(timeout=timeout)

    def _purge(self, *, timeout: float = 5.0) -> Purge:
        import psycopg

        conn = self._connection()
        since = self._deleted_at or conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        pause = 0.01
        pending: list[str] = []
        while True:
            pending = []
            if not self._owns_key_table(conn):
                pending.append("vacuum_forbidden")  # only the owner may VACUUM FULL
                break
            if self._older_snapshots(conn, since):
                pending.append("old_snapshot")
            else:
                try:
                    conn.execute("SET lock_timeout = '1s'")
                    conn.execute(f"VACUUM (FULL) {self.schema}.data_keys")
                except psycopg.errors.LockNotAvailable:
                    pending.append("locked")
                finally:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("RESET lock_timeout")
            if not pending or time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
        if not pending:
            try:
                conn.execute("CHECKPOINT")
            except psycopg.errors.InsufficientPrivilege:
                pending.append("checkpoint_forbidden")
        if not pending:
            self._deleted_at = None
        return Purge(not pending, tuple(pending))

    def _owns_key_table(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether this role may ``VACUUM FULL`` the key table (its owner, or a superuser);
        for anyone else PostgreSQL skips the table with a warning only."""
        row = conn.execute(
            "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c"
            " WHERE c.oid = to_regclass(%s)",
            (f"{self.schema}.data_keys",),
        ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _older_snapshots(conn: psycopg.Connection[Any], since: datetime) -> bool:
        """Whether a transaction that began before *since* may still see deleted rows."""
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            "   AND backend_xmin IS NOT NULL AND xact_start < %(since)s)"
            " + (SELECT count(*) FROM pg_prepared_xacts WHERE prepared < %(since)s)"
            " + (SELECT count(*) FROM pg_replication_slots WHERE xmin IS NOT NULL)",
            {"since": since},
        ).fetchone()
        return bool(row and row[0])

    def rotate(self, new_master_key: MasterKey) -> int:
        """Re-wrap every data key (and the index key) with *new_master_key*, in one
        transaction; returns how many data keys were re-wrapped.

        Save the new key where the host keeps it *before* calling this; destroy the old
        one after: copies wrapped by the old key (``pg_wal``, archives, backups) are then
        useless.
        """
        with self._lock:
            return self._rotate(new_master_key)

    def _rotate(self, new_master_key: MasterKey) -> int:
        old, new = self._master.secret, new_master_key.secret
        conn = self._connection()
        with conn.transaction():
            rows = conn.execute(
                f"SELECT kid, wrapped FROM {self.schema}.data_keys FOR UPDATE"
            ).fetchall()
            rewrapped = []
            for kid, wrapped in rows:
                key = _crypto.unwrap(old, kid, bytes(wrapped))
                if key is None:
                    raise MasterKeyMismatch(f"a data key in {self.schema!r} does not unwrap")
                rewrapped.append((_crypto.wrap(new, kid, key), kid))
            with conn.cursor() as cur:
                cur.executemany(
                    f"UPDATE {self.schema}.data_keys SET wrapped = %s WHERE kid = %s", rewrapped
                )
            conn.execute(
                f"UPDATE {self.schema}.meta SET value = %s WHERE name = 'index'",
                (_crypto.wrap(new, "index", self._index),),
            )
        self._master = new_master_key
        self._unwrap = _crypto.unwrapper(new)
        return len(rewrapped)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
