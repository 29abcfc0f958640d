"""The score table of the last mutation runs (``bash scripts/mutation.sh --report``).

Reads mutmut's result files ``build/mutation/<module>/mutants/<file>.meta`` for each
module row that ``scripts/mutation.sh`` passes (``name|files|tests|mutant globs|excluded
globs``) and prints one line per module: mutants, killed, timed out, survived, not
covered by any selected test, not run, and the score ``(killed + timeout) / mutants``
(mutmut's own formula, except that a mutant no selected test reaches counts against the
score). When some mutants were not run (a sample), the score of the mutants run follows
with its 95 % Wilson interval. The survivors follow, one per line, for
``tests/MUTANTS.md``. With ``--survivors`` first, it prints only the names of the mutants
not killed (``scripts/mutation.sh --retest``); with ``--sample N SEED`` first, those of
N mutant names drawn at random (seeded) from the row's mutants that have no result yet
(``scripts/mutation.sh --sample``; a stopped sample run goes on where it stopped).
"""

from __future__ import annotations

import fnmatch
import json
import math
import random
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


def wanted(name: str, globs: list[str], excluded: list[str]) -> bool:
    """Whether the mutant *name* belongs to a row with these globs and excluded globs."""
    if globs and not any(fnmatch.fnmatchcase(name, g) for g in globs):
        return False
    return not any(fnmatch.fnmatchcase(name, g) for g in excluded)


def split(row: str) -> tuple[str, list[str], list[str], list[str]]:
    """A row ``name|files|tests|globs[|excluded]`` → name, files, globs, excluded."""
    module, files, _tests, globs, *rest = row.split("|")
    return module, files.split(), globs.split(), " ".join(rest).split()


def results(
    root: Path, module: str, files: list[str], globs: list[str], excluded: list[str]
) -> dict[str, str]:
    """Mutant name → outcome for one module row."""
    found: dict[str, str] = {}
    for file in files:
        meta = root / "build" / "mutation" / module / "mutants" / f"{file}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        for name, code in codes.items():
            if wanted(name, globs, excluded):
                found[name] = outcome(code)
    return found


def mutant_names(root: Path, files: list[str]) -> list[str]:
    """Every mutant mutmut makes of *files* (relative to *root*), without running it."""
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    names: list[str] = []
    for file in files:
        code = (root / file).read_text(encoding="utf-8")
        mutated = mutate_file_contents(file, code, None, None)
        names += [get_mutant_name(Path(file), n) for n in mutated.mutant_names]
    return names


def sample(root: Path, row: str, size: int, seed: int) -> list[str]:
    """*size* mutant names of *row*, drawn with ``random.Random(seed)``, sorted."""
    _module, files, globs, excluded = split(row)
    names = sorted(n for n in mutant_names(root, files) if wanted(n, globs, excluded))
    return sorted(random.Random(seed).sample(names, min(size, len(names))))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of *k* successes in *n* trials, in per cent.

    >>> [round(x, 1) for x in wilson(90, 100)]
    [82.6, 94.5]
    """
    if n == 0:
        return 0.0, 100.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def main(rows: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    if rows and rows[0] == "--survivors":  # the names only, for a rerun after new tests
        for row in rows[1:]:
            found = results(root, *split(row))
            print(" ".join(n for n, o in sorted(found.items()) if o not in ("killed", "not run")))
        return 0
    if rows and rows[0] == "--sample":  # N SEED row: the sample's names not run yet
        size, seed = int(rows[1]), int(rows[2])
        for row in rows[3:]:
            found = results(root, *split(row))
            names = sample(root, row, size, seed)
            print(" ".join(n for n in names if found.get(n, "not run") == "not run"))
        return 0
    columns = ("killed", "timeout", "survived", "no tests", "not run", "other")
    print(f"| module | mutants | {' | '.join(columns)} | score |")
    print("|---|---:|" + "---:|" * len(columns) + "---:|")
    survivors: list[str] = []
    samples: list[str] = []
    for row in rows:
        module = row.split("|")[0]
        found = results(root, *split(row))
        counts = Counter(found.values())
        total = len(found)
        dead = counts["killed"] + counts["timeout"]
        score = 100 * dead / total if total else 0.0
        cells = " | ".join(str(counts[c]) for c in columns)
        print(f"| {module} | {total} | {cells} | {score:.1f} % |")
        run = total - counts["not run"]
        if counts["not run"] and run:
            low, high = wilson(dead, run)
            samples.append(
                f"{module}: {dead} of the {run} mutants run killed: {100 * dead / run:.1f} %"
                f" (95 % Wilson interval {low:.1f}–{high:.1f} %)"
            )
        survivors += [
            f"{module}: {n} ({o})"
            for n, o in sorted(found.items())
            if o not in ("killed", "not run")
        ]
    if samples:
        print("\nsampled (not every mutant run):")
        print("\n".join(samples))
    if survivors:
        print("\nnot killed:")
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
