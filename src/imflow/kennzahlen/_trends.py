"""Private: the reports of several years side by side (see imflow.kennzahlen).

The question a committee asks is "more or fewer than last year?": a :class:`Trend`
holds one :class:`Report` per year, reads a figure's series over the years for any
level, and merges per year, so the parts of several providers or districts give the
trend of the whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from imflow.events import Event
from imflow.kennzahlen._catalogue import FigureValue
from imflow.kennzahlen._report import EventSource, Report, report

__all__ = ["Trend", "report_years"]


def _by_year(reports: Iterable[Report]) -> tuple[Report, ...]:
    found = sorted(reports, key=lambda r: r.year)
    if not found:
        raise ValueError("a trend needs the report of at least one year")
    years = [r.year for r in found]
    if len(set(years)) != len(years):
        raise ValueError(f"a trend holds one report per year; got the years {years}")
    scopes = {(r.district, r.provider) for r in found}
    if len(scopes) != 1:
        raise ValueError("the reports of a trend must be made for the same scope")
    return tuple(found)


@attrs.frozen
class Trend:
    """The reports of several years for one scope, oldest first.

    >>> t = Trend([Report(year=2026), Report(year=2025)])
    >>> t.years, t.latest.year, t.previous.year if t.previous else None
    ((2025, 2026), 2026, 2025)
    >>> t.series("cases_active")
    ((2025, 0), (2026, 0))

    .. versionadded:: 0.2.0
    """

    reports: tuple[Report, ...] = attrs.field(converter=_by_year)

    @property
    def years(self) -> tuple[int, ...]:
        """The years, ascending."""
        return tuple(r.year for r in self.reports)

    @property
    def latest(self) -> Report:
        """The report of the last year (the one being reported)."""
        return self.reports[-1]

    @property
    def previous(self) -> Report | None:
        """The report of the year before :attr:`latest`, if the trend has it."""
        return self.get(self.latest.year - 1)

    def get(self, year: int) -> Report | None:
        """The report of *year*, or ``None``."""
        return next((r for r in self.reports if r.year == year), None)

    def series(
        self, figure: str, *, district: str | None = None, provider: str | None = None
    ) -> tuple[tuple[int, FigureValue], ...]:
        """``(year, value)`` of one figure for every year, for the state, a district or a
        provider (as :meth:`Report.figures` selects them)."""
        return tuple(
            (r.year, r.figures(district=district, provider=provider)[figure]) for r in self.reports
        )

    @classmethod
    def merge(cls, *trends: Trend) -> Trend:
        """The trend of several providers or districts together: :meth:`Report.merge`
        year by year. All trends must cover the same years."""
        if not trends:
            raise ValueError("merge needs at least one trend")
        years = {t.years for t in trends}
        if len(years) != 1:
            raise ValueError(f"cannot merge trends of different years: {sorted(years)}")
        return cls(
            [Report.merge(*(t.reports[i] for t in trends)) for i in range(len(trends[0].years))]
        )


def report_years(
    events_or_store: Iterable[Event] | EventSource | object,
    *,
    years: Iterable[int],
    **options: Any,
) -> Trend:
    """The :class:`Trend` of *years*: :func:`report` once per year, with the same
    *options* (``district``, ``provider``, ``staffing``, ``rule_sets``, ``by``).

    *events_or_store* is read once per year, so it must be a store or a list, not a
    one-shot iterator.

    .. versionadded:: 0.2.0
    """
    wanted = sorted(set(years))
    if not wanted:
        raise ValueError("report_years needs at least one year")
    if isinstance(events_or_store, Iterable) and iter(events_or_store) is events_or_store:
        events_or_store = list(events_or_store)  # an iterator can be read only once
    return Trend([report(events_or_store, year=year, **options) for year in wanted])
