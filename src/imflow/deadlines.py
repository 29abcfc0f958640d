"""Deadlines and sweeps: what falls due on a case, and closing cases whose period ended.

:func:`deadlines` lists a case's upcoming and overdue deadlines (the counselling
period's last day, plan reviews, goal target dates, missing consent, the plan due
after opening), each with a severity from the rule set's warning windows. Every date
counted in months is :func:`imflow.period.last_day` of its start (:func:`plan_due`,
:func:`review_due`, windows in months): a deadline due today is a ``warning``, from
the day after ``overdue``.
:func:`sweep` closes every open case whose period ended as ``period_expired``, by the
``system`` actor, idempotently; on a store it finds the due cases through an index.

>>> from datetime import date
>>> from imflow import Engine, FrozenClock, Actor, Role, commands as c
>>> engine = Engine(clock=FrozenClock.on(date(2027, 12, 15)))
>>> im = Actor("im-1", Role.MANAGER, provider="awo", district="08111")
>>> case = engine.open(c.OpenCase(case_id="s-1", person="p", district="08111",
...                               provider="awo", on=date(2025, 1, 1)), by=im)
>>> for d in engine.deadlines(case):
...     print(d.kind.value, d.due, d.severity.value)
consent_missing 2025-01-29 overdue
plan_due 2025-03-31 overdue
period_end 2027-12-31 warning

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

import attrs

from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.commands import CloseCase
from imflow.enums import ClosureReason, ConsentStatus, GoalStatus, Lang
from imflow.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InvalidHistory,
    Rejected,
    StoreError,
)
from imflow.logging import get_logger
from imflow.period import last_day
from imflow.reasons import Reason
from imflow.rules import RuleSet

if TYPE_CHECKING:
    from imflow.engine import Engine
    from imflow.events import Event

__all__ = [
    "Deadline",
    "DeadlineKind",
    "Severity",
    "SweepResult",
    "SweepableStore",
    "deadlines",
    "plan_due",
    "review_due",
    "sweep",
    "sweep_cases",
]

_ONE_DAY = timedelta(days=1)


class DeadlineKind(enum.StrEnum):
    """What falls due."""

    PERIOD_END = "period_end"
    PLAN_REVIEW = "plan_review"
    GOAL_TARGET = "goal_target"
    CONSENT_MISSING = "consent_missing"
    PLAN_DUE = "plan_due"

    def label(self, lang: Lang = "en") -> str:
        """A label in *lang*."""
        return _KIND_LABELS[self][0 if lang == "de" else 1]


class Severity(enum.StrEnum):
    """How urgent a deadline is: ``info`` within the info window, ``warning`` within the
    warning window, ``overdue`` once the due day has passed."""

    INFO = "info"
    WARNING = "warning"
    OVERDUE = "overdue"

    def label(self, lang: Lang = "en") -> str:
        """A label in *lang*."""
        return _SEVERITY_LABELS[self][0 if lang == "de" else 1]


_KIND_LABELS = {
    DeadlineKind.PERIOD_END: ("Ende des Beratungszeitraums", "End of the counselling period"),
    DeadlineKind.PLAN_REVIEW: ("Überprüfung des Integrationsplans", "Plan review"),
    DeadlineKind.GOAL_TARGET: ("Zieldatum", "Goal target date"),
    DeadlineKind.CONSENT_MISSING: ("Einwilligung fehlt", "Consent missing"),
    DeadlineKind.PLAN_DUE: ("Integrationsplan fällig", "Integration plan due"),
}
_SEVERITY_LABELS = {
    Severity.INFO: ("Hinweis", "info"),
    Severity.WARNING: ("Warnung", "warning"),
    Severity.OVERDUE: ("überfällig", "overdue"),
}


@attrs.frozen
class Deadline:
    """One deadline of a case; ``subject`` names the goal for ``goal_target``."""

    kind: DeadlineKind
    due: date
    severity: Severity
    case_id: str
    subject: str = ""


def _within(due: date, on: date, days: int, months: int | None) -> bool:
    """Whether *due* falls within the window that begins on *on*: *months* months (the
    period :func:`~imflow.period.last_day` computes) when given, else *days* days."""
    if months is not None:
        return due <= last_day(on, months=months)
    return (due - on).days <= days


def _severity(due: date, on: date, rules: RuleSet) -> Severity | None:
    if due < on:
        return Severity.OVERDUE
    if _within(due, on, rules.warning_days, rules.warning_months):
        return Severity.WARNING
    if _within(due, on, rules.info_days, rules.info_months):
        return Severity.INFO
    return None


def plan_due(case: Case, rules: RuleSet) -> date:
    """The last day to agree the first plan: ``plan_due_months`` from the opening.

    >>> from imflow.rules import RULE_SETS
    >>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
    >>> engine = Engine(clock=FrozenClock.on(date(2025, 2, 1)))
    >>> im = Actor("im-1", Role.MANAGER, provider="awo", district="08111")
    >>> case = engine.open(c.OpenCase(case_id="s-2", person="p", district="08111",
    ...                               provider="awo", on=date(2025, 1, 31)), by=im)
    >>> plan_due(case, RULE_SETS["system-2025"])
    datetime.date(2025, 4, 30)

    .. versionadded:: 0.2.0
    """
    return last_day(case.period_start, months=rules.plan_due_months)


def review_due(last: date, rules: RuleSet) -> date:
    """The last day of the next plan review after the agreement or review on *last*.

    A review interval of *n* months is a period of months like any other: it begins on
    the day of the agreement (or of the last review) and ends on
    :func:`~imflow.period.last_day` of it, so a review done on that day is on time.

    >>> from imflow.rules import RULE_SETS
    >>> review_due(date(2025, 8, 31), RULE_SETS["system-2025"])
    datetime.date(2026, 2, 28)

    .. versionadded:: 0.2.0
    """
    return last_day(last, months=rules.review_interval_months)


def _candidates(case: Case, rules: RuleSet) -> Iterator[tuple[DeadlineKind, date, str]]:
    if case.consent is ConsentStatus.MISSING:
        yield (
            DeadlineKind.CONSENT_MISSING,
            case.period_start + timedelta(days=rules.consent_due_days),
            "",
        )
    elif case.consent is ConsentStatus.WITHDRAWN:
        withdrawn = max(e.on for e in case.events if e.type == "consent_withdrawn")
        yield DeadlineKind.CONSENT_MISSING, withdrawn, ""
    agreed = case.agreed_plan
    if rules.plan_mandatory and agreed is None:
        yield DeadlineKind.PLAN_DUE, plan_due(case, rules), ""
    plan = case.plan
    if plan is not None and plan.agreed_on is not None:
        last = plan.reviews[-1] if plan.reviews else plan.agreed_on
        yield DeadlineKind.PLAN_REVIEW, review_due(last, rules), ""
        for goal in plan.goals:
            if goal.status is GoalStatus.OPEN:
                yield DeadlineKind.GOAL_TARGET, goal.target_date, goal.goal_id
    if case.period_end is not None:
        yield DeadlineKind.PERIOD_END, case.period_end, ""


def deadlines(case: Case, *, rules: RuleSet, on: date) -> tuple[Deadline, ...]:
    """The deadlines of an open *case* that are due within the info window or overdue
    on *on*, soonest first. A closed case has none."""
    if not case.is_open:
        return ()
    found = []
    for kind, due, subject in _candidates(case, rules):
        severity = _severity(due, on, rules)
        if severity is not None:
            found.append(Deadline(kind, due, severity, case.case_id, subject))
    return tuple(sorted(found, key=lambda d: (d.due, d.kind.value, d.subject)))


# -- sweeps -----------------------------------------------------------------------------


@attrs.frozen
class SweepResult:
    """What one sweep did: the report of one run, on one server.

    ``closed`` are the cases this run closed; ``refused`` the due cases the engine would
    not close, with why; ``lost`` the ids of due cases someone else changed first
    (another server's sweep closed them, or a writer appended meanwhile: this run
    skipped them, nothing was written); ``errors`` the ids of due cases whose closure
    the store refused, each with the error's class name. With several servers
    sweeping the same store at once, every due case is closed by exactly one run: the
    ``closed`` of all runs add up to the cases that were due.

    .. versionchanged:: 0.2.0 ``lost`` and ``errors``.
    """

    on: date
    closed: tuple[Case, ...] = ()
    refused: tuple[tuple[str, tuple[Reason, ...]], ...] = ()
    lost: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def closed_ids(self) -> tuple[str, ...]:
        """The ids of the cases closed."""
        return tuple(c.case_id for c in self.closed)

    def counts(self) -> dict[str, int]:
        """How many cases this run closed, found refused, lost to others, or failed on.

        >>> SweepResult(date(2025, 1, 1), lost=("a", "b")).counts()
        {'closed': 0, 'refused': 0, 'lost': 2, 'errors': 0}

        .. versionadded:: 0.2.0
        """
        return {
            "closed": len(self.closed),
            "refused": len(self.refused),
            "lost": len(self.lost),
            "errors": len(self.errors),
        }


def _closure(case: Case) -> CloseCase:
    assert case.period_end is not None
    # the day after the last day, unless a later act (a withdrawal) was recorded since
    return CloseCase(
        reason=ClosureReason.PERIOD_EXPIRED,
        on=max(case.period_end + _ONE_DAY, case.latest_on),
        note="Beratungszeitraum abgelaufen (automatischer Abschluss)",
    )


def _due(case: Case, on: date) -> bool:
    return case.is_open and case.period_end is not None and case.period_end < on


def sweep_cases(
    engine: Engine, cases: Iterable[Case], *, on: date, by: Actor = SYSTEM
) -> SweepResult:
    """Close every open case of *cases* whose period ended before *on* (pure: nothing is
    stored). Running it again on the result closes nothing more."""
    closed: list[Case] = []
    refused: list[tuple[str, tuple[Reason, ...]]] = []
    for case in cases:
        if not _due(case, on):
            continue
        try:
            closed.append(engine.handle(case, _closure(case), by=by))
        except Rejected as exc:
            refused.append((case.case_id, exc.reasons))
    return SweepResult(on, tuple(closed), tuple(refused))


class SweepableStore(Protocol):
    """What :func:`sweep` needs from a store."""

    def due_cases(self, on: date) -> Iterable[Case]:
        """Open cases whose period ended before *on*, found through an index."""
        ...

    def append(
        self,
        case_id: str,
        events: Iterable[Event],
        *,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> object:
        """Append *events* if the case is at *expected_version*."""
        ...


def _due_in(store: SweepableStore, on: date) -> Iterator[tuple[int, str, Case | None]]:
    """The due cases of *store* as ``(place in the listing, id, case)``; ``case`` is
    ``None`` when the case was due when listed and no longer is (someone else acted on
    it first).

    A store that lists the ids of its due cases (the SQL stores) is read from a random
    place onwards, so servers sweeping at once mostly work on different cases; each
    case is loaded just before its closure."""
    lister = getattr(store, "due_case_ids", None)
    if lister is None:
        for place, case in enumerate(store.due_cases(on)):
            yield place, case.case_id, case
        return
    ids: list[str] = list(lister(on))
    start = secrets.randbelow(len(ids)) if ids else 0
    loader = getattr(store, "load")  # noqa: B009 - a store that lists ids also loads
    recheck = getattr(store, "still_due", None)
    order = [*range(start, len(ids)), *range(start)]
    for first in range(0, len(order), _CHUNK):
        places = order[first : first + _CHUNK]
        # where another run swept already, one query skips the closed cases at once
        due = None if recheck is None else recheck([ids[p] for p in places], on)
        for place in places:
            case_id = ids[place]
            if due is not None and case_id not in due:
                yield place, case_id, None
                continue
            try:
                case = loader(case_id)
            except CaseNotFound:  # pragma: no cover - cases are never deleted
                yield place, case_id, None
                continue
            yield place, case_id, case if _due(case, on) else None


_CHUNK = 50
"""How many due cases a sweep re-checks at a time before loading them."""


def sweep(
    store: SweepableStore, *, on: date, engine: Engine | None = None, by: Actor = SYSTEM
) -> SweepResult:
    """Close every open case in *store* whose period ended before *on*; the result is
    this run's report (:class:`SweepResult`).

    Safe on several servers at once: each closure is appended with the case's version
    and an idempotency key ``sweep:<case id>:<period end>``, so of two runs that reach
    one case, one closes it and the other finds it closed, or gets a conflict and
    moves on (``lost``). A store that refuses one case's closure (``errors``) does not
    stop the sweep of the others.

    .. versionchanged:: 0.2.0 the report's ``lost`` and ``errors``; on the SQL stores
       each run starts at a random due case.
    """
    from imflow.engine import Engine

    engine = engine or Engine()
    log = get_logger()
    closed: list[Case] = []
    refused: list[tuple[str, tuple[Reason, ...]]] = []
    lost: list[str] = []
    errors: list[tuple[str, str]] = []
    listed: dict[str, int] = {}
    for place, case_id, case in _due_in(store, on):
        listed[case_id] = place
        if case is None:
            lost.append(case_id)
            continue
        if not _due(case, on):
            continue
        try:
            new = engine.handle(case, _closure(case), by=by)
        except Rejected as exc:
            refused.append((case.case_id, exc.reasons))
            continue
        try:
            result = store.append(
                case.case_id,
                new.events[case.version :],
                expected_version=case.version,
                idempotency_key=f"sweep:{case.case_id}:{case.period_end}",
            )
        except (ConcurrencyConflict, IdempotencyKeyReused):
            # someone else acted first (the key: another sweep closed an older version)
            log.info("sweep_conflict", case_id=case.case_id)
            lost.append(case.case_id)
            continue
        except (StoreError, InvalidHistory) as exc:  # e.g. a server's clock behind
            log.error("sweep_failed", case_id=case.case_id, error=type(exc).__name__)
            errors.append((case.case_id, type(exc).__name__))
            continue
        if getattr(result, "replayed", False):  # another server's sweep closed it first
            log.info("sweep_conflict", case_id=case.case_id)
            lost.append(case.case_id)
            continue
        closed.append(new)
    log.info(
        "sweep_done",
        on=on.isoformat(),
        closed=len(closed),
        refused=len(refused),
        lost=len(lost),
        errors=len(errors),
    )
    return SweepResult(  # the report in listing order, wherever this run began
        on,
        tuple(sorted(closed, key=lambda c: listed[c.case_id])),
        tuple(sorted(refused, key=lambda r: listed[r[0]])),
        tuple(sorted(lost, key=listed.__getitem__)),
        tuple(sorted(errors, key=lambda e: listed[e[0]])),
    )
