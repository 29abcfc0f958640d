"""Private: the levels of a report (its scope and the districts and providers below it).

A report made for the state has the state on top and each district below it, each with
its providers; one made for a district has the district on top and its providers below;
one made for a provider has only the provider (or, for a provider id found in several
districts, that provider in each of them). Every output names a level by what it is,
so a district's totals are never labelled as the state's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from imflow.kennzahlen._report import Report

__all__ = ["Level", "below", "levels", "top"]

LevelKind = Literal["state", "district", "provider"]


@attrs.frozen
class Level:
    """One level of a report: ``kind`` and the ``district`` / ``provider`` it selects.

    >>> Level("district", "08337").where
    {'district': '08337'}
    """

    kind: LevelKind
    district: str | None = None
    provider: str | None = None

    @property
    def where(self) -> dict[str, str]:
        """The keywords of :meth:`Report.figures` that select this level."""
        found = {"district": self.district, "provider": self.provider}
        return {k: v for k, v in found.items() if v is not None}


def top(report: Report) -> Level:
    """The level of the report's own scope."""
    if report.provider is not None:
        return Level("provider", report.district, report.provider)
    if report.district is not None:
        return Level("district", report.district)
    return Level("state")


def below(report: Report, level: Level) -> tuple[Level, ...]:
    """The levels directly below *level*: districts below the state, providers below a
    district, and a provider's districts when it has data in more than one."""
    if level.kind == "state":
        return tuple(Level("district", ags) for ags in report.districts)
    if level.kind == "district":
        return tuple(
            Level("provider", u.district, u.provider)
            for u in report.units
            if u.district == level.district
        )
    if level.district is None:
        units = [u for u in report.units if u.provider == level.provider]
        if len(units) > 1:
            return tuple(Level("provider", u.district, u.provider) for u in units)
    return ()


def levels(report: Report) -> Iterator[Level]:
    """Every level of the report, top first, each followed by the levels below it."""

    def walk(level: Level) -> Iterator[Level]:
        yield level
        for child in below(report, level):
            yield from walk(child)

    yield from walk(top(report))
