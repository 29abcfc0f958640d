"""``scripts/main.sh``, the main job, with a small cohort: a short terminal summary that
names the files it wrote, and the full per-district text only on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def main_job(tmp_path: Path, *args: str, cases: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IMFLOW_LANG"}
    env |= {
        "IMFLOW_INSTALL": "0",  # the test's own Python has imflow and its extras
        "IMFLOW_PYTHON": sys.executable,
        "IMFLOW_CASES": str(cases),
        "IMFLOW_DB": str(tmp_path / "imflow.db"),
        "IMFLOW_STAFFING": str(tmp_path / "staffing.csv"),
        "IMFLOW_OUT": str(tmp_path / "out"),
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "main.sh"), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_the_main_job_prints_a_short_summary_and_names_its_files(tmp_path: Path) -> None:
    done = main_job(tmp_path, cases=300)
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert lines[0].startswith("300 Fälle simuliert vom 01.01.2023 bis 31.12.2026")
    text = done.stdout
    assert "Kennzahlen Integrationsmanagement Baden-Württemberg – Berichtsjahr 2026" in text
    assert "2026" in text and "2025" in text and "Veränderung" in text  # last year beside
    assert "Plausibilitätsprüfung:" in text
    assert "je Kreis" in text and "höchste" in text and "niedrigste" in text
    out = tmp_path / "out"
    written = [out / f"kennzahlen-2026.{ext}" for ext in ("xlsx", "html", "csv", "json")]
    for path in written:
        assert f"  {path}" in lines and path.is_file()
    assert openpyxl.load_workbook(written[0]).sheetnames[0] == "Prüfhinweise"
    assert "<svg" in written[1].read_text(encoding="utf-8")
    assert written[2].read_bytes().startswith(b"\xef\xbb\xbf")
    assert json.loads(written[3].read_text(encoding="utf-8"))["year"] == 2026
    assert "Kreis Waldshut (Landkreis), AGS 08337" not in text  # no per-district text


def test_the_full_text_comes_on_request(tmp_path: Path) -> None:
    done = main_job(tmp_path, "--full", cases=120)
    assert done.returncode == 0, done.stderr
    assert "Kreis Waldshut (Landkreis), AGS 08337" in done.stdout
    assert len(done.stdout.splitlines()) > 100
    refused = main_job(tmp_path, "--everything", cases=10)
    assert refused.returncode == 2 and "usage: scripts/main.sh [--full]" in refused.stderr
