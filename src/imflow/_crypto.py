"""Private: the only module that imports ``cryptography``.

AES-256-GCM (authenticated encryption) for personal fields and for wrapping data keys,
HMAC-SHA256 for key ids and for deriving the key of a person's reference within a case.
Every ciphertext is ``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``; the associated
data binds it to its place, so a ciphertext moved elsewhere fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_BYTES", "Aead", "blind", "derive", "new_key", "unwrap", "unwrapper", "wrap"]

KEY_BYTES = 32
"""Every key is 256 bits."""

_NONCE = 12


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


class Aead:
    """AES-256-GCM under one key: :meth:`seal` and :meth:`open` (``None`` when it fails)."""

    __slots__ = ("_gcm",)

    def __init__(self, key: bytes) -> None:
        self._gcm = AESGCM(key)

    def __repr__(self) -> str:
        return "Aead(<key>)"

    def seal(self, plain: bytes, ad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._gcm.encrypt(nonce, plain, ad)

    def open(self, sealed: bytes, ad: bytes) -> bytes | None:
        if len(sealed) < _NONCE + 16:
            return None
        try:
            return self._gcm.decrypt(sealed[:_NONCE], sealed[_NONCE:], ad)
        except InvalidTag:
            return None

    def seal_text(self, plain: str, ad: bytes) -> str:
        raw = self.seal(plain.encode("utf-8", "surrogatepass"), ad)
        return base64.b64encode(raw).decode("ascii")

    def open_text(self, sealed: str, ad: bytes) -> str | None:
        try:
            raw = base64.b64decode(sealed, validate=True)
        except (ValueError, TypeError):
            return None
        plain = self.open(raw, ad)
        return None if plain is None else plain.decode("utf-8", "surrogatepass")


def wrap(master: bytes, key_id: str, key: bytes) -> bytes:
    """*key* encrypted under *master*, bound to *key_id*."""
    return Aead(master).seal(key, b"imflow-key\x1f" + key_id.encode())


def unwrap(master: bytes, key_id: str, wrapped: bytes) -> bytes | None:
    """The key *wrap* sealed, or ``None`` (another master key, another id, or tampered)."""
    return Aead(master).open(bytes(wrapped), b"imflow-key\x1f" + key_id.encode())


def unwrapper(master: bytes) -> Callable[[str, bytes], bytes | None]:
    """:func:`unwrap` under *master* for many keys, with one cipher for all of them.

    >>> master, key = new_key(), new_key()
    >>> unwrapper(master)("k1", wrap(master, "k1", key)) == key
    True
    """
    aead = Aead(master)

    def unwrap_one(key_id: str, wrapped: bytes) -> bytes | None:
        return aead.open(bytes(wrapped), b"imflow-key\x1f" + key_id.encode())

    return unwrap_one


def blind(index_key: bytes, kind: str, name: str) -> str:
    """A key id for *name*: 128 bits of HMAC-SHA256, URL-safe base64 (22 characters)."""
    mac = hmac.digest(index_key, f"{kind}\x00{name}".encode("utf-8", "surrogatepass"), "sha256")
    return base64.urlsafe_b64encode(mac[:16]).decode("ascii").rstrip("=")


def derive(key: bytes, label: bytes) -> bytes:
    """A key derived from *key* for *label* (HMAC-SHA256 as a PRF)."""
    return hmac.digest(key, label, hashlib.sha256)


def fingerprint(key: bytes) -> str:
    """A short public fingerprint of a master key (never the key)."""
    return derive(key, b"imflow master key fingerprint").hex()[:16]
