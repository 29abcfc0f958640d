"""Private: the committee report, one self-contained printable HTML page.

What a district's committee asks first comes first: the headline figures with last
year beside them, the plausibility findings, then the charts (inline SVG, see
:mod:`imflow.kennzahlen._charts`), the districts or providers below the scope, every
figure, and what each one counts. The page loads nothing: no script, no stylesheet,
font or image from elsewhere, and no ``http`` address anywhere in it; a print style
sheet lays it out on A4. German by default, English with ``lang="en"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from imflow.i18n import Lang, Messages
from imflow.kennzahlen._catalogue import CATALOGUE, Figure, FigureKind, FigureValue
from imflow.kennzahlen._charts import draw
from imflow.kennzahlen._levels import Level, below, top
from imflow.kennzahlen._output import SHORT
from imflow.kennzahlen._report import Report
from imflow.kennzahlen._trends import Trend
from imflow.kennzahlen._words import Words

__all__ = ["HEADLINE", "to_html"]

HEADLINE = (
    "cases_active",
    "cases_opened",
    "cases_closed",
    "persons_counselled",
    "plans_agreed",
    "plan_on_time_share",
    "goals_agreed",
    "goals_achieved_share",
    "contacts_per_active_case",
    "minutes_per_active_case",
    "median_length_days",
    "caseload_per_fte",
    "open_past_period",
)
"""The figures of the committee report's "at a glance" table, in order."""

_CSS = """
:root { --ink: #1b1f24; --muted: #5b6570; --line: #d5dbe1; --head: #eef2f6; --warn: #a33a00; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 60rem; padding: 1.5rem 1.25rem 3rem;
       line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.55rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 2px solid var(--line);
     padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
p.meta { margin: .1rem 0; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
thead th { background: var(--head); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.up::before { content: "▲ "; color: var(--muted); }
td.down::before { content: "▼ "; color: var(--muted); }
tr.key td:first-child { padding-left: 1.6rem; color: var(--muted); }
.findings li { margin: .25rem 0; }
.findings .code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85rem; }
.findings .ids { color: var(--muted); font-size: .85rem; }
.warn { color: var(--warn); font-weight: 600; }
.ok { color: #1d6b3a; font-weight: 600; }
figure { margin: 1.2rem 0; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg.chart { display: block; width: 100%; height: auto; }
dl dt { font-weight: 600; margin-top: .9rem; }
dl dt code { font-weight: normal; color: var(--muted); font-size: .85rem; }
dl dd { margin: .2rem 0 0 0; }
dd ul { margin: .2rem 0 0 1.1rem; padding: 0; color: var(--muted); font-size: .9rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .85rem; }
@page { size: A4; margin: 16mm 14mm 18mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  figure, tr, dt, dd, .findings li { break-inside: avoid; }
  section#charts, section#definitions { break-before: page; }
  thead { display: table-header-group; }
}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _value(w: Words, fig: Figure, value: FigureValue) -> str:
    assert not isinstance(value, Mapping)
    return w.shown(fig, value)


def change(w: Words, fig: Figure, now: FigureValue, before: FigureValue) -> tuple[str, str]:
    """The change from last year as text and a CSS class (``up``, ``down`` or none)."""
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return "–", ""
    if fig.kind is FigureKind.SHARE:
        delta = (now - before) * 100
        text = f"{w.number(abs(delta), 1)} {w.say('html.points')}"
    elif fig.kind is FigureKind.COUNT:
        delta = now - before
        text = w.number(abs(delta), 0)
        if before:
            text += f" ({w.number(abs(delta) / before * 100, 1)} %)"
    else:
        delta = now - before
        text = w.number(abs(delta), 2 if fig.kind is FigureKind.RATIO else 1)
    if round(delta, 6) == 0:
        return "±0", ""
    return ("+" if delta > 0 else "−") + text, "up" if delta > 0 else "down"


def _headline(w: Words, yearly: Report, previous: Report | None, level: Level) -> str:
    now = w.figures(yearly, level)
    before = w.figures(previous, level) if previous else None
    heads = [w.say("csv.figure"), str(yearly.year)]
    if previous is not None:
        heads += [str(previous.year), w.say("html.change")]
    rows = []
    for fid in HEADLINE:
        fig = CATALOGUE[fid]
        cells = [f"<td>{_e(w.figure_name(fig))}</td>",
                 f'<td class="n">{_e(_value(w, fig, now[fid]))}</td>']  # fmt: skip
        if before is not None:
            text, css = change(w, fig, now[fid], before[fid])
            cells.append(f'<td class="n">{_e(_value(w, fig, before[fid]))}</td>')
            cells.append(f'<td class="n {css}">{_e(text)}</td>')
        rows.append(f'<tr data-figure="{fid}">{"".join(cells)}</tr>')
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i else f"<th>{_e(h)}</th>" for i, h in enumerate(heads)
    )
    return (
        f'<table class="headline"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _findings(w: Words, yearly: Report) -> str:
    findings = yearly.findings
    if not findings:
        return f'<p class="ok">{_e(w.say("no_findings"))}</p>'
    items = []
    for f in findings:
        what = w.say("cases") if f.case_ids else w.say("providers")
        ids = list(f.case_ids or f.units)
        shown = ", ".join(ids[:30])
        if len(ids) > 30:
            shown += " " + w.say("more", n=len(ids) - 30)
        message = f.message(w.lang, messages=w.messages)
        items.append(
            f'<li><span class="code">{_e(f.code)}</span> {_e(message)}'
            f": <strong>{_e(w.number(f.count, 0))} {_e(what)}</strong>"
            f'<br><span class="ids">{_e(shown)}</span></li>'
        )
    status = w.say("n_findings", n=len(findings))
    return f'<p class="warn">{_e(status)}</p><ul class="findings">{"".join(items)}</ul>'


def _units(w: Words, yearly: Report, level: Level) -> str:
    children = below(yearly, level)
    if not children:
        return ""
    kind = "districts" if level.kind == "state" else "providers"
    heads = [w.say(f"html.{kind}")] + [w.say(f"short.{fid}") for fid in SHORT]
    rows = []
    for child in children:
        values = w.figures(yearly, child)
        cells = [f"<td>{_e(w.level(child))}</td>"]
        for fid in SHORT:
            fig, value = CATALOGUE[fid], values[fid]
            assert not isinstance(value, Mapping)
            shown = w.shown(fig, value) if fig.kind is FigureKind.SHARE else w.scalar(fig, value)
            cells.append(f'<td class="n">{_e(shown)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i else f"<th>{_e(h)}</th>" for i, h in enumerate(heads)
    )
    return (
        f'<section id="units"><h2>{_e(w.say(f"html.{kind}"))} {yearly.year}</h2>'
        f'<table class="units"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _all_figures(w: Words, yearly: Report, previous: Report | None, level: Level) -> str:
    now = w.figures(yearly, level)
    before = w.figures(previous, level) if previous else None
    heads = [w.say("csv.figure"), str(yearly.year)]
    if previous is not None:
        heads.append(str(previous.year))
    rows: list[str] = []
    for fig in CATALOGUE.values():
        value = now[fig.id]
        old = before[fig.id] if before is not None else None
        if isinstance(value, Mapping):
            rows.append(f'<tr><td colspan="{len(heads)}">{_e(w.figure_name(fig))}</td></tr>')
            keys = list(value)
            if isinstance(old, Mapping):
                keys += [k for k in old if k not in value]
            for key in keys:
                cells = [f"<td>{_e(w.key_label(fig, key))}</td>",
                         f'<td class="n">{_e(w.number(value.get(key, 0), 0))}</td>']  # fmt: skip
                if isinstance(old, Mapping):
                    cells.append(f'<td class="n">{_e(w.number(old.get(key, 0), 0))}</td>')
                rows.append(f'<tr class="key">{"".join(cells)}</tr>')
            continue
        cells = [f"<td>{_e(w.figure_name(fig))}</td>",
                 f'<td class="n">{_e(_value(w, fig, value))}</td>']  # fmt: skip
        if before is not None:
            cells.append(f'<td class="n">{_e(_value(w, fig, old))}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i else f"<th>{_e(h)}</th>" for i, h in enumerate(heads)
    )
    return (
        f'<table class="figures"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _definitions(w: Words) -> str:
    items = []
    for fig in CATALOGUE.values():
        edges = fig.edges(w.lang, messages=w.messages)
        extra = ""
        if edges:
            listed = "".join(f"<li>{_e(e)}</li>" for e in edges)
            extra = f"<br><em>{_e(w.say('html.edge_cases'))}:</em><ul>{listed}</ul>"
        unit = w.figure_unit(fig)
        items.append(
            f'<dt id="def-{fig.id}">{_e(w.figure_name(fig))} <code>{_e(fig.id)}</code></dt>'
            f"<dd>{_e(w.figure_rule(fig))} ({_e(w.say('csv.unit'))}: {_e(unit)}){extra}</dd>"
        )
    return f"<dl>{''.join(items)}</dl>"


def _charts(w: Words, source: Trend, level: Level) -> str:
    parts = []
    for chart in draw(source, level, w):
        parts.append(
            f'<figure id="chart-{chart.id}"><figcaption>{_e(chart.caption)}</figcaption>'
            f"{chart.svg}</figure>"
        )
    return "".join(parts)


def _version() -> str:
    from imflow import __version__

    return __version__


def to_html(report: Report | Trend, *, lang: Lang = "de", messages: Messages | None = None) -> str:
    """The committee report of a year (the latest of a trend, whose earlier years give
    the charts their years and the headline its "last year" column) as one
    self-contained HTML page; German by default.

    .. versionadded:: 0.2.0
    """
    trend = report if isinstance(report, Trend) else Trend([report])
    yearly, previous = trend.latest, trend.previous
    w = Words(lang, messages or Messages.default())
    level = top(yearly)
    title = f"{w.say('title')} – {w.say('year')} {yearly.year}"
    sections: Sequence[str] = (
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="meta">{_e(w.say("scope"))}: {_e(w.scope(yearly))}</p>'
        f'<p class="meta">{_e(w.say("due"))} {_e(w.date(yearly.due))}</p></header>',
        f'<section id="glance"><h2>{_e(w.say("html.glance"))}</h2>'
        f"{_headline(w, yearly, previous, level)}</section>",
        f'<section id="findings"><h2>{_e(w.say("findings"))}</h2>{_findings(w, yearly)}</section>',
        f'<section id="charts"><h2>{_e(w.say("html.charts"))}</h2>'
        f"{_charts(w, trend, level)}</section>",
        _units(w, yearly, level),
        f'<section id="figures"><h2>{_e(w.say("html.all_figures", year=str(yearly.year)))}</h2>'
        f"{_all_figures(w, yearly, previous, level)}</section>",
        f'<section id="definitions"><h2>{_e(w.say("html.definitions"))}</h2>'
        f"{_definitions(w)}</section>",
        f"<footer>{_e(w.say('html.generated', version=_version()))}</footer>",
    )
    language = w.messages.resolve(lang)
    return (
        f'<!DOCTYPE html>\n<html lang="{_e(language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="imflow {_e(_version())}">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body>\n</html>\n"
    )
