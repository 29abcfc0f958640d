"""The host application's OpenAPI document: request and response schemas from imflow's
own JSON Schema (:func:`imflow.serialization.json_schema`), and every status a route
can answer with, each with its ``application/problem+json`` schema.

OpenAPI 3.1 uses JSON Schema 2020-12, the dialect imflow publishes, so imflow's
definitions go into ``components/schemas`` unchanged but for their references
(``#/$defs/x`` → ``#/components/schemas/x``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from host_http import MAX_VERSION, PROBLEM_JSON, WORDS

from imflow.commands import COMMAND_TYPES
from imflow.events import EVENT_TYPES
from imflow.serialization import json_schema

REF = "#/components/schemas/"

_WHY: Mapping[int, str] = {
    400: "The body is not one JSON object, or a header (If-Match, Idempotency-Key) is malformed.",
    401: "No bearer token, or one that is forged, expired or for another service.",
    403: "The token's role may not do this (or the engine refused the act as forbidden).",
    404: "No case with this id that the token may see (a foreign case looks missing).",
    409: "A case with this id exists already.",
    412: "If-Match names a version the case is no longer at: reload it.",
    413: "The body is larger than 64 KiB.",
    415: "The body is not application/json.",
    422: "The document does not fit the schema, a parameter is out of bounds, the engine "
    "refused the command (reasons), or the Idempotency-Key was used for another request.",
    428: "Neither If-Match nor expected_version was sent.",
}


def _refs(node: Any) -> Any:
    """*node* with imflow's ``#/$defs/`` references pointing into the components."""
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", REF) if k == "$ref" else _refs(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_refs(v) for v in node]
    return node


def _one_of(tags: Iterable[str]) -> dict[str, Any]:
    return {"oneOf": [{"$ref": REF + t} for t in tags]}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


STRING: dict[str, Any] = {"type": "string"}
DATE: dict[str, Any] = {"type": "string", "format": "date"}
VERSION: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_VERSION}


def own_schemas() -> dict[str, Any]:
    """The answers' schemas (the commands and events inside are imflow's)."""
    reason = _object(["code", "message"], code=STRING, message=STRING)
    view = _object(
        ["case_id", "version", "phase", "district", "provider", "rule_set", "opened_on",
         "period_end", "events"],
        case_id=STRING,
        version=VERSION,
        phase=STRING,
        district=STRING,
        provider=STRING,
        rule_set=STRING,
        opened_on=DATE,
        period_end={"anyOf": [DATE, {"type": "null"}]},
        events={"type": "array", "items": {"$ref": REF + "Event"}},
    )  # fmt: skip
    return {
        "Command": _one_of(t for t in COMMAND_TYPES if t != "open_case"),
        "Event": _one_of(EVENT_TYPES),
        "Reason": reason,
        "CaseView": view,
        "CaseAnswer": _object(
            ["version", "case"],
            version=VERSION,
            replayed={"type": "boolean"},
            case={"$ref": REF + "CaseView"},
        ),
        "AllowedAnswer": _object(
            ["case_id", "version", "lang", "commands"],
            case_id=STRING,
            version=VERSION,
            lang={"enum": ["de", "en"]},
            commands={
                "type": "array",
                "items": _object(
                    ["command", "label", "allowed", "reasons"],
                    command=STRING,
                    label=STRING,
                    allowed={"type": "boolean"},
                    reasons={"type": "array", "items": {"$ref": REF + "Reason"}},
                ),
            },
        ),
        "DeadlinesAnswer": _object(
            ["case_id", "on", "deadlines"],
            case_id=STRING,
            on=DATE,
            deadlines={
                "type": "array",
                "items": _object(
                    ["kind", "label", "due", "severity", "severity_label", "subject"],
                    kind=STRING,
                    label=STRING,
                    due=DATE,
                    severity=STRING,
                    severity_label=STRING,
                    subject={"anyOf": [STRING, {"type": "null"}]},
                ),
            },
        ),
        "Health": _object(["status"], status={"const": "ok"}),
        "Problem": _object(
            ["type", "title", "status", "detail", "error"],
            type=STRING,
            title=STRING,
            status={"type": "integer", "minimum": 400, "maximum": 599},
            detail=STRING,
            error={"enum": sorted(WORDS)},
            path=STRING,
            message=STRING,
            parameter=STRING,
            parameters={"type": "array", "items": STRING},
            command=STRING,
            reasons={"type": "array", "items": {"$ref": REF + "Reason"}},
            expected=VERSION,
            actual=VERSION,
        ),
    }


def schemas() -> dict[str, Any]:
    """Every component schema: imflow's definitions, then the answers'."""
    imflow = _refs(copy.deepcopy(json_schema()["$defs"]))
    own = own_schemas()
    if set(imflow) & set(own):
        raise RuntimeError("a schema name of imflow's is taken by the application")
    return {**imflow, **own}


def json_body(schema: str, description: str) -> dict[str, Any]:
    """An ``openapi_extra`` declaring the request body (the routes read it themselves)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": REF + schema}}},
        }
    }


def answers(ok: Mapping[int, tuple[str, str]], *problems: int) -> dict[int | str, Any]:
    """The ``responses`` of a route: its successes (status → schema, description) and
    the statuses of its problems, each with the Problem schema."""
    found: dict[int | str, Any] = {
        status: {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": REF + schema}}},
        }
        for status, (schema, description) in ok.items()
    }
    for status in problems:
        found[status] = {
            "description": _WHY[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF + "Problem"}}},
        }
    return found


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's generated *document* with imflow's schemas in its components."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(schemas())
    return document
