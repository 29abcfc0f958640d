"""``mypy --strict`` accepts every docs page's code that asks a case for its phase label:
``case.phase.label("de")`` type-checks because ``Case.phase`` is typed as a phase."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def as_module(markdown: str) -> tuple[str, list[range]]:
    """The page's Python blocks as one module (doctest prompts become plain code), and
    the lines of the blocks that label a phase (the earlier blocks define their names)."""
    parts: list[str] = []
    labelled: list[range] = []
    line = 1
    for block in BLOCK.findall(markdown):
        if block.lstrip().startswith(">>>"):
            lines = [text[4:] for text in block.splitlines() if text.startswith((">>> ", "... "))]
            block = "\n".join(lines) + "\n"
        size = block.count("\n")
        if ".phase.label(" in block:
            labelled.append(range(line, line + size))
        parts.append(block)
        line += size
    return "".join(parts), labelled


PAGES = sorted(
    p for p in DOCS.rglob("*.md") if "_build" not in p.parts and ".phase.label(" in p.read_text()
)


def test_pages_use_the_phase_label() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "how-to/words.md"} <= names


@pytest.mark.slow
def test_mypy_strict_accepts_every_page_that_labels_a_phase(tmp_path: Path) -> None:
    files, checked = [], {}
    for page in PAGES:
        name = page.relative_to(DOCS).as_posix().replace("/", "_").replace("-", "_")
        module = (tmp_path / name).with_suffix(".py")
        code, checked[module.name] = as_module(page.read_text(encoding="utf-8"))
        module.write_text(code, encoding="utf-8")
        files.append(str(module))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version",
         "3.11", "--ignore-missing-imports", "--disable-error-code", "func-returns-value",
         *files],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert "error: Cannot find" not in done.stdout and "syntax" not in done.stdout, done.stdout
    problems = []
    for found in re.finditer(r"^([\w.]+):(\d+): error: (.*)$", done.stdout, re.MULTILINE):
        if any(int(found[2]) in lines for lines in checked[found[1]]):
            problems.append(found[0])
    assert sum(len(lines) for ranges in checked.values() for lines in ranges) > 5
    assert not problems, "\n".join(problems)
