"""Private: the few lines a person reads first, on a terminal (see imflow.kennzahlen).

The scope's headline figures with last year beside them, the findings, and the units
below the scope ranked by the quality figure (the share of cases with a plan within
3 months): the three highest and the three lowest. Everything else is in the files.
"""

from __future__ import annotations

from collections.abc import Mapping

from imflow.i18n import Lang, Messages
from imflow.kennzahlen._catalogue import CATALOGUE, FigureKind, FigureValue
from imflow.kennzahlen._html import change
from imflow.kennzahlen._levels import below, top
from imflow.kennzahlen._report import Report
from imflow.kennzahlen._trends import Trend
from imflow.kennzahlen._words import Words

__all__ = ["SUMMARY", "to_summary"]

SUMMARY = (
    "cases_active",
    "cases_opened",
    "cases_closed",
    "persons_counselled",
    "plan_on_time_share",
    "caseload_per_fte",
    "open_past_period",
)
"""The headline figures of the terminal summary, in order."""

_RANKED = "plan_on_time_share"
_SHOWN = 3  # units at each end of the ranking


def _cell(w: Words, fid: str, value: FigureValue) -> str:
    assert not isinstance(value, Mapping)
    fig = CATALOGUE[fid]
    return w.shown(fig, value) if fig.kind is FigureKind.SHARE else w.scalar(fig, value)


def _table(w: Words, yearly: Report, previous: Report | None) -> list[str]:
    level = top(yearly)
    now = w.figures(yearly, level)
    before = w.figures(previous, level) if previous is not None else None
    names = {fid: w.figure_name(CATALOGUE[fid]) for fid in SUMMARY}
    width = max(len(n) for n in names.values())
    heads = [str(yearly.year)]
    if previous is not None:
        heads += [str(previous.year), w.say("html.change")]
    rows = [[" " * width, *heads]]
    for fid in SUMMARY:
        cells = [names[fid].ljust(width), _cell(w, fid, now[fid])]
        if before is not None:
            cells.append(_cell(w, fid, before[fid]))
            cells.append(change(w, CATALOGUE[fid], now[fid], before[fid])[0])
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join([r[0], *(c.rjust(widths[i]) for i, c in enumerate(r[1:], 1))]).rstrip()
        for r in rows
    ]


def _findings(w: Words, yearly: Report, limit: int = 4) -> list[str]:
    findings = yearly.findings
    if not findings:
        return [f"{w.say('findings')}: {w.say('no_findings')}"]
    lines = [f"{w.say('findings')}: {w.say('n_findings', n=len(findings))}"]
    for f in findings[:limit]:
        what = w.say("cases") if f.case_ids else w.say("providers")
        message = f.message(w.lang, messages=w.messages)
        lines.append(f"  ! [{f.code}] {message}: {w.number(f.count, 0)} {what}")
    if len(findings) > limit:
        lines.append(f"  {w.say('more', n=len(findings) - limit)}")
    return lines


def _ranking(w: Words, yearly: Report) -> list[str]:
    level = top(yearly)
    children = below(yearly, level)
    ranked: list[tuple[float, str]] = []
    for child in children:
        value = w.figures(yearly, child)[_RANKED]
        if isinstance(value, int | float):
            name = (
                w.district_name(child.district)
                if child.kind == "district" and child.district is not None
                else w.provider_name(child.provider or "")
            )
            ranked.append((float(value), name))
    if not ranked:
        return []
    ranked.sort(key=lambda r: (-r[0], r[1]))
    per = w.say("chart.per_district") if level.kind == "state" else w.say("chart.per_provider")
    lines = [f"{w.figure_name(CATALOGUE[_RANKED])}, {per} ({len(ranked)}):"]

    def line(label: str, entry: tuple[float, str]) -> str:
        return f"  {label}{w.number(entry[0] * 100, 1):>6} %  {entry[1]}"

    if len(ranked) <= 2 * _SHOWN:
        return lines + [line("", r) for r in ranked]
    labels = (w.say("summary.highest"), w.say("summary.lowest"))
    pad = max(len(label) for label in labels) + 1
    for label, part in ((labels[0], ranked[:_SHOWN]), (labels[1], ranked[-_SHOWN:])):
        for n, entry in enumerate(part):
            lines.append(line((label if n == 0 else "").ljust(pad), entry))
    return lines


def to_summary(
    report: Report | Trend, *, lang: Lang = "de", messages: Messages | None = None
) -> str:
    """The short terminal summary of a report (of the latest year of a trend, whose year
    before gives the "last year" column): at most about 25 lines.

    >>> from imflow.kennzahlen import Report
    >>> print(to_summary(Report(year=2026), lang="en").splitlines()[-1])
    Plausibility checks: no findings

    .. versionadded:: 0.2.0
    """
    trend = report if isinstance(report, Trend) else Trend([report])
    yearly, previous = trend.latest, trend.previous
    w = Words(lang, messages or Messages.default())
    lines = [
        f"{w.say('title')} – {w.say('year')} {yearly.year}",
        f"{w.say('scope')}: {w.scope(yearly)}",
        f"{w.say('due')} {w.date(yearly.due)}",
        "",
        *_table(w, yearly, previous),
        "",
        *_findings(w, yearly),
    ]
    ranking = _ranking(w, yearly)
    if ranking:
        lines += ["", *ranking]
    return "\n".join(lines) + "\n"
