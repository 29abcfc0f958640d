"""The README's Python example runs and is as short as it claims."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_example_runs(capsys: object) -> None:
    blocks = python_blocks()
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})


def test_the_fifteen_line_example_fits_in_fifteen_lines_of_code() -> None:
    lines = [line for line in python_blocks()[0].splitlines() if line.strip()]
    assert 10 <= len(lines) <= 15


def test_the_readme_names_the_two_commands_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/main.sh" in text
    assert "bash scripts/check.sh" in text
    assert "exec bash scripts/check.sh" in ci
