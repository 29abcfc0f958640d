"""The cohort simulator: deterministic, every event through the real guards, the domain's
invariants across whole cohorts, and the same histories in memory and in SQLite."""

from __future__ import annotations

import gc
import random
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import Case, ClosureReason, Engine, FrozenClock, GoalStatus, GuardContext, Phase
from imflow import commands as c
from imflow.districts import DISTRICTS
from imflow.guards import goals_achieved
from imflow.period import last_day
from imflow.reasons import Reason
from imflow.rules import RULE_SETS
from imflow.serialization import dumps
from imflow.simulation import Cohort, SimulationParams, simulate
from imflow.store import MemoryStore, SQLiteStore
from imflow.workflow import EVENT_COMMAND

START, UNTIL = date(2025, 1, 1), date(2028, 12, 31)


def histories(cohort: Cohort) -> list[str]:
    """Every event of every case as its JSON document, in case order."""
    return [dumps(e) for case in cohort.cases for e in case.events]


def check_domain_invariants(cohort: Cohort, engine: Engine) -> None:
    """What domain.md says must hold for any case, checked on every simulated case."""
    ids = [case.case_id for case in cohort.cases]
    assert len(set(ids)) == len(ids) == cohort.n_cases - cohort.not_opened
    for case in cohort.cases:
        events = case.events
        rules = RULE_SETS[case.rule_set]
        assert engine.replay(events) == case
        assert case.district in DISTRICTS and case.household >= 1
        assert cohort.start <= case.period_start <= cohort.until
        for earlier, later in pairwise(events):
            assert earlier.on <= later.on
        for event in events:
            assert event.on <= cohort.until
            assert event.recorded_at.date() == event.on  # the clock follows simulated time
        if case.phase == Phase.MONITORING and rules.plan_mandatory:
            plan = case.agreed_plan
            assert plan is not None and plan.goals
        if rules.period_months is None:
            assert case.period_end is None and not case.extensions
        else:
            assert case.period_end is not None
            base = last_day(case.period_start, months=rules.period_months)
            most = last_day(
                case.period_start, months=rules.period_months + rules.extension_max_months
            )
            assert base <= case.period_end <= most
            # nothing but a closure after the last day
            for event in events:
                assert event.on <= case.period_end or event.type == "case_closed"
            # no case is left open past its period at the end of the simulation
            if case.is_open:
                assert case.period_end >= cohort.until
        closure = case.closure
        if closure is not None:
            assert case.phase == Phase.CLOSED
            if closure.reason is ClosureReason.GOALS_ACHIEVED:
                assert goals_achieved(case)
            if closure.reason is ClosureReason.PERIOD_EXPIRED:
                assert case.period_end is not None
                assert closure.on == case.period_end + timedelta(days=1)
                assert events[-1].actor.role.value == "system"
        reopenings = [i for i, e in enumerate(events) if e.type == "case_reopened"]
        for i in reopenings:
            before = events[i - 1]
            assert before.type == "case_closed"
            assert before.reason not in (  # type: ignore[union-attr]
                ClosureReason.GOALS_ACHIEVED,
                ClosureReason.PERIOD_EXPIRED,
            )


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return simulate(1500, seed=11, start=START, until=UNTIL)


def test_same_seed_gives_byte_identical_histories(cohort: Cohort) -> None:
    again = simulate(1500, seed=11, start=START, until=UNTIL)
    assert histories(again) == histories(cohort)
    assert again.cases == cohort.cases
    assert again.event_counts == cohort.event_counts


def test_another_seed_gives_other_histories(cohort: Cohort) -> None:
    other = simulate(1500, seed=12, start=START, until=UNTIL)
    assert histories(other) != histories(cohort)


def test_the_global_random_state_and_the_garbage_collector_are_left_alone() -> None:
    random.seed(5)
    state = random.getstate()
    enabled = gc.isenabled()
    simulate(50, seed=1, start=START, until=date(2025, 12, 31))
    assert random.getstate() == state
    assert gc.isenabled() == enabled


def test_every_event_passed_the_guards_of_the_engine() -> None:
    """A host policy sees every command the engine decided: one per recorded event."""
    seen: Counter[str] = Counter()

    def count(case: Case | None, command: c.Command | None, ctx: GuardContext) -> list[Reason]:
        if command is not None:
            seen[command.type] += 1
        return []

    engine = Engine(clock=FrozenClock.on(START), policies=[count])
    result = simulate(400, seed=3, start=START, until=UNTIL, engine=engine)
    by_command = Counter(
        "open_case" if e.type == "case_opened" else EVENT_COMMAND[e.type]
        for case in result.cases
        for e in case.events
    )
    assert seen == by_command
    assert sum(seen.values()) == result.events
    assert not result.rejected


def test_domain_invariants_hold_across_the_cohort(cohort: Cohort) -> None:
    check_domain_invariants(cohort, Engine(clock=FrozenClock.on(UNTIL)))


def test_the_cohort_goes_everywhere_the_programme_goes(cohort: Cohort) -> None:
    """The default parameters reach every phase, closure reason and goal outcome."""
    assert set(cohort.phases) >= {"intake", "assessment", "planning", "monitoring", "closed"}
    assert set(cohort.closures) == {r.value for r in ClosureReason} - {"other"}
    assert set(cohort.goals) == {s.value for s in GoalStatus}
    assert cohort.extensions and cohort.reopened and cohort.contacts
    assert cohort.event_counts["case_opened"] == cohort.n_cases == 1500
    assert cohort.events == sum(case.version for case in cohort.cases)
    assert cohort.open_cases == sum(case.is_open for case in cohort.cases)
    assert cohort.persons == sum(case.household for case in cohort.cases)
    german = cohort.summary("de")
    assert german.splitlines()[0] == "1.500 Fälle simuliert vom 01.01.2025 bis 31.12.2028 (Seed 11)"
    assert "Abschluss: " in german and "Wegzug / Kreiswechsel: " in german  # labels, not codes
    assert " je Fall)" in german and "." not in german.splitlines()[1].split("(")[1]
    assert "closures:" in cohort.summary("en")


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n_cases=st.integers(0, 80),
    start=st.dates(date(2018, 1, 1), date(2030, 1, 1)),
    days=st.integers(0, 2000),
    params=st.builds(
        SimulationParams,
        opening_window=st.floats(0.01, 1.0),
        consent_probability=st.floats(0, 1),
        contacts_per_month=st.floats(0, 4),
        revision_probability=st.floats(0, 1),
        extension_probability=st.floats(0, 1),
        reopen_probability=st.floats(0, 1),
        dropout_per_year=st.floats(0, 2),
        move_per_year=st.floats(0, 1),
        handover_per_year=st.floats(0, 1),
        withdrawal_per_year=st.floats(0, 1),
        review_interval_months=st.one_of(st.none(), st.integers(1, 12)),
        providers_per_district=st.integers(1, 3),
        transfer_per_year=st.floats(0, 2),
    ),
)
def test_domain_invariants_hold_for_any_parameters(
    seed: int, n_cases: int, start: date, days: int, params: SimulationParams
) -> None:
    until = start + timedelta(days=days)
    result = simulate(n_cases, seed=seed, start=start, until=until, params=params)
    assert not result.rejected
    check_domain_invariants(result, Engine(clock=FrozenClock.on(until)))


def test_some_cases_move_to_another_provider_of_their_district(cohort: Cohort) -> None:
    moved = [case for case in cohort.cases if case.transfers]
    assert moved and len(moved) == cohort.event_counts["case_transferred"]  # one at most each
    for case in moved:
        (t,) = case.transfers
        assert t.from_provider == case.opened.provider != t.to_provider == case.provider
        assert t.to_provider.startswith(case.district)  # "<AGS>-t<k>": the same district
        moved_at = next(e.seq for e in case.events if e.type == "case_transferred")
        for event in case.events:  # the old provider's managers until the hand-over
            if event.actor.role.value == "manager":
                old = event.seq <= moved_at
                assert event.actor.provider == (t.from_provider if old else t.to_provider)


def test_transfers_draw_on_their_own_stream(cohort: Cohort) -> None:
    """Without transfers, the cohort is the same apart from who acts on the moved cases:
    district and state key figures other than the transfer counts do not change."""
    from imflow.kennzahlen import report

    still = simulate(
        1500, seed=11, start=START, until=UNTIL, params=SimulationParams(transfer_per_year=0)
    )
    assert "case_transferred" not in still.event_counts
    assert still.closures == cohort.closures and still.contacts == cohort.contacts
    events = [e for case in cohort.cases for e in case.events]
    plain = [e for case in still.cases for e in case.events]
    moved_only = {"transferred_out", "transferred_in"}
    for year in (2025, 2027):
        with_moves, without = report(events, year=year), report(plain, year=year)
        for district in (None, "08337", "08111"):
            a = with_moves.figures(district=district)
            b = without.figures(district=district)
            assert {k: v for k, v in a.items() if k not in moved_only} == {
                k: v for k, v in b.items() if k not in moved_only
            }


def test_a_sqlite_store_holds_the_same_histories_as_memory(tmp_path: Path, cohort: Cohort) -> None:
    # the store re-decides every event: it gets a simulated clock the simulation moves
    engine = Engine(clock=FrozenClock.on(START))
    with SQLiteStore(tmp_path / "cohort.db", synchronous="NORMAL", engine=engine) as store:
        stored = simulate(1500, seed=11, start=START, until=UNTIL, store=store, batch_size=128)
        assert stored.cases == cohort.cases
        for case in cohort.cases:
            assert store.events(case.case_id) == case.events
            assert store.load(case.case_id) == case


def test_a_memory_store_and_keep_cases_false(cohort: Cohort) -> None:
    store = MemoryStore(engine=Engine(clock=FrozenClock.on(START)))
    lean = simulate(1500, seed=11, start=START, until=UNTIL, store=store, keep_cases=False)
    assert lean.cases == ()
    assert lean.event_counts == cohort.event_counts and lean.closures == cohort.closures
    assert sorted(store.iter_cases(), key=lambda k: k.case_id) == list(cohort.cases)


def test_progress_is_reported_in_simulated_days() -> None:
    calls: list[tuple[int, int]] = []
    simulate(
        20,
        seed=1,
        start=START,
        until=date(2025, 12, 31),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (365, 365)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert 50 <= len(calls) <= 120


def test_a_host_policy_that_refuses_ends_the_story_of_that_case() -> None:
    def no_extensions(
        case: Case | None, command: c.Command | None, ctx: GuardContext
    ) -> Iterable[Reason]:
        if isinstance(command, c.ExtendPeriod):
            yield Reason.of("forbidden", role="policy", command="extend_period")

    engine = Engine(clock=FrozenClock.on(START), policies=[no_extensions])
    params = SimulationParams(extension_probability=1.0)
    result = simulate(300, seed=2, start=START, until=UNTIL, params=params, engine=engine)
    refused = result.rejected["forbidden"]
    assert dict(result.rejected) == {"forbidden": refused}  # only the policy refused
    # each refusal ended the story of one case, left open in monitoring
    assert 1 <= refused <= sum(1 for case in result.cases if case.phase == "monitoring")
    assert not result.extensions
    check_domain_invariants(result, Engine(clock=FrozenClock.on(UNTIL)))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="before start"):
        simulate(1, seed=1, start=UNTIL, until=START)
    with pytest.raises(ValueError, match="negative"):
        simulate(-1, seed=1, start=START, until=UNTIL)
    with pytest.raises(ValueError, match="no rule set"):
        simulate(1, seed=1, start=date(2017, 12, 31), until=UNTIL)
    with pytest.raises(TypeError, match="FrozenClock"):
        simulate(1, seed=1, start=START, until=UNTIL, engine=Engine())
    with pytest.raises(ValueError, match="probability"):
        SimulationParams(consent_probability=1.5)
    with pytest.raises(ValueError, match="not a district"):
        SimulationParams(district_weights={"09162": 1.0})
    with pytest.raises(ValueError, match="twelve values"):
        SimulationParams(opening_month_weights=(1.0, 2.0))


def test_equal_parameters_draw_alike_whatever_the_order_of_their_tables() -> None:
    one = SimulationParams(district_weights={"08337": 2, "08111": 1})
    two = SimulationParams(district_weights=[("08111", 1), ("08337", 2)])
    assert one == two
    a = simulate(100, seed=9, start=START, until=UNTIL, params=one)
    b = simulate(100, seed=9, start=START, until=UNTIL, params=two)
    assert histories(a) == histories(b)
    assert {case.district for case in a.cases} == {"08337", "08111"}
