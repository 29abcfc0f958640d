"""The docs build without a network and work without one: no script or stylesheet from
the internet, and the workflow diagram is drawn in the page (headless Chromium sees it)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.slow

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
TAG = re.compile(r"<(script|link|img|iframe|object|embed)\b[^>]*>", re.IGNORECASE | re.DOTALL)
CSS_REMOTE = re.compile(
    r"""@import\s+(?:url\()?\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//"""
)


def offline(command: list[str]) -> list[str]:
    """*command* in a network namespace of its own (no network at all), where possible."""
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0:
        return [unshare, "--net", *command]
    if os.environ.get("CI"):
        pytest.fail("CI runs as root with unshare: the docs must be built with no network")
    return command


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    doctrees = tmp_path_factory.mktemp("doctrees")
    build = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
             "-d", str(doctrees), str(DOCS), str(out)]  # fmt: skip
    done = subprocess.run(offline(build), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def test_no_page_loads_anything_from_the_network(html: Path) -> None:
    pages = sorted(html.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for tag in TAG.finditer(text):
            if tag.group(1).lower() == "link" and "stylesheet" not in tag.group(0).lower():
                continue  # <link rel="next"> and friends are navigation, not loaded
            assert not REMOTE.search(tag.group(0)), f"{page.name}: {tag.group(0)}"
        assert not CSS_REMOTE.search(text), page.name
        assert 'class="mermaid"' not in text, page.name  # no diagram left to a script
    for sheet in html.rglob("*.css"):
        assert not CSS_REMOTE.search(sheet.read_text(encoding="utf-8")), sheet.name
    assert "&lt;BLANKLINE&gt;" not in (html / "how-to" / "yearly-report.html").read_text()


def test_reference_signatures_use_aliases_and_show_no_private_defaults(html: Path) -> None:
    engine = re.sub(r"<[^>]+>", "", (html / "reference" / "engine.html").read_text())
    assert "_BERLIN" not in engine and "Europe/Berlin" in engine
    assert re.search(r"handle\(case:\s*Case,\s*command:\s*Command,\s*\*,\s*by:\s*Actor\)", engine)
    for page in (html / "reference").glob("*.html"):
        text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
        signatures = re.sub(r"alias of [^\n]*", "", text)  # an alias's own entry spells it out
        assert "OpenCase | RecordConsent" not in signatures, page.name
        assert "CaseOpened | ConsentRecorded" not in signatures, page.name
        assert "TypeAliasForwardRef" not in signatures, page.name


def test_the_index_page_shows_the_diagram_as_an_inline_svg(html: Path) -> None:
    page = (html / "index.html").read_text(encoding="utf-8")
    svg = re.search(r'<svg class="imflow-diagram"[^>]*width="(\d+)pt" height="(\d+)pt"', page)
    assert svg, "no inline diagram"
    assert int(svg[1]) >= 300 and int(svg[2]) >= 200
    drawn = page[svg.start() : page.index("</svg>", svg.start())]
    for label in ("Erstkontakt / Aufnahme", "Integrationsplan vereinbaren", "Abschluss"):
        assert label in drawn
    assert "darksalmon" not in drawn and "#ff0000" not in drawn.lower()  # no "active" phase


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows (RGB or RGBA, 8 bit) of a non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        chunk, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if chunk == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif chunk == b"IDAT":
            data += body
        pos += 12 + length
    raw, stride = zlib.decompress(data), width * channels
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        previous = bytes(line)
    if channels == 4:  # drop the alpha channel
        rows = [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def test_headless_chromium_renders_the_diagram_at_page_width(html: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is missing: scripts/check.sh installs the Debian package")
    # a copy of the index page that measures the drawn diagram once the page is laid out
    page = (html / "index.html").read_text(encoding="utf-8")
    probe = (
        "<script>const r = document.querySelector('svg.imflow-diagram')"
        ".getBoundingClientRect(); document.body.dataset.diagram = "
        "[r.left, r.top, r.width, r.height].map(Math.round).join(' ');</script>"
    )
    measured = html / "_measure.html"
    measured.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    flags = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
        "--hide-scrollbars", "--force-device-scale-factor=1",
    ]  # fmt: skip
    dom = subprocess.run(
        offline([*flags, "--dump-dom", measured.as_uri()]),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    found = re.search(r'data-diagram="(-?\d+) (-?\d+) (\d+) (\d+)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    left, top, width, height = map(int, found.groups())
    assert width >= 500 and height >= 250, (width, height)  # readable, not a thumbnail
    assert left >= 0 and left + width <= 1280  # within the page, no sideways scrolling
    shot = tmp_path / "index.png"
    done = subprocess.run(
        offline([*flags, f"--screenshot={shot}", measured.as_uri()]),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert shot.is_file(), done.stderr[-2000:]
    png_width, png_height, rows = _pixels(shot.read_bytes())
    assert top + height <= png_height, "the diagram is below the screenshot"
    inked = total = 0
    for row in rows[top : top + height]:
        for x in range(left, min(left + width, png_width)):
            r, g, b = row[3 * x : 3 * x + 3]
            total += 1
            inked += r + g + b < 600
    assert total and 0.01 < inked / total < 0.5, inked / total  # lines and words, not blank
