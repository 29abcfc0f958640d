"""Every file in examples/ runs, as a subprocess, the way a reader would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py"))


def test_there_are_examples() -> None:
    assert "quickstart.py" in {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "IMFLOW_EXAMPLE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"{script.name} printed nothing"
    assert "Traceback" not in done.stderr


def test_quickstart_tells_the_story() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "refused: consent_missing: Die Einwilligung" in out
    assert "agree_plan       -> monitoring" in out
    assert out.rstrip().endswith("10 events; replay equals case: True")
