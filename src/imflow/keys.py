"""Key stores: the data keys that encrypt personal fields, wrapped by a master key.

The SQL stores encrypt every personal field (domain.md § 8) with AES-256-GCM under data
keys that live here, apart from the data: a key per **person** and a key per **case**
(see :doc:`/explanation/data-protection`). Erasing a person deletes their keys, so every
copy of their fields — in the ``-wal``, in free pages, in a backup taken earlier — can
no longer be read (crypto-shredding).

A key store files each data key under a *key id*: :meth:`KeyStore.key_id` is a keyed
hash of the person reference or case id, so the key store never holds a reference
either. Data keys are stored wrapped (encrypted) by the :class:`MasterKey` the host
provides; a key store never writes a data key or the master key in clear.

- :class:`SQLiteKeyStore`: a separate SQLite file with ``secure_delete`` (the default of
  :class:`~imflow.store.SQLiteStore`: ``<database>.keys``);
- :class:`PostgresKeyStore`: a table in a separate PostgreSQL schema (the default of
  :class:`~imflow.store.PostgresStore`: ``<schema>_keys``), so ``pg_dump`` of the data
  schema leaves the keys out;
- :class:`MemoryKeyStore`: in memory, for tests and ``":memory:"`` databases;
- your own (a KMS, an HSM): any object with the methods of :class:`KeyStore`.

>>> ring = MemoryKeyStore()
>>> kid = ring.key_id("person", "p-7f3a")
>>> len(kid), "p-7f3a" in kid
(22, False)
>>> key = ring.keys([kid], create=True)[kid]
>>> ring.keys([kid]) == {kid: key}
True
>>> ring.delete([kid]), ring.keys([kid])
(1, {})

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from imflow._keys import (
    ENV_MASTER_KEY,
    ENV_MASTER_KEY_FILE,
    KeyKind,
    KeyStore,
    MasterKey,
    MasterKeySource,
    MemoryKeyStore,
    Purge,
    master_key_from,
)
from imflow.store._keys_postgres import PostgresKeyStore
from imflow.store._keys_sqlite import SQLiteKeyStore

__all__ = [
    "ENV_MASTER_KEY",
    "ENV_MASTER_KEY_FILE",
    "KeyKind",
    "KeyStore",
    "MasterKey",
    "MasterKeySource",
    "MemoryKeyStore",
    "PostgresKeyStore",
    "Purge",
    "SQLiteKeyStore",
    "master_key_from",
]
