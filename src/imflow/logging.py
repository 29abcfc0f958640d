"""Structured logging helpers for hosts that use structlog.

imflow logs through ``structlog.get_logger("imflow")`` and never configures structlog:
the host decides where logs go. Log events carry case ids (pseudonymous), command and
event types, phases, reason codes and durations, never personal content.

:func:`redact_personal_data` is a processor a host adds to its chain to make sure that
nothing personal reaches its log sink, also from its own log calls:

>>> redact_personal_data(None, "info", {"event": "x", "case_id": "c1", "note": "ill",
...                                     "extra": {"person": "p-17", "minutes": 30}})
{'event': 'x', 'case_id': 'c1', 'extra': {'minutes': 30}}

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import attrs

__all__ = ["PERSONAL_KEYS", "Processor", "redact_personal_data"]

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]
"""A structlog processor: ``(logger, method_name, event_dict) -> event_dict``."""

PERSONAL_KEYS = frozenset(
    {
        "note",
        "notes",
        "justification",
        "description",
        "person",
        "person_ref",
        "persons",
        "members",
        "household_members",
        "name",
        "first_name",
        "last_name",
        "birth_date",
        "address",
        "phone",
        "email",
    }
)
"""Keys whose values :func:`redact_personal_data` removes, at any depth."""


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if attrs.has(type(value)):  # an event, a command, a case: its fields, redacted
        return {
            f.name: _clean(getattr(value, f.name))
            for f in attrs.fields(type(value))
            if f.name not in PERSONAL_KEYS
        }
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    return value


def redact_personal_data(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Remove notes, justifications, descriptions and person references from a log event.

    Looks inside mappings, lists, tuples and attrs objects (events, commands, cases),
    which it turns into mappings of their other fields.

    .. versionchanged:: 0.2.0 attrs objects are redacted too.
    """
    for key in [k for k in event_dict if k in PERSONAL_KEYS]:
        del event_dict[key]
    for key, value in event_dict.items():
        if isinstance(value, Mapping | list | tuple) or attrs.has(type(value)):
            event_dict[key] = _clean(value)
    return event_dict
