"""The role table of domain.md § 6: every role × command × scope, reads and reports included."""

from __future__ import annotations

from datetime import date

import pytest

from imflow import (
    Actor,
    Case,
    CaseService,
    Engine,
    Forbidden,
    FrozenClock,
    Rejected,
    Role,
)
from imflow import commands as c
from imflow.access import HIDDEN
from imflow.kennzahlen import SMALL_CELL, SUPPRESSED, report
from tests.stores import StoreMaker, pg_dsn, stores, working_case

__all__ = ["pg_dsn", "stores"]

ON = date(2025, 9, 1)
ENGINE = Engine(clock=FrozenClock.on(date(2029, 6, 1)))

OWN = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
ACTORS: dict[str, tuple[Actor, bool, str]] = {
    # name: (actor, may issue case work, what it reads: "all" | "hidden" | "none")
    "manager of the case's provider and district": (OWN, True, "all"),
    "manager of another provider, same district": (
        Actor("im-2", Role.MANAGER, provider="awo", district="08337"),
        False,
        "none",
    ),
    "manager of the same provider, another district": (
        Actor("im-3", Role.MANAGER, provider="drk", district="08111"),
        False,
        "none",
    ),
    "manager without a district": (Actor("im-4", Role.MANAGER, provider="drk"), False, "none"),
    "coordinator of the district": (
        Actor("k-1", Role.COORDINATOR, district="08337"),
        False,
        "none",
    ),
    "coordinator of another district": (
        Actor("k-2", Role.COORDINATOR, district="08111"),
        False,
        "none",
    ),
    "auditor of the district": (Actor("a-1", Role.AUDITOR, district="08337"), False, "hidden"),
    "auditor of the state": (Actor("a-2", Role.AUDITOR), False, "hidden"),
    "auditor of another district": (
        Actor("a-3", Role.AUDITOR, district="08111"),
        False,
        "none",
    ),
    "system": (Actor("imflow-system", Role.SYSTEM), False, "none"),
}


def sample(name: str) -> c.Command:
    """A command of type *name* with valid field values."""
    known: dict[str, c.Command] = {
        "record_consent": c.RecordConsent(on=ON),
        "withdraw_consent": c.WithdrawConsent(on=ON),
        "record_contact": c.RecordContact(on=ON, minutes=30),
        "start_assessment": c.StartAssessment(on=ON),
        "record_need": c.RecordNeed(on=ON, area="work", note="n"),
        "start_planning": c.StartPlanning(on=ON),
        "add_goal": c.AddGoal(goal_id="g9", area="work", description="d", target_date=ON, on=ON),
        "agree_plan": c.AgreePlan(on=ON),
        "set_goal_status": c.SetGoalStatus(goal_id="g1", status="achieved", on=ON),
        "review_plan": c.ReviewPlan(on=ON, note="n"),
        "revise_plan": c.RevisePlan(on=ON),
        "extend_period": c.ExtendPeriod(months=2, justification="j", on=ON),
        "close_case": c.CloseCase(reason="moved_away", on=ON),
        "reopen_case": c.ReopenCase(on=ON),
        "migrate_rule_set": c.MigrateRuleSet(rule_set="system-2025", on=ON),
        "transfer_case": c.TransferCase(to_provider="caritas", note="n", on=ON),
    }
    return known.get(name) or c.CustomAction(name=name, on=ON)


CASE = working_case(ENGINE, "wt-1")
COMMANDS = sorted(spec.name for spec in ENGINE.workflow.commands)


@pytest.mark.parametrize("who", sorted(ACTORS))
@pytest.mark.parametrize("name", COMMANDS)
def test_every_role_and_scope_for_every_command(who: str, name: str) -> None:
    actor, may, _ = ACTORS[who]
    codes = [r.code for r in ENGINE.check(CASE, sample(name), by=actor)]
    allowed = [r.code for r in ENGINE.allowed(CASE, by=actor, on=ON)[name]]
    if may:
        assert "forbidden" not in codes and "forbidden" not in allowed
    elif actor.role is Role.SYSTEM and name == "close_case":
        assert codes == ["forbidden"]  # moved_away: the system closes only expired periods
        assert "forbidden" not in allowed
        expired = c.CloseCase(reason="period_expired", on=date(2029, 6, 1))
        assert "forbidden" not in [r.code for r in ENGINE.check(CASE, expired, by=actor)]
    else:
        assert codes == ["forbidden"]  # and nothing else about the case
        assert allowed == ["forbidden"]


@pytest.mark.parametrize("who", sorted(ACTORS))
def test_every_role_and_scope_for_opening_a_case(who: str) -> None:
    actor, may, _ = ACTORS[who]
    command = c.OpenCase(case_id="n-1", person="p", district="08337", provider="drk", on=ON)
    if may:
        assert ENGINE.open(command, by=actor).provider == "drk"
    else:
        with pytest.raises(Rejected) as exc:
            ENGINE.open(command, by=actor)
        assert exc.value.codes == ("forbidden",)


def test_every_role_and_scope_for_reading_on_every_store(stores: StoreMaker) -> None:
    service = CaseService(stores(engine=ENGINE))
    service.store.append("wt-1", CASE.events, expected_version=0)
    for who, (actor, _, reads) in ACTORS.items():
        if reads == "none":
            for read in (service.read, service.history, service.deadlines, service.allowed):
                with pytest.raises(Forbidden) as exc:
                    read("wt-1", by=actor)
                assert exc.value.codes == ("forbidden",), who
                assert isinstance(exc.value, PermissionError)
            # may not read it: "not yours"; the system (acts on every case) gets "forbidden"
            expected = Rejected if actor.role is Role.SYSTEM else Forbidden
            with pytest.raises(expected):
                service.handle("wt-1", c.RecordContact(on=ON, minutes=5), by=actor)
            continue
        case = service.read("wt-1", by=actor)
        history = service.history("wt-1", by=actor)
        assert [e.type for e in history] == [e.type for e in CASE.events], who
        assert service.deadlines("wt-1", by=actor) == ENGINE.deadlines(CASE)
        if reads == "all":
            assert case == CASE and history == CASE.events
            continue
        # an auditor: the same history, every personal field hidden
        assert case.person == HIDDEN and case.phase == CASE.phase
        assert all(n.note == HIDDEN for n in case.needs)
        texts = [getattr(e, f, None) for e in history for f in ("note", "description")]
        assert "lives with an aunt" not in texts and "own flat in Waldshut" not in texts
        assert [e.on for e in history] == [e.on for e in CASE.events]


def _cases(engine: Engine) -> list[Case]:
    made = []
    for provider, n, district in (
        ("drk", 5, "08337"),
        ("caritas", 4, "08337"),
        ("awo", 1, "08337"),
        ("stadt", 3, "08111"),
    ):
        for i in range(n):
            made.append(
                working_case(engine, f"{provider}-{i}", provider=provider, district=district)
            )
    return made


EVENTS = tuple(e for case in _cases(ENGINE) for e in case.events)


def test_reports_by_actor_are_scoped_as_the_role_table_says() -> None:
    year = 2025
    whole = report(EVENTS, year=year)
    own = report(EVENTS, year=year, by=OWN)
    assert (own.district, own.provider) == ("08337", "drk")
    assert own.figures() == whole.figures(district="08337", provider="drk")
    with pytest.raises(Forbidden):
        report(EVENTS, year=year, by=OWN, provider="awo")
    with pytest.raises(Forbidden):
        report(EVENTS, year=year, by=OWN, district="08111")
    coordinator = Actor("k-1", Role.COORDINATOR, district="08337")
    district = report(EVENTS, year=year, by=coordinator)
    assert district.figures() == whole.figures(district="08337")  # exact: the submission
    with pytest.raises(Forbidden):
        report(EVENTS, year=year, by=coordinator, district="08111")
    with pytest.raises(Forbidden):  # a coordinator of another district
        report(EVENTS, year=year, district="08337", by=Actor("k-2", Role.COORDINATOR))
    state_auditor = Actor("a-2", Role.AUDITOR)
    assert report(EVENTS, year=year, by=state_auditor).figures() == whole.figures()
    district_auditor = Actor("a-1", Role.AUDITOR, district="08111")
    assert report(EVENTS, year=year, by=district_auditor).districts == ("08111",)
    with pytest.raises(Forbidden):
        report(EVENTS, year=year, by=district_auditor, district="08337")
    with pytest.raises(Forbidden):
        report(EVENTS, year=year, by=Actor("imflow-system", Role.SYSTEM))


def test_a_coordinator_never_sees_a_provider_of_fewer_than_three_cases() -> None:
    coordinator = Actor("k-1", Role.COORDINATOR, district="08337")
    r = report(EVENTS, year=2025, by=coordinator)
    providers = {u.provider: u.tally.cases_active for u in r.units}
    assert "awo" not in providers  # one case: one person
    # awo alone would still be one case, so the next smallest provider joins it
    assert providers == {"drk": 5, SUPPRESSED: 5}
    assert all(n >= SMALL_CELL for n in providers.values())
    assert (
        sum(providers.values())
        == report(EVENTS, year=2025).figures(district="08337")["cases_active"]
    )
    asked = report(EVENTS, year=2025, by=coordinator, provider="awo")
    assert asked.provider == SUPPRESSED and asked.figures()["cases_active"] == 5
    assert report(EVENTS, year=2025, by=coordinator, provider="drk").figures()["cases_active"] == 5


def test_the_case_service_reports_as_the_actor(stores: StoreMaker) -> None:
    service = CaseService(stores(engine=ENGINE))
    for case in _cases(ENGINE):
        service.store.append(case.case_id, case.events, expected_version=0)
    coordinator = Actor("k-1", Role.COORDINATOR, district="08337")
    r = service.report(year=2025, by=coordinator)
    assert {u.provider for u in r.units} == {"drk", SUPPRESSED}
    with pytest.raises(Forbidden):
        service.report(year=2025, by=Actor("imflow-system", Role.SYSTEM))


def test_an_auditor_sees_no_personal_value_anywhere_in_a_transferred_case() -> None:
    """Every value an auditor's read holds, searched deeply (not only through repr)."""
    import attrs

    from imflow.access import read_case

    mark = "MARK-transfer-77e1"
    case = CASE
    case = ENGINE.handle(
        case,
        c.TransferCase(to_provider="caritas", note=mark, on=ON),
        by=Actor("im-1", Role.MANAGER, provider="drk", district="08337"),
    )
    assert case.transfers[-1].note == mark
    seen = read_case(case, by=Actor("a-1", Role.AUDITOR, district="08337"))
    assert seen.transfers[-1].note == HIDDEN
    assert mark not in str(attrs.asdict(seen, recurse=True))
    assert seen.transfers[-1].to_provider == "caritas"  # the statistics stay
