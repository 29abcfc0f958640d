"""Private: the in-memory store, for tests, simulations and single-process tools."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Self

import attrs

from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.engine import Engine, trusted_fold
from imflow.erasure import TOMBSTONE, Erasure
from imflow.errors import CaseNotFound
from imflow.events import Event
from imflow.logging import get_logger
from imflow.store._base import (
    ERASED_FINGERPRINT,
    AppendResult,
    Delivery,
    HookStatus,
    OutboxEntry,
    OutboxStatus,
    age_of,
    batch_tenant,
    check_batch,
    check_erasure,
    check_key,
    conflict,
    erasure_event,
    fingerprint,
    persons_of,
    replay_of,
    tenant,
)
from imflow.store._cipher import generation_of

__all__ = ["MemoryStore"]


class _MemoryOutbox:
    """The outbox of a :class:`MemoryStore`: same semantics, no persistence."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._entries: dict[int, OutboxEntry] = {}
        self._done: set[int] = set()
        self._deliveries: dict[tuple[int, str], Delivery] = {}
        self._enqueued: dict[int, float] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._next_id = 1

    def add(self, events: Sequence[Event]) -> None:
        for event in events:
            entry = OutboxEntry(self._next_id, event.case_id, event.seq, event.type)
            self._entries[entry.id] = entry
            self._enqueued[entry.id] = time.time()
            self._next_id += 1

    def claim(self, case_ids: Iterable[str], *, owner: str, seconds: float) -> set[str]:
        with self._lock:
            now = time.monotonic()
            held = set()
            for case_id in set(case_ids):
                current = self._leases.get(case_id)
                if current is None or current[1] < now or current[0] == owner:
                    self._leases[case_id] = (owner, now + seconds)
                    held.add(case_id)
            return held

    def renew(self, case_id: str, *, owner: str, seconds: float) -> bool:
        with self._lock:
            current = self._leases.get(case_id)
            if current is None or current[0] != owner:
                return False
            self._leases[case_id] = (owner, time.monotonic() + seconds)
            return True

    def release(self, *, owner: str) -> None:
        with self._lock:
            for case_id in [c for c, (o, _) in self._leases.items() if o == owner]:
                del self._leases[case_id]

    def status(self, subscriptions: Mapping[str, Sequence[str]] | None = None) -> OutboxStatus:
        with self._lock:
            now, live = time.time(), time.monotonic()
            waiting = [e for i, e in self._entries.items() if i not in self._done]
            leased = {c for c, (_, until) in self._leases.items() if until >= live}
            final = {
                k for k, d in self._deliveries.items() if d.status in ("delivered", "discarded")
            }
            hooks = []
            failed = {d.hook for d in self._deliveries.values() if d.status in ("retry", "dead")}
            for hook in sorted({*(subscriptions or {}), *failed}):
                mine = [
                    d
                    for d in self._deliveries.values()
                    if d.hook == hook and d.status in ("retry", "dead")
                ]
                if subscriptions is not None and hook in subscriptions:
                    types = set(subscriptions[hook])
                    ids = [
                        e.id for e in waiting if e.event_type in types and (e.id, hook) not in final
                    ]
                    pending: int | None = len(ids)
                else:
                    ids, pending = [d.entry_id for d in mine], None
                since = min((self._enqueued[i] for i in ids), default=None)
                retrying = sum(d.status == "retry" for d in mine)
                hooks.append(
                    HookStatus(hook, pending, retrying, len(mine) - retrying, age_of(now, since))
                )
            return OutboxStatus(
                pending=len(waiting),
                leased=sum(e.case_id in leased for e in waiting),
                dead=sum(h.dead for h in hooks),
                oldest_age=age_of(now, min((self._enqueued[e.id] for e in waiting), default=None)),
                hooks=tuple(hooks),
            )

    def requeue(self, *, hook: str, events: Sequence[tuple[str, int]] | None, now: datetime) -> int:
        with self._lock:
            wanted = None if events is None else set(events)
            count = 0
            for key, d in list(self._deliveries.items()):
                if d.hook != hook or d.status != "dead":
                    continue
                if wanted is not None and (d.case_id, d.seq) not in wanted:
                    continue
                self._deliveries[key] = attrs.evolve(
                    d, status="retry", attempts=0, next_attempt_at=None, updated_at=now
                )
                count += 1
            return count

    def pending(self, *, after: int, limit: int) -> list[OutboxEntry]:
        with self._lock:
            found = [e for i, e in self._entries.items() if i > after and i not in self._done]
            return found[:limit]

    def deliveries(self, entries: Sequence[OutboxEntry]) -> dict[tuple[int, str], Delivery]:
        with self._lock:
            ids = {e.id for e in entries}
            return {k: d for k, d in self._deliveries.items() if k[0] in ids}

    def record(self, entry: OutboxEntry, deliveries: Sequence[Delivery], *, done: bool) -> None:
        with self._lock:
            for d in deliveries:
                self._deliveries[(d.entry_id, d.hook)] = d
            if done:
                self._done.add(entry.id)

    def dead_letters(self) -> list[Delivery]:
        with self._lock:
            dead = [d for d in self._deliveries.values() if d.status == "dead"]
            return sorted(dead, key=lambda d: (d.entry_id, d.hook))

    def entry(self, entry_id: int) -> OutboxEntry | None:
        with self._lock:
            return self._entries.get(entry_id)

    def count_pending(self) -> int:
        with self._lock:
            return len(self._entries) - len(self._done)

    def forget_errors(self, case_id: str) -> None:
        for key, d in list(self._deliveries.items()):
            if d.case_id == case_id and d.last_error:
                self._deliveries[key] = _erased_error(d)


def _erased_error(d: Delivery) -> Delivery:
    return attrs.evolve(d, last_error=TOMBSTONE)


class MemoryStore:
    """A store that keeps cases in memory; the reference for the store contract.

    Appends are atomic (all events of a batch or none), optimistic and idempotent, as
    in the SQL stores; nothing survives the process.

    >>> from datetime import date
    >>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
    >>> store = MemoryStore(engine=Engine(clock=FrozenClock.on(date(2025, 3, 1))))
    >>> im = Actor("im-1", Role.MANAGER, provider="awo", district="08111")
    >>> case = store.engine.open(c.OpenCase(case_id="m-1", person="p-1", district="08111",
    ...                                     provider="awo", on=date(2025, 3, 1)), by=im)
    >>> store.append("m-1", case.events, expected_version=0).version
    1
    >>> store.load("m-1") == case
    True

    .. versionadded:: 0.1.0
    """

    def __init__(self, *, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self._lock = threading.RLock()
        self._cases: dict[str, Case] = {}
        # (district, provider, key) -> (case id, first seq, last seq, fingerprint)
        self._keys: dict[tuple[str, str, str], tuple[str, int, int, str | None]] = {}
        self._persons: dict[str, set[str]] = {}
        self._outbox = _MemoryOutbox(self._lock)
        self._closed = False

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        case_id: str,
        events: Iterable[Event],
        *,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append *events* if the case is at *expected_version* (see :class:`Store`).

        Every event is re-decided by the store's engine first (:meth:`Engine.admit`);
        anything it could not have recorded raises :class:`~imflow.InvalidHistory` and
        nothing is written.
        """
        batch = tuple(events)
        check_key(idempotency_key)
        with self._lock:
            self._check_open()
            if idempotency_key is not None:
                stored = self._recall(idempotency_key, batch_tenant(batch), case_id, batch, None)
                if stored is not None:
                    return stored
            check_batch(case_id, batch, expected_version)
            base = self._cases.get(case_id)
            actual = 0 if base is None else base.version
            if actual != expected_version:
                raise conflict(case_id, expected_version, actual)
            new = self.engine.admit(base, batch)
            # nothing can fail from here on: the batch is committed as a whole
            self._cases[case_id] = new
            for ref in persons_of(batch):
                self._persons.setdefault(ref, set()).add(case_id)
            if idempotency_key is not None:
                district, provider = batch_tenant(batch)
                self._keys[(district, provider, idempotency_key)] = (
                    case_id,
                    batch[0].seq,
                    batch[-1].seq,
                    fingerprint(batch),
                )
            self._outbox.add(batch)
            return AppendResult(case_id, new.version, batch)

    def recall(self, idempotency_key: str, *, by: Actor) -> AppendResult | None:
        """The result stored for *idempotency_key* in *by*'s tenant, if it was used before.

        Raises :class:`~imflow.IdempotencyKeyReused` when another actor used the key.
        """
        check_key(idempotency_key)
        with self._lock:
            self._check_open()
            return self._recall(idempotency_key, tenant(by), None, None, by)

    def _recall(
        self,
        key: str,
        scope: tuple[str, str],
        case_id: str | None,
        batch: tuple[Event, ...] | None,
        by: Actor | None,
    ) -> AppendResult | None:
        found = self._keys.get((*scope, key))
        if found is None:
            return None
        stored_case, first, last, digest = found
        events = self._cases[stored_case].events[first - 1 : last]
        return replay_of(stored_case, events, digest, case_id=case_id, batch=batch, by=by)

    def erase_person(self, person_ref: str, *, on: date, by: Actor = SYSTEM) -> Erasure:
        """Replace the person's personal content in every case they appear in (not undoable).

        Appends a :class:`~imflow.events.PersonErased` event to each case; returns an
        :class:`~imflow.erasure.Erasure` (the erased cases' ids). The idempotency keys
        of the erased cases are never replayed again. Nothing is encrypted in memory
        (the cases are values in this process), so no keys are deleted.
        """
        check_erasure(person_ref, on, by)
        with self._lock:
            self._check_open()
            case_ids = self.cases_of(person_ref)
            rewritten = self._erase_cases(case_ids, on=on, by=by)
        if case_ids:
            get_logger().info("person_erased", case_ids=list(case_ids), events_rewritten=rewritten)
        return Erasure(case_ids, events_rewritten=rewritten)

    def erase_cases(self, case_ids: Sequence[str], *, on: date, by: Actor = SYSTEM) -> Erasure:
        """Erase the personal content of the cases *case_ids* (retention, see
        :mod:`imflow.retention`).

        .. versionadded:: 0.2.0
        """
        if isinstance(case_ids, str):
            raise TypeError("case_ids must be a sequence of case ids, not one str")
        ids = tuple(dict.fromkeys(case_ids))
        check_erasure("", on, by)
        with self._lock:
            self._check_open()
            for case_id in ids:
                if case_id not in self._cases:
                    raise CaseNotFound(case_id)
            rewritten = self._erase_cases(ids, on=on, by=by)
        if ids:
            get_logger().info("cases_erased", case_ids=list(ids), events_rewritten=rewritten)
        return Erasure(ids, events_rewritten=rewritten)

    def retention_candidates(self, *, closed_before: date) -> list[tuple[str, str, str, date]]:
        """``(case id, district, rule set, closed on)`` of the cases closed before
        *closed_before* and not erased since their latest event, by closure date.

        .. versionadded:: 0.2.0
        """
        with self._lock:
            self._check_open()
            cases = list(self._cases.values())
        found = [
            (c.case_id, c.district, c.rule_set, c.closure.on)
            for c in cases
            if c.closure is not None
            and c.closure.on < closed_before
            and generation_of(c.events) < c.version
        ]
        return sorted(found, key=lambda f: (f[3], f[0]))

    def cases_of(self, person_ref: str) -> tuple[str, ...]:
        """The ids of the cases *person_ref* appears in (as the person or a member).

        .. versionadded:: 0.2.0
        """
        if type(person_ref) is not str:
            raise TypeError("person_ref must be a str")
        with self._lock:
            self._check_open()
            return tuple(sorted(self._persons.get(person_ref, ())))

    def export_person(self, person_ref: str, *, by: Actor) -> str:
        """The person's cases and events as one JSON document (DSGVO Art. 15); see
        :func:`imflow.export.export_person`.

        .. versionadded:: 0.2.0
        """
        from imflow.export import export_person

        return export_person(self, person_ref, by=by)

    def _erase_cases(self, case_ids: Sequence[str], *, on: date, by: Actor) -> int:
        rewritten = 0
        for case_id in case_ids:
            case = self._cases[case_id]
            event = erasure_event(self.engine, case, on=on, by=by)
            new = trusted_fold(self.engine, case, (event,))
            rewritten += sum(a != b for a, b in zip(case.events, new.events, strict=False))
            self._cases[case_id] = new
            self._outbox.add((event,))
            self._outbox.forget_errors(case_id)
            for refs in self._persons.values():
                refs.discard(case_id)
            for k, (stored_case, first, last, _) in list(self._keys.items()):
                if stored_case == case_id:
                    self._keys[k] = (stored_case, first, last, ERASED_FINGERPRINT)
        self._persons = {ref: ids for ref, ids in self._persons.items() if ids}
        return rewritten

    # -- reading ---------------------------------------------------------------------------

    def load(self, case_id: str) -> Case:
        """The case; raises :class:`~imflow.CaseNotFound`."""
        with self._lock:
            self._check_open()
            case = self._cases.get(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case

    def events(self, case_id: str) -> tuple[Event, ...]:
        """The case's events in order; raises :class:`~imflow.CaseNotFound`."""
        return self.load(case_id).events[:]

    def iter_cases(
        self,
        *,
        district: str | None = None,
        provider: str | None = None,
        phase: str | None = None,
        period_end_before: date | None = None,
        open_only: bool = False,
    ) -> Iterator[Case]:
        """The cases that match every given filter, by case id."""
        with self._lock:
            self._check_open()
            cases = sorted(self._cases.values(), key=lambda c: c.case_id)
        for case in cases:
            if district is not None and case.district != district:
                continue
            if provider is not None and case.provider != provider:
                continue
            if phase is not None and case.phase != phase:
                continue
            if period_end_before is not None and (
                case.period_end is None or not case.period_end < period_end_before
            ):
                continue
            if open_only and not case.is_open:
                continue
            yield case

    def due_cases(self, on: date) -> Iterator[Case]:
        """Open cases whose period ended before *on*, by period end and case id."""
        due = self.iter_cases(period_end_before=on, open_only=True)
        return iter(sorted(due, key=lambda c: (c.period_end or on, c.case_id)))

    @property
    def outbox(self) -> _MemoryOutbox:
        """The outbox of committed events (see :class:`imflow.outbox.Runner`)."""
        return self._outbox

    # -- life cycle ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed")

    def close(self) -> None:
        """Close the store; its data is gone."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
