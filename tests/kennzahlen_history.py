"""A hand-written event history of 17 cases for the key-figure tests, driven through the
real engine on a frozen clock, so every history is valid.

Reporting year 2026. Two districts: Waldshut (08337) with the providers ``drk-wt``
(1.5 FTE) and ``caritas-wt`` (0.5 FTE), and Stuttgart (08111) with ``awo-s``, whose
FTE is deliberately missing. Each case's comment says which edge case it covers; the
expected figures are written out by hand in ``tests/test_kennzahlen.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.erasure import tombstone
from imflow.events import Event, PersonErased

__all__ = ["CLOCK_DAY", "STAFFING", "YEAR", "erased", "hand_history", "story"]

YEAR = 2026
CLOCK_DAY = date(2027, 3, 1)  # after every event, so no business date is in the future
STAFFING = {("08337", "drk-wt"): "1.5", ("08337", "caritas-wt"): "0.5"}  # awo-s: missing

WT, S = "08337", "08111"
ENGINE = Engine(clock=FrozenClock.on(CLOCK_DAY))


class story:  # noqa: N801 - reads as a sentence: story(...).then(...)
    """One case, driven command by command through the engine."""

    def __init__(
        self,
        case_id: str,
        opened: date,
        *,
        district: str = WT,
        provider: str = "drk-wt",
        household: int = 1,
        members: tuple[str, ...] = (),
    ) -> None:
        self.by = Actor(f"im-{provider}", Role.MANAGER, provider=provider, district=district)
        self.case: Case = ENGINE.open(
            c.OpenCase(
                case_id=case_id,
                person=f"p-{case_id}",
                district=district,
                provider=provider,
                household=household,
                members=members,
                on=opened,
            ),
            by=self.by,
        )

    def then(self, *commands: c.Command) -> story:
        for cmd in commands:
            self.case = ENGINE.handle(self.case, cmd, by=self.by)
        return self

    # short spellings of the commands, so the history reads like a case file
    def consent(self, on: date) -> story:
        return self.then(c.RecordConsent(on=on))

    def contact(self, on: date, minutes: int) -> story:
        return self.then(c.RecordContact(on=on, minutes=minutes))

    def assess(self, on: date, area: str) -> story:
        return self.then(c.StartAssessment(on=on), c.RecordNeed(on=on, area=area))

    def plan(self, on: date, *goals: tuple[str, str, date]) -> story:
        self.then(c.StartPlanning(on=on))
        for goal_id, area, target in goals:
            self.then(
                c.AddGoal(on=on, goal_id=goal_id, area=area, description="Ziel", target_date=target)
            )
        return self

    def agree(self, on: date) -> story:
        return self.then(c.AgreePlan(on=on))

    def status(self, on: date, goal_id: str, status: str) -> story:
        return self.then(c.SetGoalStatus(on=on, goal_id=goal_id, status=status))

    def close(self, on: date, reason: str) -> story:
        return self.then(c.CloseCase(on=on, reason=reason))

    def reopen(self, on: date) -> story:
        return self.then(c.ReopenCase(on=on))

    def extend(self, on: date, months: int) -> story:
        return self.then(c.ExtendPeriod(on=on, months=months, justification="Ausbildung"))

    @property
    def events(self) -> tuple[Event, ...]:
        return self.case.events[:]


def d(text: str) -> date:
    return date.fromisoformat(text)


def erased(events: tuple[Event, ...], on: date) -> tuple[Event, ...]:
    """The case's events after a DSGVO erasure: tombstoned, plus a PersonErased event."""
    last = events[-1]
    marker = PersonErased(
        case_id=last.case_id,
        seq=last.seq + 1,
        on=on,
        recorded_at=datetime.combine(CLOCK_DAY, datetime.min.time(), tzinfo=UTC),
        actor=SYSTEM,
    )
    return (*(tombstone(e) for e in events), marker)


def hand_history(*, erase: bool = True) -> dict[str, tuple[Event, ...]]:
    """The 17 cases by id (``wt-06`` erased unless *erase* is false)."""
    s: dict[str, story] = {}
    # wt-01: open on 01.01.2026 (opened 2025), goal achieved and closed in 2026
    s["wt-01"] = (
        story("wt-01", d("2025-03-02"))
        .consent(d("2025-03-02"))
        .assess(d("2025-03-02"), "language")
        .plan(d("2025-03-20"), ("g1", "language", d("2026-06-30")))
        .agree(d("2025-04-15"))
        .contact(d("2026-01-10"), 60)
        .contact(d("2026-02-10"), 30)
        .status(d("2026-05-04"), "g1", "achieved")
        .close(d("2026-05-04"), "goals_achieved")
    )
    # wt-02: a household of five, opened in November, open on 31 December
    s["wt-02"] = (
        story("wt-02", d("2026-11-20"), household=5, members=("m1", "m2", "m3", "m4"))
        .consent(d("2026-11-20"))
        .contact(d("2026-12-31"), 45)
    )
    # wt-03: closed in 2025, reopened in 2026, new plan agreed, open at year end
    s["wt-03"] = (
        story("wt-03", d("2025-09-01"))
        .consent(d("2025-09-01"))
        .then(c.StartAssessment(on=d("2025-09-01")))
        .close(d("2025-12-15"), "moved_away")
        .reopen(d("2026-02-01"))
        .contact(d("2026-02-01"), 20)
        .then(c.RecordNeed(on=d("2026-02-05"), area="work"))
        .plan(d("2026-02-05"), ("g1", "work", d("2027-06-30")))
        .agree(d("2026-02-20"))
    )
    # wt-04: closed, reopened and closed again within 2026 (counts once, last reason)
    s["wt-04"] = (
        story("wt-04", d("2026-01-05"))
        .consent(d("2026-01-05"))
        .contact(d("2026-01-05"), 60)
        .close(d("2026-02-01"), "client_request")
        .reopen(d("2026-03-01"))
        .close(d("2026-06-30"), "no_contact")
    )
    # wt-05: plan on time, closed and reopened in 2026, plan agreed again, open at end
    s["wt-05"] = (
        story("wt-05", d("2026-02-02"))
        .consent(d("2026-02-02"))
        .assess(d("2026-02-02"), "housing")
        .plan(d("2026-02-03"), ("g1", "housing", d("2026-12-31")))
        .agree(d("2026-03-15"))
        .close(d("2026-06-01"), "handed_over")
        .reopen(d("2026-07-01"))
        .then(c.StartPlanning(on=d("2026-07-02")))
        .agree(d("2026-07-03"))
        .status(d("2026-10-01"), "g1", "partly_achieved")
    )
    # wt-06: a household of two, goal achieved, closed; the person is erased afterwards
    s["wt-06"] = (
        story("wt-06", d("2026-03-02"), household=2, members=("m-x",))
        .consent(d("2026-03-02"))
        .contact(d("2026-03-02"), 90)
        .assess(d("2026-03-02"), "language")
        .plan(d("2026-03-10"), ("g1", "language", d("2027-01-31")))
        .agree(d("2026-04-10"))
        .status(d("2026-09-01"), "g1", "achieved")
        .close(d("2026-09-01"), "goals_achieved")
    )
    # wt-07: period (vwv-2023, 36 months) ended 2026-07-02 and the case is still open
    s["wt-07"] = (
        story("wt-07", d("2023-07-03"))
        .consent(d("2023-07-03"))
        .contact(d("2023-07-03"), 45)
        .contact(d("2026-03-01"), 30)
    )
    # wt-08: two extensions in 2026 (6 + 3 months); a goal achieved in 2025 (not counted)
    s["wt-08"] = (
        story("wt-08", d("2023-08-01"), provider="caritas-wt")
        .consent(d("2023-08-01"))
        .assess(d("2023-08-01"), "vocational_training")
        .plan(
            d("2023-09-01"),
            ("g1", "vocational_training", d("2026-07-31")),
            ("g2", "language", d("2024-12-31")),
        )
        .agree(d("2023-09-15"))
        .status(d("2025-05-01"), "g2", "achieved")
        .extend(d("2026-06-15"), 6)
        .extend(d("2026-07-01"), 3)
        .contact(d("2026-07-10"), 120)
        .status(d("2026-08-01"), "g1", "not_achieved")
    )
    # wt-09: a household of three, closed as period_expired the day after its period
    s["wt-09"] = (
        story("wt-09", d("2023-06-06"), provider="caritas-wt", household=3, members=("a", "b"))
        .consent(d("2023-06-06"))
        .close(d("2026-06-06"), "period_expired")
    )
    # wt-10: vwv-2018 (no period limit, plan voluntary), open for years
    s["wt-10"] = (
        story("wt-10", d("2023-03-01"), provider="caritas-wt")
        .consent(d("2023-03-01"))
        .contact(d("2026-04-01"), 15)
    )
    # s-11: Stuttgart, provider without FTE; plan agreed after its deadline (2026-12-14)
    s["s-11"] = (
        story("s-11", d("2026-09-15"), district=S, provider="awo-s")
        .consent(d("2026-09-15"))
        .contact(d("2026-09-15"), 60)
        .assess(d("2026-09-15"), "health")
        .plan(
            d("2026-10-01"),
            ("g1", "health", d("2027-09-01")),
            ("g2", "participation", d("2027-09-01")),
        )
        .agree(d("2026-12-20"))
    )
    # s-12: opened and closed in 2025: not active in 2026
    s["s-12"] = (
        story("s-12", d("2025-01-10"), district=S, provider="awo-s")
        .consent(d("2025-01-10"))
        .close(d("2025-05-01"), "moved_away")
    )
    # wt-13: closed in 2026, reopened in 2027 (events after 31.12.2026 do not exist)
    s["wt-13"] = (
        story("wt-13", d("2026-04-01"))
        .consent(d("2026-04-01"))
        .close(d("2026-10-01"), "no_contact")
        .reopen(d("2027-01-10"))
        .contact(d("2027-01-10"), 30)
    )
    # wt-14: opened after the reporting year
    s["wt-14"] = story("wt-14", d("2027-01-05"))
    # wt-15: closed on 1 January 2026: active in 2026
    s["wt-15"] = (
        story("wt-15", d("2025-10-01"))
        .consent(d("2025-10-01"))
        .close(d("2026-01-01"), "client_request")
    )
    # wt-16: consent withdrawn while in monitoring; one goal dropped
    s["wt-16"] = (
        story("wt-16", d("2026-05-04"))
        .consent(d("2026-05-04"))
        .assess(d("2026-05-04"), "school")
        .plan(
            d("2026-05-04"),
            ("g1", "school", d("2027-05-01")),
            ("g2", "housing", d("2027-05-01")),
        )
        .agree(d("2026-06-01"))
        .status(d("2026-10-01"), "g2", "dropped")
        .then(c.WithdrawConsent(on=d("2026-11-02")))
    )
    # wt-17: opened in November 2025, plan deadline 2026-02-09, plan agreed 2026-01-20
    s["wt-17"] = (
        story("wt-17", d("2025-11-10"))
        .consent(d("2025-11-10"))
        .contact(d("2025-11-10"), 40)
        .assess(d("2025-11-10"), "other")
        .plan(d("2025-11-20"), ("g1", "other", d("2027-06-30")))
        .agree(d("2026-01-20"))
        .contact(d("2026-01-20"), 50)
    )
    history = {case_id: st.events for case_id, st in s.items()}
    if erase:
        history["wt-06"] = erased(history["wt-06"], d("2026-12-01"))
    return history
