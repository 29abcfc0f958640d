"""Simulated cohorts: many cases run through the real engine on a fake clock.

:func:`simulate` opens *n_cases* cases spread over a window and drives each one through
the engine with the commands an integration manager would send: consent, assessment,
needs by life area, an integration plan with goals, reviews, goal outcomes, revisions,
extensions, contacts, and closures (goals achieved, contact broken off, moved away,
handed over, at the client's request). Every event comes from
:meth:`imflow.Engine.open` or :meth:`imflow.Engine.handle`, so every guard holds. Cases
whose counselling period ends before *until* are closed as ``period_expired`` by the
``system`` actor on the day after their last day, like a nightly deadline sweep.

Simulated time runs forward one day at a time for the whole cohort; the engine's clock
(a :class:`~imflow.FrozenClock`) is moved to noon (UTC) of each day before that day's
commands, so no command is ever dated after the clock's today and ``recorded_at`` is as
deterministic as everything else: the same seed and parameters give byte-identical
event histories.

>>> from datetime import date
>>> cohort = simulate(50, seed=7, start=date(2025, 1, 1), until=date(2026, 12, 31))
>>> cohort.n_cases, len(cohort.cases), dict(cohort.rejected)
(50, 50, {})
>>> again = simulate(50, seed=7, start=date(2025, 1, 1), until=date(2026, 12, 31))
>>> again.cases == cohort.cases
True

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import operator
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.clock import FrozenClock
from imflow.commands import (
    AddGoal,
    AgreePlan,
    CloseCase,
    ExtendPeriod,
    OpenCase,
    RecordConsent,
    RecordContact,
    RecordNeed,
    ReopenCase,
    ReviewPlan,
    RevisePlan,
    SetGoalStatus,
    StartAssessment,
    StartPlanning,
    TransferCase,
    WithdrawConsent,
)
from imflow.districts import DISTRICTS
from imflow.engine import Engine
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea, Phase, Role
from imflow.errors import Rejected
from imflow.i18n import Lang, Messages
from imflow.rules import rule_set_in_force

if TYPE_CHECKING:
    from imflow.store import Store

__all__ = ["Cohort", "Progress", "SimulationParams", "simulate"]


Progress = Callable[[int, int], None]
"""A progress callback ``(done, total) -> None``, counted in simulated days."""

_DAYS_PER_MONTH = 365.25 / 12
_NOON = time(12, tzinfo=UTC)
_NEVER = 1 << 40  # a day offset later than any horizon
_TINY_RATE = 1e-9  # per day

# --- parameters ------------------------------------------------------------------------


def _weighted(value: Mapping[Any, float] | Iterable[tuple[Any, float]]) -> tuple[Any, ...]:
    """A weight table in canonical order: pairs sorted by key, so equal tables draw alike."""
    pairs = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted(((k, float(w)) for k, w in pairs), key=lambda kw: str(kw[0])))


def _area_weights(value: Mapping[Any, float] | Iterable[tuple[Any, float]]) -> tuple[Any, ...]:
    return _weighted((LifeArea(k), w) for k, w in _pairs(value))


def _channel_weights(value: Mapping[Any, float] | Iterable[tuple[Any, float]]) -> tuple[Any, ...]:
    return _weighted((Channel(k), w) for k, w in _pairs(value))


def _outcomes(
    value: Mapping[Any, tuple[float, float, float, float]]
    | Iterable[tuple[Any, tuple[float, float, float, float]]],
) -> tuple[Any, ...]:
    return tuple(
        sorted(
            ((LifeArea(k), tuple(float(p) for p in ps)) for k, ps in _pairs(value)),
            key=lambda kv: kv[0].value,
        )
    )


def _pairs(value: Any) -> Iterable[tuple[Any, Any]]:
    return value.items() if isinstance(value, Mapping) else value


def _floats(value: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _span(value: Iterable[float]) -> tuple[float, float]:
    low, high = value
    return (float(low), float(high))


def _int_span(value: Iterable[int]) -> tuple[int, int]:
    low, high = value
    return (int(low), int(high))


_DEFAULT_AREAS = {
    LifeArea.LANGUAGE: 30,
    LifeArea.WORK: 18,
    LifeArea.HOUSING: 14,
    LifeArea.VOCATIONAL_TRAINING: 8,
    LifeArea.SCHOOL: 7,
    LifeArea.HEALTH: 7,
    LifeArea.CHILDCARE: 6,
    LifeArea.REGULAR_SERVICES: 5,
    LifeArea.PARTICIPATION: 4,
    LifeArea.OTHER: 1,
}

# achieved, partly achieved, not achieved, dropped
_DEFAULT_OUTCOMES = {
    LifeArea.LANGUAGE: (0.55, 0.25, 0.12, 0.08),
    LifeArea.SCHOOL: (0.60, 0.20, 0.10, 0.10),
    LifeArea.VOCATIONAL_TRAINING: (0.40, 0.25, 0.20, 0.15),
    LifeArea.WORK: (0.35, 0.25, 0.25, 0.15),
    LifeArea.HOUSING: (0.30, 0.20, 0.35, 0.15),
    LifeArea.HEALTH: (0.60, 0.20, 0.10, 0.10),
    LifeArea.CHILDCARE: (0.65, 0.15, 0.10, 0.10),
    LifeArea.PARTICIPATION: (0.50, 0.25, 0.10, 0.15),
    LifeArea.REGULAR_SERVICES: (0.70, 0.15, 0.10, 0.05),
    LifeArea.OTHER: (0.50, 0.20, 0.15, 0.15),
}

_DEFAULT_CHANNELS = {
    Channel.IN_PERSON: 55,
    Channel.PHONE: 25,
    Channel.HOME_VISIT: 8,
    Channel.VIDEO: 4,
    Channel.WRITTEN: 8,
}


def _check_probability(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _check_non_negative(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _check_positive_int(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


def _check_span(instance: Any, attribute: attrs.Attribute[Any], value: tuple[float, float]) -> None:
    if not 0 <= value[0] <= value[1]:
        raise ValueError(f"{attribute.name} must be a range (low, high) with 0 <= low <= high")


def _check_table(instance: Any, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        return
    weights = [w for _, w in value]
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"{attribute.name} needs non-negative weights with a positive sum")


@attrs.frozen(kw_only=True)
class SimulationParams:
    """The probabilities and durations a simulated cohort follows.

    Durations are in days unless the name says months; ``(low, high)`` ranges are drawn
    uniformly. Weight tables map a value to a relative weight and may be given as a
    mapping or as pairs; they are kept sorted, so equal parameters draw alike. Rates
    ``..._per_year`` are hazards: the chance per year that a case ends that way.

    >>> p = SimulationParams(contacts_per_month=1.0, extension_probability=0.5)
    >>> p.contacts_per_month, p.review_interval_months
    (1.0, None)
    >>> SimulationParams(dropout_per_year=-1)
    Traceback (most recent call last):
    ...
    ValueError: dropout_per_year must not be negative, got -1

    .. versionadded:: 0.1.0
    """

    # where and when cases open
    opening_window: float = attrs.field(default=1.0, validator=_check_probability)
    """Share of the simulated window (from its start) over which cases open."""
    opening_month_weights: tuple[float, ...] = attrs.field(default=(1.0,) * 12, converter=_floats)
    """Relative opening rate by calendar month (January first), twelve values."""
    district_weights: tuple[tuple[str, float], ...] = attrs.field(
        default=(), converter=_weighted, validator=_check_table
    )
    """Relative share of cases by district AGS code; empty: equal over the 44 districts."""
    providers_per_district: int = attrs.field(default=2, validator=_check_positive_int)
    """Providers (Träger) in each district; cases are spread evenly over them."""
    managers_per_provider: int = attrs.field(default=3, validator=_check_positive_int)
    """Integration managers per provider; a case stays with one of them."""
    fte_per_manager: float = attrs.field(default=0.75, validator=_check_non_negative)
    """Full-time equivalents per manager, for :meth:`staffing` (key figures per FTE)."""
    household_sizes: tuple[tuple[int, float], ...] = attrs.field(
        default=((1, 45.0), (2, 15.0), (3, 12.0), (4, 13.0), (5, 10.0), (6, 5.0)),
        converter=_weighted,
        validator=_check_table,
    )
    """Relative frequency of household sizes (persons counselled together)."""

    # intake and assessment
    consent_probability: float = attrs.field(default=0.96, validator=_check_probability)
    """Chance that the client consents to data processing at all."""
    consent_delay_days: tuple[float, float] = attrs.field(
        default=(0, 14), converter=_span, validator=_check_span
    )
    """Days from opening to consent."""
    no_consent_close_days: tuple[float, float] = attrs.field(
        default=(30, 90), converter=_span, validator=_check_span
    )
    """Days until a case without consent is closed as ``no_contact``."""
    assessment_delay_days: tuple[float, float] = attrs.field(
        default=(7, 42), converter=_span, validator=_check_span
    )
    """Days from consent to the start of the needs assessment."""
    needs_per_case: tuple[tuple[int, float], ...] = attrs.field(
        default=((1, 30.0), (2, 40.0), (3, 25.0), (4, 5.0)),
        converter=_weighted,
        validator=_check_table,
    )
    """Relative frequency of the number of needs recorded in the assessment."""
    need_area_weights: tuple[tuple[LifeArea, float], ...] = attrs.field(
        default=_area_weights(_DEFAULT_AREAS), converter=_area_weights, validator=_check_table
    )
    """Relative frequency of life areas among needs (goals follow the needs)."""

    # planning
    planning_delay_days: tuple[float, float] = attrs.field(
        default=(14, 60), converter=_span, validator=_check_span
    )
    """Days from the start of the assessment to the start of planning."""
    agreement_delay_days: tuple[float, float] = attrs.field(
        default=(7, 28), converter=_span, validator=_check_span
    )
    """Days from the start of planning to the agreed plan (goals are added that day)."""
    goals_per_plan: tuple[tuple[int, float], ...] = attrs.field(
        default=((1, 35.0), (2, 45.0), (3, 20.0)), converter=_weighted, validator=_check_table
    )
    """Relative frequency of the number of goals in a first plan."""
    goal_months: tuple[float, float] = attrs.field(
        default=(4, 14), converter=_span, validator=_check_span
    )
    """Months from agreement to a goal's target date (capped at the period's end)."""
    goal_outcomes: tuple[tuple[LifeArea, tuple[float, float, float, float]], ...] = attrs.field(
        default=_outcomes(_DEFAULT_OUTCOMES), converter=_outcomes
    )
    """Per life area: chances of achieved, partly achieved, not achieved, dropped."""

    # monitoring
    review_interval_months: int | None = attrs.field(default=None)
    """Months between reviews; ``None``: the case's rule set decides."""
    review_jitter_days: tuple[float, float] = attrs.field(default=(-10, 10), converter=_span)
    """Days a review happens before or after it falls due."""
    revision_probability: float = attrs.field(default=0.1, validator=_check_probability)
    """Chance at each review that the plan is revised with one more goal."""
    extension_probability: float = attrs.field(default=0.35, validator=_check_probability)
    """Chance that a case with open goals is extended at its last review before the end."""
    extension_months: tuple[tuple[int, float], ...] = attrs.field(
        default=((6, 40.0), (12, 60.0)), converter=_weighted, validator=_check_table
    )
    """Relative frequency of the months an extension asks for."""

    # ways out
    dropout_per_year: float = attrs.field(default=0.10, validator=_check_non_negative)
    """Hazard of contact breaking off (closed as ``no_contact``)."""
    move_per_year: float = attrs.field(default=0.06, validator=_check_non_negative)
    """Hazard of moving away (closed as ``moved_away``)."""
    handover_per_year: float = attrs.field(default=0.08, validator=_check_non_negative)
    """Hazard of a hand-over to regular services (closed as ``handed_over``)."""
    withdrawal_per_year: float = attrs.field(default=0.01, validator=_check_non_negative)
    """Hazard of consent being withdrawn (then closed at the client's request)."""
    transfer_per_year: float = attrs.field(default=0.03, validator=_check_non_negative)
    """Hazard of a hand-over to another provider of the same district (``transfer_case``,
    at most one per case, drawn from a random stream of its own); needs at least two
    providers per district."""
    reopen_probability: float = attrs.field(default=0.15, validator=_check_probability)
    """Chance that a case in monitoring that lost contact is reopened within its period."""
    reopen_delay_days: tuple[float, float] = attrs.field(
        default=(30, 180), converter=_span, validator=_check_span
    )
    """Days from a ``no_contact`` closure to the reopening."""

    # intensity
    contacts_per_month: float = attrs.field(default=0.35, validator=_check_non_negative)
    """Counselling contacts per month besides the milestones (a Poisson process)."""
    contact_minutes: tuple[tuple[int, float], ...] = attrs.field(
        default=((15, 20.0), (30, 35.0), (45, 20.0), (60, 18.0), (90, 7.0)),
        converter=_weighted,
        validator=_check_table,
    )
    """Relative frequency of a contact's length in minutes."""
    channel_weights: tuple[tuple[Channel, float], ...] = attrs.field(
        default=_channel_weights(_DEFAULT_CHANNELS),
        converter=_channel_weights,
        validator=_check_table,
    )
    """Relative frequency of contact channels."""
    case_prefix: str = "sim"
    """Case ids are ``{case_prefix}-{seed}-{index:07d}``; persons ``p-{seed}-{index:07d}``."""

    def providers(self) -> tuple[tuple[str, str], ...]:
        """Every simulated provider as ``(district AGS, provider id)``, sorted.

        >>> SimulationParams(district_weights={"08337": 1}).providers()
        (('08337', '08337-t1'), ('08337', '08337-t2'))
        """
        districts = [ags for ags, w in self.district_weights if w > 0] or sorted(DISTRICTS)
        return tuple(
            (ags, f"{ags}-t{k}")
            for ags in sorted(districts)
            for k in range(1, self.providers_per_district + 1)
        )

    def staffing(self) -> dict[tuple[str, str], Decimal]:
        """The FTE of every simulated provider, as :func:`imflow.kennzahlen.report` reads it.

        >>> SimulationParams(district_weights={"08337": 1}).staffing()[("08337", "08337-t1")]
        Decimal('2.25')
        """
        fte = (Decimal(self.managers_per_provider) * Decimal(str(self.fte_per_manager))).quantize(
            Decimal("0.01")
        )
        return {place: fte.normalize() for place in self.providers()}

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if len(self.opening_month_weights) != 12:
            problems.append("opening_month_weights needs twelve values, January first")
        elif any(w < 0 for w in self.opening_month_weights) or not any(self.opening_month_weights):
            problems.append("opening_month_weights need non-negative values, not all zero")
        for ags, _ in self.district_weights:
            if ags not in DISTRICTS:
                problems.append(f"district_weights: {ags!r} is not a district of BW")
        for size, _ in self.household_sizes:
            if size < 1:
                problems.append("household_sizes: a household has at least one person")
        for n, _ in (*self.needs_per_case, *self.goals_per_plan):
            if n < 1:
                problems.append("needs_per_case and goals_per_plan count at least 1")
        for months, _ in self.extension_months:
            if months < 1:
                problems.append("extension_months must be at least 1")
        for minutes, _ in self.contact_minutes:
            if not 1 <= minutes <= 600:
                problems.append("contact_minutes must lie between 1 and 600")
        for area, chances in self.goal_outcomes:
            if len(chances) != 4 or any(p < 0 for p in chances) or sum(chances) <= 0:
                problems.append(f"goal_outcomes[{area.value}] needs four non-negative chances")
        if self.review_interval_months is not None and self.review_interval_months < 1:
            problems.append("review_interval_months must be at least 1")
        if self.review_jitter_days[0] > self.review_jitter_days[1]:
            problems.append("review_jitter_days must be a range (low, high)")
        if problems:
            raise ValueError("; ".join(problems))


# --- the result ------------------------------------------------------------------------


def _frozen_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(
        {str(k): v for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    )


@attrs.frozen(kw_only=True)
class Cohort:
    """A simulated cohort: its final cases and what happened to them.

    ``cases`` holds every case as it stood at *until*, in case-id order (empty when the
    simulation ran with ``keep_cases=False``). Counts are plain sorted mappings:
    ``event_counts`` by event type, ``phases`` by phase at *until*, ``closures`` by
    closure reason (of cases closed at *until*), ``goals`` by the status of each goal
    of the newest plan, ``rejected`` by reason code (empty with an engine that applies
    no host policies: the simulator only sends commands the rules allow);
    ``not_opened`` counts cases whose opening a host policy refused.

    .. versionadded:: 0.1.0
    """

    seed: int
    start: date
    until: date
    params: SimulationParams = attrs.field(repr=False)
    n_cases: int
    cases: tuple[Case, ...] = attrs.field(repr=False)
    events: int
    event_counts: Mapping[str, int] = attrs.field(converter=_frozen_counts)
    phases: Mapping[str, int] = attrs.field(converter=_frozen_counts)
    closures: Mapping[str, int] = attrs.field(converter=_frozen_counts)
    goals: Mapping[str, int] = attrs.field(converter=_frozen_counts)
    rejected: Mapping[str, int] = attrs.field(converter=_frozen_counts)
    not_opened: int
    persons: int
    plans_agreed: int
    extensions: int
    reopened: int
    contacts: int
    minutes: int
    closed_days_total: int
    """Sum over closed cases of the days from opening to closure (for the mean)."""

    @property
    def open_cases(self) -> int:
        """Cases still open at *until*."""
        return self.n_cases - self.not_opened - sum(self.closures.values())

    @property
    def mean_events(self) -> float:
        """Events per case, on average."""
        return self.events / self.n_cases if self.n_cases else 0.0

    @property
    def mean_closed_days(self) -> float:
        """Days from opening to closure, on average over cases closed at *until*."""
        closed = sum(self.closures.values())
        return self.closed_days_total / closed if closed else 0.0

    def summary(self, lang: Lang = "de", *, messages: Messages | None = None) -> str:
        """A few lines for people, in German (``"de"``) or English: phases and closure
        reasons by their labels, numbers and dates as the language writes them.

        >>> from datetime import date
        >>> c = simulate(3, seed=1, start=date(2025, 1, 1), until=date(2025, 3, 1))
        >>> print(c.summary("en").splitlines()[0])
        3 cases simulated from 2025-01-01 to 2025-03-01 (seed 1)
        >>> print(c.summary("de").splitlines()[0])
        3 Fälle simuliert vom 01.01.2025 bis 01.03.2025 (Seed 1)
        """
        m = messages or Messages.default()

        def say(key: str, **params: object) -> str:
            return m.say(f"simulation.summary.{key}", lang, **params)

        def items(counts: Mapping[str, int], kind: str | None, order: Iterable[str] = ()) -> str:
            rank = {code: i for i, code in enumerate(order)}
            shown = [
                say("item", label=m.label(kind, code, lang) if kind else code, count=n)
                for code, n in sorted(counts.items(), key=lambda kv: rank.get(kv[0], len(rank)))
            ]
            return "; ".join(shown) or say("none")

        lines = [
            say("simulated", cases=self.n_cases, start=self.start, until=self.until,
                seed=str(self.seed)),
            say("events", events=self.events, mean=self.mean_events),
            say("phases", items=items(self.phases, "phase", Phase)),
            say("closures", items=items(self.closures, "closure_reason", ClosureReason)),
            say(
                "counts",
                plans=self.plans_agreed,
                extensions=self.extensions,
                reopened=self.reopened,
                contacts=self.contacts,
            ),
        ]  # fmt: skip
        if self.rejected:
            lines.append(say("rejected", items=items(self.rejected, None)))
        return "\n".join(lines)


class _Tally:
    """Running counts over final cases (so that cases need not be kept)."""

    def __init__(self) -> None:
        self.cases = 0
        self.events = 0
        self.event_counts: Counter[str] = Counter()
        self.phases: Counter[str] = Counter()
        self.closures: Counter[str] = Counter()
        self.goals: Counter[str] = Counter()
        self.persons = 0
        self.plans_agreed = 0
        self.extensions = 0
        self.contacts = 0
        self.minutes = 0
        self.closed_days = 0

    def merge(self, other: _Tally) -> None:
        """Add the counts of *other* (another process's share of the cohort)."""
        for name, value in vars(other).items():
            if isinstance(value, Counter):
                getattr(self, name).update(value)
            else:
                setattr(self, name, getattr(self, name) + value)

    def add(self, case: Case) -> None:
        events = case.events
        self.cases += 1
        self.events += len(events)
        self.event_counts.update(map(_event_type, events))
        self.phases[case.phase] += 1
        closure = case.closure
        if closure is not None:
            self.closures[closure.reason] += 1
            self.closed_days += (closure.on - events[0].on).days
        plan = case.plan
        if plan is not None:
            self.goals.update(g.status for g in plan.goals)
        self.persons += case.household
        for p in case.plans:
            if p.agreed_on is not None:
                self.plans_agreed += 1
        self.extensions += len(case.extensions)
        contacts = case.contacts
        if contacts:
            self.contacts += len(contacts)
            self.minutes += sum(c.minutes for c in contacts)


_event_type = operator.attrgetter("type")


# --- the simulator ---------------------------------------------------------------------


class _Table:
    """Draws from a weight table with one uniform number: ``values[bisect(cum, u * total)]``."""

    __slots__ = ("cum", "total", "values")

    def __init__(self, pairs: Iterable[tuple[Any, float]]) -> None:
        self.values: list[Any] = []
        self.cum: list[float] = []
        acc = 0.0
        for value, weight in pairs:
            if weight > 0:
                acc += weight
                self.values.append(value)
                self.cum.append(acc)
        self.total = acc


_OUTCOME_STATUSES = (
    GoalStatus.ACHIEVED,
    GoalStatus.PARTLY_ACHIEVED,
    GoalStatus.NOT_ACHIEVED,
    GoalStatus.DROPPED,
)
_EXITS = (
    ClosureReason.NO_CONTACT,
    ClosureReason.MOVED_AWAY,
    ClosureReason.HANDED_OVER,
    ClosureReason.CLIENT_REQUEST,
)

# stages of a trajectory
_CONSENT, _ASSESS, _PLAN, _AGREE, _REVIEW, _REOPEN = range(6)

_Trajectory = Generator[int, None, None]


class _Sim:
    """One run: precomputed tables, the random stream, the clock and the live cases."""

    def __init__(
        self,
        n_cases: int,
        seed: int,
        start: date,
        until: date,
        params: SimulationParams,
        engine: Engine,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.params = params
        self.engine = engine
        self.base = start.toordinal()
        self.ndays = until.toordinal() - self.base + 1
        self.days = [date.fromordinal(self.base + k) for k in range(self.ndays)]
        self.cases: list[Case | None] = [None] * n_cases
        self.rejected: Counter[str] = Counter()
        self.prefix = params.case_prefix
        p = params

        districts = p.district_weights or tuple((ags, 1.0) for ags in sorted(DISTRICTS))
        self.places = _Table(
            ((ags, f"{ags}-t{k}"), w / p.providers_per_district)
            for ags, w in districts
            for k in range(1, p.providers_per_district + 1)
        )
        self.actors: dict[tuple[str, str], tuple[Actor, ...]] = {
            (ags, provider): tuple(
                Actor(f"im-{provider}-{m}", Role.MANAGER, provider=provider, district=ags)
                for m in range(1, p.managers_per_provider + 1)
            )
            for ags, provider in self.places.values
        }
        self.households = _Table(p.household_sizes)
        self.need_counts = _Table(p.needs_per_case)
        self.areas = _Table(p.need_area_weights)
        self.goal_counts = _Table(p.goals_per_plan)
        self.minutes = _Table(p.contact_minutes)
        self.channels = _Table(p.channel_weights)
        self.extension_months = _Table(p.extension_months)
        outcomes = dict(p.goal_outcomes)
        self.outcomes = {
            area: _Table(
                zip(_OUTCOME_STATUSES, outcomes.get(area, (0.5, 0.2, 0.2, 0.1)), strict=True)
            )
            for area in LifeArea
        }
        rates = (p.dropout_per_year, p.move_per_year, p.handover_per_year, p.withdrawal_per_year)
        # a hazard too small to ever fire within any horizon counts as none at all
        exit_rate = sum(rates) / 365.25
        self.exit_rate = exit_rate if exit_rate > _TINY_RATE else 0.0
        self.exits = _Table(zip(_EXITS, rates, strict=True))
        contact_rate = p.contacts_per_month / _DAYS_PER_MONTH
        self.contact_rate = contact_rate if contact_rate > _TINY_RATE else 0.0
        self.goal_days = (p.goal_months[0] * _DAYS_PER_MONTH, p.goal_months[1] * _DAYS_PER_MONTH)
        transfer_rate = p.transfer_per_year / 365.25 if p.providers_per_district > 1 else 0.0
        self.transfer_rate = transfer_rate if transfer_rate > _TINY_RATE else 0.0
        # transfers draw from a stream of their own, so that the rest of a cohort stays
        # what it was without them
        self.transfer_rng = random.Random(f"imflow-transfer-{seed}")
        self.neighbours: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
            place: tuple(q for q in self.places.values if q[0] == place[0] and q != place)
            for place in self.places.values
        }
        self.descriptions = {area: area.label("de") for area in LifeArea}
        self.justification = "Ziele noch offen (simuliert) / goals still open (simulated)"

    def draw(self, table: _Table) -> Any:
        """One value from *table*."""
        return table.values[bisect.bisect(table.cum, self.rng.random() * table.total)]

    def days_in(self, span: tuple[float, float]) -> int:
        """A whole number of days drawn uniformly from *span*."""
        low, high = span
        return int(low + (high - low) * self.rng.random())

    def opening_days(self, n_cases: int) -> list[int]:
        """The opening day (offset from the start) of every case, sorted."""
        window = max(1, round(self.ndays * self.params.opening_window))
        weights = self.params.opening_month_weights
        cum: list[float] = []
        acc = 0.0
        for k in range(window):
            acc += weights[self.days[k].month - 1]
            cum.append(acc)
        rnd = self.rng.random
        bis = bisect.bisect
        offsets = [min(bis(cum, rnd() * acc), window - 1) for _ in range(n_cases)]
        offsets.sort()
        return offsets

    def trajectory(self, i: int, day: int) -> _Trajectory:
        """Drive case *i* from its opening on *day*; yields each later day it acts on.

        A negative value ``-1 - d`` asks the driver to close the case in the sweep of
        day ``d``. The case as it stands is always in ``self.cases[i]``.
        """
        p = self.params
        rng = self.rng
        rnd = rng.random
        expo = rng.expovariate
        bis = bisect.bisect
        days = self.days
        cases = self.cases
        engine = self.engine
        handle = engine.handle
        base = self.base
        ndays = self.ndays

        places = self.places
        place = places.values[bis(places.cum, rnd() * places.total)]
        ags, provider = place
        actors = self.actors[place]
        actor = actors[int(rnd() * len(actors))]
        tag = f"{self.seed}-{i:07d}"
        try:
            case: Case = engine.open(
                OpenCase(
                    case_id=f"{self.prefix}-{tag}",
                    person=f"p-{tag}",
                    district=ags,
                    provider=provider,
                    household=self.draw(self.households),
                    on=days[day],
                ),
                by=actor,
            )
        except Rejected as exc:
            self.rejected.update(exc.codes)
            return
        cases[i] = case
        period_end = case.period_end
        end = _NEVER if period_end is None else period_end.toordinal() - base
        rules = engine.rule_sets[case.rule_set]
        interval = round(
            (p.review_interval_months or rules.review_interval_months) * _DAYS_PER_MONTH
        )
        jitter_low, jitter_high = p.review_jitter_days
        jitter = jitter_high - jitter_low
        extension_room = rules.extension_max_months if rules.period_months else 0

        # contacts: a Poisson process over the open days
        crate = self.contact_rate
        m_vals, m_cum, m_tot = self.minutes.values, self.minutes.cum, self.minutes.total
        c_vals, c_cum, c_tot = self.channels.values, self.channels.cum, self.channels.total
        nc = day + 1 + int(expo(crate)) if crate else _NEVER
        # ways out: one competing-risk draw (the earliest of the hazards wins)
        xrate = self.exit_rate
        exit_day = day + 1 + int(expo(xrate)) if xrate else _NEVER
        exit_reason = self.draw(self.exits) if xrate else ClosureReason.NO_CONTACT

        # a hand-over to another provider of the district, on a random stream of its own
        trng = self.transfer_rng
        trate = self.transfer_rate
        tday = day + 1 + int(trng.expovariate(trate)) if trate else _NEVER
        others = self.neighbours[place]

        areas: list[LifeArea] = []
        topics: tuple[LifeArea, ...] = ()
        goals: list[list[Any]] = []  # [goal_id, area, target day, final status or None]
        stage = _CONSENT
        now = day

        def hand_over(t: int) -> None:
            """The hand-over, due by day *t*, on *t* before the case's other acts of that
            day (so the cohort's other draws and their order stay the same)."""
            nonlocal case, actor, tday
            tday = _NEVER
            if not case.is_open or t > end or not others:
                return
            target = others[int(trng.random() * len(others))]
            case = handle(case, TransferCase(to_provider=target[1], on=days[t]), by=actor)
            staff = self.actors[target]
            actor = staff[int(trng.random() * len(staff))]

        if rnd() < p.consent_probability:
            x = day + self.days_in(p.consent_delay_days)
        else:
            x = _NEVER
            no_consent = day + max(1, self.days_in(p.no_consent_close_days))
            if no_consent < exit_day:
                exit_day, exit_reason = no_consent, ClosureReason.NO_CONTACT

        try:
            while True:
                # contacts up to the next milestone, a way out or the end of the period
                while nc < x and nc < exit_day and nc <= end:
                    cases[i] = case
                    yield nc
                    if tday <= nc:
                        hand_over(nc)
                    case = handle(
                        case,
                        RecordContact(
                            on=days[nc],
                            minutes=m_vals[bis(m_cum, rnd() * m_tot)],
                            channel=c_vals[bis(c_cum, rnd() * c_tot)],
                            topics=topics,
                        ),
                        by=actor,
                    )
                    now = nc
                    nc += 1 + int(expo(crate))
                if exit_day < x and exit_day <= end:
                    cases[i] = case
                    yield exit_day
                    on = days[exit_day]
                    if exit_reason is ClosureReason.CLIENT_REQUEST:
                        case = handle(case, WithdrawConsent(on=on), by=actor)
                    case = handle(case, CloseCase(reason=exit_reason, on=on), by=actor)
                    cases[i] = case
                    if (
                        exit_reason is ClosureReason.NO_CONTACT
                        and stage == _REVIEW
                        and rnd() < p.reopen_probability
                    ):
                        x = exit_day + max(1, self.days_in(p.reopen_delay_days))
                        if x <= end:
                            stage = _REOPEN
                            nc = x + 1 + int(expo(crate)) if crate else _NEVER
                            exit_day = x + 1 + int(expo(xrate)) if xrate else _NEVER
                            exit_reason = (
                                self.draw(self.exits) if xrate else ClosureReason.NO_CONTACT
                            )
                            continue
                    return
                if x > end:
                    cases[i] = case
                    if end + 1 < ndays:
                        yield -2 - end  # closed in the sweep of the day after the last day
                    return
                if x != now:
                    cases[i] = case
                    yield x
                    now = x
                if tday <= x:
                    hand_over(x)
                on = days[x]
                if stage == _CONSENT:
                    case = handle(case, RecordConsent(on=on), by=actor)
                    stage = _ASSESS
                    x += self.days_in(p.assessment_delay_days)
                elif stage == _ASSESS:
                    case = handle(case, StartAssessment(on=on), by=actor)
                    for _ in range(self.draw(self.need_counts)):
                        area = self.draw(self.areas)
                        areas.append(area)
                        case = handle(case, RecordNeed(area=area, on=on), by=actor)
                    topics = (areas[0],)
                    stage = _PLAN
                    x += max(1, self.days_in(p.planning_delay_days))
                elif stage == _PLAN:
                    case = handle(case, StartPlanning(on=on), by=actor)
                    stage = _AGREE
                    x += max(1, self.days_in(p.agreement_delay_days))
                elif stage == _AGREE:
                    for _ in range(self.draw(self.goal_counts)):
                        case = self._add_goal(case, actor, x, end, areas, goals)
                    case = handle(case, AgreePlan(on=on), by=actor)
                    stage = _REVIEW
                    x += interval + int(jitter_low + jitter * rnd())
                elif stage == _REVIEW:
                    case = handle(case, ReviewPlan(on=on), by=actor)
                    settled = True
                    achieved = False
                    for goal in goals:
                        status = goal[3]
                        if status is None:
                            if goal[2] > x:
                                settled = False
                                continue
                            out = self.outcomes[goal[1]]
                            status = goal[3] = out.values[bis(out.cum, rnd() * out.total)]
                            case = handle(
                                case, SetGoalStatus(goal_id=goal[0], status=status, on=on), by=actor
                            )
                        if status is GoalStatus.ACHIEVED:
                            achieved = True
                    if settled and achieved:
                        cases[i] = handle(
                            case, CloseCase(reason=ClosureReason.GOALS_ACHIEVED, on=on), by=actor
                        )
                        return
                    nxt = x + interval + int(jitter_low + jitter * rnd())
                    if settled or rnd() < p.revision_probability:
                        # a new plan version with one more goal, agreed in the same meeting
                        case = handle(case, RevisePlan(on=on), by=actor)
                        case = self._add_goal(case, actor, x, end, areas, goals)
                        case = handle(case, AgreePlan(on=on), by=actor)
                    if nxt > end and extension_room > 0 and rnd() < p.extension_probability:
                        months = min(self.draw(self.extension_months), extension_room)
                        extension_room -= months
                        case = handle(
                            case,
                            ExtendPeriod(months=months, justification=self.justification, on=on),
                            by=actor,
                        )
                        end = (
                            _NEVER
                            if case.period_end is None
                            else case.period_end.toordinal() - base
                        )
                    x = nxt
                else:  # _REOPEN: back to assessment, one more need, then plan again
                    case = handle(case, ReopenCase(on=on), by=actor)
                    area = self.draw(self.areas)
                    areas.append(area)
                    case = handle(case, RecordNeed(area=area, on=on), by=actor)
                    stage = _PLAN
                    x += max(1, self.days_in(p.planning_delay_days))
        except Rejected as exc:
            # a host's policy refused a command: the story ends, the case stays as it was
            self.rejected.update(exc.codes)
            cases[i] = case
            if case.is_open and end + 1 < ndays:
                yield -2 - end

    def _add_goal(
        self, case: Case, actor: Actor, x: int, end: int, areas: list[LifeArea], goals: list[Any]
    ) -> Case:
        """Add one goal in a life area of the case's needs, due within the period."""
        rnd = self.rng.random
        area = areas[int(rnd() * len(areas))]
        low, high = self.goal_days
        target = max(x, min(x + int(low + (high - low) * rnd()), end))
        goal_id = f"g{len(goals) + 1}"
        goals.append([goal_id, area, target, None])
        return self.engine.handle(
            case,
            AddGoal(
                goal_id=goal_id,
                area=area,
                description=self.descriptions[area],
                target_date=date.fromordinal(self.base + target),
                on=self.days[x],
            ),
            by=actor,
        )


def _noon(day: date) -> datetime:
    return datetime.combine(day, _NOON)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a cohort runs, as :mod:`timeit` does.

    A simulation builds millions of small, acyclic, long-lived objects; full collections
    would scan all of them again and again. Reference counting still frees everything;
    the collector's previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def simulate(
    n_cases: int,
    *,
    seed: int,
    start: date,
    until: date,
    params: SimulationParams = SimulationParams(),
    store: Store | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
    keep_cases: bool = True,
    batch_size: int = 500,
    jobs: int = 1,
) -> Cohort:
    """Simulate *n_cases* cases opened from *start* and followed until *until* (inclusive).

    :param seed: the seed of the simulation's own random stream; the same seed and
        parameters give byte-identical event histories (global random state is untouched).
    :param params: probabilities and durations (see :class:`SimulationParams`).
    :param store: if given, each case's events are appended (``expected_version=0``)
        once its story has ended, *batch_size* cases at a time, and every case still
        open at *until* at the end.
    :param engine: the engine to drive (default: the *store*'s engine when its clock is
        a :class:`~imflow.FrozenClock`, else a new default :class:`~imflow.Engine`).
        Its clock must be a :class:`~imflow.FrozenClock`; the simulation moves it. A
        store re-decides every appended event with its own engine and refuses events
        recorded after that engine's now: give the store the simulation's engine (or
        one whose clock stands after *until*). Host
        policies and hooks run as usual; commands a policy refuses are counted in
        :attr:`Cohort.rejected` and end that case's story.
    :param progress: called as ``progress(days_done, days_total)`` about a hundred times.
    :param keep_cases: keep the final cases in :attr:`Cohort.cases` (turn it off for
        very large cohorts written to a store; the counts are kept either way).
    :param jobs: how many processes simulate the cohort (1: this process, no other
        process or thread is started). With more, the cases are shared out among
        *jobs* worker processes (``fork`` where this process runs no other thread,
        else ``spawn``), each driving a default ``Engine(clock=FrozenClock.on(start))``
        (so *engine* must be ``None``); a *store* is written by this process, after
        them, with the store's engine (its frozen clock moved to *until*). The events
        are the same, byte for byte, for every *jobs*: each case draws from a random
        stream of its own, seeded by *seed* and its index. Final cases travel back to
        this process only when kept or written (pickling them costs about as much as
        simulating them); the counts always do.

    .. versionchanged:: 0.2.0
       *jobs*; every case draws from a stream of its own (other histories than
       0.1.0's for the same seed).

    The cyclic garbage collector is paused while the cohort runs (see :mod:`timeit`);
    its state is restored afterwards.

    >>> from datetime import date
    >>> cohort = simulate(200, seed=3, start=date(2025, 1, 1), until=date(2029, 12, 31))
    >>> cohort.open_cases + sum(cohort.closures.values()) == 200
    True
    >>> last = date(2029, 12, 31)
    >>> all(not c.is_open for c in cohort.cases if c.period_end and c.period_end < last)
    True
    """
    if n_cases < 0:
        raise ValueError(f"n_cases must not be negative, got {n_cases}")
    if until < start:
        raise ValueError(f"until ({until}) is before start ({start})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs > 1:
        if engine is not None:
            raise ValueError("with jobs > 1 each process drives its own engine: pass engine=None")
        if rule_set_in_force(start) is None:
            raise ValueError(f"no rule set is in force on {start}")
        return _in_processes(
            n_cases, seed, start, until, params, store, progress, keep_cases, batch_size, jobs
        )
    if engine is None and store is not None and isinstance(store.engine.clock, FrozenClock):
        engine = store.engine  # the store admits what this engine records, on its clock
    if engine is not None and rule_set_in_force(start, engine.rule_sets.values()) is None:
        raise ValueError(f"no rule set of the engine is in force on {start}")
    if engine is None:
        if rule_set_in_force(start) is None:
            raise ValueError(f"no rule set is in force on {start}")
        clock = FrozenClock.on(start)
        engine = Engine(clock=clock)
    elif isinstance(engine.clock, FrozenClock):
        clock = engine.clock
    else:
        raise TypeError(
            "simulate() moves the engine's clock: build the engine with clock=FrozenClock(...)"
        )
    with _gc_paused():
        share = _run(
            n_cases,
            seed,
            start,
            until,
            params,
            store,
            engine,
            clock,
            progress,
            keep_cases,
            batch_size,
        )
    return _cohort([share], n_cases, seed, start, until, params)


def _share(
    n_cases: int,
    seed: int,
    start: date,
    until: date,
    params: SimulationParams,
    keep: bool,
    shard: tuple[int, int],
) -> _Share:
    """A worker process: simulate the cases of *shard* ``(k, jobs)`` on an engine of its own."""
    clock = FrozenClock.on(start)
    with _gc_paused():
        return _run(
            n_cases,
            seed,
            start,
            until,
            params,
            None,
            Engine(clock=clock),
            clock,
            None,
            keep,
            1,
            shard,
        )


def _in_processes(
    n_cases: int,
    seed: int,
    start: date,
    until: date,
    params: SimulationParams,
    store: Store | None,
    progress: Progress | None,
    keep_cases: bool,
    batch_size: int,
    jobs: int,
) -> Cohort:
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and threading.active_count() == 1 else "spawn"
    keep = keep_cases or store is not None
    ndays = until.toordinal() - start.toordinal() + 1
    shares: list[_Share] = []
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method)) as pool:
        running = [
            pool.submit(_share, n_cases, seed, start, until, params, keep, (k, jobs))
            for k in range(jobs)
        ]
        for k, future in enumerate(running):
            shares.append(future.result())
            if progress is not None:
                progress(ndays * (k + 1) // jobs, ndays)
    cohort = _cohort(shares, n_cases, seed, start, until, params)
    if store is not None:
        clock = store.engine.clock
        if isinstance(clock, FrozenClock) and clock() < _noon(until):
            clock.now = _noon(until)  # the store admits events recorded up to then
        cases = cohort.cases
        for first in range(0, len(cases), batch_size):
            _write(store, list(cases[first : first + batch_size]))
        if not keep_cases:
            cohort = attrs.evolve(cohort, cases=())
    return cohort


def _run(
    n_cases: int,
    seed: int,
    start: date,
    until: date,
    params: SimulationParams,
    store: Store | None,
    engine: Engine,
    clock: FrozenClock,
    progress: Progress | None,
    keep_cases: bool,
    batch_size: int,
    shard: tuple[int, int] = (0, 1),
) -> _Share:
    sim = _Sim(n_cases, seed, start, until, params, engine)
    share, shares = shard
    ndays = sim.ndays
    days = sim.days
    cases = sim.cases
    openings = sim.opening_days(n_cases)
    buckets: list[list[tuple[int, _Trajectory, _Streams]]] = [[] for _ in range(ndays)]
    sweeps: dict[int, list[int]] = {}
    finished = bytearray(n_cases)
    tally = _Tally()
    batch: list[Case] = []

    def finish(i: int) -> None:
        case = cases[i]
        finished[i] = 1
        if case is None:
            return
        tally.add(case)
        if store is not None:
            batch.append(case)
            if len(batch) >= batch_size:
                _write(store, batch)
                batch.clear()
        if not keep_cases:
            cases[i] = None

    step = -(-ndays // 100)  # about a hundred reports
    o = 0
    for off in range(ndays):
        clock.now = _noon(days[off])
        due = sweeps.pop(off, None)
        if due:
            _sweep(sim, due, days[off])
            for i in due:
                finish(i)
        bucket = buckets[off]
        while o < n_cases and openings[o] == off:
            if o % shares == share:  # every case runs on a random stream of its own
                streams = (
                    random.Random(f"imflow-case-{seed}/{o}"),
                    random.Random(f"imflow-transfer-{seed}/{o}"),
                )
                bucket.append((o, sim.trajectory(o, off), streams))
            else:
                finished[o] = 1  # another process's
            o += 1
        for item in bucket:
            sim.rng, sim.transfer_rng = item[2]
            nxt = next(item[1], None)
            if nxt is None:
                finish(item[0])
            elif nxt >= 0:
                if nxt < ndays:
                    buckets[nxt].append(item)
            else:
                sweeps.setdefault(-1 - nxt, []).append(item[0])
        buckets[off] = []
        if progress is not None and off % step == step - 1:
            progress(off + 1, ndays)
    for i in range(n_cases):
        if not finished[i]:
            finish(i)
    if store is not None and batch:
        _write(store, batch)
    if progress is not None:
        progress(ndays, ndays)
    kept = [(i, c) for i, c in enumerate(cases) if c is not None] if keep_cases else []
    return _Share(tally, sim.rejected, kept)


_Streams = tuple[random.Random, random.Random]  # a case's own draws and its transfers


class _Share:
    """What one process simulated: the counts, the refusals and the cases it kept."""

    def __init__(
        self, tally: _Tally, rejected: Counter[str], cases: list[tuple[int, Case]]
    ) -> None:
        self.tally, self.rejected, self.cases = tally, rejected, cases


def _cohort(
    shares: list[_Share],
    n_cases: int,
    seed: int,
    start: date,
    until: date,
    params: SimulationParams,
) -> Cohort:
    """The cohort of all *shares*, cases in index (and so case-id) order."""
    tally = _Tally()
    rejected: Counter[str] = Counter()
    for share in shares:
        tally.merge(share.tally)
        rejected.update(share.rejected)
    cases = sorted((pair for share in shares for pair in share.cases), key=lambda p: p[0])
    return Cohort(
        seed=seed,
        start=start,
        until=until,
        params=params,
        n_cases=n_cases,
        cases=tuple(c for _, c in cases),
        events=tally.events,
        event_counts=tally.event_counts,
        phases=tally.phases,
        closures=tally.closures,
        goals=tally.goals,
        rejected=dict(rejected),
        not_opened=n_cases - tally.cases,
        persons=tally.persons,
        plans_agreed=tally.plans_agreed,
        extensions=tally.extensions,
        reopened=tally.event_counts.get("case_reopened", 0),
        contacts=tally.contacts,
        minutes=tally.minutes,
        closed_days_total=tally.closed_days,
    )


def _sweep(sim: _Sim, due: list[int], day: date) -> None:
    """The nightly sweep: close the due cases as ``period_expired`` by the system actor."""
    cases = sim.cases
    index: dict[str, int] = {}
    todo: list[Case] = []
    for i in due:
        case = cases[i]
        if case is not None:
            index[case.case_id] = i
            todo.append(case)
    result = sim.engine.sweep(todo, on=day, by=SYSTEM)
    for case in result.closed:
        cases[index[case.case_id]] = case
    for _, reasons in result.refused:
        sim.rejected.update(r.code for r in reasons)


def _write(store: Store, batch: list[Case]) -> None:
    for case in batch:
        store.append(case.case_id, case.events, expected_version=0)
