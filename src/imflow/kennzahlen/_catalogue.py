"""Private: the catalogue of key figures (see imflow.kennzahlen)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import attrs

from imflow.enums import ClosureReason, GoalStatus, LifeArea
from imflow.i18n import Lang, Messages
from imflow.kennzahlen._tally import Tally

__all__ = ["CATALOGUE", "Figure", "FigureKind", "FigureValue", "Group"]

FigureValue = int | float | None | Mapping[str, int]
"""A figure's value: a count, a ratio or share (``None`` when its denominator is 0),
or counts by key for a breakdown."""


@attrs.frozen(kw_only=True)
class Group:
    """What a figure is computed from: the tally of a group of units and its staffing.

    ``fte_centi`` sums the FTE (in hundredths) of the units whose FTE is given and
    positive; ``staffed_active`` counts the active cases of exactly those units.
    ``per_unit`` says that no two units of the group share a district (one provider,
    or one provider id across districts): a case transferred between providers then
    counts as active at each of them; otherwise (a district, the state) once, at the
    provider it is with at the end of the year.

    .. versionchanged:: 0.2.0
       ``per_unit`` and :meth:`of`.
    """

    tally: Tally
    fte_centi: int = 0
    staffed_active: int = 0
    per_unit: bool = False

    @classmethod
    def of(cls, units: Iterable[tuple[str, Tally, int | None]]) -> Group:
        """The group of *units*, each given as ``(district, tally, fte_centi)``."""
        parts = list(units)
        districts = [d for d, _, _ in parts]
        per_unit = len(set(districts)) == len(districts)
        staffed = [t for _, t, centi in parts if centi]
        return cls(
            tally=Tally.sum(t for _, t, _ in parts),
            fte_centi=sum(centi or 0 for _, _, centi in parts if centi),
            staffed_active=sum(t.cases_active + per_unit * t.cases_active_left for t in staffed),
            per_unit=per_unit,
        )

    @property
    def cases_active(self) -> int:
        """Active cases: once each, or at each provider they were with (``per_unit``)."""
        t = self.tally
        return t.cases_active + t.cases_active_left if self.per_unit else t.cases_active

    @property
    def persons(self) -> int:
        """Persons counselled, counted like :attr:`cases_active`."""
        t = self.tally
        return t.persons + t.persons_left if self.per_unit else t.persons


class FigureKind(enum.StrEnum):
    """How a figure's value reads."""

    COUNT = "count"
    SHARE = "share"
    RATIO = "ratio"
    MEDIAN = "median"
    BREAKDOWN = "breakdown"


def _no_keys(key: str, lang: Lang, messages: Messages) -> str:
    return key


def _reason_label(key: str, lang: Lang, messages: Messages) -> str:
    return messages.label("closure_reason", key, lang)


def _area_label(key: str, lang: Lang, messages: Messages) -> str:
    return messages.label("life_area", key, lang)


def _status_label(key: str, lang: Lang, messages: Messages) -> str:
    return messages.label("goal_status", key, lang)


def _area_status_label(key: str, lang: Lang, messages: Messages) -> str:
    area, _, status = key.partition("/")
    return messages.say("report.area_status", lang, area=area, status=status)


@attrs.frozen(kw_only=True)
class Figure:
    """One key figure: id, kind, the keys of a breakdown and how it is computed.

    Its words (name, unit, exact counting rule, edge cases) are messages of the
    catalogue (:class:`~imflow.i18n.Messages`) under ``figure.<id>.name``,
    ``figure.<id>.unit``, ``figure.<id>.rule`` and ``figure.<id>.edge.<n>``, so a host
    can reword them and the workbook, the committee report, CSV and text all say the
    same. ``compute`` turns a :class:`Group` into the value; ``keys`` lists a
    breakdown's keys in report order, and :meth:`key_label` names them.

    >>> fig = CATALOGUE["plan_on_time_share"]
    >>> fig.name("de")
    'Anteil Fälle mit Integrationsplan innerhalb von 3 Monaten'
    >>> fig.unit("en"), fig.edges("de")[0]
    ('%', 'Ein im November eröffneter Fall zählt im nächsten Jahr, in dem seine Frist endet.')

    .. versionchanged:: 0.2.0
       The words moved to the message catalogue; ``name_de`` … ``rule_en`` and
       ``edge_cases`` are read from it, and every method takes ``messages=``.
    """

    id: str
    kind: FigureKind
    keys: tuple[str, ...] = ()
    compute: Callable[[Group], FigureValue] = attrs.field(eq=False, repr=False)
    label_key: Callable[[str, Lang, Messages], str] = attrs.field(
        default=_no_keys, eq=False, repr=False
    )

    def _say(self, part: str, lang: Lang, messages: Messages | None) -> str:
        return (messages or Messages.default()).say(f"figure.{self.id}.{part}", lang)

    def name(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The figure's name in *lang*."""
        return self._say("name", lang, messages)

    def unit(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The figure's unit in *lang*."""
        return self._say("unit", lang, messages)

    def rule(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The counting rule in *lang*."""
        return self._say("rule", lang, messages)

    def edges(self, lang: Lang = "en", *, messages: Messages | None = None) -> tuple[str, ...]:
        """The edge cases of the counting rule in *lang* (``figure.<id>.edge.1``, …).

        .. versionadded:: 0.2.0
        """
        m = messages or Messages.default()
        numbers = sorted(int(n) for n in m.codes(f"figure.{self.id}.edge") if n.isdigit())
        return tuple(m.say(f"figure.{self.id}.edge.{n}", lang) for n in numbers)

    def key_label(self, key: str, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The label of a breakdown key in *lang*."""
        return self.label_key(key, lang, messages or Messages.default())

    @property
    def name_de(self) -> str:
        """The German name (``name("de")``)."""
        return self.name("de")

    @property
    def name_en(self) -> str:
        """The English name (``name("en")``)."""
        return self.name("en")

    @property
    def unit_de(self) -> str:
        """The German unit (``unit("de")``)."""
        return self.unit("de")

    @property
    def unit_en(self) -> str:
        """The English unit (``unit("en")``)."""
        return self.unit("en")

    @property
    def rule_de(self) -> str:
        """The German counting rule (``rule("de")``)."""
        return self.rule("de")

    @property
    def rule_en(self) -> str:
        """The English counting rule (``rule("en")``)."""
        return self.rule("en")

    @property
    def edge_cases(self) -> tuple[str, ...]:
        """The edge cases in English (``edges("en")``)."""
        return self.edges("en")


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _median(t: Tally) -> float | None:
    total = sum(n for _, n in t.lengths)
    if total == 0:
        return None
    lo, hi = (total - 1) // 2, total // 2  # 0-based positions of the middle value(s)
    seen = 0
    low: int | None = None
    for length, n in t.lengths:
        if low is None and seen + n > lo:
            low = length
        if seen + n > hi:
            assert low is not None
            return (low + length) / 2
        seen += n
    raise AssertionError("unreachable: the positions lie within the multiset")


def _by(counts: tuple[tuple[str, int], ...], keys: tuple[str, ...]) -> dict[str, int]:
    found = dict(counts)
    return {k: found.get(k, 0) for k in keys}


def _outcomes(t: Tally) -> dict[str, int]:
    found = {s.value: 0 for s in GoalStatus}
    for _, status, n in t.goal_outcomes:
        found[status] += n
    return found


_REASONS = tuple(r.value for r in ClosureReason)
_AREAS = tuple(a.value for a in LifeArea)
_STATUSES = tuple(s.value for s in GoalStatus)
_SETTLED = ("achieved", "partly_achieved", "not_achieved")

_FIGURES = (
    Figure(
        id="cases_active",
        kind=FigureKind.COUNT,
        compute=lambda g: g.cases_active,
    ),
    Figure(
        id="cases_opened",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.cases_opened,
    ),
    Figure(
        id="cases_reopened",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.cases_reopened,
    ),
    Figure(
        id="cases_closed",
        kind=FigureKind.COUNT,
        compute=lambda g: sum(n for _, n in g.tally.closed_by_reason),
    ),
    Figure(
        id="cases_closed_by_reason",
        kind=FigureKind.BREAKDOWN,
        keys=_REASONS,
        compute=lambda g: _by(g.tally.closed_by_reason, _REASONS),
        label_key=_reason_label,
    ),
    Figure(
        id="cases_open_at_year_end",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.cases_open_at_year_end,
    ),
    Figure(
        id="transferred_out",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.transferred_out,
    ),
    Figure(
        id="transferred_in",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.transferred_in,
    ),
    Figure(
        id="cases_continued",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.cases_continued,
    ),
    Figure(
        id="persons_counselled",
        kind=FigureKind.COUNT,
        compute=lambda g: g.persons,
    ),
    Figure(
        id="plans_agreed",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.plans_agreed,
    ),
    Figure(
        id="plan_on_time_share",
        kind=FigureKind.SHARE,
        compute=lambda g: _ratio(g.tally.plan_on_time, g.tally.plan_due),
    ),
    Figure(
        id="goals_agreed",
        kind=FigureKind.COUNT,
        compute=lambda g: sum(n for _, n in g.tally.goals_agreed),
    ),
    Figure(
        id="goals_agreed_by_area",
        kind=FigureKind.BREAKDOWN,
        keys=_AREAS,
        compute=lambda g: _by(g.tally.goals_agreed, _AREAS),
        label_key=_area_label,
    ),
    Figure(
        id="goal_outcomes",
        kind=FigureKind.BREAKDOWN,
        keys=_STATUSES,
        compute=lambda g: _outcomes(g.tally),
        label_key=_status_label,
    ),
    Figure(
        id="goal_outcomes_by_area",
        kind=FigureKind.BREAKDOWN,
        compute=lambda g: {f"{a}/{s}": n for a, s, n in g.tally.goal_outcomes},
        label_key=_area_status_label,
    ),
    Figure(
        id="goals_achieved_share",
        kind=FigureKind.SHARE,
        compute=lambda g: _ratio(
            _outcomes(g.tally)["achieved"], sum(_outcomes(g.tally)[s] for s in _SETTLED)
        ),
    ),
    Figure(
        id="extensions_granted",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.extensions,
    ),
    Figure(
        id="extension_months",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.extension_months,
    ),
    Figure(
        id="contacts",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.contacts,
    ),
    Figure(
        id="contact_minutes",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.contact_minutes,
    ),
    Figure(
        id="contacts_per_active_case",
        kind=FigureKind.RATIO,
        compute=lambda g: _ratio(g.tally.contacts, g.cases_active),
    ),
    Figure(
        id="minutes_per_active_case",
        kind=FigureKind.RATIO,
        compute=lambda g: _ratio(g.tally.contact_minutes, g.cases_active),
    ),
    Figure(
        id="median_length_days",
        kind=FigureKind.MEDIAN,
        compute=lambda g: _median(g.tally),
    ),
    Figure(
        id="fte",
        kind=FigureKind.RATIO,
        compute=lambda g: g.fte_centi / 100 if g.fte_centi else None,
    ),
    Figure(
        id="caseload_per_fte",
        kind=FigureKind.RATIO,
        compute=lambda g: _ratio(g.staffed_active * 100, g.fte_centi),
    ),
    Figure(
        id="open_past_period",
        kind=FigureKind.COUNT,
        compute=lambda g: g.tally.open_past_period,
    ),
)

CATALOGUE: Mapping[str, Figure] = MappingProxyType({f.id: f for f in _FIGURES})
"""Every key figure by id, in report order."""
