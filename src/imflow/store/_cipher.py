"""Private: personal fields sealed in the documents a SQL store writes (crypto-shredding).

Whose key encrypts what:

- a **case key** per case and *generation* (the ``seq`` of the case's latest
  ``person_erased`` event, 0 before any) encrypts the case's free texts: notes, goal
  descriptions, justifications, stored hook errors;
- a **person key** per person reference encrypts that reference wherever it occurs
  (``person``, each of ``members``), under a key derived from *both* the person key and
  the case key: deleting either makes it unreadable.

Erasing a person deletes the person key and the case keys of every case they appear
in, so the case's texts and every reference in it are shredded (a household's notes
may speak of any member), and the person's references in other cases too. The next
personal text of an erased case is sealed under a new generation's key.

A sealed field is a JSON object in place of the string: ``{"c": <base64 of nonce,
ciphertext and tag>}``, plus ``"k"`` (the person key id) for a reference and ``"g"``
(the generation) when it is not 0. The associated data binds it to its case, its
row (``e<seq>``, ``s<snapshot version>``, ``o<outbox id>/<hook>``) and its path in the
document, so a ciphertext copied elsewhere does not open. A field whose key is gone, or
that does not open, reads as :data:`imflow.erasure.TOMBSTONE`. Empty texts and
tombstones stay as they are; everything else (types, dates, reasons, areas, minutes,
household size, the *number* of members) stays in clear for the key-figure queries.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from imflow import _crypto
from imflow._bounds import PERSONAL_FIELDS
from imflow._keys import KeyStore
from imflow.errors import StoreError

__all__ = ["Sealer", "crypto_schema", "crypto_statements", "is_sealed_error"]

TOMBSTONE = "<erased>"  # imflow.erasure.TOMBSTONE, without importing the events here
_REFS = frozenset({"person", "members"})
_TEXTS = "sealed_texts"  # a snapshot's free texts, sealed together
_Path = tuple[str | int, ...]


def _ad(case_id: str, place: str, path: _Path) -> bytes:
    where = "/".join(str(p) for p in path)
    return f"imflow/1\x1f{case_id}\x1f{place}\x1f{where}".encode("utf-8", "surrogatepass")


def case_key_id(keys: KeyStore, case_id: str, generation: int) -> str:
    return keys.key_id("case", f"{case_id}\x00{generation}")


def _plain(value: Any) -> bool:
    """Whether *value* is a text that needs sealing (not empty, not a tombstone)."""
    return type(value) is str and value != "" and value != TOMBSTONE


# where event and case documents nest values with personal fields: the case's events
# and its needs, plans (with goals), extensions, transfers and closure; nothing else
# nests any (a test plants a marker in every personal field of every event type)
_CONTAINERS = frozenset({"events", "needs", "plans", "goals", "extensions", "transfers", "closure"})


def _visit(doc: Any, path: _Path, found: Callable[[_Path, str, Any, Any], None]) -> None:
    """Call *found(path, field, container, key)* for every personal field in *doc*."""
    if type(doc) is dict:
        for name in _ORDER:
            if name in doc:
                value = doc[name]
                if name in PERSONAL_FIELDS:
                    if type(value) is list:
                        for i in range(len(value)):
                            found((*path, name, i), name, value, i)
                    else:
                        found((*path, name), name, doc, name)
                elif type(value) is dict or type(value) is list:
                    _visit(value, (*path, name), found)
    elif type(doc) is list:
        for i, item in enumerate(doc):
            if type(item) is dict:
                _visit(item, (*path, i), found)


_ORDER = tuple(sorted(PERSONAL_FIELDS)) + tuple(sorted(_CONTAINERS))


class Sealer:
    """Seals and opens the personal fields of one store's documents with a key store."""

    def __init__(self, keys: KeyStore, *, cache_size: int = 256) -> None:
        self.keys = keys
        self._size = max(cache_size, 0)
        # case id -> (generation, its case key): the keys new events of a case need
        self._case_keys: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        # person key id -> key, for reading only: sealing always asks the key store, so
        # a key deleted by another process is never used to write
        self._read_keys: OrderedDict[str, bytes] = OrderedDict()

    # -- keys ------------------------------------------------------------------------------

    def _case_key(self, case_id: str, generation: int, *, create: bool) -> bytes | None:
        cached = self._case_keys.get(case_id)
        if cached is not None and cached[0] == generation:
            self._case_keys.move_to_end(case_id)
            return cached[1]
        kid = case_key_id(self.keys, case_id, generation)
        key = self.keys.keys([kid], create=create).get(kid)
        if key is not None:
            self._remember(case_id, generation, key)
        return key

    def _remember(self, case_id: str, generation: int, key: bytes) -> None:
        if self._size == 0:
            return
        self._case_keys[case_id] = (generation, key)
        self._case_keys.move_to_end(case_id)
        if len(self._case_keys) > self._size:
            self._case_keys.popitem(last=False)

    def forget(self, case_id: str) -> None:
        """Drop the cached keys of *case_id* (its case keys are being deleted)."""
        self._case_keys.pop(case_id, None)
        self._read_keys.clear()  # cheap to refill; an erased person's key goes with them

    def _person_keys(self, kids: set[str], extra: list[str]) -> dict[str, bytes]:
        """The person keys of *kids* (cached for reading) and the keys of *extra*."""
        found = {k: self._read_keys[k] for k in kids if k in self._read_keys}
        wanted = [*extra, *(k for k in kids if k not in found)]
        if wanted:
            fetched = self.keys.keys(wanted)
            found.update(fetched)
            if self._size:
                for kid in kids:
                    if kid in fetched:
                        self._read_keys[kid] = fetched[kid]
                while len(self._read_keys) > 4 * self._size:
                    self._read_keys.popitem(last=False)
        return found

    def _memo_keys(
        self, memo: dict[str, bytes | None], persons: set[str], cases: list[str]
    ) -> dict[str, bytes]:
        """The keys of *persons* and *cases* from *memo*, the others fetched into it."""
        new_persons = {k for k in persons if k not in memo}
        new_cases = [k for k in cases if k not in memo]
        if new_persons or new_cases:
            fetched = self._person_keys(new_persons, new_cases)
            for kid in (*new_persons, *new_cases):
                memo[kid] = fetched.get(kid)
        found: dict[str, bytes] = {}
        for kid in (*persons, *cases):
            key = memo[kid]
            if key is not None:
                found[kid] = key
        return found

    def case_key_ids(self, case_id: str, generations: Iterable[int]) -> list[str]:
        return [case_key_id(self.keys, case_id, g) for g in generations]

    def person_key_id(self, person_ref: str) -> str:
        return self.keys.key_id("person", person_ref)

    # -- sealing ---------------------------------------------------------------------------

    def seal(
        self,
        doc: dict[str, Any],
        case_id: str,
        place: str,
        generation: int,
        *,
        together: bool = False,
    ) -> None:
        """Seal every personal field of *doc* (in place) for its *place* in *case_id*.

        *together* (snapshots) seals all free texts as one ciphertext under the key
        ``"texts"`` of *doc*, each field holding its index (``{"t": n}``): one
        cipher operation instead of one per field.
        """
        texts: list[tuple[_Path, Any, Any]] = []
        refs: list[tuple[_Path, Any, Any]] = []

        def found(path: _Path, name: str, container: Any, key: Any) -> None:
            if _plain(container[key]):
                (refs if name in _REFS else texts).append((path, container, key))

        _visit(doc, (), found)
        if not texts and not refs:
            return
        case_key = self._case_key(case_id, generation, create=True)
        assert case_key is not None
        case_aead = _crypto.Aead(case_key)
        extra = {"g": generation} if generation else {}
        if together and texts:
            values = [container[key] for _, container, key in texts]
            for n, (_, container, key) in enumerate(texts):
                container[key] = {"t": n}
            plain = json.dumps(values, ensure_ascii=False)
            doc[_TEXTS] = {"c": case_aead.seal_text(plain, _ad(case_id, place, (_TEXTS,))), **extra}
            texts = []
        for path, container, key in texts:
            sealed = case_aead.seal_text(container[key], _ad(case_id, place, path))
            container[key] = {"c": sealed, **extra}
        if refs:
            kids = {self.person_key_id(c[k]): c[k] for _, c, k in refs}
            persons = self.keys.keys(list(kids), create=True)
            for path, container, key in refs:
                kid = self.person_key_id(container[key])
                aead = _crypto.Aead(_ref_key(case_key, persons[kid]))
                sealed = aead.seal_text(container[key], _ad(case_id, place, path))
                container[key] = {"k": kid, "c": sealed, **extra}

    def seal_text(self, text: str, case_id: str, place: str, generation: int) -> str:
        """*text* (a hook error) sealed as JSON text, or *text* itself when empty."""
        if not _plain(text):
            return text
        doc: dict[str, Any] = {"note": text}
        self.seal(doc, case_id, place, generation)
        return json.dumps(doc["note"], separators=(",", ":"))

    # -- opening ---------------------------------------------------------------------------

    def open(
        self,
        case_id: str,
        docs: Sequence[tuple[str, Any]],
        memo: dict[str, bytes | None] | None = None,
    ) -> None:
        """Open every sealed field of *docs* (``(place, document)`` pairs) in place.

        The keys all documents need are fetched in one batch; a field whose key is gone
        or that fails to open becomes the tombstone. *memo* (key id to key, ``None``
        for one that is gone) holds the keys of one load: its later calls (rows opened
        when they are first read) ask the key store only for keys it has not seen. A
        memo lives as long as the case it was loaded with, never across loads, so an
        erasure since is seen by the next load.
        """
        sealed: list[tuple[str, _Path, Any, Any, dict[str, Any]]] = []
        generations: set[int] = set()
        persons: set[str] = set()
        blobs: list[tuple[str, dict[str, Any], Any]] = []
        for place, doc in docs:
            if type(doc) is dict and _TEXTS in doc:
                blob = doc.pop(_TEXTS)
                blobs.append((place, doc, blob))
                g = blob.get("g", 0) if type(blob) is dict else -1
                generations.add(g if type(g) is int else -1)

            def found(path: _Path, name: str, container: Any, key: Any, place: str = place) -> None:
                value = container[key]
                if type(value) is dict:
                    sealed.append((place, path, container, key, value))
                    g = value.get("g", 0)
                    generations.add(g if type(g) is int else -1)
                    if "k" in value:
                        persons.add(str(value["k"]))

            _visit(doc, (), found)
        if not sealed:
            return
        wanted: dict[str, int] = {}
        case_keys: dict[int, bytes] = {}
        for g in generations:
            cached = self._case_keys.get(case_id)
            if cached is not None and cached[0] == g:
                case_keys[g] = cached[1]
            elif g >= 0:
                wanted[case_key_id(self.keys, case_id, g)] = g
        if memo is None:
            fetched = self._person_keys(persons, list(wanted))
        else:
            fetched = self._memo_keys(memo, persons, list(wanted))
        for kid, g in wanted.items():
            if kid in fetched:
                case_keys[g] = fetched[kid]
        aeads: dict[tuple[int, str], _crypto.Aead | None] = {}
        texts: dict[str, list[Any]] = {}
        for place, _, blob in blobs:
            opened = _opened(case_id, place, (_TEXTS,), blob, case_keys, fetched, aeads)
            try:
                values = json.loads(opened) if opened != TOMBSTONE else []
            except ValueError:
                values = []
            texts[place] = values if type(values) is list else []
        for place, path, container, key, value in sealed:
            if "t" in value:  # one of the texts sealed together
                values, n = texts.get(place, []), value["t"]
                ok = type(n) is int and 0 <= n < len(values) and type(values[n]) is str
                container[key] = values[n] if ok else TOMBSTONE
                continue
            container[key] = _opened(case_id, place, path, value, case_keys, fetched, aeads)


def _ref_key(case_key: bytes, person_key: bytes) -> bytes:
    return _crypto.derive(case_key, b"imflow ref\x00" + person_key)


def _opened(
    case_id: str,
    place: str,
    path: _Path,
    value: dict[str, Any],
    case_keys: dict[int, bytes],
    persons: dict[str, bytes],
    aeads: dict[tuple[int, str], _crypto.Aead | None],
) -> str:
    g = value.get("g", 0)
    ciphertext = value.get("c")
    if type(g) is not int or type(ciphertext) is not str:
        return TOMBSTONE
    person = str(value.get("k", ""))
    slot = (g, person)
    if slot in aeads:
        aead = aeads[slot]
    else:  # one cipher per key and load, not per field
        case_key = case_keys.get(g)
        person_key = persons.get(person) if person else b""
        if case_key is None or person_key is None:
            aead = None
        else:
            aead = _crypto.Aead(_ref_key(case_key, person_key) if person else case_key)
        aeads[slot] = aead
    if aead is None:
        return TOMBSTONE
    plain = aead.open_text(ciphertext, _ad(case_id, place, path))
    return TOMBSTONE if plain is None else plain


def is_sealed_error(text: str) -> bool:
    """Whether a stored hook error is sealed (hook errors start with an exception name)."""
    return text.startswith('{"c":')


def open_error(sealer: Sealer | None, text: str, case_id: str, place: str) -> str:
    """A stored hook error in clear (the tombstone when its key is gone)."""
    if not is_sealed_error(text):
        return text
    if sealer is None:
        raise StoreError("the store holds encrypted hook errors: open it with its key store")
    try:
        doc = {"note": json.loads(text)}
    except ValueError:
        return TOMBSTONE
    sealer.open(case_id, [(place, doc)])
    note: str = doc["note"]
    return note


def generation_of(events: Sequence[Any]) -> int:
    """The generation of a case's next personal content: its latest erasure's seq, or 0."""
    peek = getattr(events, "peek", events.__getitem__)  # a chain: without decoding its rows
    for i in range(len(events) - 1, -1, -1):
        event = peek(i)
        if event.type == "person_erased":
            seq: int = event.seq
            return seq
    return 0


def crypto_schema() -> list[str]:
    """Migration 4: the erased version of each case, the queue of keys to shred and the
    progress of encrypting an older store's rows (the same SQL in SQLite and PostgreSQL)."""
    return [
        "ALTER TABLE cases ADD COLUMN erased_version INTEGER",
        "UPDATE cases SET erased_version = (SELECT max(e.seq) FROM events e"
        " WHERE e.case_id = cases.case_id AND e.type = 'person_erased')",
        "CREATE TABLE imflow_shred (key_id TEXT PRIMARY KEY)",
        "CREATE TABLE imflow_encryption (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " through_case TEXT, done INTEGER NOT NULL)",
        "INSERT INTO imflow_encryption (id, through_case, done) SELECT 1, NULL,"
        " CASE WHEN EXISTS (SELECT 1 FROM events) THEN 0 ELSE 1 END",
        "CREATE INDEX cases_retention ON cases (closed_on) WHERE closed_on IS NOT NULL",
    ]


def crypto_statements(p: Callable[[str], str], *, json_cast: str = "") -> dict[str, str]:
    """The named statements of sealing, erasure, retention and encrypting older rows."""
    return {
        "generation": f"SELECT erased_version FROM cases WHERE case_id = {p('case_id')}",
        "set_erased": (
            f"UPDATE cases SET erased_version = {p('erased_version')}"
            f" WHERE case_id = {p('case_id')}"
        ),
        "queue_shred": (
            f"INSERT INTO imflow_shred (key_id) VALUES ({p('key_id')}) ON CONFLICT DO NOTHING"
        ),
        "shred_queue": "SELECT key_id FROM imflow_shred ORDER BY key_id",
        "shred_done": f"DELETE FROM imflow_shred WHERE key_id = {p('key_id')}",
        "retention_candidates": (
            "SELECT case_id, district, rule_set, closed_on FROM cases WHERE closed_on IS NOT NULL"
            f" AND closed_on < {p('before')}"
            " AND (erased_version IS NULL OR erased_version < version)"
            " ORDER BY closed_on, case_id"
        ),
        "encryption_state": "SELECT through_case, done FROM imflow_encryption WHERE id = 1",
        "encryption_progress": (
            f"UPDATE imflow_encryption SET through_case = {p('through_case')},"
            f" done = {p('done')} WHERE id = 1"
        ),
        "cases_after": (
            f"SELECT case_id FROM cases WHERE case_id > {p('after')}"
            f" ORDER BY case_id LIMIT {p('limit')}"
        ),
        "case_rows": f"SELECT seq, payload FROM events WHERE case_id = {p('case_id')} ORDER BY seq",
        "case_snapshot": (
            f"SELECT snapshot_version, snapshot FROM cases WHERE case_id = {p('case_id')}"
        ),
        "set_snapshot": (
            f"UPDATE cases SET snapshot = {p('snapshot')}{json_cast}"
            f" WHERE case_id = {p('case_id')} AND snapshot_version = {p('snapshot_version')}"
        ),
        "case_errors": (
            "SELECT outbox_id, hook, last_error FROM outbox_deliveries"
            f" WHERE case_id = {p('case_id')} AND last_error <> ''"
        ),
        "set_error": (
            f"UPDATE outbox_deliveries SET last_error = {p('last_error')}"
            f" WHERE outbox_id = {p('outbox_id')} AND hook = {p('hook')}"
        ),
        "case_person_refs": f"SELECT person_ref FROM case_persons WHERE case_id = {p('case_id')}",
    }
