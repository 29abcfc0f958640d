"""The cold SQLite command, third pass (#17): what was made cheaper gives what it gave.

- :func:`imflow._json.loads` reads every text as ``json.loads`` does (value or error),
  and :func:`imflow._json.compact` writes what ``json.dumps`` with the store's options
  writes, for random values and random, also broken, texts;
- a snapshot (the case without its history, built without ``Case.__init__``) is the
  text the store wrote before, in clear, and opens to that document when encrypted;
- a case's row (its columns, read once from the opening event) is what the case's own
  properties say, at every version of random histories;
- random histories appended in random batches (each batch a conditional update of the
  case row, the version only when no indexed column changed) leave the row saying what
  the case is, and load (snapshot, lazy contacts) as their replay, clear and encrypted;
- the report-facts fold writes its state as the tail of the whole history, and the
  SQLite key store's one master cipher follows a rotation.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow._decode import CONTACTS_FROM_EVENTS, without_history
from imflow._json import compact, loads
from imflow.case import Case
from imflow.chain import Chain
from imflow.events import Event, GoalAdded, GoalStatusSet
from imflow.kennzahlen._fold import Fold, encode_tail, tail_of
from imflow.kennzahlen._stored import AFTER, summary_rows, window_of
from imflow.keys import MasterKey
from imflow.serialization import to_document
from imflow.store import SQLiteStore
from imflow.store._keys_sqlite import SQLiteKeyStore
from imflow.testing import Trajectory, trajectories
from tests.stores import far_future_engine
from tests.test_report_facts_steps import scrambled

ENGINE = far_future_engine()
_ids = itertools.count()
_STORES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_EMPTY: Chain[Any] = Chain()

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _outcome(read: Any, text: Any) -> tuple[str, str]:
    try:
        return "value", repr(read(text))
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _texts() -> st.SearchStrategy[str | bytes]:
    written = _values.map(compact)
    spaced = st.tuples(
        st.sampled_from(["", " ", "\n", "\t "]),
        written,
        st.sampled_from(["", " ", "x", "}", ",1", "\ufeff"]),
    )
    return (
        written
        | spaced.map("".join)
        | st.text(alphabet='[]{}",:0123456789.eE-+ ntrufalsNI\\', max_size=20)
        | st.text(max_size=12)
        | written.map(lambda t: t.encode())
        | st.tuples(written, written).map("".join)
    )


@given(text=_texts())
def test_loads_reads_every_text_as_json_loads(text: str | bytes) -> None:
    assert _outcome(loads, text) == _outcome(json.loads, text)


@given(value=_values)
def test_compact_writes_what_json_dumps_writes(value: Any) -> None:
    assert compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _prefixes(walk: Trajectory) -> list[Case]:
    events: tuple[Event, ...] = walk.case.events[:]
    return [ENGINE.replay(events[:n]) for n in range(1, len(events) + 1)]


def _snapshot_before(case: Case) -> dict[str, Any]:
    """The snapshot document as the store made it before this pass (attrs.evolve)."""
    doc = to_document(attrs.evolve(case, events=_EMPTY, contacts=_EMPTY))
    del doc["events"]
    doc.pop("contacts", None)
    doc[CONTACTS_FROM_EVENTS] = True
    return doc


@_STORES
@given(walk=trajectories(max_steps=20))
def test_a_snapshot_is_the_one_written_before_clear_and_encrypted(
    tmp_path: Path, walk: Trajectory
) -> None:
    n = next(_ids)
    clear = SQLiteStore(tmp_path / f"c{n}.db", engine=ENGINE, encrypt=False)
    sealed = SQLiteStore(tmp_path / f"e{n}.db", engine=ENGINE)
    try:
        for case in _prefixes(walk):
            bare = without_history(case)
            assert bare == attrs.evolve(case, events=(), contacts=())
            assert type(bare.events) is Chain and type(bare.contacts) is Chain
            assert case.events and len(case.events) == case.version  # the case is untouched
            before = _snapshot_before(case)
            text = clear._snapshot(case, 0)
            assert text == json.dumps(before, ensure_ascii=False, separators=(",", ":"))
            doc = json.loads(sealed._snapshot(case, 0))
            assert "sealed_texts" in doc or doc == before  # its free texts are sealed
            assert sealed._sealer is not None
            sealed._sealer.open(case.case_id, [(f"s{case.version}", doc)])
            assert doc == json.loads(text)
    finally:
        clear.close()
        sealed.close()


def _columns_of(case: Case) -> dict[str, Any]:
    """A case's row from its own properties (dates as SQLite holds them)."""
    closed = None if case.closure is None else case.closure.on.isoformat()
    period_end = None if case.period_end is None else case.period_end.isoformat()
    return {
        "case_id": case.case_id,
        "district": case.district,
        "provider": case.provider,
        "phase": str(case.phase),
        "rule_set": case.rule_set,
        "opened_on": case.period_start.isoformat(),
        "period_end": period_end,
        "closed_on": closed,
        "version": case.version,
    }


@_STORES
@given(walk=trajectories(max_steps=25))
def test_a_case_row_is_what_the_case_says_at_every_version(
    tmp_path: Path, walk: Trajectory
) -> None:
    store = SQLiteStore(tmp_path / f"r{next(_ids)}.db", engine=ENGINE, encrypt=False)
    try:
        for case in _prefixes(walk):
            assert store._case_row(case) == _columns_of(case)
    finally:
        store.close()


def _stored_row(store: SQLiteStore, case_id: str) -> dict[str, Any]:
    names = "case_id district provider phase rule_set opened_on period_end closed_on version"
    names = names.replace(" ", ", ")
    with store._session():
        rows = store._query(
            f"SELECT {names} FROM cases WHERE case_id = :case_id", {"case_id": case_id}
        )
    return dict(zip(names.split(", "), rows[0], strict=True))


@_STORES
@given(
    walk=trajectories(max_steps=25),
    cuts=st.lists(st.integers(1, 4), min_size=1, max_size=30),
    every=st.integers(1, 3),
    encrypt=st.booleans(),
)
def test_batches_leave_the_row_right_and_load_as_their_replay(
    tmp_path: Path, walk: Trajectory, cuts: list[int], every: int, encrypt: bool
) -> None:
    events: tuple[Event, ...] = walk.case.events[:]
    path = tmp_path / f"b{next(_ids)}.db"
    store = SQLiteStore(path, engine=ENGINE, encrypt=encrypt, snapshot_every=every, cache_size=0)
    try:
        case_id, done = events[0].case_id, 0
        for size in itertools.cycle(cuts):
            if done == len(events):
                break
            batch = events[done : done + size]
            store.append(case_id, batch, expected_version=done)
            done += len(batch)
            replayed = ENGINE.replay(events[:done])
            assert _stored_row(store, case_id) == _columns_of(replayed)
            loaded = store.load(case_id)
            assert loaded == replayed
            assert tuple(loaded.contacts) == tuple(replayed.contacts)
            assert loaded.events == replayed.events
    finally:
        store.close()


def _statuses_first(events: tuple[Event, ...]) -> tuple[Event, ...]:
    """*events* without their goals added and with the goal statuses moved right after
    the first event, by goal id descending (goals never added, met out of their order:
    they stay in the state), numbered anew."""
    statuses = sorted(
        (e for e in events[1:] if isinstance(e, GoalStatusSet)),
        key=lambda e: e.goal_id,
        reverse=True,
    )
    rest = [e for e in events[1:] if not isinstance(e, GoalStatusSet | GoalAdded)]
    moved = [events[0], *statuses, *rest]
    return tuple(attrs.evolve(e, seq=i) for i, e in enumerate(moved, 1))


@settings(max_examples=60, deadline=None)
@given(events=scrambled(), statuses_first=st.booleans())
def test_a_fold_s_state_is_the_encoded_tail_of_its_history(
    events: tuple[Event, ...], statuses_first: bool
) -> None:
    if statuses_first:
        events = _statuses_first(events)
    after = {year: facts for year, facts, _ in summary_rows(events[:1], 0)}[AFTER]
    fold = Fold(json.loads(after), tail_of(events[:1]), window_of(AFTER)).steps(events[1:])
    assert fold.state() == encode_tail(fold.tail()) == encode_tail(tail_of(events))


def test_a_rotated_key_store_reads_its_keys_at_once(tmp_path: Path) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    keys = SQLiteKeyStore(tmp_path / "r.keys", master_key=old)
    try:
        ids = [keys.key_id("person", f"p-{i}") for i in range(3)]
        made = keys.keys(ids, create=True)
        assert keys.rotate(new) == 3
        assert keys.keys(ids) == made  # the same key store, unwrapping with the new key
        later = keys.key_id("person", "p-later")
        made.update(keys.keys([later], create=True))
    finally:
        keys.close()
    again = SQLiteKeyStore(tmp_path / "r.keys", master_key=new)
    try:
        assert again.keys([*ids, later]) == made
    finally:
        again.close()
