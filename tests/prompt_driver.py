"""Runs a Markdown page's Python blocks as if pasted into a fresh Python prompt.

Used by ``tests/test_logging_hosts.py`` in a fresh interpreter (``python
tests/prompt_driver.py PAGE RESULT.json``): each top-level statement of a plain block,
and each example of a ``>>>`` block, is compiled in the prompt's ``single`` mode (so an
expression's value is printed, as the prompt does) and everything it prints to stdout
and stderr is recorded. The result file holds, per statement, the documented output and
the printed one; the driver itself prints nothing.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def _run(source: str, namespace: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            for statement in ast.parse(source).body:
                code = compile(ast.Interactive(body=[statement]), "<stdin>", "single")
                exec(code, namespace)
        except Exception as exc:  # the prompt shows the exception and goes on
            out.write("Traceback (most recent call last):\n  ...\n")
            out.write("".join(traceback.format_exception_only(exc)))
    return out.getvalue()


def main(page: str, result: str) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    found: list[dict[str, Any]] = []
    parser = doctest.DocTestParser()
    for block in FENCE.findall(Path(page).read_text(encoding="utf-8")):
        if not block.lstrip().startswith(">>>"):
            found.append({"source": block, "want": "", "got": _run(block, namespace), "flags": 0})
            continue
        for example in parser.get_examples(block):
            flags = sum(flag for flag, on in example.options.items() if on)
            got = _run(example.source, namespace)
            found.append(
                {"source": example.source, "want": example.want, "got": got, "flags": flags}
            )
    Path(result).write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
