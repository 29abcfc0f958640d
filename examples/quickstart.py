"""Quickstart: one household from the first contact to the closure, in about forty lines.

Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

from datetime import date

from imflow import Actor, Engine, FrozenClock, Rejected, Role
from imflow import commands as c


def main() -> None:
    # imflow prints no logs unless the host configures logging or structlog (see the
    # logging how-to): nothing needs silencing here.
    # The engine's clock decides "today"; a frozen clock makes the example repeatable.
    engine = Engine(clock=FrozenClock.on(date(2026, 11, 25)))
    manager = Actor("im-17", Role.MANAGER, provider="caritas-waldshut", district="08337")

    case = engine.open(
        c.OpenCase(
            case_id="wt-2025-0042",
            person="p-7f3a",
            district="08337",
            provider="caritas-waldshut",
            household=4,
            on=date(2025, 3, 1),
        ),
        by=manager,
    )
    print(
        f"opened {case.case_id}: phase {engine.workflow.phase(case.phase).label('de')!r}, "
        f"counselling period until {case.period_end}"
    )

    try:  # the assessment needs the client's consent first
        engine.handle(case, c.StartAssessment(on=date(2025, 3, 1)), by=manager)
    except Rejected as refused:
        for reason in refused.reasons:
            print(f"refused: {reason.code}: {reason.message('de')}")

    for command in (
        c.RecordConsent(on=date(2025, 3, 1)),
        c.RecordContact(on=date(2025, 3, 1), minutes=50, topics=["housing", "language"]),
        c.StartAssessment(on=date(2025, 3, 3)),
        c.RecordNeed(on=date(2025, 3, 3), area="language", note="A1, course wanted"),
        c.StartPlanning(on=date(2025, 3, 20)),
        c.AddGoal(
            goal_id="b1",
            area="language",
            description="B1 certificate",
            target_date=date(2026, 6, 30),
            on=date(2025, 3, 20),
        ),
        c.AgreePlan(on=date(2025, 4, 1)),
        c.SetGoalStatus(goal_id="b1", status="achieved", on=date(2026, 7, 2)),
    ):
        case = engine.handle(case, command, by=manager)
        print(f"{command.type:<16} -> {case.phase}")

    allowed = engine.allowed(case, by=manager, on=date(2026, 7, 2))
    print("allowed now:", ", ".join(name for name, why in allowed.items() if not why))
    for deadline in engine.deadlines(case, on=date(2026, 7, 2)):
        print(
            f"deadline: {deadline.kind.label('de')} am {deadline.due} "
            f"({deadline.severity.label('de')})"
        )

    case = engine.handle(
        case, c.CloseCase(reason="goals_achieved", on=date(2026, 7, 3)), by=manager
    )
    print(
        f"closed: {case.closure.reason.label('de') if case.closure else '?'}; "
        f"{case.version} events; replay equals case: {engine.replay(case.events) == case}"
    )


if __name__ == "__main__":
    main()
