"""Hooks for integrators: a policy, a notification hook, and an outbox that survives a crash.

1. A **policy hook** (before): the municipality's own rule, "a household with children
   agrees a childcare goal", refuses the plan with its own reason code.
2. A **notification hook** (after): writes a notice for the coordination office into a
   JSON-lines file, idempotently (keyed by case id and event number).
3. **A crash between commit and delivery**: a child process commits commands to SQLite
   and dies before any hook ran. After the "restart", the outbox delivers every
   committed event, once; delivering again changes nothing.

Run it with ``python examples/custom_hooks.py``; it writes ``hooks.db`` and
``notices.jsonl`` into ``$IMFLOW_EXAMPLE_DIR`` (or a temporary folder).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import structlog

from imflow import Actor, Case, Engine, FrozenClock, GuardContext, Hooks, Reason, Rejected, Role
from imflow import commands as c
from imflow.events import CaseClosed, Event, PlanAgreed
from imflow.outbox import CaseService, Runner
from imflow.store import SQLiteStore

TODAY = date(2025, 12, 1)
MANAGER = Actor("im-17", Role.MANAGER, provider="caritas-waldshut", district="08337")
CRASH_FLAG = "--crash-after-commit"


def example_dir() -> Path:
    """Where the example may write: ``$IMFLOW_EXAMPLE_DIR`` or a fresh temporary folder."""
    return Path(os.environ.get("IMFLOW_EXAMPLE_DIR") or tempfile.mkdtemp(prefix="imflow-"))


# -- 1. a policy hook: the municipality's own rule, run inside the engine's decision -------


def children_need_childcare_goal(
    case: Case | None, command: c.Command | None, ctx: GuardContext
) -> Iterator[Reason]:
    """Households of three or more agree a goal in the life area childcare."""
    if case is None or case.household < 3 or case.phase != "planning":
        return
    if command is not None and not isinstance(command, c.AgreePlan):
        return
    plan = case.plan
    if plan is None or all(goal.area != "childcare" for goal in plan.goals):
        yield Reason(
            "childcare_goal_missing",
            "Bei Haushalten mit Kindern fehlt ein Ziel im Handlungsfeld Kinderbetreuung.",
            "A household with children needs a goal in the life area childcare.",
        )


def make_engine() -> Engine:
    return Engine(clock=FrozenClock.on(TODAY), policies=[children_need_childcare_goal])


# -- 2. a notification hook: after the commit, idempotent ---------------------------------


def make_hooks(notices: Path) -> Hooks:
    """The host's hooks. Their names (module and qualified name) identify them in the
    outbox, so they are the same in every process."""
    hooks = Hooks()

    @hooks.on(PlanAgreed, CaseClosed)
    def notify_coordination_office(event: Event, case: Case) -> None:
        key = f"{event.case_id}#{event.seq}"
        if notices.exists() and key in notices.read_text(encoding="utf-8"):
            return  # delivered before a crash: at least once in, exactly once out
        notice = {
            "key": key,
            "case_id": event.case_id,
            "event": event.type,
            "on": event.on.isoformat(),
            "district": case.district,
            "phase": str(case.phase),
        }
        with notices.open("a", encoding="utf-8") as out:
            out.write(json.dumps(notice) + "\n")

    return hooks


def notices_in(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def household_case(service: CaseService[SQLiteStore], case_id: str) -> Case:
    """Open a household of four and bring it to the point where the plan is agreed."""
    service.open(
        c.OpenCase(
            case_id=case_id,
            person=f"p-{case_id}",
            district="08337",
            provider="caritas-waldshut",
            household=4,
            on=date(2025, 3, 1),
        ),
        by=MANAGER,
    )
    case: Case | None = None
    for command in (
        c.RecordConsent(on=date(2025, 3, 1)),
        c.StartAssessment(on=date(2025, 3, 3)),
        c.RecordNeed(on=date(2025, 3, 3), area="language"),
        c.RecordNeed(on=date(2025, 3, 3), area="childcare"),
        c.StartPlanning(on=date(2025, 3, 10)),
        c.AddGoal(
            goal_id="b1",
            area="language",
            description="B1 certificate",
            target_date=date(2026, 6, 30),
            on=date(2025, 3, 10),
        ),
    ):
        case = service.handle(case_id, command, by=MANAGER)
    assert case is not None
    return case


# -- 3. the child process that commits and dies before delivering --------------------------


def crash_after_commit(db: Path, notices: Path) -> None:
    """Commit a plan agreement and a closure, then die before any hook runs."""
    with SQLiteStore(db, engine=make_engine()) as store:
        # deliver=False: a separate worker delivers, as with several servers
        service = CaseService(store, hooks=make_hooks(notices), deliver=False)
        service.handle(
            "wt-2",
            c.AddGoal(
                goal_id="kita",
                area="childcare",
                description="Kindergarten place",
                target_date=date(2025, 9, 1),
                on=date(2025, 4, 1),
            ),
            by=MANAGER,
        )
        service.handle("wt-2", c.AgreePlan(on=date(2025, 4, 1)), by=MANAGER)
        service.handle("wt-2", c.CloseCase(reason="moved_away", on=date(2025, 11, 3)), by=MANAGER)
        os._exit(3)  # killed after the commit, before the delivery


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    folder = example_dir()
    db, notices = folder / "hooks.db", folder / "notices.jsonl"
    for old in [*folder.glob("hooks.db*"), notices]:
        old.unlink(missing_ok=True)

    with SQLiteStore(db, engine=make_engine()) as store:
        service: CaseService[SQLiteStore] = CaseService(store, hooks=make_hooks(notices))

        print("1. policy hook")
        case = household_case(service, "wt-1")
        try:
            service.handle("wt-1", c.AgreePlan(on=date(2025, 4, 1)), by=MANAGER)
        except Rejected as refused:
            for reason in refused.reasons:
                print(f"   refused: {reason.code}: {reason.message('de')}")
                print(f"            {reason.message('en')}")
        print(f"   the case is unchanged: version {store.load('wt-1').version} == {case.version}")
        service.handle(
            "wt-1",
            c.AddGoal(
                goal_id="kita",
                area="childcare",
                description="Kindergarten place",
                target_date=date(2025, 9, 1),
                on=date(2025, 4, 1),
            ),
            by=MANAGER,
        )
        case = service.handle("wt-1", c.AgreePlan(on=date(2025, 4, 1)), by=MANAGER)
        print(f"   with a childcare goal: {case.phase}")

        print("2. notification hook (after the commit)")
        for notice in notices_in(notices):
            print(f"   notice {notice['key']}: {notice['event']} on {notice['on']}")

        household_case(service, "wt-2")

    print("3. a crash between commit and delivery")
    child = subprocess.run(
        [sys.executable, __file__, CRASH_FLAG, str(db), str(notices)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 3:
        raise SystemExit(f"the writer process failed unexpectedly:\n{child.stderr}")
    print(f"   the writer process died with exit code {child.returncode} after committing")
    with SQLiteStore(db, engine=make_engine()) as store:
        committed = store.load("wt-2")
        print(f"   stored: wt-2 is {committed.phase} at version {committed.version}")
        before = sum(n["case_id"] == "wt-2" for n in notices_in(notices))
        print(f"   notices for wt-2 so far: {before}")
        runner = Runner(store, make_hooks(notices))  # the restarted delivery worker
        print(f"   committed events waiting for delivery: {runner.pending()}")
        first = runner.run_once()
        second = runner.run_once()
        print(f"   after the restart: delivered {first.delivered}, then {second.delivered} more")
        for notice in notices_in(notices):
            if notice["case_id"] == "wt-2":
                print(f"   notice {notice['key']}: {notice['event']} on {notice['on']}")
        print(
            f"   outbox entries waiting: {runner.pending()}, dead letters: {runner.dead_letters()}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == CRASH_FLAG:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        crash_after_commit(Path(sys.argv[2]), Path(sys.argv[3]))
    main()
