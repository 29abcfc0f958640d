"""Moving to another district: ``OpenCase(continues=...)`` and the period credit (§ 4).

The dates are computed by hand from §§ 187 (2), 188 (2), (3) BGB.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import attrs
import pytest

from imflow import Actor, Case, Engine, FrozenClock, Reason, Rejected, Role
from imflow import commands as c
from imflow.rules import RULE_SETS
from imflow.serialization import dumps, loads

STUTTGART = Actor("im-s", Role.MANAGER, provider="awo-s", district="08111")
WALDSHUT = Actor("im-w", Role.MANAGER, provider="drk-wt", district="08337")
ENGINE = Engine(clock=FrozenClock(datetime(2031, 1, 1, 12, tzinfo=UTC)))


def in_monitoring(case: Case, on: date, by: Actor, engine: Engine = ENGINE) -> Case:
    for cmd in (
        c.RecordConsent(on=on),
        c.StartAssessment(on=on),
        c.RecordNeed(on=on, area="language"),
        c.StartPlanning(on=on),
        c.AddGoal(goal_id="b1", area="language", description="B1", target_date=on, on=on),
        c.AgreePlan(on=on),
    ):
        case = engine.handle(case, cmd, by=by)
    return case


def earlier_case() -> Case:
    """Opened in Stuttgart on 2 May 2024, extended by 3 months, closed as moved away."""
    case = ENGINE.open(
        c.OpenCase(
            case_id="s-17",
            person="p-9",
            district="08111",
            provider="awo-s",
            household=2,
            on=date(2024, 5, 2),
        ),
        by=STUTTGART,
    )
    case = in_monitoring(case, date(2024, 5, 2), STUTTGART)
    case = ENGINE.handle(
        case, c.ExtendPeriod(months=3, justification="exam", on=date(2025, 5, 5)), by=STUTTGART
    )
    assert case.period_end == date(2027, 8, 1)  # 39 months from 2 May 2024
    return ENGINE.handle(case, c.CloseCase(reason="moved_away", on=date(2025, 6, 30)), by=STUTTGART)


def continued(
    continues: c.Continuation, engine: Engine = ENGINE, on: date = date(2025, 7, 1)
) -> Case:
    return engine.open(
        c.OpenCase(
            case_id="wt-88",
            person="p-9",
            district="08337",
            provider="drk-wt",
            household=2,
            on=on,
            continues=continues,
        ),
        by=WALDSHUT,
    )


def codes(exc: pytest.ExceptionInfo[Rejected]) -> list[str]:
    return list(exc.value.codes)


def test_the_new_case_ends_where_the_earlier_one_would_have() -> None:
    earlier = earlier_case()
    continuation = c.Continuation.of(earlier)
    assert continuation == c.Continuation(
        case_id="s-17", district="08111", period_start=date(2024, 5, 2), extended_months=3
    )
    case = continued(continuation)
    assert case.period_start == date(2025, 7, 1)  # the case's own opening
    assert case.counted_from == date(2024, 5, 2)  # the period's start, credited
    assert case.period_end == date(2027, 8, 1) == earlier.period_end
    assert (case.credited_extension_months, case.extended_months) == (3, 0)
    assert case.continues == continuation
    assert ENGINE.replay(case.events) == case
    assert loads(dumps(case), Case) == case
    # the plan is the new district's: due within 3 months of this opening
    plan_due = [d.due for d in ENGINE.deadlines(case, on=date(2025, 7, 2)) if d.kind == "plan_due"]
    assert plan_due == [date(2025, 9, 30)]


def test_extensions_share_the_twelve_months_with_the_earlier_ones() -> None:
    case = in_monitoring(continued(c.Continuation.of(earlier_case())), date(2025, 7, 1), WALDSHUT)
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(
            case, c.ExtendPeriod(months=10, justification="x", on=date(2025, 8, 1)), by=WALDSHUT
        )
    assert codes(exc) == ["extension_limit_exceeded"]
    assert "9" in exc.value.reasons[0].message("en")  # 12 - 3 months left
    case = ENGINE.handle(
        case, c.ExtendPeriod(months=9, justification="x", on=date(2025, 8, 1)), by=WALDSHUT
    )
    assert case.period_end == date(2028, 5, 1)  # 48 months from 2 May 2024
    assert ENGINE.allowed(case, by=WALDSHUT, on=date(2025, 8, 1))["extend_period"]


def test_the_continued_case_hits_its_period_end_on_the_earlier_cases_date() -> None:
    case = continued(c.Continuation.of(earlier_case()))
    case = ENGINE.handle(case, c.RecordConsent(on=date(2027, 8, 1)), by=WALDSHUT)  # last day
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(case, c.RecordContact(on=date(2027, 8, 2), minutes=5), by=WALDSHUT)
    assert codes(exc) == ["period_ended"]
    swept = ENGINE.sweep([case], on=date(2027, 8, 2))
    assert swept.closed_ids == ("wt-88",)
    closure = swept.closed[0].closure
    assert closure is not None
    assert (closure.reason.value, closure.on) == ("period_expired", date(2027, 8, 2))


def test_without_the_credit_switch_the_clock_starts_afresh() -> None:
    no_credit = attrs.evolve(RULE_SETS["system-2025"], credit_prior_counselling=False)
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, "system-2025": no_credit})
    case = continued(c.Continuation.of(earlier_case()), engine)
    assert case.continues is not None  # still named, for the audit trail
    assert case.counted_from == date(2025, 7, 1)
    assert case.period_end == date(2028, 6, 30)  # 36 months from 1 July 2025
    assert case.credited_extension_months == 0


def test_under_vwv_2018_nothing_is_credited_and_the_period_is_open() -> None:
    case = continued(
        c.Continuation(case_id="s-1", district="08111", period_start=date(2018, 3, 1)),
        on=date(2019, 2, 1),
    )
    assert (case.rule_set, case.period_end, case.counted_from) == (
        "vwv-2018",
        None,
        date(2019, 2, 1),
    )


def test_a_chain_of_districts_keeps_the_first_start() -> None:
    second = continued(c.Continuation.of(earlier_case()))
    second = ENGINE.handle(
        second, c.CloseCase(reason="moved_away", on=date(2026, 1, 10)), by=WALDSHUT
    )
    third = ENGINE.open(
        c.OpenCase(
            case_id="ul-3",
            person="p-9",
            district="08421",
            provider="caritas-ul",
            on=date(2026, 1, 12),
            continues=c.Continuation.of(second),
        ),
        by=Actor("im-u", Role.MANAGER, provider="caritas-ul", district="08421"),
    )
    assert third.continues == c.Continuation(
        case_id="wt-88", district="08337", period_start=date(2024, 5, 2), extended_months=3
    )
    assert third.period_end == date(2027, 8, 1)


def test_migrating_a_credited_case_keeps_the_credit() -> None:
    case = ENGINE.open(
        c.OpenCase(
            case_id="wt-5",
            person="p",
            district="08337",
            provider="drk-wt",
            on=date(2024, 6, 3),
            continues=c.Continuation(
                case_id="s-2", district="08111", period_start=date(2023, 10, 31), extended_months=2
            ),
        ),
        by=WALDSHUT,
    )
    assert (case.rule_set, case.period_end) == ("vwv-2023", date(2026, 12, 30))  # 38 months
    migrated = ENGINE.handle(
        case, c.MigrateRuleSet(rule_set="system-2025", on=date(2025, 1, 2)), by=WALDSHUT
    )
    assert migrated.period_end == date(2026, 12, 30)


@pytest.mark.parametrize(
    ("continues", "code", "field"),
    [
        (c.Continuation(case_id=" ", district="08111", period_start=date(2024, 5, 2)),
         "invalid_value", "continues.case_id"),
        (c.Continuation(case_id="x", district="08337", period_start=date(2024, 5, 2)),
         "invalid_value", "continues.district"),  # the same district: transfer instead
        (c.Continuation(case_id="x", district="09162", period_start=date(2024, 5, 2)),
         "invalid_value", "continues.district"),  # Munich is not in Baden-Württemberg
        (c.Continuation(case_id="x", district="08111", period_start=date(2025, 7, 2)),
         "invalid_value", "continues.period_start"),  # after the opening
        (c.Continuation(case_id="x", district="08111", period_start=date(2024, 5, 2),
                        extended_months=-1), "invalid_value", "continues.extended_months"),
        (c.Continuation(case_id="x", district="08111", period_start=date(2024, 5, 2),
                        extended_months=13), "invalid_value", "continues.extended_months"),
        (c.Continuation(case_id="x", district="08111", period_start=date(2022, 6, 30)),
         "period_ended", "2025-06-29"),  # three years were spent by 29 June 2025
    ],
)  # fmt: skip
def test_bad_continuations_are_refused(continues: c.Continuation, code: str, field: str) -> None:
    with pytest.raises(Rejected) as exc:
        continued(continues)
    assert codes(exc) == [code]
    reason = exc.value.reasons[0]
    if code == "invalid_value":
        assert reason.params["field"] == field
    else:
        assert field in reason.message("en")


def test_a_continuation_is_checked_for_types() -> None:
    with pytest.raises(TypeError, match="continues"):
        c.OpenCase(
            case_id="x", person="p", district="08337", provider="drk-wt", on=date(2025, 7, 1),
            continues=("s-17", "08111"),  # type: ignore[arg-type]
        )  # fmt: skip
    with pytest.raises(TypeError, match="period_start"):
        c.Continuation(case_id="x", district="08111", period_start="2024-05-02")  # type: ignore[arg-type]


def test_bad_continuations_name_their_problem() -> None:
    problems = {
        c.Continuation(case_id="x", district="08337", period_start=date(2024, 5, 2)): (
            "continues.district",
            "same_district",
        ),
        c.Continuation(case_id="x", district="09162", period_start=date(2024, 5, 2)): (
            "continues.district",
            "not_a_district",
        ),
        c.Continuation(case_id="x", district="08111", period_start=date(2025, 7, 2)): (
            "continues.period_start",
            "after_opening",
        ),
        c.Continuation(
            case_id="x", district="08111", period_start=date(2024, 5, 2), extended_months=-1
        ): ("continues.extended_months", "negative"),
    }
    for continues, (field, problem) in problems.items():
        with pytest.raises(Rejected) as exc:
            continued(continues)
        assert tuple(exc.value.reasons) == (
            Reason.of("invalid_value", field=field, problem=problem),
        ), field


def test_a_continuation_opened_on_the_last_day_of_the_earlier_period_is_accepted() -> None:
    """The earlier case (2 May 2024 + 39 months) ends on 1 August 2027: opening the
    continued case on that very day is still within the period, the day after is not."""
    continues = c.Continuation.of(earlier_case())
    case = continued(continues, on=date(2027, 8, 1))
    assert (case.counted_from, case.period_end) == (date(2024, 5, 2), date(2027, 8, 1))
    with pytest.raises(Rejected) as exc:
        continued(continues, on=date(2027, 8, 2))
    assert codes(exc) == ["period_ended"]
