"""Workflow definitions: the default one, district variants from TOML, build-time checks."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime

import pytest

from imflow import (
    Actor,
    Case,
    CommandDef,
    Engine,
    FrozenClock,
    GuardContext,
    InvalidWorkflow,
    LifeArea,
    PhaseDef,
    Reason,
    Rejected,
    Role,
    Workflow,
    WorkflowMismatch,
    bw_integrationsmanagement,
)
from imflow import commands as c
from tests.paths import WALDSHUT_TOML

CLOCK = FrozenClock(datetime(2027, 1, 1, 8, tzinfo=UTC))
MANAGER = Actor("im-1", Role.MANAGER, provider="lra-wt", district="08337")
D = date(2025, 4, 1)

PAUSED_VARIANT = WALDSHUT_TOML.read_text(encoding="utf-8")


def monitoring_case(engine: Engine) -> Case:
    case = engine.open(
        c.OpenCase(case_id="wt-9", person="p", district="08337", provider="lra-wt", on=D),
        by=MANAGER,
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area="language"),
        c.StartPlanning(on=D),
        c.AddGoal(
            goal_id="g1", area="language", description="B1", target_date=date(2026, 1, 1), on=D
        ),
        c.AgreePlan(on=D),
    ):
        case = engine.handle(case, cmd, by=MANAGER)
    return case


def test_the_default_workflow() -> None:
    wf = bw_integrationsmanagement()
    assert [p.name for p in wf.phases] == [
        "intake",
        "assessment",
        "planning",
        "monitoring",
        "closed",
    ]
    assert wf.is_final("closed")
    assert not wf.is_final("monitoring")
    assert wf.phase("planning").label("de") == "Integrationsplanung"
    assert wf is bw_integrationsmanagement()  # compiled once, shared by every engine
    assert len(wf.hash) == 16


def test_a_district_variant_with_a_paused_phase_from_toml() -> None:
    wf = Workflow.from_toml(PAUSED_VARIANT)
    assert wf.id == "waldshut-2025"
    assert wf.hash != bw_integrationsmanagement().hash
    assert wf.phase("intake").label("de") == "Aufnahme"
    engine = Engine(workflow=wf, clock=CLOCK)
    case = monitoring_case(engine)
    paused = engine.handle(
        case,
        c.CustomAction(name="pause_case", on=date(2025, 6, 1), note="course abroad"),
        by=MANAGER,
    )
    assert paused.phase == "paused"
    paused = engine.handle(paused, c.RecordContact(on=date(2025, 7, 1), minutes=15), by=MANAGER)
    with pytest.raises(Rejected) as exc:  # no plan work while paused
        engine.handle(paused, c.ReviewPlan(on=date(2025, 7, 1)), by=MANAGER)
    assert exc.value.codes == ("invalid_in_phase",)
    allowed = engine.allowed(paused, by=MANAGER, on=date(2025, 8, 1))
    assert allowed["resume_case"] == ()
    assert [r.code for r in allowed["pause_case"]] == ["invalid_in_phase"]
    withdrawn = engine.handle(paused, c.WithdrawConsent(on=date(2025, 8, 1)), by=MANAGER)
    with pytest.raises(Rejected) as exc:  # the variant's own guard on resume_case
        engine.handle(
            withdrawn, c.CustomAction(name="resume_case", on=date(2025, 8, 2)), by=MANAGER
        )
    assert exc.value.codes == ("consent_missing",)
    resumed = engine.handle(
        paused, c.CustomAction(name="resume_case", on=date(2025, 9, 1)), by=MANAGER
    )
    assert resumed.phase == "monitoring"
    closed = engine.handle(
        paused, c.CloseCase(reason="moved_away", on=date(2025, 9, 1)), by=MANAGER
    )
    assert closed.phase == "closed"
    assert engine.replay(resumed.events) == resumed
    with pytest.raises(Rejected) as exc:  # custom commands cannot impersonate built-ins
        engine.handle(case, c.CustomAction(name="agree_plan", on=D), by=MANAGER)
    assert exc.value.codes == ("unknown_command",)


def test_loading_a_case_under_a_changed_definition_is_detected() -> None:
    variant = Workflow.from_toml(PAUSED_VARIANT)
    case = monitoring_case(Engine(workflow=variant, clock=CLOCK))
    changed = variant.extend(labels={"paused": ("Pausiert", "On hold")})
    assert changed.hash != variant.hash
    with pytest.raises(WorkflowMismatch) as exc:
        Engine(workflow=changed, clock=CLOCK).replay(case.events)
    assert exc.value.recorded == f"waldshut-2025@{variant.hash}"
    tolerant = Engine(workflow=changed, clock=CLOCK, accept_hashes=[variant.hash])
    assert tolerant.replay(case.events).phase == "monitoring"
    with pytest.raises(WorkflowMismatch):
        Engine(clock=CLOCK).replay(case.events)  # the default workflow is another one


BROKEN = {
    "an unknown phase and an unknown guard": (
        """
        extends = "bw-integrationsmanagement"
        [[commands]]
        name = "pause_case"
        sources = ["monitoring"]
        target = "pasued"
        guards = ["has_children"]
        """,
        [
            "command 'pause_case' leads to unknown phase 'pasued'",
            "command 'pause_case' uses unknown guard 'has_children'",
        ],
    ),
    "an unreachable phase and a dead end": (
        """
        extends = "bw-integrationsmanagement"
        [[phases]]
        name = "paused"
        [[phases]]
        name = "waiting_list"
        [[commands]]
        name = "resume_case"
        sources = ["paused"]
        target = "monitoring"
        [[commands]]
        name = "put_on_waiting_list"
        sources = ["intake"]
        target = "waiting_list"
        """,
        [
            "phase 'paused' is unreachable from 'intake'",
            "phase 'waiting_list' has no way to a final phase",
        ],
    ),
    "no final phase, and a command from nowhere": (
        """
        id = "tiny"
        initial = "start"
        [[phases]]
        name = "start"
        [[phases]]
        name = "limbo"
        [[commands]]
        name = "go"
        sources = ["start", "nowhere"]
        target = "limbo"
        """,
        [
            "no final phase: a case could never be closed",
            "command 'go' starts from unknown phase 'nowhere'",
        ],
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_definitions_are_refused_with_every_problem(name: str) -> None:
    text, problems = BROKEN[name]
    with pytest.raises(InvalidWorkflow) as exc:
        Workflow.from_toml(text)
    assert list(exc.value.problems) == problems
    assert isinstance(exc.value, ValueError)


def test_graph_problems_are_found_once_names_are_right() -> None:
    with pytest.raises(InvalidWorkflow) as exc:
        bw_integrationsmanagement().extend(
            phases=[PhaseDef("paused"), PhaseDef("limbo")],
            commands=[
                CommandDef("pause_case", ["monitoring"], "paused"),
                CommandDef("resume_case", ["paused"], "monitoring"),
                CommandDef("drift", ["monitoring"], "limbo"),
            ],
        )
    assert exc.value.problems == ("phase 'limbo' has no way to a final phase",)
    with pytest.raises(InvalidWorkflow) as exc:
        bw_integrationsmanagement().extend(phases=[PhaseDef("paused")])
    assert exc.value.problems == (
        "phase 'paused' is unreachable from 'intake'",
        "phase 'paused' has no way to a final phase",
    )
    with pytest.raises(InvalidWorkflow) as exc:
        Workflow.from_toml('extends = "bw-integrationsmanagement"\n[add_guards]\nnope = ["x"]')
    assert exc.value.problems == ("unknown command 'nope'",)
    with pytest.raises(InvalidWorkflow, match="not valid TOML"):
        Workflow.from_toml("id = ")


def needs_childcare_goal(
    case: Case, command: c.Command | None, ctx: GuardContext
) -> Iterable[Reason]:
    plan = case.plan
    if case.household >= 3 and plan and all(g.area is not LifeArea.CHILDCARE for g in plan.goals):
        return (
            Reason(
                "childcare_goal_missing",
                "Ziel zur Kinderbetreuung fehlt.",
                "A childcare goal is missing.",
            ),
        )
    return ()


def test_a_host_guard_attached_by_name() -> None:
    wf = bw_integrationsmanagement().extend(
        id="families",
        guards={"needs_childcare_goal": needs_childcare_goal},
        add_guards={"agree_plan": ["needs_childcare_goal"]},
    )
    assert wf.command("agree_plan").guards == ("consent_given", "has_goals", "needs_childcare_goal")
    engine = Engine(workflow=wf, clock=CLOCK)
    case = engine.open(
        c.OpenCase(case_id="f", person="p", district="08337", provider="lra-wt", household=4, on=D),
        by=MANAGER,
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area="work"),
        c.StartPlanning(on=D),
        c.AddGoal(goal_id="g1", area="work", description="job", target_date=date(2026, 1, 1), on=D),
    ):
        case = engine.handle(case, cmd, by=MANAGER)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.AgreePlan(on=D), by=MANAGER)
    assert exc.value.codes == ("childcare_goal_missing",)
    assert "needs_childcare_goal" in wf.to_mermaid()


def test_definitions_round_trip_through_their_document() -> None:
    wf = Workflow.from_toml(PAUSED_VARIANT)
    again = Workflow.from_mapping(wf.to_mapping())
    assert again == wf
    assert again.hash == wf.hash
    assert Workflow.from_json('{"extends": "bw-integrationsmanagement"}') == (
        bw_integrationsmanagement()
    )


def test_diagrams_show_labels_and_guards() -> None:
    wf = bw_integrationsmanagement()
    mermaid_de = wf.to_mermaid(lang="de")
    assert mermaid_de.splitlines()[:4] == [
        "---",
        "title: bw-integrationsmanagement",
        "---",
        "stateDiagram-v2",
    ]
    assert 'state "Begleitung und Monitoring" as monitoring' in mermaid_de
    assert (
        "planning --> monitoring: Integrationsplan vereinbaren [consent_given & has_goals]"
    ) in mermaid_de
    assert "record_contact" not in mermaid_de  # commands that keep the phase are omitted
    assert "Record contact [internal]" in wf.to_mermaid(internal=True)
    dot = wf.to_dot(lang="en")
    assert dot.startswith("digraph")
    assert 'planning -> monitoring [label="Agree plan\\n[consent_given & has_goals]"]' in dot
    assert "darksalmon" not in dot and "s_active" not in mermaid_de  # no "current" phase
    assert "rankdir=TB" in wf.to_dot(direction="TB")
    assert "\n  direction TB\n" in wf.to_mermaid(direction="TB")
    paused = Workflow.from_toml(PAUSED_VARIANT).to_mermaid(lang="de")
    assert "monitoring --> paused: Fall ruhen lassen" in paused


def test_to_dot_without_graphviz_raises_instead_of_returning_mermaid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    with pytest.raises(ImportError, match=r"imflow\[diagrams\]"):
        bw_integrationsmanagement().to_dot()
    assert bw_integrationsmanagement().to_mermaid().startswith("---\ntitle: ")
