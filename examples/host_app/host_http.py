"""The HTTP edge of the host application, independent of its routes: problem answers,
the body limit, and the checks of everything a client sends besides the command.

Reusable by any ASGI application (the async variant of the example uses it as it is):

- :class:`Problem`, raised anywhere, becomes an ``application/problem+json`` answer
  (RFC 9457) in the client's language; its text never quotes what the client sent;
- :class:`BodyLimit`, an ASGI middleware, answers ``413`` to a body over the limit before
  any route sees it;
- :func:`json_object`, :func:`version_from`, :func:`case_id_in_path`,
  :func:`idempotency_key`, :func:`business_day` check a request's parts and raise a
  :class:`Problem` (400, 404, 412, 422, 428) before anything is read or written.

>>> version_from('"3"', None)
3
>>> version_from('"²"', None)
Traceback (most recent call last):
...
host_http.Problem: 400 invalid_if_match
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import date
from typing import Any, Literal
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

Lang = Literal["de", "en"]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 64 * 1024
"""The largest request body the application reads (64 KiB): a command document with a
4,000-character note is far smaller."""
MAX_VERSION = 2**31 - 1
FIRST_DAY, LAST_DAY = date(2018, 1, 1), date(2099, 12, 31)

# every word a problem answer shows: (title, detail) in German and English
WORDS: Mapping[str, Mapping[Lang, tuple[str, str]]] = {
    "token_missing": {
        "de": ("Nicht angemeldet", "Ein Bearer-Token im Authorization-Header fehlt."),
        "en": ("Not authenticated", "A bearer token in the Authorization header is missing."),
    },
    "token_invalid": {
        "de": (
            "Nicht angemeldet",
            "Das Token ist ungültig, abgelaufen oder nicht für diesen Dienst.",
        ),
        "en": ("Not authenticated", "The token is invalid, expired or not for this service."),
    },
    "forbidden": {
        "de": ("Nicht erlaubt", "Ihre Rolle darf das nicht."),
        "en": ("Forbidden", "Your role may not do this."),
    },
    "not_found": {
        "de": ("Nicht gefunden", "Kein Fall mit dieser Kennung, den Sie sehen dürfen."),
        "en": ("Not found", "No case with this id that you may see."),
    },
    "no_route": {
        "de": ("Nicht gefunden", "Diese Adresse gibt es nicht."),
        "en": ("Not found", "There is no such address."),
    },
    "method_not_allowed": {
        "de": ("Methode nicht erlaubt", "Diese Methode ist hier nicht erlaubt."),
        "en": ("Method not allowed", "This method is not allowed here."),
    },
    "case_exists": {
        "de": ("Fall existiert", "Ein Fall mit dieser Kennung existiert bereits."),
        "en": ("Case exists", "A case with this id exists already."),
    },
    "version_mismatch": {
        "de": ("Veraltete Version", "Der Fall hat sich geändert: bitte neu laden."),
        "en": ("Stale version", "The case has changed: please reload it."),
    },
    "conflict": {
        "de": ("Konflikt", "Der Fall wurde gleichzeitig geändert: bitte erneut senden."),
        "en": ("Conflict", "The case was changed at the same time: please send it again."),
    },
    "version_required": {
        "de": ("Version fehlt", "If-Match (oder expected_version) mit der Version angeben."),
        "en": ("Version required", "Send If-Match (or expected_version) with the version."),
    },
    "invalid_if_match": {
        "de": ("Ungültiges If-Match", 'If-Match muss ein starkes Entity-Tag wie "3" sein.'),
        "en": ("Invalid If-Match", 'If-Match must be one strong entity tag such as "3".'),
    },
    "too_large": {
        "de": ("Zu groß", "Der Inhalt der Anfrage ist größer als 64 KiB."),
        "en": ("Too large", "The request body is larger than 64 KiB."),
    },
    "invalid_json": {
        "de": ("Kein JSON-Objekt", "Der Inhalt muss ein JSON-Objekt in UTF-8 sein."),
        "en": ("No JSON object", "The body must be one JSON object in UTF-8."),
    },
    "unsupported_media_type": {
        "de": ("Falscher Inhaltstyp", "Der Inhalt muss application/json sein."),
        "en": ("Unsupported media type", "The body must be application/json."),
    },
    "invalid_document": {
        "de": ("Ungültiges Dokument", "Das Dokument passt nicht zum Schema."),
        "en": ("Invalid document", "The document does not fit the schema."),
    },
    "invalid_parameter": {
        "de": ("Ungültige Angabe", "Eine Angabe in Adresse oder Kopfzeilen ist ungültig."),
        "en": ("Invalid parameter", "A parameter in the address or headers is invalid."),
    },
    "invalid_case_id": {
        "de": ("Ungültige Fallkennung", "1 bis 64 druckbare Zeichen, ohne / und nicht . oder .."),
        "en": ("Invalid case id", "1 to 64 printable characters, no / and not . or .."),
    },
    "rejected": {
        "de": ("Abgelehnt", "Der Befehl wurde abgelehnt; die Gründe stehen in reasons."),
        "en": ("Rejected", "The command was refused; reasons lists why."),
    },
    "idempotency_key_reused": {
        "de": ("Schlüssel schon verwendet", "Der Idempotency-Key gehört zu einer anderen Anfrage."),
        "en": ("Key reused", "The Idempotency-Key belongs to another request."),
    },
    "internal": {
        "de": ("Interner Fehler", "Die Anfrage konnte nicht bearbeitet werden."),
        "en": ("Internal error", "The request could not be handled."),
    },
}


class Problem(Exception):
    """An answer other than success: *status*, a stable *code* (a key of :data:`WORDS`),
    and extension members that never hold a value the client sent."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.fields = fields

    def response(self, lang: Lang) -> Response:
        return problem_response(self.status, self.code, lang, headers=self.headers, **self.fields)


def problem_response(
    status: int, code: str, lang: Lang, *, headers: Mapping[str, str] | None = None, **fields: Any
) -> Response:
    """An ``application/problem+json`` answer; ASCII-escaped, so no text can break it."""
    title, detail = WORDS[code][lang]
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "error": code,
        **fields,
    }
    content = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    all_headers = {"Content-Language": lang, **(headers or {})}
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


# -- language -------------------------------------------------------------------------------


def language(lang: str | None, accept_language: str | None) -> Lang:
    """``?lang=`` wins; else the preferred of German and English in Accept-Language;
    else German.

    >>> language(None, "en-GB,en;q=0.9,de;q=0.5"), language(None, "fr"), language("en", "de")
    ('en', 'de', 'en')
    """
    if lang in ("de", "en"):
        return "de" if lang == "de" else "en"
    best: tuple[float, Lang] | None = None
    for part in (accept_language or "")[:1000].split(","):
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
            if not 0.0 < weight <= 1.0:  # q=0 is "not acceptable"; nan, inf: ignored
                continue
        code: Lang = "de" if primary == "de" else "en"
        if best is None or weight > best[0]:
            best = (weight, code)
    return best[1] if best else "de"


def request_language(request: Request) -> Lang:
    return language(request.query_params.get("lang"), request.headers.get("accept-language"))


# -- the body -------------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a request body over *max_body* bytes is answered ``413`` before
    the application runs, so nothing of it is parsed, decided or written.

    A declared ``Content-Length`` over the limit is refused at once; a body sent without
    one is counted as it arrives. The rest of a refused body is never read: the answer
    says ``Connection: close`` and the server closes the connection after it (a client
    still sending reads the answer, as httpx and curl do).
    """

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or len(declared) > 18):
            await _refuse(scope, receive, send, 400, "invalid_parameter")
            return
        if declared is not None and int(declared) > self.max_body:
            await _refuse(scope, receive, send, 413, "too_large")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _refuse(scope, receive, send, 413, "too_large")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str) -> None:
    """Answer without reading the rest of the body; the connection closes after it."""
    lang = request_language(Request(scope))
    headers = {"Connection": "close"}
    await problem_response(status, code, lang, headers=headers)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def json_object(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a JSON object; ``415`` for another media type, ``400`` for anything
    that is not one JSON object in UTF-8 (nesting and number sizes included)."""
    if content_type is not None:
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Problem(415, "unsupported_media_type")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSON, digits
        raise Problem(400, "invalid_json") from None
    if not isinstance(doc, dict):
        raise Problem(400, "invalid_json")
    return doc


# -- headers and the path ---------------------------------------------------------------------


def version_from(if_match: str | None, expected_version: int | None) -> int:
    """The version the client based its command on: ``If-Match: "3"`` or
    ``?expected_version=3``; ``428`` without either, ``400`` for anything but one strong
    entity tag of ASCII digits."""
    if expected_version is not None:
        return expected_version
    if if_match is None:
        raise Problem(428, "version_required")
    tag = if_match.strip()
    digits = tag[1:-1] if len(tag) >= 3 and tag[0] == tag[-1] == '"' else ""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
        raise Problem(400, "invalid_if_match")
    version = int(digits)
    if version > MAX_VERSION:
        raise Problem(400, "invalid_if_match")
    return version


def valid_case_id(case_id: str) -> bool:
    """imflow's id rule (1 to 64 printable characters, not blank), and addressable in a
    URL path: no ``/``, and not the dot segments ``.`` and ``..``."""
    return (
        0 < len(case_id) <= 64
        and case_id.isprintable()
        and not case_id.isspace()
        and "/" not in case_id
        and case_id not in (".", "..")
    )


def case_id_in_path(case_id: str) -> str:
    """*case_id* from the path; ``404`` for an id no case can have (nothing is looked up)."""
    if not valid_case_id(case_id):
        raise Problem(404, "not_found")
    return case_id


def case_location(case_id: str) -> str:
    """The ``Location`` of a case: its id percent-encoded, so any id makes a valid header.

    >>> case_location("wt 1/ü")
    '/cases/wt%201%2F%C3%BC'
    """
    return "/cases/" + quote(case_id, safe="")


def idempotency_key(value: str | None) -> str | None:
    """An ``Idempotency-Key`` header: 1 to 64 printable ASCII characters, else ``400``."""
    if value is None:
        return None
    if not (0 < len(value) <= 64 and value.isascii() and value.isprintable()):
        raise Problem(400, "invalid_parameter", parameter="Idempotency-Key")
    return value


def business_day(on: date | None) -> date | None:
    """A ``?on=`` date within imflow's bounds (2018-01-01 to 2099-12-31), else ``422``."""
    if on is not None and not FIRST_DAY <= on <= LAST_DAY:
        raise Problem(422, "invalid_parameter", parameter="on")
    return on
