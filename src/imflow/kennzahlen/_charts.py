"""Private: the committee report's charts, drawn by matplotlib as inline SVG.

Each chart is a function of a :class:`Trend` (or its latest report), a level and the
:class:`Words`, and returns an ``<svg>`` element ready to sit inside an HTML page: no
XML prolog, no namespace or DTD addresses (no ``http`` anywhere), ids prefixed per
chart so several charts share a page, text kept as text (searchable, small). matplotlib
is used through its object API only (no ``pyplot``, no global figure registry); the two
SVG settings it only takes as ``rcParams`` are set for the drawing and restored.
Needs ``matplotlib`` (the extra ``imflow[reports]``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from imflow.kennzahlen._catalogue import CATALOGUE
from imflow.kennzahlen._levels import Level, below
from imflow.kennzahlen._report import Report
from imflow.kennzahlen._trends import Trend
from imflow.kennzahlen._words import Words

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as Canvas

__all__ = ["CHARTS", "Chart", "draw"]

# colours that stay apart for colour-blind readers and in greyscale print (Okabe–Ito)
_BLUE, _ORANGE, _GREEN, _SKY, _VERMILION, _PURPLE, _YELLOW, _GREY = (
    "#0072B2", "#E69F00", "#009E73", "#56B4E9", "#D55E00", "#CC79A7", "#F0E442", "#999999",
)  # fmt: skip
_OUTCOME_COLOURS = {
    "achieved": _GREEN,
    "partly_achieved": _SKY,
    "open": _GREY,
    "not_achieved": _VERMILION,
    "dropped": _PURPLE,
}
_WIDTH = 7.2  # inches: the text width of an A4 page with ordinary margins
_BAR = 0.26  # inches per bar of a horizontal bar chart


@attrs.frozen
class Chart:
    """One drawn chart: a stable ``id``, its caption and the ``<svg>`` element."""

    id: str
    caption: str
    svg: str


def _figure(height: float) -> Canvas:
    from matplotlib.figure import Figure as Canvas

    return Canvas(figsize=(_WIDTH, max(1.6, height)), layout="constrained")


def _style(ax: Axes, *, grid: Literal["x", "y"] = "y") -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis=grid, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)


def _formatter(w: Words, digits: int, *, percent: bool = False) -> Any:
    from matplotlib.ticker import FuncFormatter

    def shown(value: float, _position: object) -> str:
        text = w.number(value * 100 if percent else value, digits)
        return f"{text} %" if percent else text

    return FuncFormatter(shown)


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _inline(svg: str, prefix: str, label: str) -> str:
    """matplotlib's SVG document as an element for an HTML page (see the module doc)."""
    start = svg.index("<svg")
    body = svg[start:]
    body = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", body, count=2)
    body = body.replace("xlink:href=", "href=")
    body = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', body)
    body = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", body)
    escaped = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return body.replace(
        "<svg ", f'<svg class="chart" role="img" aria-label="{escaped}" ', 1
    ).strip()


def _svg(fig: Canvas, prefix: str, label: str) -> str:
    import matplotlib

    out = io.StringIO()
    settings: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": prefix,
                                "font.family": "sans-serif"}  # fmt: skip
    with matplotlib.rc_context(settings):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None,
                                                  "Format": None, "Type": None})  # fmt: skip
    return _inline(out.getvalue(), prefix, label)


def _plain(text: str) -> str:
    """*text* as matplotlib shows it literally (a ``$`` would start mathematics)."""
    return text.replace("$", r"\$")


def _short(w: Words, fid: str) -> str:
    return w.say(f"short.{fid}")


def _scalar(values: Mapping[str, Any], fid: str) -> float | None:
    value = values[fid]
    return None if value is None or isinstance(value, Mapping) else float(value)


def _empty(ax: Axes, w: Words) -> None:
    ax.text(0.5, 0.5, w.say("chart.no_data"), ha="center", va="center", fontsize=9,
            color="#666666", transform=ax.transAxes)  # fmt: skip
    ax.set_axis_off()


def cases_per_year(trend: Trend, level: Level, w: Words) -> Chart:
    """Cases active, opened and closed per year: grouped bars."""
    fig = _figure(2.6)
    ax = fig.add_subplot()
    years = list(trend.years)
    series = ("cases_active", "cases_opened", "cases_closed")
    colours = (_BLUE, _ORANGE, _GREEN)
    width = 0.8 / len(series)
    for i, (fid, colour) in enumerate(zip(series, colours, strict=True)):
        values = [_scalar(w.figures(r, level), fid) or 0 for r in trend.reports]
        xs = [n + (i - 1) * width for n in range(len(years))]
        bars = ax.bar(xs, values, width=width * 0.95, color=colour, label=_short(w, fid))
        ax.bar_label(bars, labels=[w.number(v, 0) for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(years)), [str(y) for y in years])
    ax.yaxis.set_major_formatter(_formatter(w, 0))
    ax.set_ylabel(w.figure_unit(CATALOGUE["cases_active"]), fontsize=8)
    ax.legend(fontsize=8, frameon=False, ncols=3, loc="upper left", bbox_to_anchor=(0, 1.12))
    _style(ax)
    caption = w.say("chart.cases", first=str(years[0]), last=str(years[-1]))
    return Chart("cases", caption, _svg(fig, "cases", caption))


def _barh(
    ax: Axes,
    labels: Sequence[str],
    values: Sequence[float],
    colour: str,
    shown: Callable[[float], str],
) -> None:
    ys = list(range(len(labels)))[::-1]
    bars = ax.barh(ys, values, color=colour, height=0.7)
    ax.bar_label(bars, labels=[shown(v) for v in values], fontsize=7, padding=2)
    ax.set_yticks(ys, [_plain(label) for label in labels])
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.margins(x=0.12)


def closure_reasons(trend: Trend, level: Level, w: Words) -> Chart:
    """The cases closed in the year by reason: horizontal bars."""
    yearly = trend.latest
    fig_def = CATALOGUE["cases_closed_by_reason"]
    counts = w.figures(yearly, level)[fig_def.id]
    assert isinstance(counts, Mapping)
    fig = _figure(_BAR * len(counts) + 0.6)
    ax = fig.add_subplot()
    if sum(counts.values()):
        labels = [w.key_label(fig_def, k) for k in counts]
        _barh(ax, labels, list(counts.values()), _BLUE, lambda v: w.number(v, 0))
        ax.xaxis.set_major_formatter(_formatter(w, 0))
        _style(ax, grid="x")
    else:
        _empty(ax, w)
    caption = w.say("chart.reasons", year=str(yearly.year))
    return Chart("reasons", caption, _svg(fig, "reasons", caption))


def goals_by_area(trend: Trend, level: Level, w: Words) -> Chart:
    """Goals by life area and outcome on 31 December: stacked horizontal bars."""
    yearly = trend.latest
    pairs = w.figures(yearly, level)["goal_outcomes_by_area"]
    assert isinstance(pairs, Mapping)
    areas = CATALOGUE["goals_agreed_by_area"]
    outcomes = CATALOGUE["goal_outcomes"]
    fig = _figure(_BAR * len(areas.keys) + 1.0)
    ax = fig.add_subplot()
    if pairs:
        ys = list(range(len(areas.keys)))[::-1]
        left = [0.0] * len(areas.keys)
        for status in outcomes.keys:
            values = [float(pairs.get(f"{a}/{status}", 0)) for a in areas.keys]
            ax.barh(ys, values, left=left, height=0.7, color=_OUTCOME_COLOURS[status],
                    label=w.key_label(outcomes, status))  # fmt: skip
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_yticks(ys, [w.key_label(areas, a) for a in areas.keys])
        ax.xaxis.set_major_formatter(_formatter(w, 0))
        ax.legend(fontsize=7, frameon=False, ncols=5, loc="lower left", bbox_to_anchor=(0, 1.0))
        _style(ax, grid="x")
    else:
        _empty(ax, w)
    caption = w.say("chart.goals", year=str(yearly.year))
    return Chart("goals", caption, _svg(fig, "goals", caption))


def _by_unit(
    trend: Trend, level: Level, w: Words, fid: str, chart_id: str, *, percent: bool
) -> Chart:
    """One figure per unit below *level* (or per year, for a level with none below),
    with the level's own value as a line."""
    yearly = trend.latest
    children = below(yearly, level)
    rows: list[tuple[str, float]] = []
    if children:
        for child in children:
            value = _scalar(w.figures(yearly, child), fid)
            if value is not None:
                name = (
                    w.district_name(child.district)
                    if child.kind == "district" and child.district
                    else None
                )
                rows.append((name or w.provider_name(child.provider or ""), value))
        rows.sort(key=lambda r: -r[1])
        per = "chart.per_district" if level.kind == "state" else "chart.per_provider"
    else:
        for r in trend.reports:
            value = _scalar(w.figures(r, level), fid)
            if value is not None:
                rows.append((str(r.year), value))
        per = "chart.per_year"
    fig = _figure(_BAR * len(rows) + 0.7)
    ax = fig.add_subplot()
    own = _scalar(w.figures(yearly, level), fid)
    if rows:

        def shown(value: float) -> str:
            return f"{w.number(value * 100, 1)} %" if percent else w.number(value, 1)

        _barh(ax, [r[0] for r in rows], [r[1] for r in rows], _BLUE if percent else _ORANGE, shown)
        if own is not None and children:
            ax.axvline(own, color="#333333", linewidth=1, linestyle="--",
                       label=w.say("chart.overall", value=shown(own)))  # fmt: skip
            ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1, 1.0))
        ax.xaxis.set_major_formatter(_formatter(w, 0 if percent else 1, percent=percent))
        ax.tick_params(axis="y", labelsize=7 if len(rows) > 20 else 8)
        _style(ax, grid="x")
    else:
        _empty(ax, w)
    name = w.figure_name(CATALOGUE[fid])
    caption = f"{name}, {w.say(per)} {yearly.year}" if children else f"{name}, {w.say(per)}"
    return Chart(chart_id, caption, _svg(fig, chart_id, caption))


def plan_on_time(trend: Trend, level: Level, w: Words) -> Chart:
    """The share of cases with a plan within 3 months, per provider (or district)."""
    return _by_unit(trend, level, w, "plan_on_time_share", "plan", percent=True)


def caseload(trend: Trend, level: Level, w: Words) -> Chart:
    """Active cases per FTE, per provider (or district)."""
    return _by_unit(trend, level, w, "caseload_per_fte", "caseload", percent=False)


CHARTS: tuple[Callable[[Trend, Level, Words], Chart], ...] = (
    cases_per_year,
    closure_reasons,
    goals_by_area,
    plan_on_time,
    caseload,
)
"""The committee report's charts, in page order."""


def draw(source: Report | Trend, level: Level, w: Words) -> tuple[Chart, ...]:
    """Every chart of :data:`CHARTS` for *level* of *source*."""
    trend = source if isinstance(source, Trend) else Trend([source])
    return tuple(chart(trend, level, w) for chart in CHARTS)
