"""The example host application, async: the same routes and guards as ``examples/host_app``
(whose modules it imports: JWT auth, problem+json answers, the 64 KiB body limit, the
If-Match checks), on :mod:`imflow.aio`.

Run it with ``python -m uvicorn async_app:create_app --factory --app-dir
examples/async_host`` after setting ``IMFLOW_HOST_TOKEN_KEY`` (and ``IMFLOW_HOST_DB`` for
the SQLite file, or ``IMFLOW_HOST_DSN`` for a migrated PostgreSQL database).

Retry on conflict: a command sent with ``If-Match: "3"`` applies to version 3 or is
answered ``412`` (the client must reload). Sent with ``If-Match: *`` it applies to the
case as it is when the server gets it: when another request wins the race between the
server's load and its append, the service loads the case again and decides the
command again, up to :data:`RETRIES` times; only then the client gets ``409``
(``conflict``) and nothing was written. An ``Idempotency-Key`` makes a resent request
safe: it is answered with the stored case, never applied twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host_app"))

from app import (
    AUDIENCE,
    AUDIENCE_ENV,
    DB_ENV,
    ISSUER,
    ISSUER_ENV,
    KEY_ENV,
    READERS,
    TODAY_ENV,
    WRITERS,
    _handle_problems,
    case_answer,
    configure_logging,
    invalid,
    refused,
)
from host_auth import Tokens
from host_http import (
    MAX_BODY,
    BodyLimit,
    Problem,
    case_id_in_path,
    idempotency_key,
    json_object,
    valid_case_id,
    version_from,
)

from imflow import (
    Actor,
    CaseNotFound,
    ConcurrencyConflict,
    Engine,
    Forbidden,
    FrozenClock,
    IdempotencyKeyReused,
    InvalidDocument,
    Rejected,
    Role,
)
from imflow import commands as c
from imflow.aio import AsyncCaseService, AsyncPostgresStore, AsyncSQLiteStore, AsyncStore
from imflow.clock import Clock
from imflow.serialization import from_document

DSN_ENV = "IMFLOW_HOST_DSN"
"""A PostgreSQL connection string: the cases live there instead of a SQLite file."""
RETRIES = 3
"""How often a command sent with ``If-Match: *`` is decided again after a lost race."""

bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", scheme_name="bearer")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def expected(if_match: str | None) -> int | None:
    """The version a command must find: ``None`` for ``If-Match: *`` (any version:
    retried on conflict), else the one strong entity tag (``host_http.version_from``)."""
    if if_match is not None and if_match.strip() == "*":
        return None
    return version_from(if_match, None)


async def open_store(path: Path, engine: Engine) -> AsyncStore:
    """The store: PostgreSQL when ``IMFLOW_HOST_DSN`` is set, else the SQLite file."""
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        return await AsyncPostgresStore.open(dsn, engine=engine)
    return await AsyncSQLiteStore.open(path, engine=engine)


def create_app(
    db_path: str | os.PathLike[str] | None = None,
    *,
    key: str | bytes | None = None,
    clock: Clock | None = None,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The async application; the arguments and environment are the sync app's."""
    configure_logging()
    key = key or os.environ.get(KEY_ENV)
    if not key:
        raise RuntimeError(f"no token key: pass create_app(key=...) or set {KEY_ENV}")
    tokens = Tokens(
        key,
        issuer=os.environ.get(ISSUER_ENV, ISSUER),
        audience=os.environ.get(AUDIENCE_ENV, AUDIENCE),
    )
    path = Path(db_path or os.environ.get(DB_ENV, "imflow-host.db"))
    if clock is None and os.environ.get(TODAY_ENV):
        clock = FrozenClock.on(date.fromisoformat(os.environ[TODAY_ENV]))
    engine = Engine(clock=clock)
    held: dict[str, AsyncCaseService] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_store(path, engine)
        held["service"] = AsyncCaseService(store, deliver=False, retries=RETRIES)
        try:
            yield
        finally:
            await store.aclose()

    app = FastAPI(title="imflow async host application", version="0.2.0", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_body=max_body)
    _handle_problems(app)

    def acting(roles: frozenset[Role]) -> Callable[[HTTPAuthorizationCredentials | None], Actor]:
        def actor(credentials: Credentials) -> Actor:
            header = None if credentials is None else f"Bearer {credentials.credentials}"
            who = tokens.actor(header)
            if who.role not in roles:
                raise Problem(403, "forbidden")
            return who

        return actor

    writer, reader = Depends(acting(WRITERS)), Depends(acting(READERS))

    async def body(request: Request) -> dict[str, Any]:
        return json_object(await request.body(), request.headers.get("content-type"))

    document = Depends(body)

    async def replaying(key: str | None, by: Actor) -> bool:
        return key is not None and await held["service"].store.recall(key, by=by) is not None

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Whether the application answers."""
        return {"status": "ok"}

    @app.post("/cases", status_code=201)
    async def open_case(
        actor: Actor = writer,
        doc: dict[str, Any] = document,
        idempotency: IdempotencyKey = None,
    ) -> Response:
        """Open a case; the body is an ``open_case`` command document."""
        key = idempotency_key(idempotency)
        try:
            command = from_document(doc, c.OpenCase)
        except InvalidDocument as exc:
            raise invalid(exc) from None
        if not valid_case_id(command.case_id):
            raise Problem(422, "invalid_case_id", path="$.case_id")
        replayed = await replaying(key, actor)
        try:
            case = await held["service"].open(command, by=actor, idempotency_key=key)
        except Rejected as exc:
            raise refused(exc) from None
        except Forbidden:
            raise Problem(403, "forbidden") from None
        except ConcurrencyConflict:
            raise Problem(409, "case_exists") from None
        except IdempotencyKeyReused:
            raise Problem(422, "idempotency_key_reused") from None
        return case_answer(case, status=200 if replayed else 201, location=True, replayed=replayed)

    @app.post("/cases/{case_id}/commands")
    async def send_command(
        case_id: str,
        actor: Actor = writer,
        doc: dict[str, Any] = document,
        idempotency: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> Response:
        """Apply a command document: at the version of ``If-Match``, or with ``*`` at the
        current one, retried on conflict."""
        case_id = case_id_in_path(case_id)
        version = expected(if_match)
        key = idempotency_key(idempotency)
        try:
            command = from_document(doc, c.Command)
        except InvalidDocument as exc:
            raise invalid(exc) from None
        if isinstance(command, c.OpenCase):
            raise Problem(422, "invalid_document", path="$.type", message="use POST /cases")
        replayed = await replaying(key, actor)
        try:
            case = await held["service"].handle(
                case_id, command, by=actor, idempotency_key=key, expected_version=version
            )
        except (CaseNotFound, Forbidden):
            raise Problem(404, "not_found") from None
        except ConcurrencyConflict as exc:
            if version is None:  # lost the race RETRIES + 1 times: nothing was written
                raise Problem(409, "conflict", retries=RETRIES) from None
            raise Problem(
                412, "version_mismatch", expected=exc.expected, actual=exc.actual
            ) from None
        except Rejected as exc:
            raise refused(exc) from None
        except IdempotencyKeyReused:
            raise Problem(422, "idempotency_key_reused") from None
        return case_answer(case, replayed=replayed)

    @app.get("/cases/{case_id}")
    async def get_case(case_id: str, actor: Actor = reader) -> Response:
        """The case and its history; its version is the ``ETag``."""
        try:
            case = await held["service"].read(case_id_in_path(case_id), by=actor)
        except (CaseNotFound, Forbidden):
            raise Problem(404, "not_found") from None
        return case_answer(case)

    return app
