"""50 concurrent clients over real HTTP on loopback, against the async example host app
(``examples/async_host``, imflow.aio) and the sync one (``examples/host_app``), each run
by uvicorn in a subprocess.

Every command is applied once or answered with a conflict after bounded retries (409
from the async app's own retries with ``If-Match: *``; the sync app answers a stale
``If-Match`` with 412 and its clients reload and resend at most three times); none is
lost, none duplicated, and a request resent with its idempotency key gets the stored
answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.test_host_app import (
    DISTRICT,
    KEY,
    PROVIDER,
    TODAY,
    bearer,
    token,
    uvicorn,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLIENTS, CASES, CLIENT_RETRIES = 50, 5, 3


@contextlib.contextmanager
def serve(app_dir: Path, factory: str, workdir: Path, **env: str) -> Iterator[str]:
    environment = {
        "IMFLOW_HOST_DB": str(workdir / "cases.db"),
        "IMFLOW_HOST_TODAY": TODAY,
        "IMFLOW_HOST_TOKEN_KEY": KEY,
        **env,
    }
    with uvicorn([factory, "--factory", "--app-dir", str(app_dir)], workdir, environment) as url:
        yield url
    text = (workdir / "server.log").read_text()
    assert "Traceback" not in text and "request_failed" not in text, text[-3000:]


def contact(i: int) -> dict[str, Any]:
    return {"type": "record_contact", "on": "2025-03-10", "minutes": 10 + i, "topics": ["language"]}


async def open_cases(http: httpx.AsyncClient) -> list[str]:
    ids = []
    for n in range(CASES):
        doc = {
            "type": "open_case", "case_id": f"wt-{n}", "person": f"p-{n}",
            "district": DISTRICT, "provider": PROVIDER, "household": 1, "on": "2025-03-01",
        }  # fmt: skip
        answer = await http.post("/cases", json=doc)
        assert answer.status_code == 201, answer.text
        ids.append(f"wt-{n}")
    return ids


async def async_app_client(http: httpx.AsyncClient, i: int) -> httpx.Response:
    """One request with ``If-Match: *``: the server retries; 200 or 409."""
    return await http.post(
        f"/cases/wt-{i % CASES}/commands",
        json=contact(i),
        headers={"If-Match": "*", "Idempotency-Key": f"req-{i}"},
    )


async def sync_app_client(http: httpx.AsyncClient, i: int) -> httpx.Response:
    """Read the ETag, send with If-Match; on 412 reload and resend, three times at most."""
    for _ in range(CLIENT_RETRIES + 1):
        etag = (await http.get(f"/cases/wt-{i % CASES}")).headers["ETag"]
        answer = await http.post(
            f"/cases/wt-{i % CASES}/commands",
            json=contact(i),
            headers={"If-Match": etag, "Idempotency-Key": f"req-{i}"},
        )
        if answer.status_code != 412:
            return answer
    return answer


async def hammer(url: str, client: Any, refusal: int) -> tuple[list[int], dict[str, Any]]:
    limits = httpx.Limits(max_connections=CLIENTS)
    headers = bearer(token())
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:
        ids = await open_cases(http)
        answers = await asyncio.gather(*(client(http, i) for i in range(CLIENTS)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {200, refusal}, [a.text for a in answers if a.status_code >= 300]
        applied = [i for i, s in enumerate(statuses) if s == 200]
        # resent with the same key: the stored answer, nothing applied again
        match = "*" if refusal == 409 else '"1"'
        for i in applied:
            again = await http.post(
                f"/cases/wt-{i % CASES}/commands",
                json=contact(i),
                headers={
                    "If-Match": match,
                    "Idempotency-Key": f"req-{i}",
                },
            )
            assert again.status_code == 200 and again.json()["replayed"] is True, again.text
        cases = {case_id: (await http.get(f"/cases/{case_id}")).json() for case_id in ids}
    return applied, cases


def check(applied: list[int], cases: dict[str, Any], db: Path) -> None:
    recorded: list[int] = []
    for answer in cases.values():
        events = answer["case"]["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # contiguous
        assert answer["version"] == len(events)
        recorded += [e["minutes"] - 10 for e in events if e["type"] == "contact_recorded"]
    assert sorted(recorded) == applied  # each applied command once; no refused one
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM events").fetchone()
        (keys,) = conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()
    assert stored == CASES + len(applied)
    assert keys == len(applied)


def test_fifty_clients_on_the_async_app(tmp_path: Path) -> None:
    with serve(EXAMPLES / "async_host", "async_app:create_app", tmp_path) as url:
        applied, cases = asyncio.run(hammer(url, async_app_client, 409))
    check(applied, cases, tmp_path / "cases.db")
    assert applied  # the first request to reach each case cannot lose a race


def test_fifty_clients_on_the_sync_app(tmp_path: Path) -> None:
    with serve(EXAMPLES / "host_app", "app:create_app", tmp_path) as url:
        applied, cases = asyncio.run(hammer(url, sync_app_client, 412))
    check(applied, cases, tmp_path / "cases.db")
    assert applied
