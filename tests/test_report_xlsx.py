"""The workbook for the submission: read back with openpyxl it holds the numbers of the
JSON report figure by figure, for the state, a district and a provider; its formats,
frozen headers and document properties; LibreOffice opens it."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given

from imflow import __version__
from imflow.kennzahlen import (
    CATALOGUE,
    FigureKind,
    Report,
    Trend,
    report,
    report_years,
    to_json,
    to_xlsx,
)
from imflow.store import SQLiteStore
from tests.report_cohort import read_xlsx_levels, simulated, without_zero_pairs
from tests.test_kennzahlen import histories, staffing_for

WT = "08337"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Any, Any]]:
    return simulated(tmp_path_factory.mktemp("xlsx"))


def workbook(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def json_levels(document: dict[str, Any]) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    """Every level's figures of a JSON report: ``(district, provider)`` → figures."""
    scope = document["scope"]
    found = {(scope["district"], scope["provider"]): document["figures"]}
    for d in document["districts"]:
        found[d["ags"], None] = d["figures"]
        for p in d["providers"]:
            found[d["ags"], p["provider"]] = p["figures"]
    return found


def assert_workbook_equals_json(yearly: Report) -> None:
    """Every value column of every figure sheet equals the JSON report's level."""
    document = json.loads(to_json(yearly))
    expected = json_levels(document)
    book = workbook(to_xlsx(yearly))
    assert book.sheetnames[0] == "Prüfhinweise"
    sheets = read_xlsx_levels(book)
    compared = 0
    scope = (yearly.district, yearly.provider)
    for title, columns in sheets.items():
        heads = list(columns)
        for n, head in enumerate(heads):
            ags = head.split(" ")[0]
            if n == 0 and title == book.sheetnames[1]:
                key = scope  # the scope's own totals
            elif (
                ags.isdigit() and len(ags) == 5 and ags in {d["ags"] for d in document["districts"]}
            ):
                key = (ags, None) if scope[1] is None else (ags, scope[1])
            else:
                district = title.split(" ")[0] if title.split(" ")[0].isdigit() else scope[0]
                key = (district, head)
            want = without_zero_pairs(expected[key])
            got = without_zero_pairs(columns[head])
            assert set(got) == set(CATALOGUE), (title, head)
            assert got == want, (
                title,
                head,
                {k: (got[k], want[k]) for k in got if got[k] != want[k]},
            )
            compared += 1
    assert compared >= 1 + len(sheets) - 1


@pytest.mark.parametrize("scope", [{}, {"district": WT}, {"provider": f"{WT}-t1"}])
def test_the_workbook_holds_the_numbers_of_the_json_report(
    cohort: tuple[Path, dict[Any, Any]], scope: dict[str, str]
) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        yearly = report(
            store,
            year=2026,
            staffing=staffing,
            district=scope.get("district"),
            provider=scope.get("provider"),
        )
    active = yearly.figures()["cases_active"]
    assert isinstance(active, int) and active > 0
    assert_workbook_equals_json(yearly)


@given(events=histories())
def test_any_history_reads_back_from_the_workbook_as_from_json(events: tuple[Any, ...]) -> None:
    years = sorted({e.on.year for e in events})
    yearly = report(events, year=years[-1], staffing=staffing_for(events))
    assert_workbook_equals_json(yearly)


def test_the_sheets_are_findings_first_then_the_scope_then_each_level_below(
    cohort: tuple[Path, dict[Any, Any]],
) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        state = report(store, year=2026, staffing=staffing)
        district = report(store, year=2026, district=WT, staffing=staffing)
    names = workbook(to_xlsx(state)).sheetnames
    assert names[:2] == ["Prüfhinweise", "Land"]
    assert names[2:] == [f"{ags} {_district(ags)}" for ags in state.districts]
    names = workbook(to_xlsx(district)).sheetnames
    assert names[:2] == ["Prüfhinweise", "08337 Waldshut (Landkreis)"]
    assert names[2:] == [f"08337 {u.provider}" for u in district.units]
    english = workbook(to_xlsx(district, lang="en"))
    assert english.sheetnames[0] == "Findings"
    assert english.worksheets[1]["A1"].value == "Figure"


def _district(ags: str) -> str:
    from imflow.districts import DISTRICTS

    return DISTRICTS[ags].label("de")[: 31 - 6]


def test_numbers_are_numbers_with_excel_formats_and_the_header_is_frozen(
    cohort: tuple[Path, dict[Any, Any]],
) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        yearly = report(store, year=2026, district=WT, staffing=staffing)
    ws = workbook(to_xlsx(yearly)).worksheets[1]
    assert ws.freeze_panes == "F2"
    assert ws["A1"].font.bold
    formats: dict[FigureKind, set[str]] = {}
    for row in ws.iter_rows(min_row=2):
        fig = CATALOGUE[str(row[0].value)]
        value = row[5]
        assert value.value is None or isinstance(value.value, int | float), row[0].value
        formats.setdefault(fig.kind, set()).add(value.number_format)
    assert formats[FigureKind.COUNT] == {"#,##0"}
    assert formats[FigureKind.SHARE] == {"0.0%"}
    assert formats[FigureKind.RATIO] == {"#,##0.00"}
    assert formats[FigureKind.BREAKDOWN] == {"#,##0"}
    share = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "plan_on_time_share")
    expected = yearly.figures()["plan_on_time_share"]
    assert isinstance(expected, float) and 0 < share[5].value <= 1
    assert share[5].value == pytest.approx(expected)
    rule_column = [c.value for c in ws[1]].index("Zählregel") + 1
    assert str(share[rule_column - 1].value).startswith("Kohorte:")
    letters = {ws.cell(row=1, column=i).column_letter for i in (1, 2, rule_column)}
    for letter in letters:
        assert ws.column_dimensions[letter].width >= 10
    findings = workbook(to_xlsx(yearly)).worksheets[0]
    assert findings.freeze_panes == "A7"
    assert (
        findings["A1"].value
        == "Kennzahlen Integrationsmanagement Baden-Württemberg – Berichtsjahr 2026"
    )


def test_the_findings_sheet_lists_every_finding_and_each_affected_id() -> None:
    from tests.kennzahlen_history import STAFFING, YEAR, hand_history
    from tests.test_kennzahlen import flat

    yearly = report(flat(hand_history()), year=YEAR, staffing=STAFFING)
    assert yearly.findings
    ws = workbook(to_xlsx(yearly)).worksheets[0]
    rows = [r for r in ws.iter_rows(min_row=7, values_only=True) if any(r)]
    listed = {r[0]: r[2] for r in rows[: len(yearly.findings)]}
    assert listed == {f.code: f.count for f in yearly.findings}
    ids = {(r[0], r[1]) for r in rows[len(yearly.findings) + 2 :]}
    assert ids == {(f.code, i) for f in yearly.findings for i in (f.case_ids or f.units)}


def test_document_properties_name_scope_year_due_date_and_version(
    cohort: tuple[Path, dict[Any, Any]],
) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        yearly = report(store, year=2026, district=WT, staffing=staffing)
    book = workbook(to_xlsx(yearly))
    props = book.properties
    assert props.title == "Kennzahlen Integrationsmanagement Baden-Württemberg 2026"
    assert props.subject == "Kreis Waldshut (Landkreis), AGS 08337"
    assert props.creator == f"imflow {__version__}"
    assert "31.01.2027" in (props.description or "")
    custom = {p.name: p.value for p in book.custom_doc_props.props}
    assert custom == {
        "imflow_year": 2026,
        "imflow_format": "imflow-kennzahlen/1",
        "imflow_version": __version__,
        "imflow_due": "2027-01-31",
        "imflow_scope_district": WT,
    }


def test_a_trend_adds_the_years_side_by_side(cohort: tuple[Path, dict[Any, Any]]) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        trend = report_years(store, years=range(2024, 2027), district=WT, staffing=staffing)
    book = workbook(to_xlsx(trend))
    assert book.sheetnames[-1] == "Zeitreihe"
    years = read_xlsx_levels(book)["Zeitreihe"]
    assert list(years) == ["2024", "2025", "2026"]
    for r in trend.reports:
        want = without_zero_pairs(json.loads(to_json(r))["figures"])
        assert without_zero_pairs(years[str(r.year)]) == want
    assert isinstance(trend, Trend)


def test_libreoffice_opens_the_workbook(
    cohort: tuple[Path, dict[Any, Any]], tmp_path: Path
) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.fail("LibreOffice is missing: scripts/check.sh installs libreoffice-calc-nogui")
    db, staffing = cohort
    with SQLiteStore(db) as store:
        yearly = report(store, year=2026, staffing=staffing)
    path = tmp_path / "kennzahlen-2026.xlsx"
    path.write_bytes(to_xlsx(yearly))
    profile = tmp_path / "lo-profile"
    done = subprocess.run(
        [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
         "--convert-to", "csv", "--outdir", str(tmp_path / "out"), str(path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    converted = tmp_path / "out" / "kennzahlen-2026.csv"
    assert done.returncode == 0 and converted.is_file(), done.stdout + done.stderr
    first = converted.read_bytes().decode("latin-1").splitlines()
    assert first[0].startswith("Kennzahlen Integrationsmanagement Baden-W")
    assert any(line.startswith("Code,") for line in first)
