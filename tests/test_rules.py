"""Rule sets by effective date: which guards differ, and moving a case to a newer one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from imflow import Actor, Case, Engine, FrozenClock, LifeArea, Phase, Rejected, Role, RuleSet
from imflow import commands as c
from imflow.rules import RULE_SETS, rule_set_in_force

MANAGER = Actor("im-3", Role.MANAGER, provider="diakonie", district="08421")
ENGINE = Engine(clock=FrozenClock(datetime(2030, 1, 1, 9, tzinfo=UTC)))


def opened(on: date) -> Case:
    return ENGINE.open(
        c.OpenCase(case_id=f"ulm-{on}", person="p", district="08421", provider="diakonie", on=on),
        by=MANAGER,
    )


def planning(on: date) -> Case:
    case = opened(on)
    for cmd in (
        c.RecordConsent(on=on),
        c.StartAssessment(on=on),
        c.RecordNeed(on=on, area=LifeArea.WORK),
        c.StartPlanning(on=on),
    ):
        case = ENGINE.handle(case, cmd, by=MANAGER)
    return case


@pytest.mark.parametrize(
    ("on", "rule_set"),
    [
        (date(2018, 1, 1), "vwv-2018"),
        (date(2023, 6, 5), "vwv-2018"),
        (date(2023, 6, 6), "vwv-2023"),
        (date(2024, 12, 31), "vwv-2023"),
        (date(2025, 1, 1), "system-2025"),
    ],
)
def test_a_case_is_pinned_to_the_rule_set_in_force_on_its_opening_date(
    on: date, rule_set: str
) -> None:
    assert opened(on).rule_set == rule_set
    found = rule_set_in_force(on)
    assert found is not None
    assert found.id == rule_set


def test_the_guards_that_differ_between_rule_sets() -> None:
    old, new, system = (
        planning(date(2020, 5, 1)),
        planning(date(2024, 5, 1)),
        planning(date(2025, 5, 1)),
    )
    # vwv-2018: the plan is voluntary and the period unlimited
    assert old.period_end is None
    monitoring = ENGINE.handle(old, c.AgreePlan(on=date(2020, 6, 1)), by=MANAGER)
    assert monitoring.phase == Phase.MONITORING
    assert monitoring.agreed_plan is not None
    assert monitoring.agreed_plan.goals == ()
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(
            monitoring, c.ExtendPeriod(months=3, justification="x", on=date(2020, 7, 1)), by=MANAGER
        )
    assert exc.value.codes == ("no_period_limit",)
    assert exc.value.reasons[0].params == {"rule_set": "vwv-2018"}
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(
            monitoring, c.CloseCase(reason="period_expired", on=date(2029, 1, 1)), by=MANAGER
        )
    assert exc.value.codes == ("reason_not_allowed", "period_not_ended")
    assert exc.value.reasons[1].params == {"period_end": "—"}  # no period: no last day
    # vwv-2023 and system-2025: plan with goal agreements mandatory, 3 years + 1
    for case in (new, system):
        assert case.period_end is not None
        with pytest.raises(Rejected) as exc:
            ENGINE.handle(case, c.AgreePlan(on=case.latest_on), by=MANAGER)
        assert exc.value.codes == ("no_goals",)
    assert new.period_end == date(2027, 4, 30)


def test_migrating_to_a_newer_rule_set_recomputes_the_period() -> None:
    old = planning(date(2022, 3, 15))
    assert (old.rule_set, old.period_end) == ("vwv-2018", None)
    case = ENGINE.handle(
        old,
        c.AddGoal(
            goal_id="g1",
            area="work",
            description="job",
            target_date=date(2024, 1, 31),
            on=date(2023, 7, 1),
        ),
        by=MANAGER,
    )
    migrated = ENGINE.handle(
        case, c.MigrateRuleSet(rule_set="vwv-2023", on=date(2023, 7, 1)), by=MANAGER
    )
    assert (migrated.rule_set, migrated.period_end) == ("vwv-2023", date(2025, 3, 14))
    assert migrated.events[-1].type == "rule_set_migrated"
    assert ENGINE.replay(migrated.events) == migrated


def test_migration_is_refused_when_the_case_would_break_the_new_rules() -> None:
    case = planning(date(2020, 1, 10))
    case = ENGINE.handle(
        case,
        c.AddGoal(
            goal_id="g1",
            area="work",
            description="job",
            target_date=date(2024, 1, 31),
            on=date(2022, 1, 1),
        ),
        by=MANAGER,
    )
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, c.MigrateRuleSet(rule_set="vwv-2023", on=date(2023, 6, 1)), by=MANAGER)
    # not yet in force, the period (2020-01-10 + 3 years) is over, the goal lies beyond it
    assert exc.value.codes == ("rule_set_not_in_force", "period_ended", "target_after_period_end")
    newer = opened(date(2025, 2, 1))
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(newer, c.MigrateRuleSet(rule_set="vwv-2023", on=date(2025, 2, 1)), by=MANAGER)
    assert exc.value.codes == ("rule_set_not_newer",)
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(newer, c.MigrateRuleSet(rule_set="vwv-2031", on=date(2025, 2, 1)), by=MANAGER)
    assert exc.value.codes == ("unknown_rule_set",)
    assert exc.value.reasons[0].params == {"rule_set": "vwv-2031"}


def test_rule_sets_are_data_a_host_can_extend() -> None:
    stricter = RuleSet(
        id="district-2026",
        effective_from=date(2026, 1, 1),
        label_de="Kreis 2026",
        label_en="District 2026",
        extension_max_months=6,
        review_interval_months=3,
    )
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, stricter.id: stricter})
    case = engine.open(
        c.OpenCase(
            case_id="k", person="p", district="08421", provider="diakonie", on=date(2026, 2, 1)
        ),
        by=MANAGER,
    )
    assert case.rule_set == "district-2026"
    assert stricter.may(Role.MANAGER, "add_goal")
    assert not stricter.may(Role.COORDINATOR, "add_goal")
    assert stricter.label("de") == "Kreis 2026"


def test_migrating_an_extended_case_keeps_its_extension() -> None:
    """The new period end counts the months already extended: a migration after the
    unextended end, but within the extended one, is accepted and keeps the extension."""
    case = planning(date(2023, 7, 3))  # vwv-2023: 36 months, last day 2026-07-02
    for cmd in (
        c.AddGoal(
            goal_id="g1",
            area="work",
            description="job",
            target_date=date(2026, 6, 30),
            on=date(2023, 7, 3),
        ),
        c.AgreePlan(on=date(2023, 7, 10)),
        c.ExtendPeriod(months=6, justification="exam", on=date(2026, 6, 1)),
    ):
        case = ENGINE.handle(case, cmd, by=MANAGER)
    assert (case.rule_set, case.period_end) == ("vwv-2023", date(2027, 1, 2))
    migrated = ENGINE.handle(
        case, c.MigrateRuleSet(rule_set="system-2025", on=date(2026, 9, 1)), by=MANAGER
    )
    assert (migrated.rule_set, migrated.period_end) == ("system-2025", date(2027, 1, 2))
    late = c.MigrateRuleSet(rule_set="system-2025", on=date(2027, 1, 3))  # the day after
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, late, by=MANAGER)
    assert "period_ended" in exc.value.codes


def test_migration_edges_the_same_rule_set_and_the_first_day_in_force() -> None:
    case = planning(date(2023, 7, 3))  # vwv-2023
    same = c.MigrateRuleSet(rule_set="vwv-2023", on=date(2024, 1, 1))
    with pytest.raises(Rejected) as exc:  # not newer: the same effective date
        ENGINE.handle(case, same, by=MANAGER)
    assert exc.value.codes == ("rule_set_not_newer",)
    assert exc.value.reasons[0].params == {"rule_set": "vwv-2023", "current": "vwv-2023"}
    eve = c.MigrateRuleSet(rule_set="system-2025", on=date(2024, 12, 31))
    with pytest.raises(Rejected) as exc:  # the day before it comes into force
        ENGINE.handle(case, eve, by=MANAGER)
    assert exc.value.codes == ("rule_set_not_in_force",)
    params = {"rule_set": "system-2025", "effective_from": date(2025, 1, 1)}
    assert exc.value.reasons[0].params == params
    first_day = c.MigrateRuleSet(rule_set="system-2025", on=date(2025, 1, 1))
    assert ENGINE.handle(case, first_day, by=MANAGER).rule_set == "system-2025"


def extended(months: int) -> Case:
    """A vwv-2023 case in monitoring (last day 2026-07-02), extended by *months*."""
    case = planning(date(2023, 7, 3))
    for cmd in (
        c.AddGoal(
            goal_id="g1",
            area="work",
            description="job",
            target_date=date(2026, 6, 30),
            on=date(2023, 7, 3),
        ),
        c.AgreePlan(on=date(2023, 7, 10)),
        c.ExtendPeriod(months=months, justification="exam", on=date(2026, 1, 5)),
    ):
        case = ENGINE.handle(case, cmd, by=MANAGER)
    return case


def test_a_migration_counts_the_extension_against_the_new_limit() -> None:
    stricter = RuleSet(
        id="district-2026",
        effective_from=date(2026, 1, 1),
        label_de="Kreis 2026",
        label_en="District 2026",
        extension_max_months=6,
    )
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, stricter.id: stricter})
    move = c.MigrateRuleSet(rule_set="district-2026", on=date(2026, 3, 1))
    at_the_limit = engine.handle(extended(6), move, by=MANAGER)
    assert (at_the_limit.rule_set, at_the_limit.period_end) == ("district-2026", date(2027, 1, 2))
    with pytest.raises(Rejected) as exc:
        engine.handle(extended(7), move, by=MANAGER)
    assert exc.value.codes == ("extension_limit_exceeded",)
    assert exc.value.reasons[0].params == {"requested": 7, "remaining": 6}


def test_a_migration_on_the_new_last_day_is_in_time() -> None:
    case = extended(6)  # last day 2027-01-02
    last = c.MigrateRuleSet(rule_set="system-2025", on=date(2027, 1, 2))
    assert ENGINE.handle(case, last, by=MANAGER).period_end == date(2027, 1, 2)
    late = c.MigrateRuleSet(rule_set="system-2025", on=date(2027, 1, 3))
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, late, by=MANAGER)
    assert exc.value.codes == ("period_ended",)
    assert exc.value.reasons[0].params == {"period_end": date(2027, 1, 2)}


def test_a_goal_due_on_the_new_last_day_may_stay() -> None:
    case = planning(date(2023, 7, 3))  # last day 2026-07-02 under vwv-2023 and system-2025
    for goal_id, target in (("g1", date(2025, 1, 31)), ("g2", date(2026, 7, 2))):
        add = c.AddGoal(
            goal_id=goal_id, area="work", description="job", target_date=target, on=date(2024, 1, 2)
        )
        case = ENGINE.handle(case, add, by=MANAGER)
    move = c.MigrateRuleSet(rule_set="system-2025", on=date(2025, 1, 2))
    assert ENGINE.handle(case, move, by=MANAGER).period_end == date(2026, 7, 2)


def test_a_goal_beyond_the_new_period_names_the_latest_target() -> None:
    case = planning(date(2022, 7, 4))  # vwv-2018; under vwv-2023: last day 2025-07-03
    for goal_id, target in (("g1", date(2026, 1, 31)), ("g2", date(2024, 5, 1))):
        add = c.AddGoal(
            goal_id=goal_id, area="work", description="job", target_date=target, on=date(2023, 1, 2)
        )
        case = ENGINE.handle(case, add, by=MANAGER)
    move = c.MigrateRuleSet(rule_set="vwv-2023", on=date(2023, 7, 1))
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, move, by=MANAGER)
    assert exc.value.codes == ("target_after_period_end",)
    params = {"target_date": date(2026, 1, 31), "period_end": date(2025, 7, 3)}
    assert exc.value.reasons[0].params == params


def test_a_goalless_plan_in_monitoring_cannot_move_to_a_rule_set_that_needs_goals() -> None:
    case = planning(date(2022, 3, 15))  # vwv-2018: a plan without goals may be agreed
    case = ENGINE.handle(case, c.AgreePlan(on=date(2022, 3, 16)), by=MANAGER)
    assert case.phase == Phase.MONITORING
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, c.MigrateRuleSet(rule_set="vwv-2023", on=date(2023, 7, 1)), by=MANAGER)
    assert exc.value.codes == ("no_goals",)


def test_allowed_offers_an_extension_while_a_month_is_left() -> None:
    one_left = extended(11)  # vwv-2023 allows 12 months of extension
    assert ENGINE.allowed(one_left, by=MANAGER, on=date(2026, 2, 1))["extend_period"] == ()
    none_left = ENGINE.handle(
        one_left, c.ExtendPeriod(months=1, justification="exam", on=date(2026, 2, 1)), by=MANAGER
    )
    refused = ENGINE.allowed(none_left, by=MANAGER, on=date(2026, 2, 1))["extend_period"]
    assert [(r.code, r.params) for r in refused] == [
        ("extension_limit_exceeded", {"requested": 1, "remaining": 0})
    ]


def test_a_goal_may_be_due_on_the_last_day_of_the_period_not_after() -> None:
    case = planning(date(2023, 7, 3))  # last day 2026-07-02

    def goal(target: date) -> c.AddGoal:
        return c.AddGoal(
            goal_id="g1", area="work", description="job", target_date=target, on=date(2023, 7, 3)
        )

    assert ENGINE.handle(case, goal(date(2026, 7, 2)), by=MANAGER).plan is not None
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, goal(date(2026, 7, 3)), by=MANAGER)
    assert exc.value.codes == ("target_after_period_end",)
    params = {"target_date": date(2026, 7, 3), "period_end": date(2026, 7, 2)}
    assert exc.value.reasons[0].params == params


def test_a_shorter_period_of_the_new_rule_set_may_have_ended_already() -> None:
    shorter = RuleSet(
        id="district-2025",
        effective_from=date(2025, 6, 1),
        label_de="Kreis 2025",
        label_en="District 2025",
        period_months=24,
    )
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, shorter.id: shorter})
    case = planning(date(2023, 7, 3))  # vwv-2023: last day 2026-07-02; 24 months: 2025-07-02
    move = c.MigrateRuleSet(rule_set="district-2025", on=date(2025, 8, 1))
    with pytest.raises(Rejected) as exc:
        engine.handle(case, move, by=MANAGER)
    assert exc.value.codes == ("period_ended",)
    assert exc.value.reasons[0].params == {"period_end": date(2025, 7, 2)}
