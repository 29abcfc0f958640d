"""mypy checks a hook's event parameter against the classes it subscribes to."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api as mypy_api

ACCEPTED = """
from imflow import Case, Hooks
from imflow.events import CaseClosed, Event, GoalAdded, PlanAgreed

hooks = Hooks()


@hooks.on(PlanAgreed)
def one(event: PlanAgreed, case: Case) -> None:
    print(event.plan_version)


@hooks.on(PlanAgreed, GoalAdded)
def two(event: PlanAgreed | GoalAdded, case: Case) -> None:
    print(event.on)


@hooks.on((PlanAgreed, GoalAdded, CaseClosed))
def three(event: PlanAgreed | GoalAdded | CaseClosed, case: Case) -> None:
    print(event.on)


@hooks.on()
def every(event: Event, case: Case) -> None:
    print(event.type)


@hooks.on(PlanAgreed, GoalAdded)
def wide(event: Event, case: Case) -> None:
    print(event.type)
"""

REFUSED = """
from imflow import Case, Hooks
from imflow.events import GoalAdded, PlanAgreed

hooks = Hooks()


@hooks.on(PlanAgreed)  # line 8: a hook for another event class
def wrong(event: GoalAdded, case: Case) -> None:
    print(event.goal_id)


@hooks.on(PlanAgreed, GoalAdded)  # line 13: misses GoalAdded
def narrow(event: PlanAgreed, case: Case) -> None:
    print(event.plan_version)


@hooks.on()  # line 18: every event, but the hook takes one class
def every(event: PlanAgreed, case: Case) -> None:
    print(event.plan_version)
"""


def test_mypy_accepts_matching_hooks_and_refuses_the_others(tmp_path: Path) -> None:
    (tmp_path / "accepted.py").write_text(ACCEPTED)
    (tmp_path / "refused.py").write_text(REFUSED)
    out, err, status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(tmp_path / "accepted.py"),
            str(tmp_path / "refused.py"),
        ]
    )
    assert status == 1, (out, err)
    errors = re.findall(r"^(\S+\.py):(\d+): error: .*\[arg-type\]$", out, re.M)
    assert sorted((Path(f).name, int(n)) for f, n in errors) == [
        ("refused.py", 8),
        ("refused.py", 13),
        ("refused.py", 18),
    ], out
    assert out.count("error:") == 3, out
