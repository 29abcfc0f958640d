"""After-commit delivery of events to hooks, from the store's persistent outbox.

A store writes one outbox row per event in the same transaction as the event, so an
event that was never committed can never be delivered, and a committed one is never
lost. A :class:`Runner` delivers the pending events to the callbacks of an
:class:`imflow.Hooks` registry:

- **at least once**: a delivery is recorded after the hook returned; a runner killed in
  between delivers that event again after the restart (make hooks idempotent, keyed by
  ``(event.case_id, event.seq)``, to get exactly-once effects);
- **in order per case and hook**: while an event waits for a retry or sits in the dead
  letters, later events of the same case wait for that hook too;
- **retries with backoff**: a hook that raises is tried again once its backoff (from
  the injected clock: no threads, no sleeping) has passed, and after ``max_attempts``
  failures it is parked as a *dead letter* that an operator can inspect
  (:meth:`Runner.dead_letters`), replay (:meth:`Runner.replay_dead_letter`) or
  discard (:meth:`Runner.discard_dead_letter`);
- a failing hook never changes the stored case or its events.

The host drives the runner (for example after each command, or from a timer of its
own). :class:`CaseService` is the usual entry point: it loads a case, lets the engine
decide, appends with the case's version and an idempotency key, and then delivers.

>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Hooks, Role, commands as c
>>> from imflow.events import ConsentRecorded
>>> from imflow.store import MemoryStore
>>> hooks = Hooks()
>>> @hooks.on(ConsentRecorded)
... def thank(event: ConsentRecorded, case: object) -> None:
...     print("consent on", event.on, "for", event.case_id)
>>> service = CaseService(MemoryStore(engine=Engine(clock=FrozenClock.on(date(2025, 3, 3)))),
...                       hooks=hooks)
>>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
>>> case = service.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
...                                provider="drk", on=date(2025, 3, 3)), by=im)
>>> case = service.handle("wt-1", c.RecordConsent(on=date(2025, 3, 3)), by=im,
...                       idempotency_key="form-4711")
consent on 2025-03-03 for wt-1
>>> service.handle("wt-1", c.RecordConsent(on=date(2025, 3, 3)), by=im,
...                idempotency_key="form-4711").version  # sent twice: recorded once
2

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from imflow.access import may_read, read_case, read_history
from imflow.clock import Clock, system_clock
from imflow.commands import Command, OpenCase
from imflow.enums import Role
from imflow.errors import ConcurrencyConflict, Forbidden, IdempotencyKeyReused, Rejected
from imflow.events import EVENT_TYPES, Event
from imflow.hooks import HookFailure, Hooks, hook_name
from imflow.logging import get_logger
from imflow.serialization import loads
from imflow.store._base import Delivery, HookStatus, OutboxEntry, OutboxLog, OutboxStatus, Store

if TYPE_CHECKING:
    from datetime import date

    from imflow.actors import Actor
    from imflow.case import Case
    from imflow.deadlines import Deadline
    from imflow.engine import Engine
    from imflow.kennzahlen import Report, Staffing
    from imflow.reasons import Reason

__all__ = [
    "Backoff",
    "CaseService",
    "DeadLetter",
    "HookStatus",
    "OutboxStatus",
    "OutboxStore",
    "RunReport",
    "Runner",
    "exponential_backoff",
    "requeue",
    "status",
]

Backoff = Callable[[int], timedelta]
"""How long to wait before the next attempt, given the number of failed attempts so far."""

DeadLetter = Delivery
"""A delivery parked after too many failures (``status == "dead"``)."""

S = TypeVar("S", bound=Store)


def exponential_backoff(
    *,
    first: timedelta = timedelta(seconds=30),
    factor: float = 2.0,
    limit: timedelta = timedelta(hours=1),
) -> Backoff:
    """A backoff that waits *first*, then *factor* times longer after each failure, up to *limit*.

    >>> delay = exponential_backoff()
    >>> [str(delay(n)) for n in (1, 2, 3, 10)]
    ['0:00:30', '0:01:00', '0:02:00', '1:00:00']
    """

    def delay(failures: int) -> timedelta:
        return min(first * factor ** max(failures - 1, 0), limit)

    return delay


class OutboxStore(Protocol):
    """What a :class:`Runner` needs from a store: its outbox and its cases."""

    @property
    def outbox(self) -> OutboxLog:
        """The store's outbox."""
        ...

    def load(self, case_id: str) -> Case:
        """The case with *case_id*."""
        ...


@attrs.frozen
class RunReport:
    """What one :meth:`Runner.run_once` pass did.

    ``delivered`` counts successful hook calls, ``failed`` hook calls that raised,
    ``parked`` the failures that moved a delivery into the dead letters, and
    ``failures`` describes each failed call.
    """

    delivered: int = 0
    failed: int = 0
    parked: int = 0
    failures: tuple[HookFailure, ...] = ()


_Callback = Callable[[Any, "Case"], None]


def _name(fn: _Callback) -> str:
    """A hook's stable name: module and qualified name of the function, or of its class."""
    if hasattr(fn, "__qualname__"):
        return hook_name(fn)
    cls = type(fn)
    return f"{cls.__module__}.{cls.__qualname__}"


class _Leases:
    """The leases of one delivery pass: one owner token, the cases it holds, and when
    (on this process's monotonic clock, conservatively) each lease runs out."""

    def __init__(self, outbox: Any, seconds: float) -> None:
        self.outbox = outbox
        self.seconds = seconds
        self.owner = secrets.token_hex(12)
        self.until: dict[str, float] = {}
        self.passed: set[str] = set()

    @classmethod
    def of(cls, outbox: OutboxLog, lease: timedelta) -> _Leases | None:
        """The leases of a pass over *outbox*; ``None`` for an outbox without leases."""
        if not all(hasattr(outbox, m) for m in ("claim", "renew", "release")):
            return None
        return cls(outbox, lease.total_seconds())

    def __contains__(self, case_id: object) -> bool:
        return case_id in self.until

    def claim(self, case_ids: Iterable[str]) -> None:
        """Lease what it can of *case_ids*. A case this pass found held by another
        runner (or lost) stays out of the pass: taking it later in the same pass could
        deliver its newer events before older ones the pass has already gone by."""
        wanted = {c for c in case_ids if c not in self.until and c not in self.passed}
        if not wanted:
            return
        sent = time.monotonic()
        got = self.outbox.claim(wanted, owner=self.owner, seconds=self.seconds)
        for case_id in got:
            self.until[case_id] = sent + self.seconds
        self.passed.update(wanted - set(got))

    def keep(self, case_id: str) -> bool:
        """Whether the pass still holds *case_id* for at least half a lease (renewing
        it when less is left); a lease lost to another runner is given up."""
        until = self.until.get(case_id)
        if until is None:
            return False
        sent = time.monotonic()
        if until - sent >= self.seconds / 2:
            return True
        if self.outbox.renew(case_id, owner=self.owner, seconds=self.seconds):
            self.until[case_id] = sent + self.seconds
            return True
        del self.until[case_id]
        self.passed.add(case_id)
        return False

    def release(self) -> None:
        if self.until:
            self.until.clear()
            self.outbox.release(owner=self.owner)


class Runner:
    """Delivers committed events from a store's outbox to hooks; driven by the host.

    :param store: any imflow store (its ``outbox`` and ``load``).
    :param hooks: the callbacks to deliver to. Hooks are identified by the module and
        qualified name of the function (or of the class of a callable object), which
        must therefore be unique and stable across restarts.
    :param clock: decides when a retry is due (default: the system clock).
    :param max_attempts: failures after which a delivery is parked as a dead letter.
    :param backoff: the wait after the *n*-th failure (default:
        :func:`exponential_backoff`).
    :param batch_size: how many outbox entries to read at a time.
    :param lease: how long a pass holds a case it works on (PostgreSQL and SQLite
        stores, and the memory store). Any number of runners (threads, processes,
        servers) share one store: each pass leases the cases it delivers, so one case's
        events go to a hook in order and never from two runners at once; a runner
        killed while holding leases loses them after *lease*, and another runner takes
        over. A pass renews a lease when less than half of it is left before a hook
        call, so a hook call must take less than half of *lease*.

    .. versionchanged:: 0.2.0 any number of runners per store (*lease*).
    """

    def __init__(
        self,
        store: OutboxStore,
        hooks: Hooks,
        *,
        clock: Clock | None = None,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        batch_size: int = 500,
        lease: timedelta = timedelta(minutes=1),
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("lease must be a positive duration")
        self.store = store
        self.hooks = hooks
        self.clock: Clock = clock or system_clock
        self.max_attempts = max_attempts
        self.backoff: Backoff = backoff or exponential_backoff()
        self.batch_size = batch_size
        self.lease = lease
        self._log = get_logger()
        self._by_type: dict[str, tuple[tuple[str, _Callback], ...]] = {}
        self._by_name: dict[str, _Callback] = {}
        self._index()

    def _index(self) -> None:
        """Index the hooks by event type and by name (hooks may be added later)."""
        by_type: dict[str, tuple[tuple[str, _Callback], ...]] = {}
        by_name: dict[str, _Callback] = {}
        for tag in EVENT_TYPES:
            named = tuple((_name(fn), fn) for fn in self.hooks.callbacks(tag))
            by_type[tag] = named
            for name, fn in named:
                if by_name.setdefault(name, fn) is not fn:
                    raise ValueError(f"two hooks share the name {name!r}; give them distinct names")
        self._by_type, self._by_name = by_type, by_name

    def run_once(self, *, limit: int | None = None) -> RunReport:
        """Deliver every due event once; return what happened.

        *limit* caps the number of hook calls in this pass. Events whose retry is not
        due yet, dead letters and the events queued behind them stay pending, and so do
        the events of cases another runner holds the lease of.
        """
        self._index()
        outbox = self.store.outbox
        leases = _Leases.of(outbox, self.lease)
        try:
            report = self._pass(outbox, leases, limit)
        except BaseException:
            if leases is not None:
                with contextlib.suppress(Exception):  # the pass's own error matters more
                    leases.release()
            raise
        if leases is not None:
            leases.release()
        return report

    def _pass(self, outbox: OutboxLog, leases: _Leases | None, limit: int | None) -> RunReport:
        now = self.clock()
        delivered = failed = parked = calls = 0
        failures: list[HookFailure] = []
        blocked: set[tuple[str, str]] = set()
        cases: dict[str, Case] = {}
        after = 0
        while limit is None or calls < limit:
            entries = outbox.pending(after=after, limit=self.batch_size)
            if not entries:
                break
            if leases is not None:  # work only on the cases this pass holds
                leases.claim(e.case_id for e in entries if self._by_type.get(e.event_type))
            states = outbox.deliveries(entries)  # read after claiming: the current truth
            for entry in entries:
                after = entry.id
                if limit is not None and calls >= limit:
                    break
                hooks = self._by_type.get(entry.event_type, ())
                if hooks and leases is not None and entry.case_id not in leases:
                    continue  # another runner's case
                updates: list[Delivery] = []
                complete = True
                for name, fn in hooks:
                    state = states.get((entry.id, name))
                    if state is not None and state.status in ("delivered", "discarded"):
                        continue
                    lane = (name, entry.case_id)
                    if lane in blocked or (limit is not None and calls >= limit):
                        complete = False
                        continue
                    if state is not None and (
                        state.status == "dead"
                        or (state.next_attempt_at is not None and state.next_attempt_at > now)
                    ):
                        blocked.add(lane)
                        complete = False
                        continue
                    if leases is not None and not leases.keep(entry.case_id):
                        complete = False  # the lease ran out and another runner took it
                        break
                    case = self._case(cases, entry)
                    calls += 1
                    update = self._call(name, fn, entry, case, state, now)
                    updates.append(update)
                    if update.status == "delivered":
                        delivered += 1
                        continue
                    failed += 1
                    parked += update.status == "dead"
                    failures.append(
                        HookFailure(
                            name, entry.event_type, entry.case_id, entry.seq, update.last_error
                        )
                    )
                    blocked.add(lane)
                    complete = False
                if updates or complete:
                    outbox.record(entry, updates, done=complete)
        return RunReport(delivered, failed, parked, tuple(failures))

    def _case(self, cases: dict[str, Case], entry: OutboxEntry) -> Case:
        case = cases.get(entry.case_id)
        if case is None or case.version < entry.seq:
            case = cases[entry.case_id] = self.store.load(entry.case_id)
        return case

    def _call(
        self,
        name: str,
        fn: _Callback,
        entry: OutboxEntry,
        case: Case,
        state: Delivery | None,
        now: Any,
    ) -> Delivery:
        event: Event = case.events[entry.seq - 1]
        attempts = (0 if state is None else state.attempts) + 1
        try:
            fn(event, case)
        except Exception as exc:  # a hook must never break the runner
            dead = attempts >= self.max_attempts
            self._log.error(
                "hook_parked" if dead else "hook_failed",
                hook=name,
                event_type=entry.event_type,
                case_id=entry.case_id,
                seq=entry.seq,
                attempts=attempts,
                error=type(exc).__name__,
            )
            return Delivery(
                entry_id=entry.id,
                hook=name,
                case_id=entry.case_id,
                seq=entry.seq,
                event_type=entry.event_type,
                status="dead" if dead else "retry",
                attempts=attempts,
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                updated_at=now,
                next_attempt_at=None if dead else now + self.backoff(attempts),
            )
        return Delivery(
            entry_id=entry.id,
            hook=name,
            case_id=entry.case_id,
            seq=entry.seq,
            event_type=entry.event_type,
            status="delivered",
            attempts=attempts,
            last_error="",
            updated_at=now,
        )

    def pending(self) -> int:
        """How many committed events still wait for at least one hook."""
        return self.store.outbox.count_pending()

    def dead_letters(self) -> list[DeadLetter]:
        """The deliveries parked after ``max_attempts`` failures, oldest first."""
        return self.store.outbox.dead_letters()

    def replay_dead_letter(self, letter: DeadLetter) -> bool:
        """Deliver a dead letter again now; ``True`` if the hook succeeded.

        On success the case's later events for that hook flow again on the next
        :meth:`run_once`; on failure the letter stays dead with one more attempt.
        """
        self._index()
        fn = self._by_name.get(letter.hook)
        if fn is None:
            raise ValueError(f"no hook named {letter.hook!r} is registered with this runner")
        entry = self.store.outbox.entry(letter.entry_id)
        if entry is None:
            raise ValueError(f"no outbox entry {letter.entry_id}")
        state = self.store.outbox.deliveries([entry]).get((entry.id, letter.hook))
        if state is None or state.status != "dead":
            return state is not None and state.status == "delivered"
        now = self.clock()
        update = self._call(letter.hook, fn, entry, self.store.load(entry.case_id), state, now)
        if update.status != "delivered":
            update = attrs.evolve(update, status="dead", next_attempt_at=None)
        self._settle(entry, update)
        return update.status == "delivered"

    def discard_dead_letter(self, letter: DeadLetter) -> None:
        """Give up on a dead letter: the case's later events for that hook flow again."""
        entry = self.store.outbox.entry(letter.entry_id)
        if entry is None:
            raise ValueError(f"no outbox entry {letter.entry_id}")
        update = attrs.evolve(letter, status="discarded", updated_at=self.clock())
        self._log.warning(
            "dead_letter_discarded", hook=letter.hook, case_id=letter.case_id, seq=letter.seq
        )
        self._settle(entry, update)

    def _settle(self, entry: OutboxEntry, update: Delivery) -> None:
        states = self.store.outbox.deliveries([entry])
        states[(entry.id, update.hook)] = update
        complete = all(
            (s := states.get((entry.id, name))) is not None
            and s.status in ("delivered", "discarded")
            for name, _ in self._by_type.get(entry.event_type, ())
        )
        self.store.outbox.record(entry, [update], done=complete)


def subscriptions(hooks: Hooks) -> dict[str, tuple[str, ...]]:
    """The event types each hook of *hooks* receives, by the hook's name."""
    found: dict[str, list[str]] = {}
    for tag in EVENT_TYPES:
        for fn in hooks.callbacks(tag):
            found.setdefault(_name(fn), []).append(tag)
    return {name: tuple(tags) for name, tags in found.items()}


def status(store: OutboxStore, *, hooks: Hooks | None = None) -> OutboxStatus:
    """What waits in *store*'s outbox: for an operator (``imflow outbox status``) or a
    host's health endpoint. With *hooks* (the registry the runners deliver to), each
    hook's pending events are counted too; without, a hook is known by its failures.

    >>> from datetime import date
    >>> from imflow import Actor, Engine, FrozenClock, Hooks, Role, commands as c
    >>> from imflow.store import MemoryStore
    >>> hooks = Hooks()
    >>> @hooks.on()
    ... def notify(event: object, case: object) -> None: ...
    >>> store = MemoryStore(engine=Engine(clock=FrozenClock.on(date(2025, 3, 3))))
    >>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
    >>> case = store.engine.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
    ...                                     provider="drk", on=date(2025, 3, 3)), by=im)
    >>> _ = store.append("wt-1", case.events, expected_version=0)
    >>> figures = status(store, hooks=hooks)
    >>> figures.pending, figures.dead, [(h.pending, h.dead) for h in figures.hooks]
    (1, 0, [(1, 0)])
    >>> Runner(store, hooks).run_once().delivered
    1
    >>> status(store, hooks=hooks).pending
    0

    .. versionadded:: 0.2.0
    """
    outbox: Any = store.outbox
    if not hasattr(outbox, "status"):
        raise TypeError(f"the outbox of {type(store).__name__} has no figures")
    found: OutboxStatus = outbox.status(None if hooks is None else subscriptions(hooks))
    return found


def requeue(
    store: OutboxStore,
    *,
    hook: str,
    events: Iterable[tuple[str, int]] | None = None,
    clock: Clock | None = None,
) -> int:
    """Give *hook*'s dead letters (all, or those of *events*, as ``(case id, seq)``)
    another round of attempts: they are due again at once, with their failures
    counted from zero, and the events queued behind them follow. Returns how many
    were requeued. Any runner delivers them on its next pass; the hooks need not be
    registered here (``imflow outbox requeue``).

    .. versionadded:: 0.2.0
    """
    outbox: Any = store.outbox
    if not hasattr(outbox, "requeue"):
        raise TypeError(f"the outbox of {type(store).__name__} cannot requeue")
    chosen = None if events is None else [(str(c), int(n)) for c, n in events]
    count: int = outbox.requeue(hook=hook, events=chosen, now=(clock or system_clock)())
    if count:
        get_logger().warning("dead_letters_requeued", hook=hook, count=count)
    return count


class CaseService(Generic[S]):
    """Runs commands against a store, then delivers the committed events to hooks.

    Each command is: load the case, let the store's engine decide (guards, policies;
    :class:`~imflow.Rejected` leaves everything unchanged), append the new events with
    ``expected_version=case.version`` and the caller's idempotency key, and only after
    the commit run the hooks through a :class:`Runner` (when *deliver* is true).

    :param store: any imflow store; its ``engine`` decides. The engine must not carry
        hooks of its own (those would run before the commit): pass them here.
    :param hooks: the callbacks to deliver committed events to.
    :param deliver: run a delivery pass after every command (set it to false when a
        separate worker runs the :class:`Runner`, as with several servers).
    :param retries: on :class:`~imflow.ConcurrencyConflict`, reload the case and decide
        the command again this many times (default 0: the conflict reaches the caller).
    :param runner_options: passed on to the :class:`Runner` (``max_attempts``,
        ``backoff``, ``clock``; the clock defaults to the engine's).
    """

    def __init__(
        self,
        store: S,
        *,
        hooks: Hooks | None = None,
        deliver: bool = True,
        retries: int = 0,
        **runner_options: Any,
    ) -> None:
        if store.engine.hooks:
            raise ValueError(
                "the store's engine has hooks, which run before the commit; "
                "pass them to CaseService(hooks=...) instead"
            )
        self.store: S = store
        self.engine: Engine = store.engine
        self.deliver_after = deliver
        self.retries = retries
        runner_options.setdefault("clock", self.engine.clock)
        self.runner = Runner(store, hooks or Hooks(), **runner_options)

    def open(self, command: OpenCase, *, by: Actor, idempotency_key: str | None = None) -> Case:
        """Open a case and store its first event; returns the case.

        A repeated *idempotency_key* returns the case it opened, if it is the same
        opening by the same actor and the actor may still open it; anything else raises
        :class:`~imflow.IdempotencyKeyReused`.
        """
        if idempotency_key is not None:
            stored = self.store.recall(idempotency_key, by=by)
            if stored is not None:
                self._same_request(stored.case_id, stored.events, command.case_id, command)
                if not self.engine.may(command, by=by):
                    raise Forbidden(by.role.value, command.type)
                return self.store.load(stored.case_id)
        case = self.engine.open(command, by=by)
        result = self.store.append(
            case.case_id, case.events, expected_version=0, idempotency_key=idempotency_key
        )
        if result.replayed:
            case = self.store.load(case.case_id)
        self._deliver()
        return case

    def handle(
        self,
        case_id: str,
        command: Command,
        *,
        by: Actor,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Apply *command* to the stored case; returns the new case.

        With *expected_version* (the version the client saw, an HTTP ``If-Match``), the
        stored case must be at exactly that version, else
        :class:`~imflow.ConcurrencyConflict` (no retries then: the client must reload).
        A repeated *idempotency_key* returns the current case without deciding again,
        if it is the same command on the same case by the same actor, and the actor may
        still issue it (anything else: :class:`~imflow.IdempotencyKeyReused`). Raises
        :class:`~imflow.Forbidden` to an actor who may not read the case (domain.md § 6;
        a web host answers 404), :class:`~imflow.Rejected`,
        :class:`~imflow.CaseNotFound` or :class:`~imflow.ConcurrencyConflict` (after
        *retries*); nothing is written then.

        .. versionchanged:: 0.2.0 the keyword *expected_version*.
        """
        if isinstance(command, OpenCase):
            if command.case_id != case_id:
                raise ValueError("an open_case command was sent to another case id")
            return self.open(command, by=by, idempotency_key=idempotency_key)
        if idempotency_key is not None:
            stored = self.store.recall(idempotency_key, by=by)
            if stored is not None:
                self._same_request(stored.case_id, stored.events, case_id, command)
                case = self.store.load(case_id)
                self._check_may(case, command, by)  # the same check a fresh command gets
                return case
        attempt = 0
        while True:
            case = self.store.load(case_id)
            self._check_scope(case, command, by)
            if expected_version is not None and case.version != expected_version:
                raise ConcurrencyConflict(case_id, expected=expected_version, actual=case.version)
            new = self.engine.handle(case, command, by=by)
            try:
                result = self.store.append(
                    case_id,
                    new.events[case.version :],
                    expected_version=case.version,
                    idempotency_key=idempotency_key,
                )
            except ConcurrencyConflict:
                if attempt >= self.retries:
                    raise
                attempt += 1
                continue
            break
        if result.replayed:
            new = self.store.load(case_id)
        self._deliver()
        return new

    def _same_request(
        self, stored_case: str, events: tuple[Event, ...], case_id: str, command: Command
    ) -> None:
        """Refuse a key whose first use was another case or another command."""
        from imflow.engine import command_of

        if stored_case != case_id or not events:
            raise IdempotencyKeyReused()
        try:
            first = command_of(events[-1])
        except ValueError:
            raise IdempotencyKeyReused() from None
        if first != command:
            raise IdempotencyKeyReused()

    @staticmethod
    def _check_scope(case: Case, command: Command, by: Actor) -> None:
        """Refuse an actor who may not even read the case (the system acts on every case
        without reading it): it learns nothing, not even that the case exists."""
        if by.role is Role.SYSTEM:
            return
        if not may_read(by, case):
            raise Forbidden(by.role.value, command.type)

    def _check_may(self, case: Case, command: Command, by: Actor) -> None:
        self._check_scope(case, command, by)
        if not self.engine.may(command, by=by, case=case):
            name = getattr(command, "name", command.type)
            reason = self.engine.forbidden_reason(by, name)
            raise Rejected((reason,), command_type=command.type, case_id=case.case_id)

    # -- reads, guarded by the role table (domain.md § 6) ---------------------------

    def read(self, case_id: str, *, by: Actor) -> Case:
        """The case as *by* may see it (see :func:`imflow.access.read_case`).

        Raises :class:`~imflow.CaseNotFound` or :class:`~imflow.Forbidden`; a web host
        answers 404 for both, so a foreign case looks like a missing one.

        .. versionadded:: 0.2.0
        """
        return read_case(self.store.load(case_id), by=by)

    def history(self, case_id: str, *, by: Actor) -> tuple[Event, ...]:
        """The case's events as *by* may see them: whole for its managers,
        pseudonymised for auditors of its scope; else :class:`~imflow.Forbidden`.

        .. versionadded:: 0.2.0
        """
        return read_history(self.store.load(case_id), by=by)

    def deadlines(self, case_id: str, *, by: Actor, on: date | None = None) -> tuple[Deadline, ...]:
        """The case's deadlines (see :meth:`imflow.Engine.deadlines`), for actors who may
        read the case; else :class:`~imflow.Forbidden`.

        .. versionadded:: 0.2.0
        """
        return self.engine.deadlines(read_case(self.store.load(case_id), by=by), on=on)

    def allowed(
        self, case_id: str, *, by: Actor, on: date | None = None
    ) -> dict[str, tuple[Reason, ...]]:
        """What *by* may do next on the case (see :meth:`imflow.Engine.allowed`), for
        actors who may read the case; else :class:`~imflow.Forbidden`.

        .. versionadded:: 0.2.0
        """
        case = self.store.load(case_id)
        if not may_read(by, case):
            raise Forbidden(by.role.value, "read")
        return dict(self.engine.allowed(case, by=by, on=on))

    def report(
        self,
        *,
        year: int,
        by: Actor,
        district: str | None = None,
        provider: str | None = None,
        staffing: Staffing | None = None,
    ) -> Report:
        """The key figures of *year* as *by* may see them (see :func:`imflow.kennzahlen.report`).

        .. versionadded:: 0.2.0
        """
        from imflow.kennzahlen import report

        return report(
            self.store,
            year=year,
            by=by,
            district=district,
            provider=provider,
            staffing=staffing,
            rule_sets=self.engine.rule_sets,
        )

    def execute(
        self,
        document: str | bytes,
        *,
        by: Actor,
        case_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        """Parse a JSON command *document* and run it; an ``open_case`` opens a case.

        Raises :class:`~imflow.InvalidDocument` before anything is read or written
        when the document is not a valid command.
        """
        command = loads(document, Command)
        if isinstance(command, OpenCase):
            return self.handle(
                command.case_id if case_id is None else case_id,
                command,
                by=by,
                idempotency_key=idempotency_key,
            )
        if case_id is None:
            raise ValueError(f"{command.type} needs the case_id of the case it acts on")
        return self.handle(case_id, command, by=by, idempotency_key=idempotency_key)

    @contextlib.contextmanager
    def unit_of_work(self, conn: Any) -> Iterator[CaseService[Any]]:
        """This service's commands inside the host's transaction on *conn*.

        Yields a service whose store is ``self.store.unit_of_work(conn)`` (a
        :class:`imflow.store.UnitOfWork`): its commands write events, outbox
        rows and keys in the host's transaction, so they commit or roll back with the
        host's own rows, and it delivers nothing itself. After the block this service
        runs a delivery pass (when *deliver* is on), which sees only committed events:
        where the host commits later, call :meth:`deliver` after its commit.

        >>> import sqlite3, tempfile, os
        >>> from datetime import date
        >>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
        >>> from imflow.store import SQLiteStore
        >>> path = os.path.join(tempfile.mkdtemp(), "host.db")
        >>> engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
        >>> service = CaseService(SQLiteStore(path, engine=engine))
        >>> host = sqlite3.connect(path, isolation_level=None)
        >>> _ = host.execute("CREATE TABLE clients (case_id TEXT PRIMARY KEY, name TEXT)")
        >>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
        >>> with service.unit_of_work(host) as tx:  # one transaction: the client and the case
        ...     _ = host.execute("INSERT INTO clients VALUES ('wt-1', 'Ayşe K.')")
        ...     tx.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
        ...                        provider="drk", on=date(2025, 3, 3)), by=im).version
        1
        >>> service.store.load("wt-1").version
        1
        >>> host.close(); service.store.close()

        .. versionadded:: 0.2.0
        """
        opener = getattr(self.store, "unit_of_work", None)
        if opener is None:
            raise TypeError(f"{type(self.store).__name__} has no units of work")
        with opener(conn) as uow:
            yield CaseService(uow, deliver=False, retries=self.retries)
        self._deliver()

    def deliver(self, *, limit: int | None = None) -> RunReport:
        """Run one delivery pass now (see :meth:`Runner.run_once`)."""
        return self.runner.run_once(limit=limit)

    def _deliver(self) -> None:
        if self.deliver_after:
            self.runner.run_once()
