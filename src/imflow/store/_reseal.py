"""Private: encrypting the personal fields an older imflow stored in clear (upgrade path).

One transaction per case, in case-id order; the last case done is recorded in the same
transaction (``imflow_encryption.through_case``), so a run that is killed resumes after
it, and running again when everything is sealed changes nothing. Freed content is
zeroed (SQLite ``secure_delete``) and the WAL is checkpointed at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from imflow.store._cipher import TOMBSTONE, is_sealed_error

if TYPE_CHECKING:
    from imflow.store._sql import SqlStore

__all__ = ["Encryption", "encrypt_existing"]


@attrs.frozen
class Encryption:
    """What :meth:`encrypt_existing` did: ``cases`` looked at in this run, ``changed``
    among them, and whether the whole store is now ``done``."""

    cases: int
    changed: int
    done: bool


def _generation_at(erasures: list[int], seq: int) -> int:
    """The generation of content at *seq*: the latest erasure before it, or 0."""
    earlier = [e for e in erasures if e < seq]
    return max(earlier) if earlier else 0


def _plain_fields(doc: Any) -> bool:
    from imflow.store._cipher import _plain, _visit

    found: list[bool] = []

    def seen(path: Any, name: str, container: Any, key: Any) -> None:
        if _plain(container[key]):
            found.append(True)

    _visit(doc, (), seen)
    return bool(found)


def _reseal_case(store: SqlStore, case_id: str) -> bool:
    sealer = store._sealer
    assert sealer is not None
    rows = [(int(r[0]), store._doc(r[1])) for r in store._rows("case_rows", {"case_id": case_id})]
    erasures = [seq for seq, doc in rows if doc.get("type") == "person_erased"]
    changed = False
    persons: list[str] = []
    rewrites = []
    for seq, doc in rows:
        if seq == 1 and doc.get("type") == "case_opened":
            refs = [doc.get("person"), *(doc.get("members") or [])]
            persons = [r for r in refs if type(r) is str and r not in ("", TOMBSTONE)]
        if _plain_fields(doc):
            text = store._sealed(doc, case_id, f"e{seq}", _generation_at(erasures, seq))
            rewrites.append({"case_id": case_id, "seq": seq, "payload": text})
    if rewrites:
        store._exec_many("rewrite_payload", rewrites)
        changed = True
    snap = store._rows("case_snapshot", {"case_id": case_id})
    if snap and snap[0][1] is not None:
        version, doc = int(snap[0][0]), store._doc(snap[0][1])
        if _plain_fields(doc):
            generation = _generation_at(erasures, version + 1)
            sealer.seal(doc, case_id, f"s{version}", generation, together=True)
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            store._exec(
                "set_snapshot", {"case_id": case_id, "snapshot": text, "snapshot_version": version}
            )
            changed = True
    indexed = {r[0] for r in store._rows("case_person_refs", {"case_id": case_id})}
    if indexed & set(persons):  # the person index still names them in clear
        store._exec("forget_case_persons", {"case_id": case_id})
        kids = dict.fromkeys(sealer.person_key_id(p) for p in persons)
        store._exec_many("insert_person", [{"person_ref": k, "case_id": case_id} for k in kids])
        changed = True
    current = max(erasures) if erasures else 0
    for outbox_id, hook, error in store._rows("case_errors", {"case_id": case_id}):
        if error == TOMBSTONE or is_sealed_error(error):
            continue
        sealed = sealer.seal_text(error, case_id, f"o{int(outbox_id)}/{hook}", current)
        store._exec("set_error", {"outbox_id": outbox_id, "hook": hook, "last_error": sealed})
        changed = True
    return changed


def encrypt_existing(
    store: SqlStore,
    *,
    batch: int = 100,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Encryption:
    """Seal every personal field *store* holds in clear; see the module docstring."""
    if store._sealer is None:
        raise ValueError("the store was opened with encrypt=False: there is no key store")
    seen = changed = 0
    with store._session():
        state = store._rows("encryption_state", {})
        after = (state[0][0] if state else None) or ""
        while limit is None or seen < limit:
            size = batch if limit is None else min(batch, limit - seen)
            ids = [r[0] for r in store._rows("cases_after", {"after": after, "limit": size})]
            if not ids:
                with store._transaction():
                    store._exec("encryption_progress", {"through_case": None, "done": 1})
                store._flush_log()
                return Encryption(seen, changed, True)
            for case_id in ids:
                with store._transaction():
                    store._erasure_begins()
                    changed += _reseal_case(store, case_id)
                    store._exec("encryption_progress", {"through_case": case_id, "done": 0})
                store._cache.drop(case_id)
                seen += 1
                after = case_id
                if progress is not None:
                    progress(seen)
        store._flush_log()
    return Encryption(seen, changed, False)
