"""imflow's logs: quiet by default, structured where the host listens.

imflow never configures structlog or :mod:`logging`; the host decides where logs go:

- **structlog configured by the host** (``structlog.is_configured()``): imflow logs
  through ``structlog.get_logger("imflow")``, with the host's processors and filters;
- **otherwise, standard logging**: imflow's records go to the logger ``imflow`` as
  key-value records (``command_accepted case_id='wt-1' command='open_case' …``, each
  key also an attribute of the record and all of them in ``record.imflow``), so
  ``logging.basicConfig(level=logging.INFO)`` or Django's ``LOGGING`` shows them;
- **nothing configured**: nothing is printed (not even warnings through logging's
  last-resort handler), and a log call that nobody listens to costs one level check.

Log events carry case ids (pseudonymous), command and event types, phases, reason
codes and durations, never personal content.

:func:`redact_personal_data` is a processor a host adds to its chain to make sure that
nothing personal reaches its log sink, also from its own log calls:

>>> redact_personal_data(None, "info", {"event": "x", "case_id": "c1", "note": "ill",
...                                     "extra": {"person": "p-17", "minutes": 30}})
{'event': 'x', 'case_id': 'c1', 'extra': {'minutes': 30}}

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from enum import Enum
from typing import Any, Final

import attrs
import structlog

__all__ = [
    "LOGGER_NAME",
    "PERSONAL_KEYS",
    "ImflowLogger",
    "Processor",
    "get_logger",
    "redact_personal_data",
]

LOGGER_NAME: Final = "imflow"
"""The name imflow logs under, in structlog and in the standard :mod:`logging`."""

_STDLIB = logging.getLogger(LOGGER_NAME)
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

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


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class _KeyValues:
    """A record's message, rendered only when a handler formats it."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: Mapping[str, Any]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        pairs = " ".join(f"{key}={_plain(value)!r}" for key, value in self.fields.items())
        return f"{self.event} {pairs}" if pairs else self.event


def _stdlib_log(level: int, event: str, fields: dict[str, Any]) -> None:
    extra = {k: v for k, v in fields.items() if k not in _RESERVED}
    extra["imflow"] = {"event": event, **fields}
    _STDLIB.log(level, _KeyValues(event, fields), extra=extra)


class _StdlibInfo:
    """What :func:`info_logger` hands out on the standard-logging route."""

    __slots__ = ()

    def info(self, event: str, **fields: Any) -> None:
        _stdlib_log(logging.INFO, event, fields)


_STDLIB_INFO = _StdlibInfo()


class ImflowLogger:
    """imflow's logger: structlog's when the host configured structlog, else the
    standard logger ``imflow``; silent when neither listens. Holds no state.

    >>> get_logger().info("store_migrated", version=3)  # nobody listens: nothing printed

    .. versionadded:: 0.2.0
    """

    __slots__ = ()

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(structlog.get_logger(LOGGER_NAME), method)(event, **fields)
        elif _STDLIB.isEnabledFor(level) and _STDLIB.hasHandlers():
            _stdlib_log(level, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log *event* at INFO."""
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log *event* at WARNING."""
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log *event* at ERROR."""
        self._emit(logging.ERROR, "error", event, fields)


_LOG = ImflowLogger()


def get_logger() -> ImflowLogger:
    """imflow's logger (see :class:`ImflowLogger`).

    .. versionadded:: 0.2.0
    """
    return _LOG


def info_logger(proxy: Any) -> tuple[Any, bool]:
    """The logger for the engine's INFO events, or ``None`` if nobody listens, and
    whether the answer may be kept (the host asked structlog to cache its loggers).

    *proxy* is the caller's ``structlog.get_logger("imflow")``; on the standard-logging
    route the answer is never kept, so a ``dictConfig`` applied later is heard.
    """
    if structlog.is_configured():
        log = proxy.bind()
        enabled = getattr(log, "is_enabled_for", None)
        found = None if enabled is not None and not enabled(logging.INFO) else log
        return found, structlog.get_config()["cache_logger_on_first_use"] is True
    if _STDLIB.isEnabledFor(logging.INFO) and _STDLIB.hasHandlers():
        return _STDLIB_INFO, False
    return None, False
