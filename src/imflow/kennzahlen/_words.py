"""Private: the words and number formats every report output shares (see imflow.kennzahlen).

One :class:`Words` value carries the language and the message catalogue, so text, CSV,
the workbook and the committee report all take their words from the same place:
``report.<word>`` for the report's own labels, ``figure.<id>.*`` for the figures and
``finding.<code>`` for the findings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import attrs

from imflow.districts import DISTRICTS
from imflow.i18n import Lang, Messages
from imflow.kennzahlen._catalogue import Figure, FigureKind, FigureValue
from imflow.kennzahlen._levels import Level
from imflow.kennzahlen._report import SUPPRESSED, Report

__all__ = ["DIGITS", "Words"]

DIGITS = {
    FigureKind.SHARE: 1,
    FigureKind.RATIO: 2,
    FigureKind.MEDIAN: 1,
}
"""Decimal places shown per figure kind (shares in percent)."""


@attrs.frozen
class Words:
    """The report's words and formats in one language.

    >>> w = Words("de")
    >>> w.say("year"), w.number(1234.5, 1)
    ('Berichtsjahr', '1.234,5')
    """

    lang: Lang
    messages: Messages = attrs.field(factory=Messages.default)
    _memo: dict[tuple[int, Level], tuple[Report, dict[str, FigureValue]]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )
    _said: dict[tuple[str, ...], str] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    def _once(self, key: tuple[str, ...], make: Callable[[], str]) -> str:
        found = self._said.get(key)
        if found is None:
            found = self._said[key] = make()
        return found

    def figures(self, report: Report, level: Level) -> dict[str, FigureValue]:
        """``report.figures()`` of *level*, computed once per rendering (a chart, a table
        and the headline ask for the same level's figures)."""
        key = (id(report), level)
        found = self._memo.get(key)
        if found is None:  # the report is kept with its figures, so its id stays its own
            found = self._memo[key] = (report, report.figures(**level.where))
        return found[1]

    def say(self, word: str, **params: Any) -> str:
        """``report.<word>`` of the catalogue."""
        if params:
            return self.messages.say(f"report.{word}", self.lang, **params)
        return self._once(("say", word), lambda: self.messages.say(f"report.{word}", self.lang))

    def date(self, day: date) -> str:
        """*day* in the language's date format."""
        return self.messages.date(day, self.lang)

    def number(self, value: float | int, digits: int, *, group: bool = True) -> str:
        """*value* with *digits* decimals and the language's separators."""
        return self.messages.number(value, self.lang, digits=digits, group=group)

    def scalar(self, fig: Figure, value: float | int | None, *, group: bool = True) -> str:
        """A figure's single value as text: shares in percent, ``–`` (or empty) for none."""
        if value is None:
            return "–" if group else ""
        if fig.kind is FigureKind.SHARE:
            return self.number(value * 100, 1, group=group)
        if fig.kind is FigureKind.COUNT or isinstance(value, int):
            return self.number(value, 0, group=group)
        return self.number(value, DIGITS.get(fig.kind, 2), group=group)

    def shown(self, fig: Figure, value: float | int | None) -> str:
        """A figure's single value with its unit where the unit is not implied."""
        text = self.scalar(fig, value)
        if value is None:
            return text
        if fig.kind is FigureKind.SHARE:
            return f"{text} %"
        if fig.kind is not FigureKind.COUNT:
            return f"{text} {self.figure_unit(fig)}"
        return text

    def figure_name(self, fig: Figure) -> str:
        """The figure's name."""
        return self._once(("name", fig.id), lambda: fig.name(self.lang, messages=self.messages))

    def figure_unit(self, fig: Figure) -> str:
        """The figure's unit."""
        return self._once(("unit", fig.id), lambda: fig.unit(self.lang, messages=self.messages))

    def figure_rule(self, fig: Figure) -> str:
        """The figure's counting rule."""
        return fig.rule(self.lang, messages=self.messages)

    def key_label(self, fig: Figure, key: str) -> str:
        """The label of a breakdown key."""
        return self._once(
            ("key", fig.id, key), lambda: fig.key_label(key, self.lang, messages=self.messages)
        )

    def district_name(self, ags: str) -> str:
        """A district's display name, or its code if it is not one of the 44."""
        d = DISTRICTS.get(ags)
        return d.label(self.lang) if d else ags

    def provider_name(self, provider: str) -> str:
        """A provider's id, or the words for the merged unit of small providers."""
        return self.say("suppressed") if provider == SUPPRESSED else provider

    def level(self, level: Level) -> str:
        """A level's name: ``Kreis Waldshut (Landkreis), AGS 08337``, ``Träger drk-wt``…"""
        if level.provider is not None:
            return f"{self.say('provider')} {self.provider_name(level.provider)}"
        if level.district is not None:
            name = self.district_name(level.district)
            return f"{self.say('district')} {name}, AGS {level.district}"
        return self.say("state")

    def level_kind(self, level: Level) -> str:
        """``Land``, ``Kreis`` or ``Träger``."""
        return self.say(f"level_{level.kind}")

    def scope(self, report: Report) -> str:
        """What a report covers, in one line."""
        parts = []
        if report.district is not None:
            name = self.district_name(report.district)
            parts.append(f"{self.say('district')} {name}, AGS {report.district}")
        if report.provider is not None:
            parts.append(f"{self.say('provider')} {self.provider_name(report.provider)}")
        if not parts:
            n = len(report.districts)
            parts.append(f"{self.say('state')} ({self.say('districts_with_data', n=n)})")
        return "; ".join(parts)
