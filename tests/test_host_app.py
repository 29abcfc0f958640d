"""The example host application, over real HTTP against a running server process.

The server is ``python -m uvicorn`` started as a subprocess on a free loopback port with
its own SQLite file; the client is httpx. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

APP_DIR = Path(__file__).resolve().parent.parent / "examples" / "host_app"
TODAY = "2026-01-15"  # the server's frozen clock: business dates below are before it
MANAGER = {
    "X-Actor": "im-17",
    "X-Role": "manager",
    "X-Provider": "caritas-waldshut",
    "X-District": "08337",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(workdir: Path, *, workers: int = 1) -> Iterator[str]:
    """Run the host application with uvicorn in a subprocess; yield its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "IMFLOW_HOST_DB": str(workdir / "cases.db"),
        "IMFLOW_HOST_TODAY": TODAY,
    }
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app:create_app",
                "--factory",
                "--app-dir",
                str(APP_DIR),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(server, url, log_path)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"the server exited: {log_path.read_text()}")
        with contextlib.suppress(httpx.TransportError):  # not listening yet
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not answer: {log_path.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("host_app")) as url:
        yield url


@pytest.fixture(scope="module")
def two_workers_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two server processes on one SQLite file: the store itself must detect the race."""
    with serve(tmp_path_factory.mktemp("host_app_2"), workers=2) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=MANAGER, timeout=30) as http:
        yield http


_counter = iter(range(1, 1_000_000))


def open_case(client: httpx.Client, **fields: Any) -> str:
    case_id = f"wt-{next(_counter)}"
    doc = {
        "type": "open_case",
        "case_id": case_id,
        "person": f"p-{case_id}",
        "district": "08337",
        "provider": "caritas-waldshut",
        "household": 3,
        "on": "2025-03-01",
        **fields,
    }
    answer = client.post("/cases", json=doc)
    assert answer.status_code == 201, answer.text
    assert answer.headers["ETag"] == '"1"'
    assert answer.headers["Location"] == f"/cases/{case_id}"
    return case_id


def send(
    client: httpx.Client, case_id: str, version: int, doc: dict[str, Any], **headers: str
) -> httpx.Response:
    return client.post(
        f"/cases/{case_id}/commands", json=doc, headers={"If-Match": f'"{version}"', **headers}
    )


def test_a_case_runs_from_opening_to_monitoring(client: httpx.Client) -> None:
    case_id = open_case(client)
    steps: list[dict[str, Any]] = [
        {"type": "record_consent", "on": "2025-03-01"},
        {"type": "record_contact", "on": "2025-03-01", "minutes": 45, "topics": ["housing"]},
        {"type": "start_assessment", "on": "2025-03-03"},
        {"type": "record_need", "on": "2025-03-03", "area": "language", "note": "A2"},
        {"type": "start_planning", "on": "2025-03-20"},
        {
            "type": "add_goal",
            "on": "2025-03-20",
            "goal_id": "b1",
            "area": "language",
            "description": "B1 certificate",
            "target_date": "2026-06-30",
        },
        {"type": "agree_plan", "on": "2025-04-01"},
    ]
    version = 1
    for doc in steps:
        answer = send(client, case_id, version, doc)
        assert answer.status_code == 200, answer.text
        version += 1
        assert answer.headers["ETag"] == f'"{version}"'
        assert answer.json()["version"] == version
    got = client.get(f"/cases/{case_id}")
    assert got.status_code == 200
    body = got.json()
    assert body["case"]["phase"] == "monitoring"
    assert [e["type"] for e in body["case"]["events"]][-1] == "plan_agreed"
    assert [e["seq"] for e in body["case"]["events"]] == list(range(1, version + 1))
    assert got.headers["ETag"] == f'"{version}"'


def test_a_rejected_command_answers_422_with_its_reason_codes(client: httpx.Client) -> None:
    case_id = open_case(client)
    answer = send(client, case_id, 1, {"type": "start_assessment", "on": "2025-03-02"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "rejected"
    assert body["command"] == "start_assessment"
    assert [r["code"] for r in body["reasons"]] == ["consent_missing"]
    assert body["reasons"][0]["message"].startswith("Die Einwilligung")  # German by default
    # every failing guard at once, in English when asked for
    many = send(
        client,
        case_id,
        1,
        {"type": "agree_plan", "on": "2024-01-01"},
        **{"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"},
    )
    assert many.status_code == 422
    codes = [r["code"] for r in many.json()["reasons"]]
    assert {"invalid_in_phase", "date_out_of_order", "consent_missing"} <= set(codes)
    assert many.json()["reasons"][0]["message"] == "“Agree plan” is not allowed in phase “Intake”."
    # nothing changed
    assert client.get(f"/cases/{case_id}").json()["version"] == 1


def race(
    clients: list[httpx.Client], case_id: str, version: int, round_: int
) -> list[httpx.Response]:
    """Every client sends a contact based on *version* at the same moment."""
    barrier = threading.Barrier(len(clients))
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one(http: httpx.Client, minutes: int) -> None:
        doc = {"type": "record_contact", "on": "2025-03-02", "minutes": minutes}
        barrier.wait()
        answer = send(http, case_id, version, doc)
        with lock:
            answers.append(answer)

    threads = [
        threading.Thread(target=one, args=(http, 10 + i + 2 * round_))
        for i, http in enumerate(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.parametrize("server", ["base_url", "two_workers_url"])
def test_two_clients_racing_on_one_version_one_gets_409(
    server: str, request: pytest.FixtureRequest
) -> None:
    base_url: str = request.getfixturevalue(server)
    with httpx.Client(base_url=base_url, headers=MANAGER, timeout=30) as setup:
        case_id = open_case(setup)
        assert send(setup, case_id, 1, {"type": "record_consent", "on": "2025-03-01"}).is_success
    version = 2
    clients = [httpx.Client(base_url=base_url, headers=MANAGER, timeout=30) for _ in range(2)]
    try:
        for round_ in range(5):
            answers = race(clients, case_id, version, round_)
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 409], [a.text for a in answers]
            lost = next(a for a in answers if a.status_code == 409).json()
            assert lost["error"] == "conflict"
            assert (lost["expected"], lost["actual"]) == (version, version + 1)
            version += 1
    finally:
        for http in clients:
            http.close()
    with httpx.Client(base_url=base_url, headers=MANAGER) as check:
        case = check.get(f"/cases/{case_id}").json()["case"]
    # exactly one contact per round, no event lost or duplicated
    assert [e["seq"] for e in case["events"]] == list(range(1, version + 1))
    assert len(case["contacts"]) == 5


def test_a_stale_version_answers_409_before_judging_the_command(client: httpx.Client) -> None:
    case_id = open_case(client)
    assert send(client, case_id, 1, {"type": "record_consent", "on": "2025-03-01"}).is_success
    stale = send(client, case_id, 1, {"type": "start_assessment", "on": "2025-03-02"})
    assert stale.status_code == 409
    assert (stale.json()["expected"], stale.json()["actual"]) == (1, 2)
    # ?expected_version= works for clients that cannot set If-Match
    fresh = client.post(
        f"/cases/{case_id}/commands",
        params={"expected_version": 2},
        json={"type": "start_assessment", "on": "2025-03-02"},
    )
    assert fresh.status_code == 200, fresh.text


def test_an_idempotency_key_makes_a_retry_harmless(client: httpx.Client) -> None:
    case_id = open_case(client)
    doc = {"type": "record_consent", "on": "2025-03-01"}
    first = send(client, case_id, 1, doc, **{"Idempotency-Key": f"{case_id}-consent"})
    again = send(client, case_id, 1, doc, **{"Idempotency-Key": f"{case_id}-consent"})
    assert first.status_code == again.status_code == 200
    assert first.json()["replayed"] is False and again.json()["replayed"] is True
    assert again.json()["version"] == 2
    assert client.get(f"/cases/{case_id}").json()["version"] == 2


def test_allowed_commands_with_reasons_in_german_and_english(client: httpx.Client) -> None:
    case_id = open_case(client)
    de = client.get(f"/cases/{case_id}/allowed", params={"lang": "de"})
    en = client.get(f"/cases/{case_id}/allowed", headers={"Accept-Language": "en"})
    assert de.status_code == en.status_code == 200
    assert de.headers["Content-Language"] == "de" and en.headers["Content-Language"] == "en"
    by_name = {row["command"]: row for row in de.json()["commands"]}
    assert by_name["record_consent"]["allowed"] is True
    assert by_name["start_assessment"]["label"] == "Bedarfsermittlung beginnen"
    assert [r["code"] for r in by_name["start_assessment"]["reasons"]] == ["consent_missing"]
    en_rows = {row["command"]: row for row in en.json()["commands"]}
    assert en_rows["start_assessment"]["reasons"][0]["message"].startswith("Consent")
    assert set(by_name) == set(en_rows)


def test_deadlines_of_a_case(client: httpx.Client) -> None:
    case_id = open_case(client, on="2025-11-01")
    answer = client.get(f"/cases/{case_id}/deadlines", params={"lang": "en"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["on"] == TODAY
    kinds = {d["kind"]: d for d in body["deadlines"]}
    assert kinds["consent_missing"]["severity"] == "overdue"  # 28 days after opening
    assert kinds["plan_due"]["due"] == "2026-01-31"
    assert kinds["plan_due"]["severity"] == "warning"
    later = client.get(f"/cases/{case_id}/deadlines", params={"on": "2028-09-01", "lang": "de"})
    assert {d["label"] for d in later.json()["deadlines"]} >= {"Ende des Beratungszeitraums"}


@pytest.mark.parametrize(
    ("body", "status", "error", "path"),
    [
        (b'{"type": "record_consent", "on": ', 400, "invalid_json", "$"),
        (b"[1, 2]", 400, "invalid_json", "$"),
        (b'{"type": "teleport", "on": "2025-03-02"}', 422, "invalid_document", "$.type"),
        (
            b'{"type": "record_need", "on": "2025-03-02", "area": "x"}',
            422,
            "invalid_document",
            "$.area",
        ),
        (b'{"type": "record_consent", "on": "2025-02-30"}', 422, "invalid_document", "$.on"),
        (b'{"type": "record_contact", "on": "2025-03-02"}', 422, "invalid_document", "$.minutes"),
    ],
)
def test_bad_documents_name_the_field(
    client: httpx.Client, body: bytes, status: int, error: str, path: str
) -> None:
    case_id = open_case(client)
    answer = client.post(
        f"/cases/{case_id}/commands",
        content=body,
        headers={"If-Match": '"1"', "Content-Type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert answer.json()["path"] == path
    assert client.get(f"/cases/{case_id}").json()["version"] == 1


def test_other_refusals(client: httpx.Client, base_url: str) -> None:
    case_id = open_case(client)
    doc = {"type": "record_consent", "on": "2025-03-01"}
    assert client.post(f"/cases/{case_id}/commands", json=doc).status_code == 428
    assert send(client, "no-such-case", 1, doc).status_code == 404
    assert client.get("/cases/no-such-case").status_code == 404
    with httpx.Client(base_url=base_url) as anonymous:
        assert send(anonymous, case_id, 1, doc).status_code == 401
    again = client.post(
        "/cases",
        json={
            "type": "open_case",
            "case_id": case_id,
            "person": "p-x",
            "district": "08337",
            "provider": "caritas-waldshut",
            "on": "2025-03-01",
        },
    )
    assert again.status_code == 409
    assert again.json()["expected"] == 0 and again.json()["actual"] == 1
    refused = client.post(
        "/cases",
        json={
            "type": "open_case",
            "case_id": "x-1",
            "person": "p-x",
            "district": "09162",
            "provider": "caritas-waldshut",
            "on": "2027-01-01",
        },
    )
    assert refused.status_code == 422
    codes = {r["code"] for r in refused.json()["reasons"]}
    assert codes == {"forbidden"}  # another district: nothing but "forbidden"
