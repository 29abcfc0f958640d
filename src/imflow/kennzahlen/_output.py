"""Private: a report as JSON, as CSV for spreadsheets, and as a plain-text summary.

All functions are pure: they return text or bytes and write nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

import cattrs

from imflow.districts import DISTRICTS
from imflow.i18n import Lang, Messages
from imflow.kennzahlen._catalogue import CATALOGUE, FigureKind, FigureValue
from imflow.kennzahlen._findings import Finding
from imflow.kennzahlen._levels import below, levels, top
from imflow.kennzahlen._report import Report
from imflow.kennzahlen._trends import Trend
from imflow.kennzahlen._words import Words

__all__ = [
    "FORMAT",
    "TREND_FORMAT",
    "from_json",
    "to_csv",
    "to_json",
    "to_text",
    "trend_from_json",
    "trend_to_json",
]

FORMAT = "imflow-kennzahlen/1"
"""The ``format`` tag of the JSON document :func:`to_json` writes."""

TREND_FORMAT = "imflow-kennzahlen-trend/1"
"""The ``format`` tag of the JSON document of a :class:`Trend` (:func:`trend_to_json`)."""

_converter = cattrs.Converter()

# the figures of the compact per-district / per-provider lines of the text summary
# (their words are report.short.<figure> in the message catalogue)
SHORT = (
    "cases_active",
    "cases_opened",
    "cases_closed",
    "persons_counselled",
    "plan_on_time_share",
    "contacts_per_active_case",
    "caseload_per_fte",
    "open_past_period",
)
CSV_COLUMNS = (
    "section", "level", "ags", "district", "provider", "figure", "name", "key", "value", "unit",
)  # fmt: skip


def json_value(value: FigureValue) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _figures_json(report: Report, **where: str) -> dict[str, Any]:
    return {k: json_value(v) for k, v in report.figures(**where).items()}


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "message_de": f.message("de"),
        "message_en": f.message("en"),
        "count": f.count,
        "case_ids": list(f.case_ids),
        "units": list(f.units),
    }


def to_json(report: Report | Trend, *, indent: int | None = 2) -> str:
    """The report as a JSON document: findings first, figures for the state, each
    district and each provider, and under ``"data"`` the report itself (for
    :func:`from_json`, so coordination offices can merge the reports they receive).

    A :class:`Trend` is written as :func:`trend_to_json` writes it.

    .. versionchanged:: 0.2.0 a :class:`Trend`.
    """
    if isinstance(report, Trend):
        return trend_to_json(report, indent=indent)
    return json.dumps(json_document(report), ensure_ascii=False, indent=indent)


def trend_to_json(trend: Trend, *, indent: int | None = 2) -> str:
    """The trend as a JSON document: its years and, for each, the document of
    :func:`to_json`.

    .. versionadded:: 0.2.0
    """
    document = {
        "format": TREND_FORMAT,
        "years": list(trend.years),
        "reports": [json_document(r) for r in trend.reports],
    }
    return json.dumps(document, ensure_ascii=False, indent=indent)


def trend_from_json(text: str | bytes) -> Trend:
    """The trend that :func:`trend_to_json` wrote.

    .. versionadded:: 0.2.0
    """
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("format") != TREND_FORMAT:
        raise ValueError(f"not an {TREND_FORMAT} document")
    reports = document.get("reports")
    if not isinstance(reports, list):
        raise ValueError(f"not an {TREND_FORMAT} document")
    return Trend([report_from_document(d) for d in reports])


def json_document(report: Report) -> dict[str, Any]:
    """The document :func:`to_json` writes, as a dictionary."""
    districts = []
    for ags in report.districts:
        providers = [
            {
                "provider": u.provider,
                "fte": None if u.fte is None else str(u.fte),
                "figures": _figures_json(report, district=ags, provider=u.provider),
            }
            for u in report.units
            if u.district == ags
        ]
        districts.append(
            {
                "ags": ags,
                "name": DISTRICTS[ags].name if ags in DISTRICTS else None,
                "figures": _figures_json(report, district=ags),
                "providers": providers,
            }
        )
    return {
        "format": FORMAT,
        "year": report.year,
        "due": report.due.isoformat(),
        "scope": {"district": report.district, "provider": report.provider},
        "findings": [_finding_json(f) for f in report.findings],
        "figures": _figures_json(report),
        "districts": districts,
        "data": _converter.unstructure(report),
    }


def from_json(text: str | bytes) -> Report:
    """The report that :func:`to_json` wrote (from its ``"data"`` member)."""
    return report_from_document(json.loads(text))


def report_from_document(document: object) -> Report:
    """The report of a document :func:`json_document` made."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT} document")
    return _converter.structure(document["data"], Report)


def csv_rows(report: Report, words: Words) -> Iterator[list[str | int]]:
    """The rows of :func:`to_csv` after its header (see there)."""
    w = words
    head = w.say("report")
    yield [head, "", "", "", "", "year", w.say("year"), "", report.year, ""]
    yield [head, "", "", "", "", "due", w.say("due"), "", w.date(report.due), ""]
    yield [head, "", "", "", "", "scope", w.say("scope"), "", w.scope(report), ""]
    for f in report.findings:
        unit = w.say("cases") if f.case_ids else w.say("providers")
        ids = ", ".join(f.case_ids or f.units)
        message = f.message(w.lang, messages=w.messages)
        yield [w.say("findings"), "", "", "", "", f.code, message, ids, f.count, unit]
    section = w.say("figures")
    for level in levels(report):
        ags = level.district or ""
        name = DISTRICTS[ags].name if ags in DISTRICTS else ""
        values = report.figures(**level.where)
        for fig in CATALOGUE.values():
            value = values[fig.id]
            cells = [section, w.level_kind(level), ags, name, level.provider or "", fig.id]
            if isinstance(value, Mapping):
                for key, n in value.items():
                    label = w.key_label(fig, key)
                    shown = w.number(n, 0, group=False)
                    yield [*cells, w.figure_name(fig), label, shown, w.figure_unit(fig)]
            else:
                shown = w.scalar(fig, value, group=False)
                yield [*cells, w.figure_name(fig), "", shown, w.figure_unit(fig)]


def csv_writer(out: io.StringIO) -> Any:
    """The CSV dialect of the reports: semicolons, CRLF, minimal quoting."""
    return csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def to_csv(report: Report | Trend, *, lang: Lang = "de", messages: Messages | None = None) -> bytes:
    """The report as CSV for spreadsheet programs: semicolon-separated, UTF-8 with BOM.

    One table with the columns Abschnitt; Ebene; AGS; Kreis; Träger; Kennzahl;
    Bezeichnung; Aufschlüsselung; Wert; Einheit (English headers with ``lang="en"``).
    The report's year and due date come first, then the plausibility findings (case
    ids in the column Aufschlüsselung), then every figure for the report's scope (the
    state, a district or a provider, named so in the column Ebene) and each district
    and provider below it. Numbers use a decimal comma in German; shares are in percent.

    A :class:`Trend` gives the rows of every year, each with the year in a first
    column Berichtsjahr.

    .. versionchanged:: 0.2.0
       The first level is the report's scope (a district's report no longer labels its
       totals as the state's); a :class:`Trend`; ``messages=``.
    """
    w = Words(lang, messages or Messages.default())
    out = io.StringIO()
    writer = csv_writer(out)
    header = [w.say(f"csv.{column}") for column in CSV_COLUMNS]
    if isinstance(report, Trend):
        writer.writerow([w.say("year"), *header])
        for yearly in report.reports:
            writer.writerows([yearly.year, *row] for row in csv_rows(yearly, w))
    else:
        writer.writerow(header)
        writer.writerows(csv_rows(report, w))
    return out.getvalue().encode("utf-8-sig")


def _ids(ids: tuple[str, ...], w: Words, limit: int = 20) -> str:
    shown = ", ".join(ids[:limit])
    if len(ids) > limit:
        shown += " " + w.say("more", n=len(ids) - limit)
    return shown


def short_line(report: Report, w: Words, **where: str) -> str:
    """The compact one-line figures of a district or provider."""
    values = report.figures(**where)
    parts = []
    for fid in SHORT:
        fig = CATALOGUE[fid]
        value = values[fid]
        assert not isinstance(value, Mapping)
        unit = " %" if fig.kind is FigureKind.SHARE and value is not None else ""
        parts.append(f"{w.say(f'short.{fid}')} {w.scalar(fig, value)}{unit}")
    return " · ".join(parts)


def finding_lines(report: Report, w: Words, *, limit: int = 20) -> list[str]:
    """The findings as text lines, each with the ids it affects (at most *limit*)."""
    findings = report.findings
    if not findings:
        return [f"{w.say('findings')}: {w.say('no_findings')}"]
    lines = [f"{w.say('findings')}: {w.say('n_findings', n=len(findings))}"]
    for f in findings:
        what = w.say("cases") if f.case_ids else w.say("providers")
        lines.append(f"  ! [{f.code}] {f.message(w.lang, messages=w.messages)}: {f.count} {what}")
        if limit:
            lines.append(f"      {_ids(f.case_ids or f.units, w, limit)}")
    return lines


def to_text(report: Report | Trend, *, lang: Lang = "de", messages: Messages | None = None) -> str:
    """A plain-text summary: scope and due date, the findings first, then the figures of
    the scope and a compact line for each district and provider below it.

    A :class:`Trend` gives the text of its latest year followed by the scope's figures
    year by year.

    >>> from imflow.kennzahlen import Report
    >>> print(to_text(Report(year=2026), lang="en").splitlines()[2])
    Due at the granting authority (Regierungspräsidium Stuttgart) on 2027-01-31

    .. versionchanged:: 0.2.0 a :class:`Trend`; ``messages=``.
    """
    w = Words(lang, messages or Messages.default())
    if isinstance(report, Trend):
        return _text(report.latest, w) + _years_text(report, w)
    return _text(report, w)


def _years_text(trend: Trend, w: Words) -> str:
    """The scope's figures year by year, one column per year."""
    level = top(trend.latest)
    columns = [r.figures(**level.where) for r in trend.reports]
    rows = [["", *(str(y) for y in trend.years)]]
    for fig in CATALOGUE.values():
        if fig.kind is FigureKind.BREAKDOWN:
            continue
        cells = [w.figure_name(fig)]
        for values in columns:
            value = values[fig.id]
            assert not isinstance(value, Mapping)
            cells.append(
                w.shown(fig, value) if fig.kind is FigureKind.SHARE else w.scalar(fig, value)
            )
        rows.append(cells)
    first = max(len(r[0]) for r in rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["", f"{w.say('years')} {trend.years[0]}–{trend.years[-1]} – {w.scope(trend.latest)}"]
    for r in rows:
        cells = [r[0].ljust(first), *(c.rjust(widths[i]) for i, c in enumerate(r[1:], 1))]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _text(report: Report, w: Words) -> str:
    lines = [
        f"{w.say('title')} – {w.say('year')} {report.year}",
        f"{w.say('scope')}: {w.scope(report)}",
        f"{w.say('due')} {w.date(report.due)}",
        "",
        *finding_lines(report, w),
        "",
        f"{w.say('figures')} – {w.scope(report)}",
    ]
    values = report.figures()
    for fig in CATALOGUE.values():
        value = values[fig.id]
        if isinstance(value, Mapping):
            lines.append(f"  {w.figure_name(fig)}:")
            for key, n in value.items():
                lines.append(f"      {w.key_label(fig, key)}: {w.number(n, 0)}")
        else:
            lines.append(f"  {w.figure_name(fig)}: {w.shown(fig, value)}")
    for level in below(report, top(report)):
        lines.append("")
        lines.append(w.level(level))
        lines.append(f"  {short_line(report, w, **level.where)}")
        for unit in below(report, level):
            lines.append(f"  {w.level(unit)}:")
            lines.append(f"    {short_line(report, w, **unit.where)}")
    return "\n".join(lines) + "\n"
