"""The example host application, over real HTTP against a running server process.

The server is ``python -m uvicorn`` started as a subprocess on a free loopback port with
its own SQLite file and a token key generated for the run; the client is httpx. Nothing
is mocked. The first half is the application doing its work; the second half attacks it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi

APP_DIR = Path(__file__).resolve().parent.parent / "examples" / "host_app"
sys.path.insert(0, str(APP_DIR))
from host_auth import mint_token  # noqa: E402

TODAY = "2026-01-15"  # the server's frozen clock: business dates below are before it
KEY = secrets.token_urlsafe(32)
ISSUER, AUDIENCE = "imflow-host-login", "imflow-host"
PROVIDER, DISTRICT = "caritas-waldshut", "08337"
MARKER = "p-MARKER-7f3a"  # a person reference that must never reach another tenant
NOTE = "HIV-positiv MARKER-note"  # a free text, personal data


def token(role: str = "manager", **claims: Any) -> str:
    """A valid token: a manager of caritas-waldshut in Waldshut unless told otherwise."""
    fields: dict[str, Any] = {"subject": "im-17", "role": role}
    if role == "manager":
        fields |= {"provider": PROVIDER, "district": DISTRICT}
    elif role == "coordinator":
        fields |= {"district": DISTRICT}
    fields |= claims
    return mint_token(KEY, issuer=ISSUER, audience=AUDIENCE, **fields)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


MANAGER = bearer(token())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    db: Path
    log: Path

    def events(self) -> int:
        """How many events the server's database holds (read beside the server)."""
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            (n,) = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(n)

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@contextlib.contextmanager
def serve(workdir: Path, *, workers: int = 1) -> Iterator[Server]:
    """Run the host application with uvicorn in a subprocess; yield where it listens."""
    env = {
        "IMFLOW_HOST_DB": str(workdir / "cases.db"),
        "IMFLOW_HOST_TODAY": TODAY,
        "IMFLOW_HOST_TOKEN_KEY": KEY,
    }
    args = ["app:create_app", "--factory", "--app-dir", str(APP_DIR), "--workers", str(workers)]
    with uvicorn(args, workdir, env) as url:
        yield Server(url, workdir / "cases.db", workdir / "server.log")


_PORT_ATTEMPTS = 5


@contextlib.contextmanager
def uvicorn(args: list[str], workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """``python -m uvicorn *args*`` on a free loopback port, its output in
    ``workdir/server.log``; yield its URL. The port is free when picked but another
    process may take it before uvicorn binds it: then a new port, a few times."""
    log_path = workdir / "server.log"
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1",
                    "--port", str(port), "--log-level", "warning",
                ],
                cwd=workdir, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            try:
                if not _wait_until_up(server, url, log_path):
                    continue  # the port was taken meanwhile
                yield url
                return
            finally:
                _stop(server)
    pytest.fail(f"no free port in {_PORT_ATTEMPTS} attempts: {log_path.read_text()}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    """Whether the server answers at *url*; false when it exited because its port was
    taken; a failed test when it exited otherwise or never answered."""
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            log = log_path.read_text()
            if "address already in use" in log.lower():
                return False
            pytest.fail(f"the server exited: {log}")
        with contextlib.suppress(httpx.TransportError):  # not listening yet
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return True
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not answer: {log_path.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("host_app")) as running:
        yield running
    # after every test of the module: no traceback, no personal value in the server log
    log = running.log.read_text()
    assert "Traceback" not in log and "request_failed" not in log, log[-3000:]
    assert "MARKER" not in log


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two server processes on one SQLite file: the store itself must detect the race."""
    with serve(tmp_path_factory.mktemp("host_app_2"), workers=2) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client(MANAGER) as http:
        yield http


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{server.url}/openapi.json").json()
    return document


def conforms(openapi: dict[str, Any], schema: str, body: Any) -> None:
    """*body* validates against the component *schema* of the application's document."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": openapi["components"]}
    jsonschema.Draft202012Validator(root).validate(body)


_counter = iter(range(1, 1_000_000))


def open_case(client: httpx.Client, **fields: Any) -> str:
    case_id = f"wt-{next(_counter)}"
    doc = {
        "type": "open_case",
        "case_id": case_id,
        "person": MARKER,
        "district": DISTRICT,
        "provider": PROVIDER,
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


def worked_case(client: httpx.Client) -> str:
    """A case in assessment with a need whose note is personal data."""
    case_id = open_case(client)
    for version, doc in enumerate(
        [
            {"type": "record_consent", "on": "2025-03-01"},
            {"type": "start_assessment", "on": "2025-03-03"},
            {"type": "record_need", "on": "2025-03-03", "area": "health", "note": NOTE},
        ],
        start=1,
    ):
        assert send(client, case_id, version, doc).status_code == 200
    return case_id


# -- the application at work --------------------------------------------------------------


def test_a_case_runs_from_opening_to_monitoring(client: httpx.Client, openapi: Any) -> None:
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
        conforms(openapi, "CaseAnswer", answer.json())
    got = client.get(f"/cases/{case_id}")
    assert got.status_code == 200
    body = got.json()
    conforms(openapi, "CaseAnswer", body)
    assert body["case"]["phase"] == "monitoring"
    assert [e["type"] for e in body["case"]["events"]][-1] == "plan_agreed"
    assert [e["seq"] for e in body["case"]["events"]] == list(range(1, version + 1))
    assert body["case"]["events"][0]["person"] == MARKER  # its own manager sees it all
    assert got.headers["ETag"] == f'"{version}"'


def test_a_rejected_command_answers_422_with_its_reason_codes(
    client: httpx.Client, openapi: Any
) -> None:
    case_id = open_case(client)
    answer = send(client, case_id, 1, {"type": "start_assessment", "on": "2025-03-02"})
    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    body = answer.json()
    conforms(openapi, "Problem", body)
    assert body["error"] == "rejected" and body["status"] == 422
    assert body["command"] == "start_assessment"
    assert [r["code"] for r in body["reasons"]] == ["consent_missing"]
    assert body["reasons"][0]["message"].startswith("Die Einwilligung")  # German by default
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


@pytest.mark.parametrize("which", ["server", "two_workers"])
def test_two_clients_racing_on_one_version_one_gets_412(
    which: str, request: pytest.FixtureRequest
) -> None:
    running: Server = request.getfixturevalue(which)
    with running.client(MANAGER) as setup:
        case_id = open_case(setup)
        assert send(setup, case_id, 1, {"type": "record_consent", "on": "2025-03-01"}).is_success
    version = 2
    clients = [running.client(MANAGER) for _ in range(2)]
    try:
        for round_ in range(5):
            answers = race(clients, case_id, version, round_)
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 412], [a.text for a in answers]
            lost = next(a for a in answers if a.status_code == 412).json()
            assert lost["error"] == "version_mismatch"
            assert (lost["expected"], lost["actual"]) == (version, version + 1)
            version += 1
    finally:
        for http in clients:
            http.close()
    with running.client(MANAGER) as check:
        case = check.get(f"/cases/{case_id}").json()["case"]
    # exactly one contact per round, no event lost or duplicated
    assert [e["seq"] for e in case["events"]] == list(range(1, version + 1))
    assert sum(e["type"] == "contact_recorded" for e in case["events"]) == 5


def test_a_stale_version_answers_412_before_judging_the_command(client: httpx.Client) -> None:
    case_id = open_case(client)
    assert send(client, case_id, 1, {"type": "record_consent", "on": "2025-03-01"}).is_success
    stale = send(client, case_id, 1, {"type": "start_assessment", "on": "2025-03-02"})
    assert stale.status_code == 412
    assert (stale.json()["expected"], stale.json()["actual"]) == (1, 2)
    fresh = client.post(
        f"/cases/{case_id}/commands",
        params={"expected_version": 2},
        json={"type": "start_assessment", "on": "2025-03-02"},
    )
    assert fresh.status_code == 200, fresh.text


def test_an_idempotency_key_makes_a_retry_harmless(client: httpx.Client, server: Server) -> None:
    case_id = open_case(client)
    doc = {"type": "record_consent", "on": "2025-03-01"}
    key = {"Idempotency-Key": f"{case_id}-consent"}
    first = send(client, case_id, 1, doc, **key)
    before = server.events()
    again = send(client, case_id, 1, doc, **key)  # the same If-Match: the retry is exact
    assert first.status_code == again.status_code == 200
    assert first.json()["replayed"] is False and again.json()["replayed"] is True
    assert again.json()["version"] == 2 and server.events() == before
    # the key for another command: refused, nothing about its first use told
    other = send(client, case_id, 2, {"type": "withdraw_consent", "on": "2025-03-02"}, **key)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert case_id not in other.text and server.events() == before
    opening = {"type": "open_case", "case_id": "wt-key", "person": "p", "district": DISTRICT,
               "provider": PROVIDER, "on": "2025-03-01"}  # fmt: skip
    made = client.post("/cases", json=opening, headers={"Idempotency-Key": "open-wt-key"})
    retry = client.post("/cases", json=opening, headers={"Idempotency-Key": "open-wt-key"})
    assert (made.status_code, retry.status_code) == (201, 200)
    assert retry.json()["replayed"] is True and retry.headers["Location"] == "/cases/wt-key"


def test_allowed_commands_with_reasons_in_german_and_english(
    client: httpx.Client, openapi: Any
) -> None:
    case_id = open_case(client)
    de = client.get(f"/cases/{case_id}/allowed", params={"lang": "de"})
    en = client.get(f"/cases/{case_id}/allowed", headers={"Accept-Language": "en"})
    assert de.status_code == en.status_code == 200
    conforms(openapi, "AllowedAnswer", de.json())
    assert de.headers["Content-Language"] == "de" and en.headers["Content-Language"] == "en"
    by_name = {row["command"]: row for row in de.json()["commands"]}
    assert by_name["record_consent"]["allowed"] is True
    assert by_name["start_assessment"]["label"] == "Bedarfsermittlung beginnen"
    assert [r["code"] for r in by_name["start_assessment"]["reasons"]] == ["consent_missing"]
    en_rows = {row["command"]: row for row in en.json()["commands"]}
    assert en_rows["start_assessment"]["reasons"][0]["message"].startswith("Consent")
    assert set(by_name) == set(en_rows)


def test_deadlines_of_a_case(client: httpx.Client, openapi: Any) -> None:
    case_id = open_case(client, on="2025-11-01")
    answer = client.get(f"/cases/{case_id}/deadlines", params={"lang": "en"})
    assert answer.status_code == 200
    conforms(openapi, "DeadlinesAnswer", answer.json())
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
        (b'{"type": "record_consent", "on": ', 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_json", None),
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
    client: httpx.Client, body: bytes, status: int, error: str, path: str | None
) -> None:
    case_id = open_case(client)
    answer = client.post(
        f"/cases/{case_id}/commands",
        content=body,
        headers={"If-Match": '"1"', "Content-Type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert answer.json().get("path") == path
    assert client.get(f"/cases/{case_id}").json()["version"] == 1


def test_other_refusals(client: httpx.Client) -> None:
    case_id = open_case(client)
    doc = {"type": "record_consent", "on": "2025-03-01"}
    assert client.post(f"/cases/{case_id}/commands", json=doc).status_code == 428
    assert send(client, "no-such-case", 1, doc).status_code == 404
    assert client.get("/cases/no-such-case").status_code == 404
    opening = {"type": "open_case", "case_id": case_id, "person": "p-x", "district": DISTRICT,
               "provider": PROVIDER, "on": "2025-03-01"}  # fmt: skip
    again = client.post("/cases", json=opening)
    assert again.status_code == 409 and again.json()["error"] == "case_exists"
    elsewhere = client.post(
        "/cases", json={**opening, "case_id": "x-1", "district": "09162", "on": "2025-06-01"}
    )
    assert elsewhere.status_code == 403
    assert {r["code"] for r in elsewhere.json()["reasons"]} == {"forbidden"}
    as_form = client.post(f"/cases/{case_id}/commands", content=b"on=2025-03-01",
                          headers={"If-Match": '"1"', "Content-Type": "text/plain"})  # fmt: skip
    assert as_form.status_code == 415


# -- authentication: every route, every kind of bad token -------------------------------------


def forged(kind: str) -> dict[str, str]:
    """The Authorization header of a token that must not be accepted."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "subject": "im-17",
        "role": "manager",
        "provider": PROVIDER,
        "district": DISTRICT,
    }
    if kind == "none":
        return {}
    if kind == "basic":
        return {"Authorization": "Basic aW0tMTc6c2VjcmV0"}
    if kind == "garbage":
        return bearer("not.a.token")
    if kind == "wrong key":
        return bearer(mint_token(secrets.token_urlsafe(32), issuer=ISSUER, audience=AUDIENCE,
                                 **claims))  # fmt: skip
    if kind == "alg none":
        # made by hand, as an attacker would: header and claims, no signature
        def part(doc: dict[str, object]) -> str:
            raw = json.dumps(doc, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        claims = {"sub": "im-17", "role": "manager", "provider": PROVIDER, "district": DISTRICT,
                  "iss": ISSUER, "aud": AUDIENCE, "iat": int(now.timestamp()),
                  "exp": int((now + timedelta(hours=1)).timestamp())}  # fmt: skip
        return bearer(f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.")
    if kind == "expired":
        return bearer(token(now=now - timedelta(hours=2), lifetime=timedelta(minutes=5)))
    if kind == "not yet valid":
        return bearer(token(extra={"nbf": now + timedelta(hours=1)}))
    if kind == "wrong audience":
        return bearer(mint_token(KEY, issuer=ISSUER, audience="another-service", **claims))
    if kind == "wrong issuer":
        return bearer(mint_token(KEY, issuer="https://evil.example", audience=AUDIENCE, **claims))
    if kind == "HS512 instead of HS256":
        return bearer(mint_token(KEY + KEY, issuer=ISSUER, audience=AUDIENCE, algorithm="HS512",
                                 **claims))  # fmt: skip
    if kind == "manager without provider":
        return bearer(token(provider=None))
    if kind == "numeric subject":
        return bearer(token(extra={"sub": 17}))
    raise AssertionError(kind)


FORGED = ["none", "basic", "garbage", "wrong key", "alg none", "expired", "not yet valid",
          "wrong audience", "wrong issuer", "HS512 instead of HS256", "manager without provider",
          "numeric subject"]  # fmt: skip


def routes(case_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route but /health, with a body a manager of the case could send."""
    opening = {"type": "open_case", "case_id": f"{case_id}-new", "person": "p-new",
               "district": DISTRICT, "provider": PROVIDER, "on": "2025-03-01"}  # fmt: skip
    return [
        ("POST", "/cases", opening),
        ("POST", f"/cases/{case_id}/commands", {"type": "record_contact", "on": "2025-03-04",
                                                "minutes": 30}),
        ("GET", f"/cases/{case_id}", None),
        ("GET", f"/cases/{case_id}/allowed", None),
        ("GET", f"/cases/{case_id}/deadlines", None),
    ]  # fmt: skip


def call(
    http: httpx.Client, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    return http.request(method, path, json=body, headers={"If-Match": '"4"', **headers})


@pytest.mark.parametrize("kind", FORGED)
def test_no_route_serves_a_missing_or_forged_token(
    server: Server, client: httpx.Client, kind: str
) -> None:
    case_id = worked_case(client)
    before = server.events()
    with server.client() as anonymous:
        for method, path, body in routes(case_id):
            answer = call(anonymous, method, path, body, forged(kind))
            assert answer.status_code == 401, (kind, path, answer.text)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="imflow"')
            assert "MARKER" not in answer.text and case_id not in answer.text
    assert server.events() == before


@pytest.mark.parametrize(
    ("who", "claims"),
    [
        ("another provider", {"provider": "awo-waldshut"}),
        ("another district", {"district": "08111"}),
        ("another provider and district", {"provider": "drk-stuttgart", "district": "08111"}),
        ("an auditor of another district", {"role": "auditor", "district": "08111"}),
    ],
)
def test_another_tenant_never_sees_or_changes_a_case(
    server: Server, client: httpx.Client, who: str, claims: dict[str, Any]
) -> None:
    case_id = worked_case(client)
    before = server.events()
    role = claims.pop("role", "manager")
    stranger = bearer(token(role=role, **claims))
    with server.client(stranger) as http:
        for method, path, body in routes(case_id)[1:]:
            answer = call(http, method, path, body, {})
            expected = 403 if role == "auditor" and method == "POST" else 404
            assert answer.status_code == expected, (who, path, answer.text)
            assert "MARKER" not in answer.text
            assert answer.json()["error"] in ("not_found", "forbidden")
        # the same answer as for a case that does not exist: nothing to tell them apart
        missing = call(http, "GET", "/cases/wt-never", None, {})
        found = call(http, "GET", f"/cases/{case_id}", None, {})
        assert (missing.status_code, missing.json()) == (found.status_code, found.json())
    assert server.events() == before


@pytest.mark.parametrize(
    ("role", "claims"),
    [("coordinator", {}), ("auditor", {"district": DISTRICT}), ("system", {})],
)
def test_roles_without_case_work_get_403_for_writes(
    server: Server, client: httpx.Client, role: str, claims: dict[str, Any]
) -> None:
    case_id = worked_case(client)
    before = server.events()
    with server.client(bearer(token(role=role, **claims))) as http:
        for method, path, body in routes(case_id):
            answer = call(http, method, path, body, {})
            readable = role == "auditor" and method == "GET"
            assert answer.status_code == (200 if readable else 403), (role, path, answer.text)
            assert "MARKER" not in answer.text
    assert server.events() == before


def test_an_auditor_reads_a_pseudonymised_history(
    server: Server, client: httpx.Client, openapi: Any
) -> None:
    case_id = worked_case(client)
    for district in (DISTRICT, None):  # its district, or the state
        auditor = bearer(token(role="auditor", **({"district": district} if district else {})))
        with server.client(auditor) as http:
            answer = http.get(f"/cases/{case_id}")
        assert answer.status_code == 200, answer.text
        conforms(openapi, "CaseAnswer", answer.json())
        events = answer.json()["case"]["events"]
        assert "MARKER" not in answer.text
        assert events[0]["person"] == "<hidden>"
        need = next(e for e in events if e["type"] == "need_recorded")
        assert (need["note"], need["area"]) == ("<hidden>", "health")  # statistics stay


# -- hostile bodies, headers and ids --------------------------------------------------------


def hostile_requests(case_id: str) -> list[tuple[str, str, str, bytes, dict[str, str | bytes]]]:
    """(name, method, path, body, headers) of #11's attacks on a case at version 4."""
    json_type: dict[str, str | bytes] = {"Content-Type": "application/json", "If-Match": '"4"'}
    need = b'{"type": "record_need", "on": "2025-03-04", "area": "health", "note": "%s"}'
    opening = (
        b'{"type": "open_case", "case_id": "%s", "person": "p-1", "district": "08337",'
        b' "provider": "caritas-waldshut", "on": "2025-03-01"}'
    )
    commands = f"/cases/{case_id}/commands"
    return [
        ("3,000-deep array", "POST", commands, b"[" * 3000 + b"]" * 3000, json_type),
        ("3,000-deep object", "POST", commands, b'{"a":' * 3000 + b"1" + b"}" * 3000, json_type),
        ("5,000-digit integer", "POST", commands,
         b'{"type": "record_contact", "on": "2025-03-04", "minutes": ' + b"9" * 5000 + b"}",
         json_type),
        ("lone surrogate", "POST", commands, need % b"\\ud800", json_type),
        ("NUL in a note", "POST", commands, need % b"a\\u0000b", json_type),
        ("note of 4,001 characters", "POST", commands, need % (b"x" * 4001), json_type),
        ("invalid UTF-8", "POST", commands, need % b"\xff\xfe", json_type),
        ("NaN minutes", "POST", commands,
         b'{"type": "record_contact", "on": "2025-03-04", "minutes": NaN}', json_type),
        ("If-Match superscript two, UTF-8", "POST", commands,
         b'{"type": "record_consent", "on": "2025-03-04"}',
         {"Content-Type": "application/json", "If-Match": '"\u00b2"'.encode()}),
        ("If-Match superscript two, Latin-1", "POST", commands,
         b'{"type": "record_consent", "on": "2025-03-04"}',
         {"Content-Type": "application/json", "If-Match": b'"\xb2"'}),
        ("If-Match weak", "POST", commands, b'{"type": "record_consent", "on": "2025-03-04"}',
         {"Content-Type": "application/json", "If-Match": 'W/"4"'}),
        ("If-Match list", "POST", commands, b'{"type": "record_consent", "on": "2025-03-04"}',
         {"Content-Type": "application/json", "If-Match": '"4", "5"'}),
        ("If-Match huge", "POST", commands, b'{"type": "record_consent", "on": "2025-03-04"}',
         {"Content-Type": "application/json", "If-Match": '"' + "9" * 5000 + '"'}),
        ("expected_version huge", "POST", commands + "?expected_version=" + "9" * 30,
         b'{"type": "record_consent", "on": "2025-03-04"}', {"Content-Type": "application/json"}),
        ("Idempotency-Key with emoji", "POST", commands,
         b'{"type": "record_consent", "on": "2025-03-04"}',
         {**json_type, "Idempotency-Key": "k-\U0001f600".encode()}),
        ("open with a NUL id", "POST", "/cases", opening % b"a\\u0000b", json_type),
        ("open with a CRLF id", "POST", "/cases", opening % b"a\\r\\nSet-Cookie: x=1", json_type),
        ("open with a slash id", "POST", "/cases", opening % b"a/b", json_type),
        ("open with a dot-dot id", "POST", "/cases", opening % b"..", json_type),
        ("open with a 65-character id", "POST", "/cases", opening % (b"x" * 65), json_type),
        ("open with a lone surrogate id", "POST", "/cases", opening % b"\\udfff", json_type),
        ("open with household 3e9", "POST", "/cases",
         (opening % b"wt-big")[:-1] + b', "household": 3000000000}', json_type),
        ("open for another provider", "POST", "/cases",
         (opening % b"wt-theirs").replace(b"caritas-waldshut", b"awo-waldshut"), json_type),
        ("path id with NUL", "GET", "/cases/a%00b", b"", {}),
        ("path id with CRLF", "GET", "/cases/a%0D%0Ab/allowed", b"", {}),
        ("path id of 200 characters", "GET", "/cases/" + "x" * 200, b"", {}),
        ("path id with an invalid escape", "GET", "/cases/%ED%A0%80/deadlines", b"", {}),
        ("on in year 9999", "GET", f"/cases/{case_id}/deadlines?on=9999-12-31", b"", {}),
        ("on in year 1", "GET", f"/cases/{case_id}/allowed?on=0001-01-01", b"", {}),
        ("on not a date", "GET", f"/cases/{case_id}/allowed?on=tomorrow", b"", {}),
        ("lang fr", "GET", f"/cases/{case_id}?lang=fr", b"", {}),
        ("a body on a GET, over the limit", "GET", f"/cases/{case_id}", b"x" * 70_000, {}),
        ("body one byte over the limit", "POST", commands,
         need % (b"x" * (64 * 1024 - len(need) + 3)), json_type),
        ("unknown route", "GET", "/admin", b"", {}),
        ("wrong method", "DELETE", f"/cases/{case_id}", b"", {}),
    ]  # fmt: skip


def test_hostile_requests_never_get_a_500_and_write_nothing(
    server: Server, client: httpx.Client
) -> None:
    case_id = worked_case(client)
    before = server.events()
    for name, method, path, body, headers in hostile_requests(case_id):
        raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in headers.items()}
        answer = client.request(method, path, content=body or None, headers=raw)
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
        assert answer.headers["Content-Type"] == "application/problem+json", name
        problem = answer.json()
        assert problem["status"] == answer.status_code and problem["error"], name
        for secret in ("MARKER", "Set-Cookie", "\\ud800", "9999999999"):
            assert secret not in answer.text, (name, answer.text)
        assert "set-cookie" not in answer.headers
        assert server.events() == before, name
    assert client.get(f"/cases/{case_id}").json()["version"] == 4


def test_bodies_over_the_limit_get_413_and_write_nothing(
    server: Server, client: httpx.Client
) -> None:
    case_id = worked_case(client)
    before = server.events()
    commands = f"/cases/{case_id}/commands"
    note = "x" * (40 * 1024 * 1024)
    huge = client.post(
        commands,
        json={"type": "record_need", "on": "2025-03-04", "area": "health", "note": note},
        headers={"If-Match": '"4"'},
    )
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"type": "record_need", "on": "2025-03-04", "area": "health", "note": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    streamed = client.post(
        commands, content=chunks(), headers={"If-Match": '"4"', "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    opening = client.post("/cases", content=b"{" + b" " * 70_000 + b"}",
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert opening.status_code == 413
    assert server.events() == before
    # the connection was closed after each 413; the next request works as ever
    assert client.get(f"/cases/{case_id}").json()["version"] == 4


def test_odd_language_headers_fall_back_to_german(client: httpx.Client) -> None:
    case_id = open_case(client)
    for header in ("en;q=nan, de;q=0.1", "en;q=1e999", "en;q=-1", "*" * 5000, "de-DE;q=x"):
        answer = client.get(f"/cases/{case_id}/allowed", headers={"Accept-Language": header})
        assert answer.status_code == 200, header
        assert answer.headers["Content-Language"] == "de", header


def test_odd_but_valid_ids_make_a_valid_location(client: httpx.Client) -> None:
    for case_id in ("wt 🙂 1", "wt?x=1#y", "wt%41", "Ärztin-ß", "wt+plus&amp=1"):
        opening = {"type": "open_case", "case_id": case_id, "person": "p-1",
                   "district": DISTRICT, "provider": PROVIDER, "on": "2025-03-01"}  # fmt: skip
        made = client.post("/cases", json=opening)
        assert made.status_code == 201, (case_id, made.text)
        location = made.headers["Location"]
        assert location.isascii() and location.startswith("/cases/")
        got = client.get(location)
        assert got.status_code == 200 and got.json()["case"]["case_id"] == case_id
        command = client.post(
            f"{location}/commands",
            json={"type": "record_consent", "on": "2025-03-01"},
            headers={"If-Match": '"1"'},
        )
        assert command.status_code == 200, command.text


# -- a fuzz of request bodies against the live server --------------------------------------

json_values = st.recursive(  # NaN and lone surrogates included: json.dumps writes them
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip
FIELDS = ["minutes", "area", "note", "goal_id", "description", "target_date",
          "status", "months", "justification", "reason", "to_provider", "topics", "channel",
          "case_id", "person", "district", "provider", "household", "members", "continues",
          "schema_version"]  # fmt: skip
TYPES = ["record_consent", "withdraw_consent", "record_contact", "start_assessment",
         "record_need", "start_planning", "add_goal", "agree_plan", "set_goal_status",
         "review_plan", "revise_plan", "extend_period", "close_case", "reopen_case",
         "transfer_case", "custom_action", "open_case", "migrate_rule_set"]  # fmt: skip
command_like = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES), "on": st.sampled_from(["2025-03-04", "2026-01-15"])},
    optional=dict.fromkeys(FIELDS, json_values),
)
bodies = st.one_of(
    command_like,
    json_values,
    st.binary(max_size=200),
    command_like.map(lambda d: {**d, "type": "open_case", "case_id": "fz", "person": "p",
                                "district": DISTRICT, "provider": PROVIDER}),
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_case(server: Server) -> str:
    with server.client(MANAGER) as http:
        return worked_case(http)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, route=st.sampled_from(["commands", "open"]))
def test_fuzzed_bodies_never_get_a_5xx(
    server: Server, client: httpx.Client, fuzz_case: str, body: Any, route: str
) -> None:
    path = "/cases" if route == "open" else f"/cases/{fuzz_case}/commands"
    before = client.get(f"/cases/{fuzz_case}").json()["version"]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"If-Match": f'"{before}"', "Content-Type": "application/json"}
    answer = client.post(path, content=content, headers=headers)
    assert answer.status_code < 500, answer.text
    after = client.get(f"/cases/{fuzz_case}").json()["version"]
    if answer.status_code >= 400:
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert after == before and "MARKER" not in answer.text
    elif route == "commands":
        assert after == answer.json()["version"] > before


# -- the API description ---------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_complete(openapi: dict[str, Any]) -> None:
    from imflow.serialization import json_schema

    validate_openapi(openapi)  # raises on an invalid document
    schemas = openapi["components"]["schemas"]
    assert set(json_schema()["$defs"]) <= set(schemas)  # imflow's schemas, all of them
    assert openapi["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    }  # fmt: skip
    operations = {
        (method.upper(), path): op
        for path, item in openapi["paths"].items()
        for method, op in item.items()
    }
    expected = {
        ("POST", "/cases"): {201, 200, 400, 401, 403, 409, 413, 415, 422},
        ("POST", "/cases/{case_id}/commands"): {200, 400, 401, 403, 404, 412, 413, 415, 422, 428},
        ("GET", "/cases/{case_id}"): {200, 401, 403, 404, 413, 422},
        ("GET", "/cases/{case_id}/allowed"): {200, 401, 403, 404, 413, 422},
        ("GET", "/cases/{case_id}/deadlines"): {200, 401, 403, 404, 413, 422},
        ("GET", "/health"): {200},
    }
    assert {k: {int(s) for s in op["responses"]} for k, op in operations.items()} == expected
    for key, op in operations.items():
        for status, answer in op["responses"].items():
            media = "application/json" if int(status) < 400 else "application/problem+json"
            assert set(answer["content"]) == {media}, (key, status)
            ref = answer["content"][media]["schema"]["$ref"]
            assert ref.removeprefix("#/components/schemas/") in schemas
        if key != ("GET", "/health"):
            assert op["security"] == [{"bearer": []}], key
    bodies = {k: op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
              for k, op in operations.items() if "requestBody" in op}  # fmt: skip
    assert bodies == {
        ("POST", "/cases"): "#/components/schemas/open_case",
        ("POST", "/cases/{case_id}/commands"): "#/components/schemas/Command",
    }
    commands = {r["$ref"].rsplit("/", 1)[1] for r in schemas["Command"]["oneOf"]}
    assert "open_case" not in commands and {"record_contact", "close_case"} <= commands


def test_the_server_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMFLOW_HOST")}
    started = subprocess.run(
        [sys.executable, "-c", "import app; app.create_app()"],
        cwd=APP_DIR, env={**env, "IMFLOW_HOST_DB": str(tmp_path / "x.db")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode != 0 and "no token key" in started.stderr
    short = subprocess.run(
        [sys.executable, "-c", "import app; app.create_app()"],
        cwd=APP_DIR,
        env={**env, "IMFLOW_HOST_DB": str(tmp_path / "x.db"), "IMFLOW_HOST_TOKEN_KEY": "short"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert short.returncode != 0 and "at least 32 bytes" in short.stderr


def test_a_token_minted_as_the_readme_says_opens_the_door(server: Server) -> None:
    """``examples/host_app/mint_token.py``, run as the README shows, with the server's key."""
    minted = subprocess.run(
        [sys.executable, str(APP_DIR / "mint_token.py"), "--role", "manager",
         "--subject", "im-readme", "--provider", PROVIDER, "--district", DISTRICT],
        env={**os.environ, "IMFLOW_HOST_TOKEN_KEY": KEY},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    with server.client(bearer(minted.stdout.strip())) as http:
        case_id = open_case(http)
        assert http.get(f"/cases/{case_id}").json()["case"]["events"][0]["actor"]["id"] == (
            "im-readme"
        )
    refused = subprocess.run(
        [sys.executable, str(APP_DIR / "mint_token.py"), "--role", "auditor"],
        env={k: v for k, v in os.environ.items() if k != "IMFLOW_HOST_TOKEN_KEY"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "IMFLOW_HOST_TOKEN_KEY" in refused.stderr
