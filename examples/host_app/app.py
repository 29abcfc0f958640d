"""A web application that embeds imflow: cases over HTTP, kept in SQLite, every request
authenticated with a signed bearer token and authorised by the library's guarded calls.

Run it with ``python -m uvicorn app:create_app --factory --app-dir examples/host_app``
after setting ``IMFLOW_HOST_TOKEN_KEY`` (see ``README.md`` beside this file). The routes:

- ``POST /cases``: open a case; the body is an ``open_case`` command document.
- ``POST /cases/{case_id}/commands``: send a command document, with the version you
  based it on in ``If-Match`` (or ``?expected_version=``) and an optional
  ``Idempotency-Key``.
- ``GET /cases/{case_id}``: the case (its history included), its version as the ``ETag``;
  pseudonymised for an auditor.
- ``GET /cases/{case_id}/allowed``: every command with the reasons it is refused now.
- ``GET /cases/{case_id}/deadlines``: upcoming and overdue deadlines.
- ``GET /health`` (no token), ``GET /openapi.json``, ``GET /docs``.

The parts a host needs whatever its routes are live beside this file and are reused by
the async variant: ``host_auth`` (tokens → :class:`imflow.Actor`), ``host_http``
(problem answers, the body limit, header and path checks) and ``host_openapi`` (the API
description from imflow's JSON Schema).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from host_auth import Tokens
from host_http import (
    MAX_BODY,
    MAX_VERSION,
    BodyLimit,
    Lang,
    Problem,
    business_day,
    case_id_in_path,
    case_location,
    idempotency_key,
    json_object,
    language,
    problem_response,
    request_language,
    valid_case_id,
    version_from,
)
from host_openapi import answers, complete, json_body
from starlette.exceptions import HTTPException as StarletteHTTPException

from imflow import (
    Actor,
    Case,
    CaseNotFound,
    CaseService,
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
from imflow.clock import Clock
from imflow.logging import redact_personal_data
from imflow.serialization import from_document, to_document
from imflow.store import SQLiteStore

DB_ENV = "IMFLOW_HOST_DB"
"""The environment variable that names the SQLite file when the factory gets none."""
TODAY_ENV = "IMFLOW_HOST_TODAY"
"""If set (``YYYY-MM-DD``), the engine's clock stands still on that day: for demos."""
KEY_ENV = "IMFLOW_HOST_TOKEN_KEY"
"""The token key when the factory gets none (``uvicorn --factory`` passes nothing)."""
ISSUER_ENV, AUDIENCE_ENV = "IMFLOW_HOST_TOKEN_ISSUER", "IMFLOW_HOST_TOKEN_AUDIENCE"
ISSUER, AUDIENCE = "imflow-host-login", "imflow-host"
"""The default ``iss`` and ``aud`` tokens must carry."""

WRITERS = frozenset({Role.MANAGER})
READERS = frozenset({Role.MANAGER, Role.AUDITOR})

bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", scheme_name="bearer")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]
LangQuery = Annotated[str | None, Query(pattern="^(de|en)$")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
ExpectedVersion = Annotated[int | None, Query(ge=0, le=MAX_VERSION)]
OnQuery = Annotated[date | None, Query()]


def configure_logging() -> None:
    """One JSON line per log event, without personal data: the host configures structlog,
    imflow never does."""
    structlog.configure(
        processors=[
            redact_personal_data,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
    )


# -- answers ------------------------------------------------------------------------------


def case_view(case: Case) -> dict[str, Any]:
    """The case as the asking actor may see it (already read through the library)."""
    return {
        "case_id": case.case_id,
        "version": case.version,
        "phase": str(case.phase),
        "district": case.district,
        "provider": case.provider,
        "rule_set": case.rule_set,
        "opened_on": case.opened.on.isoformat(),
        "period_end": case.period_end.isoformat() if case.period_end else None,
        "events": [to_document(e) for e in case.events],
    }


def case_answer(
    case: Case, *, status: int = 200, location: bool = False, replayed: bool | None = None
) -> JSONResponse:
    """The case, with its version as a strong ETag (and its percent-encoded Location)."""
    body: dict[str, Any] = {"version": case.version, "case": case_view(case)}
    if replayed is not None:
        body["replayed"] = replayed
    headers = {"ETag": f'"{case.version}"'}
    if location:
        headers["Location"] = case_location(case.case_id)
    return JSONResponse(body, status_code=status, headers=headers)


def refused(exc: Rejected) -> Problem:
    """A refusal by the engine: 403 when it is a matter of permission, else 422."""
    codes = {r.code for r in exc.reasons}
    return Refused(403 if "forbidden" in codes else 422, exc)


class Refused(Problem):
    """A :class:`~imflow.Rejected`, its reasons in the request's language."""

    def __init__(self, status: int, exc: Rejected) -> None:
        super().__init__(status, "forbidden" if status == 403 else "rejected")
        self.rejected = exc

    def response(self, lang: Lang) -> Response:
        reasons = [{"code": r.code, "message": r.message(lang)} for r in self.rejected.reasons]
        command = self.rejected.command_type or ""
        return problem_response(self.status, self.code, lang, command=command, reasons=reasons)


def invalid(exc: InvalidDocument) -> Problem:
    """422 naming where the document is wrong (imflow's messages never quote values)."""
    return Problem(422, "invalid_document", path=exc.path, message=str(exc))


# -- the application ----------------------------------------------------------------------


def create_app(
    db_path: str | os.PathLike[str] | None = None,
    *,
    key: str | bytes | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    algorithm: str = "HS256",
    clock: Clock | None = None,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The application, keeping its cases in the SQLite file *db_path* and accepting
    tokens signed with *key* (an HS256 secret of at least 32 bytes, or the public key
    of *algorithm*) for *issuer* and *audience*.

    Each argument left out is read from the environment (``IMFLOW_HOST_DB``,
    ``IMFLOW_HOST_TOKEN_KEY``, ``IMFLOW_HOST_TOKEN_ISSUER``,
    ``IMFLOW_HOST_TOKEN_AUDIENCE``, ``IMFLOW_HOST_TODAY`` for a frozen clock); without
    a key the application refuses to start.
    """
    configure_logging()
    key = key or os.environ.get(KEY_ENV)
    if not key:
        raise RuntimeError(f"no token key: pass create_app(key=...) or set {KEY_ENV}")
    tokens = Tokens(
        key,
        issuer=issuer or os.environ.get(ISSUER_ENV, ISSUER),
        audience=audience or os.environ.get(AUDIENCE_ENV, AUDIENCE),
        algorithm=algorithm,
    )
    path = Path(db_path or os.environ.get(DB_ENV, "imflow-host.db"))
    if clock is None and os.environ.get(TODAY_ENV):
        clock = FrozenClock.on(date.fromisoformat(os.environ[TODAY_ENV]))
    engine = Engine(clock=clock)
    store = SQLiteStore(path, engine=engine)
    service = CaseService(store, deliver=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="imflow host application",
        description="Counselling cases of the Integrationsmanagement over HTTP. Every route "
        "but /health needs a bearer token (JWT); bodies are imflow's JSON documents.",
        version="0.2.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_body=max_body)
    app.state.store, app.state.engine, app.state.tokens = store, engine, tokens
    _handle_problems(app)

    def acting(roles: frozenset[Role]) -> Callable[[HTTPAuthorizationCredentials | None], Actor]:
        def actor(credentials: Credentials) -> Actor:
            header = None if credentials is None else f"Bearer {credentials.credentials}"
            who = tokens.actor(header)
            if who.role not in roles:  # decided by role alone: nothing is looked up
                raise Problem(403, "forbidden")
            return who

        return actor

    # dependencies as defaults: the annotations (strings here) resolve in module scope
    writer, reader = Depends(acting(WRITERS)), Depends(acting(READERS))

    async def body(request: Request) -> dict[str, Any]:
        return json_object(await request.body(), request.headers.get("content-type"))

    document = Depends(body)

    def replaying(key: str | None, by: Actor) -> bool:
        return key is not None and store.recall(key, by=by) is not None

    @app.get("/health", responses=answers({200: ("Health", "The application answers.")}))
    def health() -> dict[str, str]:
        """Whether the application answers (for load balancers and tests)."""
        return {"status": "ok"}

    @app.post(
        "/cases",
        status_code=201,
        responses=answers(
            {201: ("CaseAnswer", "Opened."), 200: ("CaseAnswer", "A retry: the stored case.")},
            400, 401, 403, 409, 413, 415, 422,
        ),
        openapi_extra=json_body("open_case", "An open_case command document."),
    )  # fmt: skip
    def open_case(
        actor: Actor = writer,
        doc: dict[str, Any] = document,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        idempotency: IdempotencyKey = None,
    ) -> Response:
        """Open a case; the body is an ``open_case`` command document."""
        key = idempotency_key(idempotency)
        try:
            command = from_document(doc, c.OpenCase)
        except InvalidDocument as exc:
            raise invalid(exc) from None
        if not valid_case_id(command.case_id):  # before anything is written
            raise Problem(422, "invalid_case_id", path="$.case_id")
        replayed = replaying(key, actor)
        try:
            case = service.open(command, by=actor, idempotency_key=key)
        except Rejected as exc:
            raise refused(exc) from None
        except Forbidden:
            raise Problem(403, "forbidden") from None
        except ConcurrencyConflict:
            raise Problem(409, "case_exists") from None
        except IdempotencyKeyReused:
            raise Problem(422, "idempotency_key_reused") from None
        return case_answer(case, status=200 if replayed else 201, location=True, replayed=replayed)

    @app.post(
        "/cases/{case_id}/commands",
        responses=answers(
            {200: ("CaseAnswer", "Applied (or a retry: the stored case).")},
            400, 401, 403, 404, 412, 413, 415, 422, 428,
        ),
        openapi_extra=json_body("Command", "Any command document but open_case."),
    )  # fmt: skip
    def send_command(
        case_id: str,
        actor: Actor = writer,
        doc: dict[str, Any] = document,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        idempotency: IdempotencyKey = None,
        if_match: IfMatch = None,
        expected_version: ExpectedVersion = None,
    ) -> Response:
        """Apply a command document to the case at the version the client saw."""
        case_id = case_id_in_path(case_id)
        version = version_from(if_match, expected_version)
        key = idempotency_key(idempotency)
        try:
            command = from_document(doc, c.Command)
        except InvalidDocument as exc:
            raise invalid(exc) from None
        if isinstance(command, c.OpenCase):
            raise Problem(422, "invalid_document", path="$.type", message="use POST /cases")
        replayed = replaying(key, actor)
        try:
            case = service.handle(
                case_id, command, by=actor, idempotency_key=key, expected_version=version
            )
        except (CaseNotFound, Forbidden):
            raise Problem(404, "not_found") from None
        except ConcurrencyConflict as exc:
            raise Problem(
                412, "version_mismatch", expected=exc.expected, actual=exc.actual
            ) from None
        except Rejected as exc:
            raise refused(exc) from None
        except IdempotencyKeyReused:
            raise Problem(422, "idempotency_key_reused") from None
        return case_answer(case, replayed=replayed)

    reading = (401, 403, 404, 413, 422)

    @app.get("/cases/{case_id}", responses=answers({200: ("CaseAnswer", "The case.")}, *reading))
    def get_case(
        case_id: str,
        actor: Actor = reader,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
    ) -> Response:
        """The case and its history; its version is the ``ETag`` to send in ``If-Match``.
        An auditor sees every personal field as ``<hidden>``."""
        try:
            case = service.read(case_id_in_path(case_id), by=actor)
        except (CaseNotFound, Forbidden):
            raise Problem(404, "not_found") from None
        return case_answer(case)

    @app.get(
        "/cases/{case_id}/allowed",
        responses=answers({200: ("AllowedAnswer", "Every command and why not.")}, *reading),
    )
    def allowed(
        case_id: str,
        actor: Actor = reader,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        on: OnQuery = None,
    ) -> Response:
        """Every command of the workflow, whether the actor may send it now, and why not."""
        chosen = language(lang, accept_language)
        day = business_day(on)
        try:
            case = service.read(case_id_in_path(case_id), by=actor)
            answer = service.allowed(case_id, by=actor, on=day)
        except (CaseNotFound, Forbidden):
            raise Problem(404, "not_found") from None
        workflow = engine.workflow
        commands = [
            {
                "command": name,
                "label": workflow.command(name).label(chosen),
                "allowed": not reasons,
                "reasons": [{"code": r.code, "message": r.message(chosen)} for r in reasons],
            }
            for name, reasons in answer.items()
        ]
        return JSONResponse(
            {"case_id": case_id, "version": case.version, "lang": chosen, "commands": commands},
            headers={"ETag": f'"{case.version}"', "Content-Language": chosen},
        )

    @app.get(
        "/cases/{case_id}/deadlines",
        responses=answers({200: ("DeadlinesAnswer", "The deadlines, soonest first.")}, *reading),
    )
    def deadlines(
        case_id: str,
        actor: Actor = reader,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        on: OnQuery = None,
    ) -> Response:
        """The case's deadlines on *on* (default: today), soonest first."""
        chosen = language(lang, accept_language)
        day = business_day(on)
        try:
            found = service.deadlines(case_id_in_path(case_id), by=actor, on=day)
        except (CaseNotFound, Forbidden):
            raise Problem(404, "not_found") from None
        rows = [
            {
                "kind": str(d.kind),
                "label": d.kind.label(chosen),
                "due": d.due.isoformat(),
                "severity": str(d.severity),
                "severity_label": d.severity.label(chosen),
                "subject": d.subject,
            }
            for d in found
        ]
        return JSONResponse(
            {"case_id": case_id, "on": (day or engine.today()).isoformat(), "deadlines": rows},
            headers={"Content-Language": chosen},
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _handle_problems(app: FastAPI) -> None:
    """Every answer but success is problem+json; none quotes what the client sent."""

    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.response(request_language(request))

    async def parameters(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        return problem_response(
            422, "invalid_parameter", request_language(request), parameters=where
        )

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "no_route", 405: "method_not_allowed"}.get(
            exc.status_code, "invalid_parameter"
        )
        status = exc.status_code if exc.status_code in (404, 405) else 400
        return problem_response(status, code, request_language(request))

    async def unexpected(request: Request, exc: Exception) -> Response:
        structlog.get_logger("imflow_host").error("request_failed", kind=type(exc).__name__)
        return problem_response(500, "internal", request_language(request))

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(RequestValidationError, parameters)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unexpected)
