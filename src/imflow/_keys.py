"""Private: master keys, the key-store protocol and the in-memory key store (see
:mod:`imflow.keys`)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import time
from collections.abc import Collection
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import attrs

from imflow import _crypto
from imflow.errors import MasterKeyMissing

__all__ = [
    "ENV_MASTER_KEY",
    "ENV_MASTER_KEY_FILE",
    "KeyKind",
    "KeyStore",
    "MasterKey",
    "MasterKeySource",
    "MemoryKeyStore",
    "Purge",
    "master_key_from",
]

ENV_MASTER_KEY = "IMFLOW_MASTER_KEY"
"""The environment variable that may hold the master key (base64 of 32 bytes)."""

ENV_MASTER_KEY_FILE = "IMFLOW_MASTER_KEY_FILE"
"""The environment variable that may name a file holding the master key."""

KeyKind = Literal["person", "case"]
"""What a data key belongs to."""


@attrs.frozen(repr=False)
class MasterKey:
    """The key that wraps every data key: 32 random bytes, never shown.

    >>> key = MasterKey.generate()
    >>> MasterKey.from_text(key.text()) == key, repr(key).startswith("MasterKey(")
    (True, True)
    """

    secret: bytes = attrs.field()

    @secret.validator
    def _check(self, attribute: object, value: bytes) -> None:
        if type(value) is not bytes or len(value) != _crypto.KEY_BYTES:
            raise ValueError("a master key is 32 bytes")

    def __repr__(self) -> str:
        return f"MasterKey(fingerprint={self.fingerprint!r})"

    @property
    def fingerprint(self) -> str:
        """A public fingerprint (16 hex digits) that tells master keys apart."""
        return _crypto.fingerprint(self.secret)

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random master key."""
        return cls(_crypto.new_key())

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """The key from its text: base64 (standard or URL-safe) or 64 hex digits."""
        value = text.strip()
        try:
            if len(value) == 64:
                return cls(bytes.fromhex(value))
            return cls(base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True))
        except (ValueError, binascii.Error):
            raise ValueError("a master key is 32 bytes as base64 or 64 hex digits") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MasterKey:
        """The key in the file at *path* (its text, see :meth:`from_text`)."""
        try:
            text = Path(path).read_text(encoding="ascii")
        except FileNotFoundError:
            raise MasterKeyMissing(f"no master key file at {os.fspath(path)!r}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MasterKeyMissing(
                f"the master key file {os.fspath(path)!r} cannot be read ({type(exc).__name__})"
            ) from None
        return cls.from_text(text)

    @classmethod
    def from_env(cls, name: str = ENV_MASTER_KEY) -> MasterKey:
        """The key in the environment variable *name*; :class:`~imflow.MasterKeyMissing`
        when it is not set."""
        text = os.environ.get(name)
        if not text:
            raise MasterKeyMissing(f"the environment variable {name} is not set")
        return cls.from_text(text)

    def text(self) -> str:
        """The key as base64 text (what :meth:`from_text` reads)."""
        return base64.b64encode(self.secret).decode("ascii")

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the key to a new file at *path*, readable by its owner only (``0600``).

        The file appears whole or not at all: the key is written and synced under a
        temporary name beside it, then linked to *path*, which raises
        :class:`FileExistsError` when *path* exists (another process was first), so two
        processes starting together never read half a key.
        """
        target = os.fspath(path)
        partial = f"{target}.{secrets.token_hex(8)}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(self.text() + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(partial, target)
        finally:
            os.unlink(partial)
        _sync_folder(os.path.dirname(os.path.abspath(target)))


# the temporary name of MasterKey.write, and how old a temporary file whose write never
# reached its link may get before it is taken for a crash's leftover (a write lasts ms)
_PARTIAL = re.compile(r"\.[0-9a-f]{16}\.partial")
_ORPHANED_AFTER = 60.0


def sweep_partials(path: str) -> list[str]:
    """Remove what a crash in :meth:`MasterKey.write` left beside the key file *path*;
    the names removed.

    A crash between the link and the unlink leaves a second name of the key file (a
    copy of the master key that outlives the key's own deletion or rotation): removed
    whenever found. A crash before the link leaves a key that never encrypted anything:
    removed once older than a write could take; a younger one may be another process's
    write under way and is left alone.

    >>> sweep_partials("/nonexistent/cases.db.master-key")
    []
    """
    folder, name = os.path.split(os.path.abspath(path))
    try:
        key = os.stat(path)
        entries = os.listdir(folder)
    except OSError:
        key, entries = None, []
    removed = []
    for entry in entries:
        if not (entry.startswith(name) and _PARTIAL.fullmatch(entry[len(name) :])):
            continue
        leftover = os.path.join(folder, entry)
        try:
            found = os.stat(leftover)
            same = key is not None and os.path.samestat(found, key)
            if same or time.time() - found.st_mtime > _ORPHANED_AFTER:
                os.unlink(leftover)
                removed.append(leftover)
        except FileNotFoundError:  # its writer unlinked it meanwhile
            continue
    return removed


def _sync_folder(folder: str) -> None:
    """Make a new name in *folder* durable (POSIX: ``fsync`` of the folder), so a key
    that encrypted committed data is not lost with a crash."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


MasterKeySource = MasterKey | bytes | str | os.PathLike[str] | None
"""What ``master_key=`` accepts: a key, its 32 bytes, the path of a key file, or
``None`` (the environment, then the store's default)."""


def master_key_from(source: MasterKeySource, *, beside: str | None = None) -> MasterKey:
    """The master key that *source* names.

    ``None`` looks at :data:`ENV_MASTER_KEY`, then :data:`ENV_MASTER_KEY_FILE`; with
    neither set, *beside* (a database file) gets the file ``<beside>.master-key``,
    created with a new key (``0600``) when missing. That default keeps an embedded
    SQLite store free of set-up, at a price: whoever copies the folder has the key.
    Without *beside* (PostgreSQL) a missing key raises :class:`~imflow.MasterKeyMissing`.
    """
    if isinstance(source, MasterKey):
        return source
    if isinstance(source, bytes):
        return MasterKey(source)
    if source is not None:
        return MasterKey.from_file(source)
    if os.environ.get(ENV_MASTER_KEY):
        return MasterKey.from_env()
    named = os.environ.get(ENV_MASTER_KEY_FILE)
    if named:
        return MasterKey.from_file(named)
    if beside is None:
        raise MasterKeyMissing(
            "no master key: pass master_key=, or set IMFLOW_MASTER_KEY (base64 of 32 bytes)"
            " or IMFLOW_MASTER_KEY_FILE"
        )
    path = beside + ".master-key"
    with contextlib.suppress(FileExistsError):
        MasterKey.generate().write(path)
    sweep_partials(path)
    return MasterKey.from_file(path)


@attrs.frozen
class Purge:
    """Whether deleted keys are physically gone from a key store's files.

    ``complete`` is true when nothing of a deleted key is left on disk where the key
    store can reach it; otherwise ``pending`` names what is still in the way:
    ``"readers"`` (SQLite: another connection's read transaction keeps the WAL),
    ``"old_snapshot"`` (PostgreSQL: a transaction older than the deletion may still see
    the row), ``"locked"`` (the table could not be rewritten in time),
    ``"checkpoint_forbidden"`` (the PostgreSQL role may not run ``CHECKPOINT``),
    ``"vacuum_forbidden"`` (the role does not own the key table: its owner runs
    ``store.purge()`` or ``VACUUM FULL``).
    Call :meth:`KeyStore.purge` again later to finish.
    """

    complete: bool
    pending: tuple[str, ...] = ()


@runtime_checkable
class KeyStore(Protocol):
    """Where data keys live: made, read and deleted by key id, in batches."""

    def key_id(self, kind: KeyKind, name: str) -> str:
        """The key id of a person reference or case id: a keyed hash, never the name."""
        ...

    def keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        """The data keys of *key_ids* that exist; with *create*, new ones for the rest."""
        ...

    def delete(self, key_ids: Collection[str]) -> int:
        """Delete the keys of *key_ids*; returns how many existed."""
        ...

    def purge(self, *, timeout: float = 5.0) -> Purge:
        """Make the deletions physical (checkpoint, vacuum), waiting up to *timeout* s."""
        ...

    def close(self) -> None:
        """Release the key store's connection."""
        ...


class MemoryKeyStore:
    """Data keys in memory, for tests and ``":memory:"`` databases; gone with the process.

    Deleting a key drops it at once, so :meth:`purge` is always complete.
    """

    def __init__(self, master_key: MasterKey | None = None) -> None:
        self._master = master_key or MasterKey.generate()
        self._index = _crypto.derive(self._master.secret, b"imflow index key")
        self._keys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryKeyStore(<{len(self._keys)} keys>)"

    def key_id(self, kind: KeyKind, name: str) -> str:
        return _crypto.blind(self._index, kind, name)

    def keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        found = {k: self._keys[k] for k in key_ids if k in self._keys}
        if create:
            for kid in key_ids:
                if kid not in found:
                    found[kid] = self._keys[kid] = _crypto.new_key()
        return found

    def delete(self, key_ids: Collection[str]) -> int:
        return sum(self._keys.pop(k, None) is not None for k in set(key_ids))

    def purge(self, *, timeout: float = 5.0) -> Purge:
        return Purge(True)

    def close(self) -> None:
        """Nothing to release."""
