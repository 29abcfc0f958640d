"""A small web application that embeds imflow: cases over HTTP, kept in SQLite.

Run it with ``python -m uvicorn app:create_app --factory --app-dir examples/host_app``
(see ``README.md`` beside this file). The endpoints:

- ``POST /cases``: open a case; the body is an ``open_case`` command document.
- ``POST /cases/{case_id}/commands``: send a command document, with the version you
  based it on in ``If-Match`` (or ``?expected_version=``) and an optional
  ``Idempotency-Key``.
- ``GET /cases/{case_id}``: the case document, its version as the ``ETag``.
- ``GET /cases/{case_id}/allowed``: every command with the reasons it is refused now.
- ``GET /cases/{case_id}/deadlines``: upcoming and overdue deadlines.

Bodies are imflow's JSON documents, exactly as :func:`imflow.serialization.dumps`
writes them (``imflow schema`` prints their JSON Schema). Answers: ``409`` for a
concurrent update (with the expected and actual versions), ``422`` for a refused
command (with every reason code and message) or an invalid document (with the field
path), ``400`` for a body that is not JSON at all. Messages are German or English by
``?lang=de|en`` or the ``Accept-Language`` header (German by default).

Who acts is taken from the headers ``X-Actor``, ``X-Role``, ``X-Provider`` and
``X-District``: good enough for an example, never for production, where the actor
comes from your authentication.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from fastapi import FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from imflow import (
    Actor,
    Case,
    CaseNotFound,
    ConcurrencyConflict,
    Engine,
    FrozenClock,
    InvalidDocument,
    Reason,
    Rejected,
    Role,
)
from imflow import commands as c
from imflow.clock import Clock
from imflow.logging import redact_personal_data
from imflow.serialization import from_document, to_document
from imflow.store import IdempotencyKeyReused, SQLiteStore

Lang = Literal["de", "en"]

DB_ENV = "IMFLOW_HOST_DB"
"""The environment variable that names the SQLite file when the factory gets none."""
TODAY_ENV = "IMFLOW_HOST_TODAY"
"""If set (``YYYY-MM-DD``), the engine's clock stands still on that day: for demos."""


ActorId = Annotated[str | None, Header(alias="X-Actor")]
ActorRole = Annotated[str | None, Header(alias="X-Role")]
ActorProvider = Annotated[str | None, Header(alias="X-Provider")]
ActorDistrict = Annotated[str | None, Header(alias="X-District")]
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]
LangQuery = Annotated[str | None, Query(pattern="^(de|en)$")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


# -- answers ------------------------------------------------------------------------------


def problem(status: int, error: str, message: str, **fields: Any) -> JSONResponse:
    """A JSON error answer: ``{"error": code, "message": text, ...}``."""
    return JSONResponse({"error": error, "message": message, **fields}, status_code=status)


def reasons_json(reasons: Sequence[Reason], lang: Lang) -> list[dict[str, str]]:
    return [{"code": r.code, "message": r.message(lang)} for r in reasons]


def rejected(exc: Rejected, lang: Lang) -> JSONResponse:
    message = (
        f"Der Befehl {exc.command_type} wurde abgelehnt."
        if lang == "de"
        else f"The command {exc.command_type} was rejected."
    )
    return problem(
        422,
        "rejected",
        message,
        command=exc.command_type,
        case_id=exc.case_id,
        reasons=reasons_json(exc.reasons, lang),
    )


def conflict(exc: ConcurrencyConflict, lang: Lang) -> JSONResponse:
    message = (
        f"Der Fall {exc.case_id} ist bei Version {exc.actual}, erwartet war {exc.expected}: "
        "bitte neu laden."
        if lang == "de"
        else str(exc)
    )
    return problem(
        409,
        "conflict",
        message,
        case_id=exc.case_id,
        expected=exc.expected,
        actual=exc.actual,
    )


def not_found(case_id: str, lang: Lang) -> JSONResponse:
    message = f"Kein Fall {case_id}." if lang == "de" else f"No case {case_id}."
    return problem(404, "not_found", message, case_id=case_id)


def case_answer(
    case: Case, *, status: int = 200, location: bool = False, **extra: Any
) -> JSONResponse:
    """The case document, with its version as a strong ETag."""
    body = {"version": case.version, **extra, "case": to_document(case)}
    headers = {"ETag": f'"{case.version}"'}
    if location:
        headers["Location"] = f"/cases/{case.case_id}"
    return JSONResponse(body, status_code=status, headers=headers)


# -- request parts ------------------------------------------------------------------------


def language(lang: str | None, accept_language: str | None) -> Lang:
    """``?lang=`` wins; else the preferred of German and English in Accept-Language."""
    if lang in ("de", "en"):
        return "de" if lang == "de" else "en"
    best: tuple[float, Lang] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("de", "en"):
            continue
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        code: Lang = "de" if primary == "de" else "en"
        if best is None or weight > best[0]:
            best = (weight, code)
    return best[1] if best else "de"


def actor_from(
    actor: str | None, role: str | None, provider: str | None, district: str | None
) -> Actor | None:
    if not actor or not role:
        return None
    try:
        return Actor(actor, Role(role), provider=provider, district=district)
    except ValueError:
        return None


def parse_version(if_match: str | None, expected_version: int | None) -> int | None:
    """The version the client based its command on: ``If-Match: "3"`` or ``?expected_version=3``."""
    if expected_version is not None:
        return expected_version
    if if_match is None:
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() else -1


async def document(request: Request, lang: Lang) -> dict[str, Any] | JSONResponse:
    """The request body as a JSON object, or a 400 answer that says why not."""
    raw = await request.body()
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = "Kein gültiges JSON" if lang == "de" else "Not valid JSON"
        return problem(400, "invalid_json", f"{message}: {exc}", path="$")
    if not isinstance(doc, dict):
        message = "Ein JSON-Objekt wird erwartet." if lang == "de" else "A JSON object is expected."
        return problem(400, "invalid_json", message, path="$")
    return doc


def invalid_document(exc: InvalidDocument) -> JSONResponse:
    return problem(422, "invalid_document", str(exc), path=exc.path)


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


# -- the application ----------------------------------------------------------------------


def create_app(
    db_path: str | os.PathLike[str] | None = None, *, clock: Clock | None = None
) -> FastAPI:
    """The application, keeping its cases in the SQLite file *db_path*.

    Without *db_path*, the file named by ``IMFLOW_HOST_DB`` (default ``imflow-host.db``);
    without *clock*, the system clock (or a frozen one on ``IMFLOW_HOST_TODAY``).
    """
    configure_logging()
    path = Path(db_path or os.environ.get(DB_ENV, "imflow-host.db"))
    if clock is None and os.environ.get(TODAY_ENV):
        clock = FrozenClock.on(date.fromisoformat(os.environ[TODAY_ENV]))
    engine = Engine(clock=clock)
    store = SQLiteStore(path, engine=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="imflow host application",
        description="Counselling cases of the Integrationsmanagement over HTTP.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.engine = engine

    def unauthenticated(lang: Lang) -> JSONResponse:
        message = (
            "Die Kopfzeilen X-Actor und X-Role (manager, coordinator, auditor) fehlen."
            if lang == "de"
            else "The headers X-Actor and X-Role (manager, coordinator, auditor) are missing."
        )
        return problem(401, "unauthenticated", message)

    def open_now(
        command: c.OpenCase, by: Actor, idempotency_key: str | None, chosen: Lang
    ) -> JSONResponse:
        try:
            case = engine.open(command, by=by)
            result = store.append(
                case.case_id, case.events, expected_version=0, idempotency_key=idempotency_key
            )
        except Rejected as exc:
            return rejected(exc, chosen)
        except ConcurrencyConflict as exc:
            return conflict(exc, chosen)
        except IdempotencyKeyReused as exc:
            return problem(422, "idempotency_key_reused", str(exc))
        stored = store.load(case.case_id)
        return case_answer(
            stored,
            status=200 if result.replayed else 201,
            location=True,
            replayed=result.replayed,
        )

    def apply_now(
        case_id: str,
        command: c.Command,
        by: Actor,
        idempotency_key: str | None,
        version: int,
        chosen: Lang,
    ) -> JSONResponse:
        if idempotency_key is not None:
            try:
                earlier = store.recall(idempotency_key, by=by)
            except IdempotencyKeyReused as exc:
                return problem(422, "idempotency_key_reused", str(exc))
            if earlier is not None:
                if earlier.case_id != case_id:
                    return problem(
                        422,
                        "idempotency_key_reused",
                        f"the key was used for case {earlier.case_id!r}",
                    )
                return case_answer(store.load(case_id), replayed=True)
        try:
            case = store.load(case_id)
        except CaseNotFound:
            return not_found(case_id, chosen)
        if case.version != version:
            return conflict(
                ConcurrencyConflict(case_id, expected=version, actual=case.version), chosen
            )
        try:
            new = engine.handle(case, command, by=by)
            store.append(
                case_id,
                new.events[case.version :],
                expected_version=version,
                idempotency_key=idempotency_key,
            )
        except Rejected as exc:
            return rejected(exc, chosen)
        except ConcurrencyConflict as exc:
            return conflict(exc, chosen)
        except IdempotencyKeyReused as exc:
            return problem(422, "idempotency_key_reused", str(exc))
        return case_answer(new, replayed=False)

    @app.get("/health")
    def health() -> dict[str, str]:
        """Whether the application answers (for load balancers and tests)."""
        return {"status": "ok"}

    @app.post("/cases", status_code=201)
    async def open_case(
        request: Request,
        x_actor: ActorId = None,
        x_role: ActorRole = None,
        x_provider: ActorProvider = None,
        x_district: ActorDistrict = None,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Open a case; the body is an ``open_case`` command document."""
        chosen = language(lang, accept_language)
        by = actor_from(x_actor, x_role, x_provider, x_district)
        if by is None:
            return unauthenticated(chosen)
        doc = await document(request, chosen)
        if isinstance(doc, JSONResponse):
            return doc
        try:
            command = from_document(doc, c.OpenCase)
        except InvalidDocument as exc:
            return invalid_document(exc)
        # the store and the engine block: run them off the event loop
        return await run_in_threadpool(open_now, command, by, idempotency_key, chosen)

    @app.post("/cases/{case_id}/commands")
    async def send_command(
        case_id: str,
        request: Request,
        x_actor: ActorId = None,
        x_role: ActorRole = None,
        x_provider: ActorProvider = None,
        x_district: ActorDistrict = None,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
        expected_version: Annotated[int | None, Query(ge=0)] = None,
    ) -> JSONResponse:
        """Apply a command document to the case at the version the client saw."""
        chosen = language(lang, accept_language)
        by = actor_from(x_actor, x_role, x_provider, x_district)
        if by is None:
            return unauthenticated(chosen)
        doc = await document(request, chosen)
        if isinstance(doc, JSONResponse):
            return doc
        try:
            command = from_document(doc, c.Command)
        except InvalidDocument as exc:
            return invalid_document(exc)
        if isinstance(command, c.OpenCase):
            return problem(
                422, "invalid_document", "open_case is sent to POST /cases", path="$.type"
            )
        version = parse_version(if_match, expected_version)
        if version is None:
            message = (
                "Die Version fehlt: If-Match oder expected_version angeben."
                if chosen == "de"
                else "The version is missing: send If-Match or expected_version."
            )
            return problem(428, "version_required", message)
        return await run_in_threadpool(
            apply_now, case_id, command, by, idempotency_key, version, chosen
        )

    @app.get("/cases/{case_id}")
    def get_case(
        case_id: str, accept_language: AcceptLanguage = None, lang: LangQuery = None
    ) -> JSONResponse:
        """The case document; its version is the ``ETag`` to send back in ``If-Match``."""
        try:
            return case_answer(store.load(case_id))
        except CaseNotFound:
            return not_found(case_id, language(lang, accept_language))

    @app.get("/cases/{case_id}/allowed")
    def allowed(
        case_id: str,
        x_actor: ActorId = None,
        x_role: ActorRole = None,
        x_provider: ActorProvider = None,
        x_district: ActorDistrict = None,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        on: date | None = None,
    ) -> JSONResponse:
        """Every command of the workflow, whether it is allowed now, and why not."""
        chosen = language(lang, accept_language)
        by = actor_from(x_actor, x_role, x_provider, x_district)
        if by is None:
            return unauthenticated(chosen)
        try:
            case = store.load(case_id)
        except CaseNotFound:
            return not_found(case_id, chosen)
        answer = engine.allowed(case, by=by, on=on)
        workflow = engine.workflow
        commands = [
            {
                "command": name,
                "label": workflow.command(name).label(chosen),
                "allowed": not reasons,
                "reasons": reasons_json(reasons, chosen),
            }
            for name, reasons in answer.items()
        ]
        return JSONResponse(
            {"case_id": case_id, "version": case.version, "lang": chosen, "commands": commands},
            headers={"ETag": f'"{case.version}"', "Content-Language": chosen},
        )

    @app.get("/cases/{case_id}/deadlines")
    def deadlines(
        case_id: str,
        accept_language: AcceptLanguage = None,
        lang: LangQuery = None,
        on: date | None = None,
    ) -> JSONResponse:
        """The case's deadlines on *on* (default: today), soonest first."""
        chosen = language(lang, accept_language)
        try:
            case = store.load(case_id)
        except CaseNotFound:
            return not_found(case_id, chosen)
        found = [
            {
                "kind": str(d.kind),
                "label": d.kind.label(chosen),
                "due": d.due.isoformat(),
                "severity": str(d.severity),
                "severity_label": d.severity.label(chosen),
                "subject": d.subject,
            }
            for d in engine.deadlines(case, on=on)
        ]
        return JSONResponse(
            {"case_id": case_id, "on": (on or engine.today()).isoformat(), "deadlines": found},
            headers={"Content-Language": chosen},
        )

    return app
