"""Private: what every store shares: the protocol, results, folding and the outbox records."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, Self, runtime_checkable

import attrs

from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.engine import InvalidHistory
from imflow.errors import ConcurrencyConflict, ImflowError
from imflow.events import CaseOpened, Event, PersonErased

if TYPE_CHECKING:
    from imflow.engine import Engine

__all__: list[str] = []


class SchemaTooNew(ImflowError, RuntimeError):
    """The database was migrated by a newer imflow than this one; nothing was changed."""


class IdempotencyKeyReused(ImflowError, ValueError):
    """An idempotency key was sent again for a different case."""


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


class OutboxLog(Protocol):
    """The persistent outbox of a store, as the :class:`imflow.outbox.Runner` uses it."""

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

        Raises :class:`~imflow.ConcurrencyConflict` (writing nothing) when it is not.
        Re-sending an *idempotency_key* returns the stored result without writing.
        """
        ...

    def recall(self, idempotency_key: str) -> AppendResult | None:
        """The result stored for *idempotency_key*, if it was used before."""
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

    def erase_person(self, person_ref: str, *, on: date, by: Actor = SYSTEM) -> tuple[str, ...]:
        """Erase the person's personal content from every case they appear in."""
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
    case is valid for as long as the store's version of it is the same.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._cases: OrderedDict[str, Case] = OrderedDict()

    def get(self, case_id: str) -> Case | None:
        case = self._cases.get(case_id)
        if case is not None:
            self._cases.move_to_end(case_id)
        return case

    def put(self, case: Case) -> None:
        if self.size <= 0:
            return
        self._cases[case.case_id] = case
        self._cases.move_to_end(case.case_id)
        if len(self._cases) > self.size:
            self._cases.popitem(last=False)

    def drop(self, case_id: str) -> None:
        self._cases.pop(case_id, None)

    def clear(self) -> None:
        self._cases.clear()


def check_batch(case_id: str, events: Sequence[Event], expected_version: int) -> None:
    """Reject a batch that cannot be appended at all, before touching the store."""
    if not events:
        raise InvalidHistory("append needs at least one event")
    if expected_version < 0:
        raise InvalidHistory(f"expected_version must not be negative, got {expected_version}")
    for offset, event in enumerate(events):
        if event.case_id != case_id:
            raise InvalidHistory(
                f"event {event.type} belongs to case {event.case_id!r}, not {case_id!r}"
            )
        if event.seq != expected_version + offset + 1:
            raise InvalidHistory(
                f"event {event.type} has seq {event.seq}, expected {expected_version + offset + 1}"
            )


def fold(engine: Engine, base: Case | None, events: Sequence[Event]) -> Case:
    """*base* with *events* folded in; raises :class:`~imflow.InvalidHistory`."""
    case = base
    for event in events:
        case = engine.evolve(case, event)
    assert case is not None  # check_batch refuses empty batches
    return case


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


def erasure_event(engine: Engine, case: Case, *, on: date, by: Actor) -> PersonErased:
    """The :class:`PersonErased` event for *case*, dated no earlier than its latest event."""
    return PersonErased(
        case_id=case.case_id,
        seq=case.version + 1,
        on=max(on, case.latest_on),
        recorded_at=engine.clock(),
        actor=by,
    )


def closed_on(case: Case) -> date | None:
    return None if case.closure is None else case.closure.on
