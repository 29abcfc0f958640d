"""Private: the report as a workbook (XLSX) for the submission (see imflow.kennzahlen).

The sheets, in order: the plausibility findings (first, so they are fixed before
sending); the figures of the report's scope with ids, names and counting rules, its own
totals beside those of the districts or providers directly below it; one sheet for each
of those, beside the units below them; and, for a :class:`Trend`, the scope's figures
year by year. Values are numbers with Excel number formats (thousands separator,
percent, decimals), so a German spreadsheet shows decimal commas and can still compute.
Needs ``openpyxl`` (the extra ``imflow[reports]``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from imflow.i18n import Lang, Messages
from imflow.kennzahlen._catalogue import CATALOGUE, Figure, FigureKind, FigureValue
from imflow.kennzahlen._levels import Level, below, top
from imflow.kennzahlen._output import FORMAT, json_value
from imflow.kennzahlen._report import Report
from imflow.kennzahlen._trends import Trend
from imflow.kennzahlen._words import Words

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = ["NUMBER_FORMATS", "to_xlsx"]

NUMBER_FORMATS: Mapping[FigureKind, str] = {
    FigureKind.COUNT: "#,##0",
    FigureKind.BREAKDOWN: "#,##0",
    FigureKind.SHARE: "0.0%",
    FigureKind.RATIO: "#,##0.00",
    FigureKind.MEDIAN: "#,##0.0",
}
"""The Excel number format of each figure kind (a share is stored as a fraction)."""

_LABEL_COLUMNS = 5  # figure id, name, key, key label, unit
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _need_openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - the extra is installed in the test set-up
        raise ImportError("the workbook needs openpyxl: pip install 'imflow[reports]'") from None
    return openpyxl


def _version() -> str:
    from imflow import __version__

    return __version__


class _Sheets:
    """Unique, valid sheet titles (at most 31 characters, none of []:*?/\\)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def title(self, wanted: str) -> str:
        base = _SHEET_BAD.sub("_", wanted).strip("'")[:31] or "_"
        title, n = base, 1
        while title.lower() in self.used:
            n += 1
            title = f"{base[: 31 - len(str(n)) - 1]}~{n}"
        self.used.add(title.lower())
        return title


def _rows(
    columns: Sequence[Mapping[str, FigureValue]],
) -> Iterator[tuple[Figure, str | None, list[int | float | None]]]:
    """``(figure, key, values per column)``: one row per figure, one per breakdown key
    (the keys any column has, in catalogue order)."""
    for fig in CATALOGUE.values():
        first = columns[0][fig.id] if columns else None
        if isinstance(first, Mapping) or fig.kind is FigureKind.BREAKDOWN:
            keys = list(fig.keys)
            for values in columns:
                value = values[fig.id]
                assert isinstance(value, Mapping)
                keys.extend(k for k in value if k not in keys)
            if not fig.keys:
                keys.sort()
            if not keys:  # a breakdown with nothing to break down still shows its name
                yield fig, None, [None for _ in columns]
            for key in keys:
                row: list[int | float | None] = []
                for values in columns:
                    value = values[fig.id]
                    assert isinstance(value, Mapping)
                    row.append(value.get(key, 0))
                yield fig, key, row
        else:
            scalars: list[int | float | None] = []
            for values in columns:
                value = json_value(values[fig.id])
                assert not isinstance(value, Mapping)
                scalars.append(value)
            yield fig, None, scalars


def _column_title(w: Words, level: Level) -> str:
    if level.kind == "state":
        return w.say("state")
    if level.kind == "district" and level.district is not None:
        return f"{level.district} {w.district_name(level.district)}"
    return w.provider_name(level.provider or "")


def _sheet_name(w: Words, level: Level) -> str:
    if level.kind == "state":
        return w.say("level_state")
    if level.kind == "district" and level.district is not None:
        return f"{level.district} {w.district_name(level.district)}"
    if level.district is not None and level.kind == "provider":
        return f"{level.district} {w.provider_name(level.provider or '')}"
    return f"{w.say('level_provider')} {w.provider_name(level.provider or '')}"


def _widths(ws: Worksheet, widths: Mapping[int, float]) -> None:
    from openpyxl.utils import get_column_letter

    for index, width in widths.items():
        ws.column_dimensions[get_column_letter(index)].width = width


def _fit(texts: Iterable[object], *, least: float = 8, most: float = 60) -> float:
    longest = max((len(str(t)) for t in texts if t is not None), default=0)
    return max(least, min(most, longest + 2))


def _header(ws: Worksheet, titles: Sequence[str], row: int = 1) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE4EE")
    for col, title in enumerate(titles, 1):
        cell = ws.cell(row=row, column=col, value=title)
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(vertical="top", wrap_text=True)


class _Labels:
    """The words of the figures, looked up once per workbook (they repeat on every sheet)."""

    def __init__(self, w: Words) -> None:
        self.w = w
        self.names = {fid: w.figure_name(fig) for fid, fig in CATALOGUE.items()}
        self.units = {fid: w.figure_unit(fig) for fid, fig in CATALOGUE.items()}
        self.keys: dict[tuple[str, str], str] = {}

    def key(self, fig: Figure, key: str) -> str:
        found = self.keys.get((fig.id, key))
        if found is None:
            found = self.keys[fig.id, key] = self.w.key_label(fig, key)
        return found


def _figure_sheet(
    wb: Workbook,
    title: str,
    w: Words,
    labels: _Labels,
    heads: Sequence[str],
    columns: Sequence[Mapping[str, FigureValue]],
    *,
    rules: bool,
) -> None:
    """A sheet of every figure (rows) for one or more levels or years (columns)."""
    from openpyxl.styles import Alignment

    ws = wb.create_sheet(title)
    titles = [w.say(f"csv.{c}") for c in ("figure", "name")]
    titles += [w.say("xlsx.key_code"), w.say("csv.key"), w.say("csv.unit")]
    _header(ws, [*titles, *heads, *([w.say("xlsx.rule")] if rules else [])])
    names: list[str] = []
    last_id = ""
    row = 1
    for fig, key, values in _rows(columns):
        row += 1
        name = labels.names[fig.id]
        names.append(name)
        cells: list[Any] = [fig.id, name, key or "", labels.key(fig, key) if key else ""]
        cells.append(labels.units[fig.id])
        for col, value in enumerate([*cells, *values], 1):
            cell = ws.cell(row=row, column=col, value=value)
            if col > _LABEL_COLUMNS:
                cell.number_format = NUMBER_FORMATS[fig.kind]
        if rules and fig.id != last_id:
            rule = ws.cell(
                row=row, column=_LABEL_COLUMNS + len(values) + 1, value=w.figure_rule(fig)
            )
            rule.alignment = Alignment(wrap_text=True, vertical="top")
        last_id = fig.id
    widths = {
        1: _fit(CATALOGUE, most=30),
        2: _fit(names, most=50),
        3: _fit((k for _, k, _ in _rows(columns[:1])), most=28),
        4: 30,
        5: 14,
    }
    for col, head in enumerate(heads, _LABEL_COLUMNS + 1):
        widths[col] = _fit([head], least=12, most=24)
    if rules:
        widths[_LABEL_COLUMNS + len(heads) + 1] = 90
    _widths(ws, widths)
    ws.freeze_panes = ws.cell(row=2, column=_LABEL_COLUMNS + 1)
    ws.auto_filter.ref = f"A1:{ws.cell(row=row, column=_LABEL_COLUMNS + len(heads)).coordinate}"


def _findings_sheet(wb: Workbook, title: str, report: Report, w: Words) -> None:
    ws = wb.create_sheet(title)
    from openpyxl.styles import Font

    ws.cell(row=1, column=1, value=f"{w.say('title')} – {w.say('year')} {report.year}").font = Font(
        bold=True, size=13
    )
    ws.cell(row=2, column=1, value=f"{w.say('scope')}: {w.scope(report)}")
    ws.cell(row=3, column=1, value=f"{w.say('due')} {w.date(report.due)}")
    findings = report.findings
    status = w.say("n_findings", n=len(findings)) if findings else w.say("no_findings")
    ws.cell(row=4, column=1, value=f"{w.say('findings')}: {status}")
    heads = [w.say("xlsx.code"), w.say("xlsx.message"), w.say("xlsx.count")]
    heads.append(w.say("xlsx.affects"))
    _header(ws, heads, row=6)
    row = 6
    for f in findings:
        row += 1
        what = w.say("cases") if f.case_ids else w.say("providers")
        for col, value in enumerate([f.code, f.message(w.lang, messages=w.messages), f.count], 1):
            ws.cell(row=row, column=col, value=value)
        ws.cell(row=row, column=3).number_format = "#,##0"
        ws.cell(row=row, column=4, value=what)
    ids = [(f.code, i) for f in findings for i in (f.case_ids or f.units)]
    if ids:
        row += 2
        ws.cell(row=row, column=1, value=w.say("xlsx.details")).font = Font(bold=True)
        row += 1
        _header(ws, [w.say("xlsx.code"), w.say("xlsx.id")], row=row)
        for code, ident in ids:
            row += 1
            ws.cell(row=row, column=1, value=code)
            ws.cell(row=row, column=2, value=ident)
    messages = [f.message(w.lang, messages=w.messages) for f in findings]
    _widths(ws, {1: _fit([f.code for f in findings], least=30, most=34),
                 2: _fit([*messages, *(i for _, i in ids)], least=40, most=90),
                 3: 10, 4: 12})  # fmt: skip
    ws.freeze_panes = "A7"


def _properties(wb: Workbook, report: Report, w: Words) -> None:
    from openpyxl.packaging.custom import IntProperty, StringProperty

    version = _version()
    props = wb.properties
    props.title = f"{w.say('title')} {report.year}"
    props.subject = w.scope(report)
    props.creator = f"imflow {version}"
    props.description = f"{w.say('year')} {report.year}; {w.say('due')} {w.date(report.due)}"
    props.keywords = f"{w.say('figures')}; {report.year}; {FORMAT}"
    props.category = w.say("figures")
    props.created = props.modified = datetime.now(UTC).replace(tzinfo=None)
    custom = {
        "imflow_format": FORMAT,
        "imflow_version": version,
        "imflow_due": report.due.isoformat(),
    }
    if report.district is not None:  # no scope property: all districts / all providers
        custom["imflow_scope_district"] = report.district
    if report.provider is not None:
        custom["imflow_scope_provider"] = report.provider
    own = cast(Any, wb).custom_doc_props  # openpyxl >= 3.1; its stubs do not know it yet
    own.append(IntProperty(name="imflow_year", value=report.year))
    for name, value in custom.items():
        own.append(StringProperty(name=name, value=value))


def to_xlsx(
    report: Report | Trend, *, lang: Lang = "de", messages: Messages | None = None
) -> bytes:
    """The report (or the latest year of a trend, with a sheet of the years) as a
    workbook; German labels by default.

    .. versionadded:: 0.2.0
    """
    openpyxl = _need_openpyxl()
    trend = report if isinstance(report, Trend) else None
    yearly = trend.latest if trend is not None else report
    assert isinstance(yearly, Report)
    w = Words(lang, messages or Messages.default())
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    sheets = _Sheets()
    labels = _Labels(w)
    _findings_sheet(wb, sheets.title(w.say("xlsx.findings_sheet")), yearly, w)
    scope = top(yearly)
    for n, level in enumerate([scope, *below(yearly, scope)]):
        shown = [level, *below(yearly, level)]
        _figure_sheet(
            wb,
            sheets.title(_sheet_name(w, level)),
            w,
            labels,
            [_column_title(w, lv) for lv in shown],
            [w.figures(yearly, lv) for lv in shown],
            rules=n == 0,
        )
    if trend is not None:
        _figure_sheet(
            wb,
            sheets.title(w.say("xlsx.trend_sheet")),
            w,
            labels,
            [str(y) for y in trend.years],
            [w.figures(r, scope) for r in trend.reports],
            rules=False,
        )
    _properties(wb, yearly, w)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
