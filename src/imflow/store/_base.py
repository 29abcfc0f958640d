"""Private: what every store shares: the protocol, results, folding and the outbox records."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, runtime_checkable

import attrs

from imflow import _bounds
from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.erasure import Erasure
from imflow.errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InvalidHistory,
    OutOfBounds,
    SchemaTooNew,
)
from imflow.events import CaseOpened, Event, PersonErased

if TYPE_CHECKING:
    from imflow.engine import Engine

__all__: list[str] = ["IdempotencyKeyReused", "SchemaTooNew"]

MAX_KEY = 200
"""The longest idempotency key a store accepts."""

ERASED_FINGERPRINT = "erased"
"""What a key's fingerprint reads as once its case was erased: it never matches again."""


@attrs.frozen
class AppendResult:
    """What :meth:`Store.append` recorded.

    ``version`` is the case's version right after this append; ``replayed`` is true
    when the idempotency key had been used before and the stored result is returned
    without a second write.
    """

    case_id: str
    version: int
    events: tuple[Event, ...]
    replayed: bool = False


@attrs.frozen
class OutboxEntry:
    """One committed event waiting for delivery to the hooks (internal to stores)."""

    id: int
    case_id: str
    seq: int
    event_type: str


DeliveryStatus = Literal["delivered", "retry", "dead", "discarded"]


@attrs.frozen
class Delivery:
    """The delivery state of one event to one hook.

    ``status`` is ``delivered``, ``retry`` (failed, tried again from
    ``next_attempt_at``), ``dead`` (parked after too many failures; see
    :meth:`imflow.outbox.Runner.dead_letters`) or ``discarded`` (an operator gave up on it).
    """

    entry_id: int
    hook: str
    case_id: str
    seq: int
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_error: str
    updated_at: datetime
    next_attempt_at: datetime | None = None


@attrs.frozen
class HookStatus:
    """The outbox's figures for one hook (see :func:`imflow.outbox.status`).

    ``pending`` counts the committed events still to deliver to the hook (``None``
    when the hook's subscriptions were not given, so only its failures are known),
    ``retrying`` the events waiting for a retry, ``dead`` its dead letters, and
    ``oldest_age`` is how long the oldest of them has waited.

    .. versionadded:: 0.2.0
    """

    hook: str
    pending: int | None
    retrying: int
    dead: int
    oldest_age: timedelta | None


@attrs.frozen
class OutboxStatus:
    """What waits in a store's outbox, for an operator or a health endpoint.

    ``pending`` counts the committed events not yet delivered to every hook,
    ``leased`` those of them whose case a runner holds right now, ``dead`` the dead
    letters of all hooks, ``oldest_age`` how long the oldest pending event has waited
    (``None`` when nothing waits), and ``hooks`` the figures per hook, by name.

    .. versionadded:: 0.2.0
    """

    pending: int
    leased: int
    dead: int
    oldest_age: timedelta | None
    hooks: tuple[HookStatus, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (ages in seconds).

        >>> OutboxStatus(pending=2, leased=1, dead=0, oldest_age=timedelta(seconds=90)).as_dict()
        {'pending': 2, 'leased': 1, 'dead': 0, 'oldest_age_seconds': 90.0, 'hooks': []}
        """
        return {
            "pending": self.pending,
            "leased": self.leased,
            "dead": self.dead,
            "oldest_age_seconds": _seconds(self.oldest_age),
            "hooks": [
                {
                    "hook": h.hook,
                    "pending": h.pending,
                    "retrying": h.retrying,
                    "dead": h.dead,
                    "oldest_age_seconds": _seconds(h.oldest_age),
                }
                for h in self.hooks
            ],
        }


def _seconds(age: timedelta | None) -> float | None:
    return None if age is None else round(age.total_seconds(), 3)


def age_of(now: float, since: float | None) -> timedelta | None:
    """The age of something queued at *since* (seconds since 1970), at *now*."""
    return None if since is None else timedelta(seconds=max(now - float(since), 0.0))


class OutboxLog(Protocol):
    """The persistent outbox of a store, as the :class:`imflow.outbox.Runner` uses it.

    The outboxes of imflow's stores also lease cases to runners (``claim``, ``renew``,
    ``release``: any number of runners share the work) and give their figures
    (``status``, ``requeue``; see :func:`imflow.outbox.status`); a runner on an outbox
    without leases works as the only one.

    .. versionchanged:: 0.2.0 leases and figures on imflow's stores.
    """

    def pending(self, *, after: int, limit: int) -> list[OutboxEntry]:
        """Entries not yet done with an id above *after*, oldest first."""
        ...

    def deliveries(self, entries: Sequence[OutboxEntry]) -> dict[tuple[int, str], Delivery]:
        """The recorded deliveries of *entries* by ``(entry id, hook)``."""
        ...

    def record(self, entry: OutboxEntry, deliveries: Sequence[Delivery], *, done: bool) -> None:
        """Save *deliveries* of *entry* (and mark it done) in one transaction."""
        ...

    def dead_letters(self) -> list[Delivery]:
        """Every delivery parked as ``dead``, oldest first."""
        ...

    def entry(self, entry_id: int) -> OutboxEntry | None:
        """The entry with *entry_id*, if it exists."""
        ...

    def count_pending(self) -> int:
        """How many entries are not yet done."""
        ...


@runtime_checkable
class Store(Protocol):
    """An event store: the cases' events, appended optimistically and idempotently.

    Implementations: :class:`~imflow.store.MemoryStore`, :class:`~imflow.store.SQLiteStore`
    and :class:`~imflow.store.PostgresStore`; one contract test suite runs against all three.
    """

    engine: Engine

    def append(
        self,
        case_id: str,
        events: Iterable[Event],
        *,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append *events* to the case if it is at *expected_version*.

        Raises :class:`~imflow.ConcurrencyConflict` (writing nothing) when it is not, and
        :class:`~imflow.InvalidHistory` (writing nothing) for events the store's engine
        could not have recorded on the case (see :meth:`imflow.Engine.admit`).
        Re-sending an *idempotency_key* with the same events returns the stored result
        without writing; with anything else it raises
        :class:`~imflow.IdempotencyKeyReused`. Keys live in the tenant (district and
        provider) of the first event's actor.
        """
        ...

    def recall(self, idempotency_key: str, *, by: Actor) -> AppendResult | None:
        """The result stored for *idempotency_key* in *by*'s tenant, if it was used before.

        Raises :class:`~imflow.IdempotencyKeyReused` when another actor used the key.
        """
        ...

    def load(self, case_id: str) -> Case:
        """The case folded from its snapshot and events; raises :class:`~imflow.CaseNotFound`."""
        ...

    def events(self, case_id: str) -> tuple[Event, ...]:
        """The case's events in order; raises :class:`~imflow.CaseNotFound`."""
        ...

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
        ...

    def due_cases(self, on: date) -> Iterator[Case]:
        """Open cases whose period ended before *on* (``period_end < on``), by period end and id."""
        ...

    def erase_person(self, person_ref: str, *, on: date, by: Actor = SYSTEM) -> Erasure:
        """Erase the person's personal content from every case they appear in.

        Returns an :class:`~imflow.erasure.Erasure`: the erased cases' ids (as a tuple)
        with what was rewritten, deleted and purged.
        """
        ...

    @property
    def outbox(self) -> OutboxLog:
        """The store's outbox of committed events for :class:`imflow.outbox.Runner`."""
        ...

    def close(self) -> None:
        """Release the store's connection; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class CaseCache:
    """The most recently used cases by id, each at the version it was loaded or written.

    A case at a given version never changes (erasure appends an event), so a cached
    case is valid for as long as the store's version of it is the same. Safe to share
    between threads (its lock is held for a dictionary operation only); it must only
    ever hold committed cases.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._cases: OrderedDict[str, Case] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, case_id: str) -> Case | None:
        with self._lock:
            case = self._cases.get(case_id)
            if case is not None:
                self._cases.move_to_end(case_id)
            return case

    def put(self, case: Case) -> None:
        if self.size <= 0:
            return
        with self._lock:
            known = self._cases.get(case.case_id)
            if known is not None and known.version > case.version:
                return  # a later version is cached already (committed by another thread)
            self._cases[case.case_id] = case
            self._cases.move_to_end(case.case_id)
            if len(self._cases) > self.size:
                self._cases.popitem(last=False)

    def drop(self, case_id: str) -> None:
        with self._lock:
            self._cases.pop(case_id, None)

    def clear(self) -> None:
        with self._lock:
            self._cases.clear()


def check_batch(case_id: str, events: Sequence[Event], expected_version: int) -> None:
    """Reject a batch that cannot be appended at all, before touching the store."""
    if not events:
        raise InvalidHistory("append needs at least one event")
    if type(expected_version) is not int or expected_version < 0:
        raise InvalidHistory("expected_version must be an integer of at least 0")
    if type(case_id) is not str or _bounds.id_problem(case_id):
        raise InvalidHistory(f"case_id {_bounds.ID_PROBLEM}")
    for offset, event in enumerate(events):
        if getattr(event, "case_id", None) != case_id:
            raise InvalidHistory(f"event {offset + 1} of the batch belongs to another case")
        if getattr(event, "seq", None) != expected_version + offset + 1:
            raise InvalidHistory(
                f"event {offset + 1} of the batch has not seq {expected_version + offset + 1}"
            )


def valid_id(value: object) -> bool:
    """Whether *value* could be an id a store holds (anything else is never looked up)."""
    return type(value) is str and _bounds.id_problem(value) is None


def check_key(key: str | None) -> None:
    """Refuse an idempotency key that no store could keep."""
    if key is None:
        return
    if type(key) is not str or not (
        0 < len(key) <= MAX_KEY and key.isprintable() and not key.isspace()
    ):
        raise OutOfBounds("idempotency_key", f"must be 1 to {MAX_KEY} printable characters")


def tenant(actor: Any) -> tuple[str, str]:
    """The namespace of an actor's idempotency keys: ``(district, provider)``, ``""`` for none.

    Ids are never empty, so ``""`` cannot collide with a real district or provider.
    """
    district = getattr(actor, "district", None)
    provider = getattr(actor, "provider", None)
    return (
        district if type(district) is str else "",
        provider if type(provider) is str else "",
    )


def batch_tenant(events: Sequence[Event]) -> tuple[str, str]:
    """The tenant a batch's key belongs to: that of its first event's actor."""
    return tenant(getattr(events[0], "actor", None)) if events else ("", "")


def fingerprint(events: Sequence[Event]) -> str | None:
    """A digest of *events* without their ``recorded_at``, or ``None`` if they have none.

    Binds an idempotency key to its case, actor and content: a retry (same command,
    decided again at another time) has the same fingerprint, anything else another.
    """
    from imflow.serialization import to_document

    try:
        docs = []
        for event in events:
            doc = to_document(event)
            doc.pop("recorded_at", None)
            docs.append(doc)
        text = json.dumps(docs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except Exception:  # not documents at all: they match nothing
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def replay_of(
    stored_case: str,
    stored: tuple[Event, ...],
    stored_fingerprint: str | None,
    *,
    case_id: str | None,
    batch: Sequence[Event] | None,
    by: Actor | None,
) -> AppendResult:
    """The stored result of a key, if this request may have it; else IdempotencyKeyReused.

    *stored* are the events the key recorded; *stored_fingerprint* their fingerprint
    (``None`` for a key kept by an older imflow: recomputed from *stored*).
    """
    if case_id is not None and stored_case != case_id:
        raise IdempotencyKeyReused()
    if by is not None and (not stored or stored[0].actor != by):
        raise IdempotencyKeyReused()
    if batch is not None:
        known = fingerprint(stored) if stored_fingerprint is None else stored_fingerprint
        if known == ERASED_FINGERPRINT or known is None or known != fingerprint(batch):
            raise IdempotencyKeyReused()
    return AppendResult(stored_case, stored[-1].seq if stored else 0, stored, replayed=True)


def conflict(case_id: str, expected: int, actual: int) -> ConcurrencyConflict:
    return ConcurrencyConflict(case_id, expected=expected, actual=actual)


def persons_of(events: Iterable[Event]) -> list[str]:
    """The person references a batch introduces (main person and household members)."""
    refs: list[str] = []
    for event in events:
        if isinstance(event, CaseOpened):
            refs.append(event.person)
            refs.extend(event.members)
    return list(dict.fromkeys(refs))


def check_erasure(person_ref: str, on: date, by: Actor) -> None:
    """Refuse the arguments of ``erase_person`` that no store could record."""
    if type(person_ref) is not str:
        raise TypeError(f"person_ref must be a str, got {_bounds.kind_of(person_ref)}")
    if type(on) is not date or _bounds.date_problem(on):
        raise OutOfBounds("on", _bounds.DATE_PROBLEM)
    if type(by) is not Actor or not _bounds.actor_ok(by):
        raise OutOfBounds("by", "must be an Actor whose id, provider and district are ids")


def erasure_event(engine: Engine, case: Case, *, on: date, by: Actor) -> PersonErased:
    """The :class:`PersonErased` event for *case*, dated no earlier than its latest event."""
    return PersonErased(
        case_id=case.case_id,
        seq=case.version + 1,
        on=max(on, case.latest_on),
        recorded_at=max(engine.clock(), case.events[-1].recorded_at),
        actor=by,
    )


def closed_on(case: Case) -> date | None:
    return None if case.closure is None else case.closure.on
