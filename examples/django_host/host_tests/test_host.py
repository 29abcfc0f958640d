"""The example host on Django: one transaction for the client and the case, the admin's
case histories without personal fields, the settings-driven engine.

Run by ``tests/test_django_example.py`` on SQLite and on PostgreSQL (``IMFLOW_DJANGO_DB``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from clients.models import Client
from clients.services import register
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client as Browser
from host.imflow_setup import DELIVERED

from imflow import Actor, CaseNotFound, FrozenClock, Role
from imflow import commands as c
from imflow.contrib.django import get_service, get_store, imflow_settings

HERE = Path(__file__).resolve().parent.parent
DAY = date(2025, 3, 3)
IM = Actor("im-17", Role.MANAGER, provider="caritas-wt", district="08337")
NAME, ADDRESS = "Ayşe Kaya", "Rheinstraße 4, 79761 Waldshut"


class Boom(Exception):
    """The host's failure before its commit."""


@pytest.fixture(autouse=True)
def fresh_hooks() -> None:
    DELIVERED.clear()


def assert_neither(case_id: str, person_ref: str) -> None:
    assert not Client.objects.filter(person_ref=person_ref).exists()
    with pytest.raises(CaseNotFound):
        get_store().load(case_id)
    assert get_store().outbox.count_pending() == 0


def test_the_engine_and_store_come_from_the_settings() -> None:
    assert imflow_settings()["RETRIES"] == 2
    assert isinstance(get_store().engine.clock, FrozenClock)
    assert get_store().engine.clock().date() == DAY
    assert get_service().retries == 2
    assert get_service() is get_service()


@pytest.mark.django_db(transaction=True)
def test_a_committed_registration_stores_both_and_delivers_once() -> None:
    case = register(case_id="wt-1", person_ref="p-1", name=NAME, address=ADDRESS, on=DAY, by=IM)
    assert case.version == 2
    assert Client.objects.get(person_ref="p-1").name == NAME
    assert get_store().load("wt-1") == case
    assert DELIVERED == [("wt-1", 1), ("wt-1", 2)]  # after the commit, once
    assert get_service().deliver().delivered == 0
    assert DELIVERED == [("wt-1", 1), ("wt-1", 2)]


@pytest.mark.django_db(transaction=True)
def test_an_exception_before_the_commit_stores_neither_and_caches_nothing() -> None:

    def doomed() -> None:
        with transaction.atomic():
            register(case_id="wt-2", person_ref="p-2", name=NAME, address=ADDRESS, on=DAY, by=IM)
            raise Boom

    with pytest.raises(Boom):
        doomed()
    assert_neither("wt-2", "p-2")
    assert DELIVERED == []  # the hooks of rolled-back events never run
    # another version 1 of the same case id: the rolled-back one was never cached
    service = get_service()
    opened = service.open(
        c.OpenCase(
            case_id="wt-2",
            person="p-other",
            district="08337",
            provider="caritas-wt",
            on=DAY,
            household=3,
        ),
        by=IM,
    )
    assert get_store().load("wt-2") == opened and opened.household == 3


@pytest.mark.django_db(transaction=True)
def test_a_host_killed_before_its_commit_stores_neither() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "host.settings",
        "IMFLOW_DJANGO_NAME": str(connection.settings_dict["NAME"]),
    }
    code = (
        "import os, signal, django\n"
        "from datetime import date\n"
        "django.setup()\n"
        "from django.db import transaction\n"
        "from clients.services import register\n"
        "from imflow import Actor, Role\n"
        "im = Actor('im-17', Role.MANAGER, provider='caritas-wt', district='08337')\n"
        "with transaction.atomic():\n"
        "    register(case_id='wt-3', person_ref='p-3', name='N', address='A',\n"
        "             on=date(2025, 3, 3), by=im)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=HERE, env=env, capture_output=True, timeout=120
    )
    assert ran.returncode == -signal.SIGKILL, ran.stderr
    assert_neither("wt-3", "p-3")
    assert DELIVERED == []


def history_page(live_server: Any, path: str) -> tuple[int, str]:
    """The admin page at *path*, fetched over real HTTP by a logged-in superuser."""
    user = User.objects.create_superuser("auditor", "auditor@example.org", "not-used")
    browser = Browser()
    browser.force_login(user)
    request = urllib.request.Request(
        live_server.url + path,
        headers={"Cookie": f"sessionid={browser.cookies['sessionid'].value}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode("utf-8")


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_a_case_history_with_no_personal_field(live_server: Any) -> None:
    service = get_service()
    register(case_id="wt-4", person_ref="p-Ayse-1984", name=NAME, address=ADDRESS, on=DAY, by=IM)
    service.handle("wt-4", c.StartAssessment(on=DAY), by=IM)
    service.handle("wt-4", c.RecordNeed(on=DAY, area="housing", note="lebt bei ihrer Tante"), by=IM)
    status, page = history_page(live_server, "/admin/imflow/caserecord/wt-4/change/")
    assert status == 200
    for shown in (
        "case_opened",
        "consent_recorded",
        "assessment_started",
        "need_recorded",
        "housing",
        "08337",
        "caritas-wt",
        "im-17",
    ):
        assert shown in page, shown
    for secret in ("p-Ayse-1984", "lebt bei ihrer Tante", NAME, ADDRESS, "Tante"):
        assert secret not in page, secret
    status, listing = history_page_again(live_server, "/admin/imflow/caserecord/")
    assert status == 200 and "wt-4" in listing and "p-Ayse-1984" not in listing


def history_page_again(live_server: Any, path: str) -> tuple[int, str]:
    user = User.objects.get(username="auditor")
    browser = Browser()
    browser.force_login(user)
    request = urllib.request.Request(
        live_server.url + path,
        headers={"Cookie": f"sessionid={browser.cookies['sessionid'].value}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode("utf-8")


@pytest.mark.django_db
def test_the_admin_never_changes_a_case() -> None:
    user = User.objects.create_superuser("boss", "boss@example.org", "not-used")
    browser = Browser()
    browser.force_login(user)
    assert browser.get("/admin/imflow/caserecord/add/").status_code == 403
    register(case_id="wt-5", person_ref="p-5", name=NAME, address=ADDRESS, on=DAY, by=IM)
    posted = browser.post("/admin/imflow/caserecord/wt-5/change/", {"phase": "closed"})
    assert posted.status_code == 403
    assert get_store().load("wt-5").phase == "intake"
    assert browser.get("/admin/imflow/caserecord/wt-5/delete/").status_code == 403
