"""The score table of the last mutation runs (``bash scripts/mutation.sh --report``).

Reads mutmut's result files ``build/mutation/<module>/mutants/<file>.meta`` for each
module row that ``scripts/mutation.sh`` passes (``name|files|tests|mutant globs``) and
prints one line per module: mutants, killed, timed out, survived, not covered by any
selected test, not run, and the score ``(killed + timeout) / mutants`` (mutmut's own
formula, except that a mutant no selected test reaches counts against the score). The
survivors follow, one per line, for ``tests/MUTANTS.md``. With ``--survivors`` first,
it prints only the names of the mutants not killed (``scripts/mutation.sh --retest``).
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3}
TIMEOUT = {-24, 24, 36, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def outcome(code: int | None) -> str:
    """``killed``, ``timeout``, ``survived``, ``no tests``, ``not run`` or ``other``."""
    if code is None:
        return "not run"
    for name, codes in (
        ("killed", KILLED),
        ("timeout", TIMEOUT),
        ("survived", SURVIVED),
        ("no tests", NO_TESTS),
    ):
        if code in codes:
            return name
    return "other"


def results(root: Path, module: str, files: list[str], globs: list[str]) -> dict[str, str]:
    """Mutant name → outcome for one module row."""
    found: dict[str, str] = {}
    for file in files:
        meta = root / "build" / "mutation" / module / "mutants" / f"{file}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        for name, code in codes.items():
            if globs and not any(fnmatch.fnmatchcase(name, g) for g in globs):
                continue
            found[name] = outcome(code)
    return found


def main(rows: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    if rows and rows[0] == "--survivors":  # the names only, for a rerun after new tests
        for row in rows[1:]:
            module, files, _tests, globs = row.split("|")
            found = results(root, module, files.split(), globs.split())
            print(" ".join(n for n, o in sorted(found.items()) if o != "killed"))
        return 0
    columns = ("killed", "timeout", "survived", "no tests", "not run", "other")
    print(f"| module | mutants | {' | '.join(columns)} | score |")
    print("|---|---:|" + "---:|" * len(columns) + "---:|")
    survivors: list[str] = []
    for row in rows:
        module, files, _tests, globs = row.split("|")
        found = results(root, module, files.split(), globs.split())
        counts = Counter(found.values())
        total = len(found)
        score = 100 * (counts["killed"] + counts["timeout"]) / total if total else 0.0
        cells = " | ".join(str(counts[c]) for c in columns)
        print(f"| {module} | {total} | {cells} | {score:.1f} % |")
        survivors += [f"{module}: {n} ({o})" for n, o in sorted(found.items()) if o != "killed"]
    if survivors:
        print("\nnot killed:")
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
