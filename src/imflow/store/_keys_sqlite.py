"""Private: the SQLite key store (the default of :class:`~imflow.store.SQLiteStore`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Collection, Iterator

from imflow import _crypto
from imflow._keys import KeyKind, MasterKey, Purge
from imflow.errors import MasterKeyMismatch
from imflow.store._wal import checkpoint, enable_wal

__all__ = ["SQLiteKeyStore"]


class SQLiteKeyStore:
    """Data keys in their own SQLite file, wrapped by a master key, deleted for good.

    The file runs with ``PRAGMA secure_delete = ON`` (deleted rows are overwritten with
    zeros) in WAL mode; :meth:`purge` checkpoints and empties the WAL, retrying while
    another connection reads, so a deleted key is left neither in the database file nor
    in ``-wal``. Keep the file apart from backups of the database, or back it up with a
    short retention: an erased person's key must not survive in a backup.

    :param path: the key store file (created if missing).
    :param master_key: the master key (see :func:`master_key_from`); a key store made
        with one master key refuses another (:class:`~imflow.MasterKeyMismatch`).
    :param busy_timeout: seconds to wait for another writer.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        master_key: MasterKey,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = os.fspath(path)
        self._master = master_key
        self._unwrap = _crypto.unwrapper(master_key.secret)  # one cipher for every read
        self._timeout = busy_timeout
        fresh = self.path == ":memory:" or not os.path.exists(self.path)
        if fresh and self.path != ":memory:":  # born private: 0600 before SQLite writes
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._conn.execute("PRAGMA secure_delete = ON")
            enable_wal(self._conn, busy_timeout)
            self._conn.execute("PRAGMA synchronous = FULL")
            with self._transaction():
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)"
                )
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS data_keys"
                    " (kid TEXT PRIMARY KEY, wrapped BLOB NOT NULL)"
                )
                self._index = self._index_key()
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteKeyStore({self.path!r})"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _index_key(self) -> bytes:
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'index'").fetchone()
        if row is None:
            index = _crypto.new_key()
            wrapped = _crypto.wrap(self._master.secret, "index", index)
            self._conn.execute("INSERT INTO meta (name, value) VALUES ('index', ?)", (wrapped,))
            return index
        index_key = _crypto.unwrap(self._master.secret, "index", row[0])
        if index_key is None:
            raise MasterKeyMismatch(f"the master key does not open the key store {self.path!r}")
        return index_key

    def key_id(self, kind: KeyKind, name: str) -> str:
        return _crypto.blind(self._index, kind, name)

    def keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(key_ids))
        if not wanted:
            return {}
        found = self._read(wanted)
        missing = [k for k in wanted if k not in found]
        if create and missing:
            master = self._master.secret
            rows = [(kid, _crypto.wrap(master, kid, _crypto.new_key())) for kid in missing]
            with self._transaction():
                self._conn.executemany(
                    "INSERT OR IGNORE INTO data_keys (kid, wrapped) VALUES (?, ?)", rows
                )
            found.update(self._read(missing))  # another process may have made them first
        return found

    def _read(self, key_ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        unwrap = self._unwrap
        for start in range(0, len(key_ids), 500):
            part = key_ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT kid, wrapped FROM data_keys WHERE kid IN ({marks})", part
            ).fetchall()
            for kid, wrapped in rows:
                key = unwrap(kid, wrapped)
                if key is None:
                    raise MasterKeyMismatch(f"a data key in {self.path!r} does not unwrap")
                found[kid] = key
        return found

    def delete(self, key_ids: Collection[str]) -> int:
        ids = list(dict.fromkeys(key_ids))
        if not ids:
            return 0
        deleted = 0
        with self._transaction():
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                marks = ", ".join("?" * len(part))
                cur = self._conn.execute(f"DELETE FROM data_keys WHERE kid IN ({marks})", part)
                deleted += cur.rowcount
        return deleted

    def purge(self, *, timeout: float = 5.0) -> Purge:
        if self.path == ":memory:":
            return Purge(True)
        if checkpoint(self._conn, timeout):
            return Purge(True)
        return Purge(False, ("readers",))

    def rotate(self, new_master_key: MasterKey) -> int:
        """Re-wrap every data key (and the index key) with *new_master_key*, in one
        transaction; returns how many data keys were re-wrapped.

        Save the new key where the host keeps it *before* calling this; destroy the old
        one after. Copies of the key store wrapped by the old key (in backups, in
        ``-wal`` before :meth:`purge`) are then useless.
        """
        old, new = self._master.secret, new_master_key.secret
        with self._transaction():
            rows = self._conn.execute("SELECT kid, wrapped FROM data_keys").fetchall()
            rewrapped = []
            for kid, wrapped in rows:
                key = _crypto.unwrap(old, kid, wrapped)
                if key is None:
                    raise MasterKeyMismatch(f"a data key in {self.path!r} does not unwrap")
                rewrapped.append((_crypto.wrap(new, kid, key), kid))
            self._conn.executemany("UPDATE data_keys SET wrapped = ? WHERE kid = ?", rewrapped)
            self._conn.execute(
                "UPDATE meta SET value = ? WHERE name = 'index'",
                (_crypto.wrap(new, "index", self._index),),
            )
        self._master = new_master_key
        self._unwrap = _crypto.unwrapper(new)
        self.purge(timeout=self._timeout)
        return len(rewrapped)

    def close(self) -> None:
        self._conn.close()
