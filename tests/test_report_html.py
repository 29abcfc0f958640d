"""The committee report: one self-contained HTML page that headless Chromium shows with
every chart as an inline SVG of a readable size, the headline numbers in its text, and
not a single network request; a screenshot is kept as a test artefact."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from imflow.kennzahlen import CATALOGUE, FigureKind, Report, report, report_years, to_html
from imflow.store import SQLiteStore
from tests.report_cohort import simulated
from tests.test_docs_offline import offline
from tests.test_kennzahlen import histories, staffing_for

WT = "08337"
HEADLINE = ("cases_active", "cases_opened", "cases_closed", "persons_counselled",
            "plan_on_time_share", "caseload_per_fte", "open_past_period")  # fmt: skip
REMOTE = re.compile(r"(?:https?:)?//[a-z0-9]", re.IGNORECASE)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Any, Any]]:
    return simulated(tmp_path_factory.mktemp("html"))


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots stay (``IMFLOW_ARTEFACTS``, else the run's temporary folder)."""
    folder = Path(os.environ.get("IMFLOW_ARTEFACTS") or tmp_path_factory.mktemp("artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def german(value: float, digits: int) -> str:
    """A number as German text, written here independently of Babel."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def assert_loads_nothing(page: str) -> None:
    assert not REMOTE.search(page), REMOTE.search(page)
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "@import" not in page and "<iframe" not in page
    assert set(re.findall(r"url\((.)", page)) <= {"#"}  # only references within the page
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#)""", page)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("headless Chromium is missing: scripts/check.sh installs the Debian package")
    return found


# measures once the page has loaded: a request made (or failed) by then is listed
PROBE = """<script>addEventListener('load', () => {
const charts = [...document.querySelectorAll('svg.chart')].map(s => {
  const r = s.getBoundingClientRect(); return [r.width, r.height].map(Math.round).join('x'); });
document.body.dataset.charts = charts.join(' ');
document.body.dataset.requests = performance.getEntriesByType('resource').length;
document.body.dataset.width = document.documentElement.scrollWidth;
});</script>"""


def test_chromium_shows_every_chart_the_numbers_and_loads_nothing(
    cohort: tuple[Path, dict[Any, Any]], tmp_path: Path, artefacts: Path
) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        trend = report_years(store, years=range(2023, 2027), district=WT, staffing=staffing)
    page = to_html(trend)
    assert_loads_nothing(page)
    assert page.count('<svg class="chart"') == 5
    path = tmp_path / "kennzahlen-2026.html"
    path.write_text(page, encoding="utf-8")
    measured = tmp_path / "measured.html"  # the page plus a probe; the page has no script
    measured.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1024,1400",
             "--hide-scrollbars", "--force-device-scale-factor=1"]  # fmt: skip
    dom = subprocess.run(
        offline([*flags, "--dump-dom", measured.as_uri()]),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    found = re.search(r'data-charts="([^"]*)" data-requests="(\d+)" data-width="(\d+)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    sizes = [tuple(map(int, s.split("x"))) for s in found[1].split()]
    assert len(sizes) == 5
    for width, height in sizes:
        assert 600 <= width <= 1024 and 100 <= height <= 1600, sizes  # readable, on the page
    assert found[2] == "0", "the page requested something"
    assert int(found[3]) <= 1024, "the page scrolls sideways"
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom.stdout))
    latest, previous = trend.reports[-1].figures(), trend.reports[-2].figures()
    for fid in HEADLINE:
        for values in (latest, previous):
            value = values[fid]
            assert isinstance(value, int | float)
            kind = CATALOGUE[fid].kind
            shown = (
                german(value * 100, 1) + " %"
                if kind is FigureKind.SHARE
                else german(value, 0 if kind is FigureKind.COUNT else 2)
            )
            row = re.search(rf'<tr data-figure="{fid}">(.*?)</tr>', dom.stdout)
            assert row and shown in html.unescape(row[1]), (fid, shown)
            assert shown in text
    shot = artefacts / "committee-report-08337-2026.png"
    done = subprocess.run(
        offline([*flags, "--window-size=1024,3600", f"--screenshot={shot}", path.as_uri()]),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # charts and tables, not a blank page
    print(f"\ncommittee report screenshot: {shot}")


def test_the_page_speaks_german_by_default_and_english_on_request(
    cohort: tuple[Path, dict[Any, Any]],
) -> None:
    db, staffing = cohort
    with SQLiteStore(db) as store:
        trend = report_years(store, years=range(2025, 2027), staffing=staffing)
    german_page, english = to_html(trend), to_html(trend, lang="en")
    assert '<html lang="de">' in german_page and '<html lang="en">' in english
    assert "Auf einen Blick" in german_page and "Definitionen" in german_page
    assert "At a glance" in english and "Definitions: what each figure counts" in english
    assert CATALOGUE["plan_on_time_share"].rule("de") in html.unescape(german_page)
    assert CATALOGUE["plan_on_time_share"].rule("en") in html.unescape(english)
    assert "je Kreis 2026" in german_page  # the state's charts compare its districts
    for page in (german_page, english):
        assert_loads_nothing(page)


@settings(max_examples=12)  # five charts drawn per example
@given(events=histories())
def test_any_history_gives_a_page_that_loads_nothing_and_names_every_figure(
    events: tuple[Any, ...],
) -> None:
    year = max(e.on.year for e in events)
    yearly = report(events, year=year, staffing=staffing_for(events))
    page = to_html(yearly, lang="en")
    assert_loads_nothing(page)
    assert page.count('<svg class="chart"') == 5
    unescaped = html.unescape(page)
    for fig in CATALOGUE.values():
        assert fig.name("en") in unescaped


def test_hostile_provider_ids_are_escaped() -> None:
    import attrs

    from imflow.events import CaseOpened
    from tests.kennzahlen_history import hand_history
    from tests.test_kennzahlen import flat

    evil = '<img src="https://x.example/a.png"> $x^2$ 50% {n}'
    events = [
        attrs.evolve(e, provider=evil) if isinstance(e, CaseOpened) else e
        for e in flat(hand_history())
    ]
    page = to_html(Report.merge(report(events, year=2026)))
    assert evil not in page and "&lt;img" in page
    assert "$x^2$ 50% {n}" in html.unescape(page)  # shown as written, in the charts too
