"""The case and its parts: immutable values that the engine folds from events.

A :class:`Case` never changes; :meth:`imflow.Engine.handle` returns a new one. Its
``events`` are the truth, every other field is derived from them.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import attrs

from imflow._bounds import redacted
from imflow.chain import Chain
from imflow.enums import (
    Channel,
    ClosureReason,
    ConsentStatus,
    CustomPhase,
    GoalStatus,
    LifeArea,
    Phase,
)
from imflow.events import CaseOpened, Event

if TYPE_CHECKING:
    from imflow.commands import Continuation

__all__ = ["Case", "Closure", "Contact", "Extension", "Goal", "Need", "Plan", "Transfer"]


@attrs.frozen
class Need:
    """A need recorded in a life area."""

    area: LifeArea
    note: str = attrs.field(repr=redacted)  # personal fields never show in repr()
    on: date


@attrs.frozen
class Goal:
    """A goal agreement of a plan, with its current status."""

    goal_id: str
    area: LifeArea
    description: str = attrs.field(repr=redacted)
    target_date: date
    status: GoalStatus = GoalStatus.OPEN
    status_on: date | None = None


@attrs.frozen
class Plan:
    """One version of the integration plan; agreed when ``agreed_on`` is set."""

    version: int
    started_on: date
    goals: tuple[Goal, ...] = ()
    agreed_on: date | None = None
    reviews: tuple[date, ...] = ()

    @property
    def agreed(self) -> bool:
        """Whether this version was agreed with the client."""
        return self.agreed_on is not None

    def goal(self, goal_id: str) -> Goal | None:
        """The goal with *goal_id*, if the plan has it."""
        for g in self.goals:
            if g.goal_id == goal_id:
                return g
        return None


@attrs.frozen
class Contact:
    """A counselling contact."""

    on: date
    minutes: int
    channel: Channel
    topics: tuple[LifeArea, ...]


@attrs.frozen
class Extension:
    """An extension of the counselling period and the last day it led to."""

    on: date
    months: int
    justification: str = attrs.field(repr=redacted)
    period_end: date


@attrs.frozen
class Transfer:
    """A hand-over to another provider of the district (``note`` is personal data).

    .. versionadded:: 0.2.0
    """

    on: date
    from_provider: str
    to_provider: str
    note: str = attrs.field(default="", repr=redacted)


@attrs.frozen
class Closure:
    """Why and when a case was closed."""

    reason: ClosureReason
    on: date
    note: str = attrs.field(default="", repr=redacted)


def _events_repr(events: Chain[Event]) -> str:
    return f"<{len(events)} events>"


def _events_of(items: Iterable[Event]) -> Chain[Event]:
    return Chain.of(items)


def _contacts_of(items: Iterable[Contact]) -> Chain[Contact]:
    return Chain.of(items)


# they return a chain unchanged: the engine's constructors may skip them (imflow._construct)
_events_of.passthrough = _contacts_of.passthrough = True  # type: ignore[attr-defined]


@attrs.frozen
class Case:
    """A counselling case: one single adult or one household with one shared plan.

    The opening data (``person``, ``household``, ``members``, ``district``,
    ``workflow``, ``period_start``) is read from the first event; ``provider`` is the
    provider the case is with now (the opening one until a :class:`Transfer`).
    ``period_end`` is the last day of the counselling period, inclusive (``None`` when
    the rule set sets no limit). ``plans`` holds every plan version, the newest last.

    ``phase`` is a :class:`~imflow.Phase` member (a district variant's own phases are
    :class:`~imflow.enums.CustomPhase` strings); either way ``case.phase.label("de")``
    names it.

    .. versionchanged:: 0.2.0
       ``transfers``; ``provider`` follows them. ``events`` and ``contacts`` are
       :class:`~imflow.chain.Chain` sequences that grow without copying (equal to the
       tuples of their items); pass any iterable.
    """

    case_id: str
    phase: Phase | CustomPhase
    rule_set: str
    period_end: date | None
    extensions: tuple[Extension, ...] = ()
    consent: ConsentStatus = ConsentStatus.MISSING
    needs: tuple[Need, ...] = ()
    plans: tuple[Plan, ...] = ()
    contacts: Chain[Contact] = attrs.field(default=Chain(), converter=_contacts_of)
    transfers: tuple[Transfer, ...] = ()
    closure: Closure | None = None
    events: Chain[Event] = attrs.field(default=Chain(), converter=_events_of, repr=_events_repr)

    @property
    def opened(self) -> CaseOpened:
        """The event that opened the case."""
        first = self.events[0]
        assert isinstance(first, CaseOpened)
        return first

    @property
    def person(self) -> str:
        """The pseudonymous reference of the person counselled."""
        return self.opened.person

    @property
    def household(self) -> int:
        """How many persons are counselled together (1 for a single adult)."""
        return self.opened.household

    @property
    def members(self) -> tuple[str, ...]:
        """Pseudonymous references of the other household members."""
        return self.opened.members

    @property
    def district(self) -> str:
        """The AGS code of the district the case belongs to."""
        return self.opened.district

    @property
    def provider(self) -> str:
        """The provider (Träger) that runs the case now: the opening provider, or the one
        of the latest transfer."""
        transfers = self.transfers
        return transfers[-1].to_provider if transfers else self.opened.provider

    @property
    def continues(self) -> Continuation | None:
        """The earlier case in another district that this case continues, if any.

        .. versionadded:: 0.2.0
        """
        return self.opened.continues

    @property
    def counted_from(self) -> date:
        """The day the counselling period is counted from: the opening day, or, where
        prior counselling in another district was credited, the earlier case's.

        .. versionadded:: 0.2.0
        """
        return self.opened.counted_from or self.opened.on

    @property
    def credited_extension_months(self) -> int:
        """Months of extension credited from the earlier case (0 without credit); they
        count against the extension limit together with :attr:`extended_months`.

        .. versionadded:: 0.2.0
        """
        opened = self.opened
        continues = opened.continues
        if opened.counted_from is None or continues is None:
            return 0
        return continues.extended_months

    @property
    def workflow(self) -> str:
        """The id of the workflow definition the case runs on."""
        return self.opened.workflow

    @property
    def workflow_hash(self) -> str:
        """The content hash of the workflow definition the case was opened under."""
        return self.opened.workflow_hash

    @property
    def period_start(self) -> date:
        """The first day of the counselling period: the opening date."""
        return self.opened.on

    @property
    def version(self) -> int:
        """The number of events recorded: the store's optimistic-concurrency version."""
        return len(self.events)

    @property
    def is_open(self) -> bool:
        """Whether the case is not closed."""
        return self.closure is None

    @property
    def plan(self) -> Plan | None:
        """The newest plan version (a draft while planning), if any."""
        return self.plans[-1] if self.plans else None

    @property
    def agreed_plan(self) -> Plan | None:
        """The newest agreed plan version, if any."""
        for plan in reversed(self.plans):
            if plan.agreed_on is not None:
                return plan
        return None

    @property
    def extended_months(self) -> int:
        """Months added to the period by this case's own extensions, in total."""
        return sum(e.months for e in self.extensions)

    @property
    def latest_on(self) -> date:
        """The business date of the latest event."""
        return self.events[-1].on
