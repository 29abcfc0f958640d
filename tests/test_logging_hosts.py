"""Quiet by default, easy to hear: imflow's logs in hosts that configured nothing,
the standard :mod:`logging` (also as Django's ``LOGGING`` dict) or structlog.

The subprocess tests run a fresh interpreter, where nothing is configured (the test
suite itself configures structlog as its host, see ``conftest.py``).
"""

from __future__ import annotations

import doctest
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from imflow.logging import LOGGER_NAME, info_logger
from tests.paths import ROOT
from tests.test_logging import SECRETS, run_a_case_with_personal_content

TUTORIAL = ROOT / "docs" / "tutorial" / "index.md"
DRIVER = ROOT / "tests" / "prompt_driver.py"

A_CASE = """
from datetime import date
from imflow import Actor, Engine, FrozenClock, Hooks, Role, commands as c
from imflow.events import CaseOpened

hooks = Hooks()

@hooks.on(CaseOpened)
def broken(event, case):
    raise RuntimeError("the mail server is down")

engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)), hooks=hooks)
im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
engine.open(c.OpenCase(case_id="wt-1", person="p-Ayşe", district="08337", provider="drk",
                       on=date(2025, 3, 3)), by=im)
"""


def fresh(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """*code* run by a fresh interpreter in *tmp_path*."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tutorial_in_a_fresh_prompt_prints_exactly_what_it_documents(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    ran = subprocess.run(
        [sys.executable, str(DRIVER), str(TUTORIAL), str(result)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")
    steps = json.loads(result.read_text(encoding="utf-8"))
    assert len(steps) > 30  # every block of the page ran
    checker = doctest.OutputChecker()
    for step in steps:
        assert checker.check_output(step["want"], step["got"], step["flags"]), (
            f"{step['source']}documented:\n{step['want']}printed:\n{step['got']}"
        )


def test_an_unconfigured_host_hears_nothing_not_even_a_failing_hook(tmp_path: Path) -> None:
    ran = fresh(A_CASE, tmp_path)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")


def test_a_django_style_logging_dict_shows_imflow_s_records_as_key_values(tmp_path: Path) -> None:
    ran = fresh(
        textwrap.dedent(
            """
        import logging.config
        logging.config.dictConfig({
            "version": 1,
            "formatters": {"plain": {"format": "%(name)s %(levelname)s %(message)s"}},
            "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain",
                                 "stream": "ext://sys.stdout"}},
            "loggers": {"imflow": {"handlers": ["out"], "level": "INFO"}},
        })
        """
        )
        + A_CASE,
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith(
        "imflow INFO command_accepted case_id='wt-1' command='open_case' phase_from=None"
        " phase_to='intake' version=1 duration_ms="
    )
    assert lines[1:] == [
        "imflow ERROR hook_failed hook='__main__.broken' event_type='case_opened'"
        " case_id='wt-1' seq=1"
    ]
    assert "Ayşe" not in ran.stdout + ran.stderr


def test_a_structlog_host_hears_imflow_through_structlog(tmp_path: Path) -> None:
    ran = fresh(
        textwrap.dedent(
            """
        import structlog
        structlog.configure(processors=[structlog.processors.KeyValueRenderer(
            key_order=["event", "case_id"])])
        """
        )
        + A_CASE,
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("event='command_accepted' case_id='wt-1' ")
    assert lines[1].startswith("event='hook_failed' case_id='wt-1' ")
    assert len(lines) == 2


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """structlog as a host that never configured it (the suite's conftest does)."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def stdlib_records(unconfigured_structlog: None) -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_stdlib_host_captures_imflow_s_records_with_their_keys(stdlib_records: Records) -> None:
    run_a_case_with_personal_content()
    records = stdlib_records.records
    assert {r.name for r in records} == {"imflow"}
    accepted = [r for r in records if r.imflow["event"] == "command_accepted"]  # type: ignore[attr-defined]
    assert [r.command for r in accepted][:3] == ["open_case", "record_consent", "start_assessment"]  # type: ignore[attr-defined]
    third: Any = accepted[2]
    assert (third.case_id, third.phase_from, third.phase_to) == ("ka-1", "intake", "assessment")
    assert third.levelno == logging.INFO
    assert third.getMessage().startswith(
        "command_accepted case_id='ka-1' command='start_assessment' phase_from='intake'"
    )
    rejected: Any = next(r for r in records if r.imflow["event"] == "command_rejected")  # type: ignore[attr-defined]
    assert rejected.reasons == ["note_missing"]
    text = " ".join(r.getMessage() + repr(r.__dict__) for r in records)
    for secret in SECRETS:
        assert secret not in text


def test_a_filtered_info_level_means_the_engine_assembles_no_log(
    unconfigured_structlog: None,
) -> None:
    """Nobody listens at INFO: the engine's INFO logger is ``None``, so no fields are built
    (the fresh-interpreter tests above show the unconfigured case)."""
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        assert info_logger(structlog.get_logger(LOGGER_NAME)) == (None, False)
    finally:
        logger.setLevel(level)


def test_a_stdlib_level_filter_is_heard_at_once_when_it_changes(stdlib_records: Records) -> None:
    """The standard-logging answer is never kept: a later ``setLevel`` takes effect."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.WARNING)
    run_a_case_with_personal_content()
    assert stdlib_records.records == []
    logger.setLevel(logging.INFO)
    run_a_case_with_personal_content()
    assert len(stdlib_records.records) == 10
