"""Private: a report as JSON, as CSV for spreadsheets, and as a plain-text summary.

All functions are pure: they return text or bytes and write nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import cattrs

from imflow.districts import DISTRICTS
from imflow.i18n import Lang, Messages
from imflow.kennzahlen._catalogue import CATALOGUE, Figure, FigureKind, FigureValue
from imflow.kennzahlen._findings import Finding
from imflow.kennzahlen._report import Report

__all__ = ["FORMAT", "from_json", "to_csv", "to_json", "to_text"]

FORMAT = "imflow-kennzahlen/1"
"""The ``format`` tag of the JSON document :func:`to_json` writes."""

_converter = cattrs.Converter()

_DIGITS = {
    FigureKind.SHARE: 1,
    FigureKind.RATIO: 2,
    FigureKind.MEDIAN: 1,
}

# the figures of the compact per-district / per-provider lines of the text summary
# (their words are report.short.<figure> in the message catalogue)
_SHORT = (
    "cases_active",
    "cases_opened",
    "cases_closed",
    "persons_counselled",
    "plan_on_time_share",
    "contacts_per_active_case",
    "caseload_per_fte",
    "open_past_period",
)
_CSV_COLUMNS = (
    "section", "level", "ags", "district", "provider", "figure", "name", "key", "value", "unit",
)  # fmt: skip


def _w(word: str, lang: Lang, **params: object) -> str:
    """The report's words: ``report.<word>`` of the message catalogue."""
    return Messages.default().say(f"report.{word}", lang, **params)


def _day(day: date, lang: Lang) -> str:
    return Messages.default().date(day, lang)


def _number(value: float | int, digits: int, lang: Lang, *, group: bool) -> str:
    return Messages.default().number(value, lang, digits=digits, group=group)


def _scalar(fig: Figure, value: float | int | None, lang: Lang, *, group: bool) -> str:
    if value is None:
        return "–" if group else ""
    if fig.kind is FigureKind.SHARE:
        return _number(value * 100, 1, lang, group=group)
    if fig.kind is FigureKind.COUNT or isinstance(value, int):
        return _number(value, 0, lang, group=group)
    return _number(value, _DIGITS.get(fig.kind, 2), lang, group=group)


def _district_name(ags: str, lang: Lang) -> str:
    d = DISTRICTS.get(ags)
    return d.label(lang) if d else ags


def _scope(report: Report, lang: Lang) -> str:
    parts = []
    if report.district is not None:
        parts.append(
            f"{_w('district', lang)} {_district_name(report.district, lang)}, AGS {report.district}"
        )
    if report.provider is not None:
        parts.append(f"{_w('provider', lang)} {report.provider}")
    if not parts:
        n = len(report.districts)
        parts.append(f"{_w('state', lang)} ({_w('districts_with_data', lang, n=n)})")
    return "; ".join(parts)


def _json_value(value: FigureValue) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _figures_json(report: Report, **where: str) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in report.figures(**where).items()}


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "message_de": f.message("de"),
        "message_en": f.message("en"),
        "count": f.count,
        "case_ids": list(f.case_ids),
        "units": list(f.units),
    }


def to_json(report: Report, *, indent: int | None = 2) -> str:
    """The report as a JSON document: findings first, figures for the state, each
    district and each provider, and under ``"data"`` the report itself (for
    :func:`from_json`, so coordination offices can merge the reports they receive).
    """
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
    document = {
        "format": FORMAT,
        "year": report.year,
        "due": report.due.isoformat(),
        "scope": {"district": report.district, "provider": report.provider},
        "findings": [_finding_json(f) for f in report.findings],
        "figures": _figures_json(report),
        "districts": districts,
        "data": _converter.unstructure(report),
    }
    return json.dumps(document, ensure_ascii=False, indent=indent)


def from_json(text: str | bytes) -> Report:
    """The report that :func:`to_json` wrote (from its ``"data"`` member)."""
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT} document")
    return _converter.structure(document["data"], Report)


def _figure_rows(
    report: Report, fig: Figure, lang: Lang, **where: str
) -> Iterator[tuple[str, str]]:
    value = report.figures(**where)[fig.id]
    if isinstance(value, Mapping):
        for key, n in value.items():
            yield fig.key_label(key, lang), _number(n, 0, lang, group=False)
    else:
        yield "", _scalar(fig, value, lang, group=False)


def to_csv(report: Report, *, lang: Lang = "de") -> bytes:
    """The report as CSV for spreadsheet programs: semicolon-separated, UTF-8 with BOM.

    One table with the columns Abschnitt; Ebene; AGS; Kreis; Träger; Kennzahl;
    Bezeichnung; Aufschlüsselung; Wert; Einheit (English headers with ``lang="en"``).
    The report's year and due date come first, then the plausibility findings (case
    ids in the column Aufschlüsselung), then every figure for the state, each district
    and each provider. Numbers use a decimal comma in German; shares are in percent.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_w(f"csv.{column}", lang) for column in _CSV_COLUMNS])
    head = _w("report", lang)
    writer.writerow([head, "", "", "", "", "year", _w("year", lang), "", report.year, ""])
    writer.writerow([head, "", "", "", "", "due", _w("due", lang), "", _day(report.due, lang), ""])
    writer.writerow(
        [head, "", "", "", "", "scope", _w("scope", lang), "", _scope(report, lang), ""]
    )
    for f in report.findings:
        unit = _w("cases", lang) if f.case_ids else _w("providers", lang)
        ids = ", ".join(f.case_ids or f.units)
        writer.writerow(
            [_w("findings", lang), "", "", "", "", f.code, f.message(lang), ids, f.count, unit]
        )
    section = _w("figures", lang)
    levels: list[tuple[str, str, str, dict[str, str]]] = [(_w("level_state", lang), "", "", {})]
    for ags in report.districts:
        levels.append((_w("level_district", lang), ags, "", {"district": ags}))
        for u in report.units:
            if u.district == ags:
                where = {"district": ags, "provider": u.provider}
                levels.append((_w("level_provider", lang), ags, u.provider, where))
    for level, ags, provider, where in levels:
        name = DISTRICTS[ags].name if ags in DISTRICTS else ""
        for fig in CATALOGUE.values():
            for key, value in _figure_rows(report, fig, lang, **where):
                writer.writerow(
                    [
                        section,
                        level,
                        ags,
                        name,
                        provider,
                        fig.id,
                        fig.name(lang),
                        key,
                        value,
                        fig.unit(lang),
                    ]
                )
    return out.getvalue().encode("utf-8-sig")


def _ids(ids: tuple[str, ...], lang: Lang, limit: int = 20) -> str:
    shown = ", ".join(ids[:limit])
    if len(ids) > limit:
        shown += " " + _w("more", lang, n=len(ids) - limit)
    return shown


def _short_line(report: Report, lang: Lang, **where: str) -> str:
    values = report.figures(**where)
    parts = []
    for fid in _SHORT:
        fig = CATALOGUE[fid]
        value = values[fid]
        assert not isinstance(value, Mapping)
        unit = " %" if fig.kind is FigureKind.SHARE and value is not None else ""
        name = _w(f"short.{fid}", lang)
        parts.append(f"{name} {_scalar(fig, value, lang, group=True)}{unit}")
    return " · ".join(parts)


def to_text(report: Report, *, lang: Lang = "de") -> str:
    """A plain-text summary: scope and due date, the findings first, then the figures.

    >>> from imflow.kennzahlen import Report
    >>> print(to_text(Report(year=2026), lang="en").splitlines()[2])
    Due at the granting authority (Regierungspräsidium Stuttgart) on 2027-01-31
    """
    lines = [
        f"{_w('title', lang)} – {_w('year', lang)} {report.year}",
        f"{_w('scope', lang)}: {_scope(report, lang)}",
        f"{_w('due', lang)} {_day(report.due, lang)}",
        "",
    ]
    findings = report.findings
    if findings:
        lines.append(f"{_w('findings', lang)}: {_w('n_findings', lang, n=len(findings))}")
        for f in findings:
            what = _w("cases", lang) if f.case_ids else _w("providers", lang)
            lines.append(f"  ! [{f.code}] {f.message(lang)}: {f.count} {what}")
            lines.append(f"      {_ids(f.case_ids or f.units, lang)}")
    else:
        lines.append(f"{_w('findings', lang)}: {_w('no_findings', lang)}")
    lines.append("")
    lines.append(f"{_w('figures', lang)} – {_scope(report, lang)}")
    values = report.figures()
    for fig in CATALOGUE.values():
        value = values[fig.id]
        if isinstance(value, Mapping):
            lines.append(f"  {fig.name(lang)}:")
            for key, n in value.items():
                lines.append(f"      {fig.key_label(key, lang)}: {_number(n, 0, lang, group=True)}")
        else:
            shown = _scalar(fig, value, lang, group=True)
            if fig.kind is not FigureKind.COUNT and value is not None:
                shown += f" {fig.unit(lang)}"
            lines.append(f"  {fig.name(lang)}: {shown}")
    for ags in report.districts:
        lines.append("")
        lines.append(f"{_w('district', lang)} {_district_name(ags, lang)}, AGS {ags}")
        lines.append(f"  {_short_line(report, lang, district=ags)}")
        for u in report.units:
            if u.district == ags:
                lines.append(f"  {_w('provider', lang)} {u.provider}:")
                lines.append(f"    {_short_line(report, lang, district=ags, provider=u.provider)}")
    return "\n".join(lines) + "\n"
