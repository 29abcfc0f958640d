"""Private: the WAL of imflow's SQLite files (the store's and its key store's).

Switching a file to WAL and emptying its WAL both meet other connections' locks; both
retry with backoff where SQLite answers ``busy`` at once.
"""

from __future__ import annotations

import sqlite3
import time

__all__ = ["checkpoint", "enable_wal"]

_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def checkpoint(conn: sqlite3.Connection, timeout: float) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` until it completes or *timeout* s pass.

    A reader that still reads an older snapshot keeps the checkpoint from finishing
    (SQLite reports ``busy``); it is retried with backoff. Returns whether the WAL was
    copied into the database and emptied.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    saved = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    # the checkpoint itself waits in the busy handler: let it wait a slice at a time
    conn.execute(f"PRAGMA busy_timeout = {max(1, min(int(timeout * 1000), 200))}")
    try:
        while True:
            try:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _BUSY:
                    raise
                busy = 1
            if busy == 0:
                return True
            if time.monotonic() + pause > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(saved)}")


def enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch *conn*'s file to WAL, waiting while other connections hold it.

    Switching needs an exclusive lock, and SQLite answers ``SQLITE_BUSY`` at once (without
    the busy handler) when another connection holds the new file's write lock; so openers
    and migrators starting together retry here, with backoff, up to *timeout* seconds.
    Used by the store, its key store and :func:`~imflow.store.migrate`.
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
