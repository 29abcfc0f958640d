"""CaseMachine: the stateful test that hosts subclass, run on imflow itself and on a host
hook with a planted bug that it must find."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from imflow import Hooks, Workflow
from imflow.case import Case
from imflow.events import CaseClosed, CaseOpened, CaseReopened
from imflow.testing import CaseMachine
from tests.paths import WALDSHUT_TOML

SETTINGS = settings(
    max_examples=25,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_case_machine_holds_on_the_default_workflow() -> None:
    run_state_machine_as_test(CaseMachine, settings=SETTINGS)


class VoluntaryPlanMachine(CaseMachine):
    """Cases opened under vwv-2018: no period limit, plans voluntary, later migrations."""

    start = date(2018, 3, 1)
    opening_days = 1500


def test_case_machine_holds_under_the_2018_rules() -> None:
    run_state_machine_as_test(VoluntaryPlanMachine, settings=SETTINGS)


PAUSED = WALDSHUT_TOML.read_text(encoding="utf-8")


class PausedVariantMachine(CaseMachine):
    """A district variant with a ``paused`` phase, plugged in as a class attribute."""

    workflow = Workflow.from_toml(PAUSED)
    max_cases = 2


def test_case_machine_runs_a_district_variant() -> None:
    run_state_machine_as_test(PausedVariantMachine, settings=SETTINGS)


class OpenCaseCounter(CaseMachine):
    """A host's read model kept up to date by hooks: the ids of the open cases.

    The planted bug: the hook forgets that a closed case can be reopened.
    """

    def make_hooks(self) -> Hooks:
        self.open_ids: set[str] = set()
        hooks = Hooks()

        @hooks.on(CaseOpened)
        def opened(event: CaseOpened, case: Case) -> None:
            self.open_ids.add(event.case_id)

        @hooks.on(CaseClosed)
        def closed(event: CaseClosed, case: Case) -> None:
            self.open_ids.discard(event.case_id)

        return hooks

    @invariant()
    def read_model_matches(self) -> None:
        actual = {case_id for case_id, case in self.cases.items() if case.is_open}
        assert self.open_ids == actual, (
            f"open-case read model is stale for {actual ^ self.open_ids}"
        )


class FixedOpenCaseCounter(OpenCaseCounter):
    def make_hooks(self) -> Hooks:
        hooks = super().make_hooks()

        @hooks.on(CaseReopened)
        def reopened(event: CaseReopened, case: Case) -> None:
            self.open_ids.add(event.case_id)

        return hooks


def test_case_machine_finds_the_planted_bug_in_a_host_hook() -> None:
    with pytest.raises(AssertionError, match="open-case read model is stale") as failure:
        run_state_machine_as_test(
            OpenCaseCounter,
            # no shrinking: finding the bug is the point, a minimal story costs seconds more
            settings=settings(
                SETTINGS,
                max_examples=300,
                stateful_step_count=30,
                phases=[Phase.generate],
                derandomize=True,  # the same search every run: no flaky bug hunt
            ),
        )
    # the failing example hypothesis reports is a story that reopens a closed case
    story = "\n".join(getattr(failure.value, "__notes__", [])).lower()
    assert "state.open_case(" in story
    assert "reopen" in story


def test_the_fixed_hook_passes() -> None:
    run_state_machine_as_test(FixedOpenCaseCounter, settings=SETTINGS)


class RaisingHook(CaseMachine):
    """A hook that raises is never allowed to break a case, but the machine reports it."""

    def make_hooks(self) -> Hooks:
        hooks = Hooks()

        @hooks.on(CaseClosed)
        def notify(event: CaseClosed, case: Case) -> None:
            if event.reason.value == "moved_away":
                raise RuntimeError("the district's mail server is down")

        return hooks


def test_case_machine_reports_a_hook_that_raises() -> None:
    with pytest.raises(AssertionError, match="a hook raised"):
        run_state_machine_as_test(
            RaisingHook,
            settings=settings(
                SETTINGS,
                max_examples=300,
                stateful_step_count=30,
                phases=[Phase.generate],
                derandomize=True,  # the same search every run: no flaky bug hunt
            ),
        )
