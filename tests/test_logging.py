"""Structured logs: every command is logged, nothing personal is."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
import structlog
from structlog.testing import capture_logs

from imflow import Actor, Engine, FrozenClock, Rejected, Role
from imflow import commands as c
from imflow.logging import PERSONAL_KEYS, redact_personal_data

SECRETS = ("p-Ayşe-1984", "Flucht über Libyen", "lives with her aunt", "needs Kita near Rheinstr")
MANAGER = Actor("im-2", Role.MANAGER, provider="stadt-ka", district="08212")
D = date(2025, 5, 5)


def run_a_case_with_personal_content() -> None:
    engine = Engine(clock=FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)))
    case = engine.open(
        c.OpenCase(
            case_id="ka-1",
            person=SECRETS[0],
            district="08212",
            provider="stadt-ka",
            household=2,
            members=(SECRETS[1],),
            on=D,
        ),
        by=MANAGER,
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area="housing", note=SECRETS[2]),
        c.StartPlanning(on=D),
        c.AddGoal(
            goal_id="g1",
            area="childcare",
            description=SECRETS[3],
            target_date=date(2025, 9, 1),
            on=D,
        ),
        c.AgreePlan(on=D),
        c.ReviewPlan(on=D, note=SECRETS[2]),
    ):
        case = engine.handle(case, cmd, by=MANAGER)
    with pytest.raises(Rejected):
        engine.handle(case, c.CloseCase(reason="other", note="", on=D), by=MANAGER)
    engine.handle(case, c.CloseCase(reason="other", note=SECRETS[2], on=D), by=MANAGER)


def test_every_command_is_logged_with_its_outcome() -> None:
    with capture_logs() as logs:
        run_a_case_with_personal_content()
    accepted = [e for e in logs if e["event"] == "command_accepted"]
    rejected = [e for e in logs if e["event"] == "command_rejected"]
    assert [e["command"] for e in accepted] == [
        "open_case",
        "record_consent",
        "start_assessment",
        "record_need",
        "start_planning",
        "add_goal",
        "agree_plan",
        "review_plan",
        "close_case",
    ]
    assert accepted[2]["phase_from"] == "intake"
    assert accepted[2]["phase_to"] == "assessment"
    assert all(e["case_id"] == "ka-1" for e in accepted)
    for entry in accepted + rejected:  # a measured time in milliseconds, not asserted upon
        duration = entry.pop("duration_ms")
        assert isinstance(duration, float) and math.isfinite(duration) and duration >= 0
    assert rejected == [
        {
            "event": "command_rejected",
            "log_level": "info",
            "case_id": "ka-1",
            "command": "close_case",
            "phase": "monitoring",
            "reasons": ["note_missing"],
        }
    ]


def test_no_personal_data_is_logged_by_default() -> None:
    with capture_logs() as logs:
        run_a_case_with_personal_content()
    assert logs
    text = repr(logs)
    for secret in SECRETS:
        assert secret not in text
    assert not any(PERSONAL_KEYS & set(e) for e in logs)


def test_the_redaction_processor_in_a_host_chain() -> None:
    with capture_logs(processors=[redact_personal_data]) as logs:
        log = structlog.get_logger("host")
        log.info(
            "called",
            person=SECRETS[0],
            case_id="ka-1",
            payload={
                "note": SECRETS[2],
                "minutes": 20,
                "goals": [{"description": SECRETS[3], "area": "childcare"}],
            },
        )
    assert logs == [
        {
            "event": "called",
            "log_level": "info",
            "case_id": "ka-1",
            "payload": {"minutes": 20, "goals": [{"area": "childcare"}]},
        }
    ]


class _Collect:
    """A structlog logger factory product that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def msg(self, message: str) -> None:
        self.lines.append(message)

    info = warning = error = msg


@pytest.mark.parametrize("level", ["INFO", "WARNING"])
def test_a_host_s_cached_filtering_logger_is_honoured(level: str) -> None:
    """With ``cache_logger_on_first_use`` and a level filter (a production set-up), the
    engine logs what the level lets through, and only that."""
    import logging

    sink = _Collect()
    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=lambda *args: sink,
        cache_logger_on_first_use=True,
    )
    try:
        run_a_case_with_personal_content()
    finally:
        structlog.configure(**saved)
    if level == "INFO":
        assert sum('"command_accepted"' in line for line in sink.lines) == 9
        assert sum('"command_rejected"' in line for line in sink.lines) == 1
        assert not any(secret in line for line in sink.lines for secret in SECRETS)
    else:
        assert sink.lines == []


def test_an_uncached_configuration_is_read_again_on_every_command() -> None:
    engine = Engine(clock=FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)))
    opening = c.OpenCase(case_id="ka-2", person="p", district="08212", provider="stadt-ka", on=D)
    engine.open(opening, by=MANAGER)  # resolved under the tests' quiet configuration
    with capture_logs() as logs:
        engine.open(opening, by=MANAGER)
    assert [entry["event"] for entry in logs] == ["command_accepted"]
