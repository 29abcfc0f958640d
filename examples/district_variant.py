"""A district's own workflow: the default one plus a ``paused`` phase, from a TOML file.

Landkreis Waldshut lets a case rest while the client attends a language course abroad.
The variant is a TOML document; imflow checks it when it is built, runs cases on it,
draws it, and refuses broken definitions with every problem listed.

Run it with ``python examples/district_variant.py``; it reads ``waldshut-2025.toml``
next to it and writes a broken definition into ``$IMFLOW_EXAMPLE_DIR`` (or a temporary
folder).
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import date
from pathlib import Path

import structlog

from imflow import Actor, Case, Engine, FrozenClock, InvalidWorkflow, Rejected, Role, Workflow
from imflow import commands as c

VARIANT = Path(__file__).with_name("waldshut-2025.toml")
"""The district variant, as a district keeps it: a TOML file next to this example."""

BROKEN = """\
extends = "bw-integrationsmanagement"

[[phases]]
name = "waiting_list"

[[commands]]
name = "pause_case"
sources = ["monitoring"]
target = "pasued"
guards = ["has_children"]
"""


def example_dir() -> Path:
    """Where the example may write: ``$IMFLOW_EXAMPLE_DIR`` or a fresh temporary folder."""
    return Path(os.environ.get("IMFLOW_EXAMPLE_DIR") or tempfile.mkdtemp(prefix="imflow-"))


def monitoring_case(engine: Engine, manager: Actor) -> Case:
    case = engine.open(
        c.OpenCase(
            case_id="wt-2025-0031",
            person="p-31",
            district="08337",
            provider="lra-waldshut",
            household=2,
            on=date(2025, 4, 1),
        ),
        by=manager,
    )
    for command in (
        c.RecordConsent(on=date(2025, 4, 1)),
        c.StartAssessment(on=date(2025, 4, 1)),
        c.RecordNeed(on=date(2025, 4, 1), area="language", note="B1 reached, B2 wanted"),
        c.StartPlanning(on=date(2025, 4, 8)),
        c.AddGoal(
            goal_id="b2",
            area="language",
            description="B2 certificate",
            target_date=date(2026, 9, 30),
            on=date(2025, 4, 8),
        ),
        c.AgreePlan(on=date(2025, 4, 15)),
    ):
        case = engine.handle(case, command, by=manager)
    return case


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    waldshut = Workflow.from_toml(VARIANT.read_text(encoding="utf-8"))
    print(f"workflow {waldshut.id} (hash {waldshut.hash}) from {VARIANT.name}:")
    print("  phases:", ", ".join(f"{p.name} ({p.label('de')})" for p in waldshut.phases))

    engine = Engine(workflow=waldshut, clock=FrozenClock.on(date(2025, 9, 1)))
    manager = Actor("im-17", Role.MANAGER, provider="lra-waldshut", district="08337")
    case = monitoring_case(engine, manager)
    agreed = case.agreed_plan.agreed_on if case.agreed_plan else None
    print(f"{case.case_id}: {case.phase}, plan agreed on {agreed}")

    case = engine.handle(
        case,
        c.CustomAction(name="pause_case", on=date(2025, 6, 1), note="language course in Malta"),
        by=manager,
    )
    print(f"pause_case       -> {case.phase} ({waldshut.phase(case.phase).label('de')})")
    case = engine.handle(
        case, c.RecordContact(on=date(2025, 7, 1), minutes=15, channel="video"), by=manager
    )
    print("record_contact   -> still", case.phase, "(contacts stay possible)")
    try:
        engine.handle(case, c.ReviewPlan(on=date(2025, 7, 1)), by=manager)
    except Rejected as refused:
        for reason in refused.reasons:
            print(f"review_plan refused: {reason.code}: {reason.message('de')}")
    allowed = engine.allowed(case, by=manager, on=date(2025, 9, 1))
    print("allowed while paused:", ", ".join(n for n, why in allowed.items() if not why))
    case = engine.handle(case, c.CustomAction(name="resume_case", on=date(2025, 9, 1)), by=manager)
    print(f"resume_case      -> {case.phase}")
    print(f"replay equals case: {engine.replay(case.events) == case}")

    print("\nthe variant's new edges (Mermaid, German labels):")
    for line in waldshut.to_mermaid(lang="de").splitlines():
        if "-->" in line and "paused" in line:
            print("  " + line.strip())

    broken_file = example_dir() / "broken.toml"
    broken_file.write_text(BROKEN, encoding="utf-8")
    try:
        Workflow.from_toml(broken_file.read_text(encoding="utf-8"))
    except InvalidWorkflow as invalid:
        print(f"\n{broken_file.name} refused with {len(invalid.problems)} problems:")
        for problem in invalid.problems:
            print("  -", problem)


if __name__ == "__main__":
    main()
