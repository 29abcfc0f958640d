"""Private: the input bounds of domain.md § 8 and the strict field types, in one place.

The engine (deciding a command), the stores (re-deciding an appended event) and
:mod:`imflow.serialization` (parsing a document) all ask this module, so that a value
one of them accepts is accepted by every other one, and can be written by every store.

Which bound applies to a field follows from its declared type and its name, so new
commands and events are covered without a table to keep in step:

- a ``str`` field is an **id** (1 to 64 printable characters, not blank), except the
  free texts :data:`TEXT_FIELDS` (at most 4,000 characters; no NUL bytes, no lone
  surrogates, no control characters but line breaks ``\\n`` and ``\\r``);
- a ``tuple[str, ...]`` holds ids;
- a ``date`` lies from 2018-01-01 to 2099-12-31 (except computed last days such as
  ``period_end``, which the engine derives and the stores compare);
- an ``int`` stays within :data:`INT_BOUNDS` for its name, else within 32 bits.

Problems are ``(field, problem)`` pairs; a problem says what is allowed, never the value.

>>> id_problem("p-17") is None, id_problem("")
(True, 'must be 1 to 64 printable characters')
>>> text_problem("a\\x00b").startswith("must not contain NUL bytes")
True
"""

from __future__ import annotations

import enum
import functools
import re
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import MappingProxyType, NoneType, UnionType
from typing import Any

import attrs

__all__: list[str] = []

MIN_DATE = date(2018, 1, 1)
"""The earliest date imflow accepts (the first rule set's effective date)."""
MAX_DATE = date(2099, 12, 31)
"""The latest date imflow accepts."""
MAX_ID = 64
MAX_TEXT = 4000
MAX_HOUSEHOLD = 30
MAX_CONTACT_MINUTES = 600

TEXT_FIELDS = frozenset({"note", "description", "justification"})
"""``str`` fields that hold free text; every other ``str`` field is an id."""

PERSONAL_FIELDS = frozenset({"person", "members", "note", "description", "justification"})
"""Fields of commands, events and case values that hold personal data (domain.md § 8)."""

COMPUTED_DATES = frozenset({"period_end", "status_on", "agreed_on", "started_on"})
"""``date`` fields the engine computes; they are checked by re-deciding, not by bounds."""

_INT32 = (-(2**31), 2**31 - 1)
INT_BOUNDS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "household": (1, MAX_HOUSEHOLD),
        "seq": (1, _INT32[1]),
        "plan_version": (1, _INT32[1]),
        "version": (1, _INT32[1]),
    }
)
"""Bounds of ``int`` fields by name (others: 32 bits); the engine checks minutes and
months against the rule set when it decides."""

ID_PROBLEM = f"must be 1 to {MAX_ID} printable characters"
TEXT_LENGTH_PROBLEM = f"must be at most {MAX_TEXT:,} characters"
TEXT_CHAR_PROBLEM = (
    "must not contain NUL bytes, lone surrogates or control characters other than line breaks"
)
DATE_PROBLEM = f"must be a date from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}"

# C0 controls but \n and \r, DEL, C1 controls, and the surrogate code points
_BAD_TEXT = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def problem_code(problem: str) -> tuple[str, dict[str, object]]:
    """The catalogue code (``problem.<code>``) and parameters of a *problem* above.

    >>> problem_code(ID_PROBLEM)
    ('id_bounds', {'maximum': 64})
    """
    if problem.endswith(ID_PROBLEM):
        return "id_bounds", {"maximum": MAX_ID}
    if problem.endswith(TEXT_LENGTH_PROBLEM):
        return "text_too_long", {"maximum": MAX_TEXT}
    if problem.endswith(TEXT_CHAR_PROBLEM):
        return "text_characters", {}
    if problem.endswith(DATE_PROBLEM):
        return "date_bounds", {"first": MIN_DATE, "last": MAX_DATE}
    found = _INT_RANGE.fullmatch(problem)
    if found is not None:
        return "int_range", {"minimum": int(found[1]), "maximum": int(found[2])}
    return "out_of_bounds", {}


_INT_RANGE = re.compile(r"must be (-?\d+) to (-?\d+)")


def id_problem(value: str) -> str | None:
    """Why *value* is no valid id, or ``None``."""
    if 0 < len(value) <= MAX_ID and value.isprintable() and not value.isspace():
        return None
    return ID_PROBLEM


def text_problem(value: str) -> str | None:
    """Why *value* is no valid free text, or ``None``."""
    if len(value) > MAX_TEXT:
        return TEXT_LENGTH_PROBLEM
    if _BAD_TEXT.search(value) is not None:
        return TEXT_CHAR_PROBLEM
    return None


def date_problem(value: date) -> str | None:
    """Why *value* lies outside the date bounds, or ``None``."""
    return None if MIN_DATE <= value <= MAX_DATE else DATE_PROBLEM


def int_problem(name: str, value: int) -> str | None:
    """Why the ``int`` field *name* may not hold *value*, or ``None``."""
    lo, hi = INT_BOUNDS.get(name, _INT32)
    return None if lo <= value <= hi else f"must be {lo} to {hi}"


def kind_of(value: Any) -> str:
    """What kind of value *value* is, for a message that must not show it."""
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


# -- strict types ----------------------------------------------------------------------------

Check = Callable[[Any], str | None]
"""Returns what is wrong with a value's type (``"expected …, got …"``), or ``None``."""


def _exact(kind: type, label: str) -> Check:
    def check(value: Any) -> str | None:
        return None if type(value) is kind else f"expected {label}, got {kind_of(value)}"

    return check


def _aware(value: Any) -> str | None:
    if type(value) is not datetime:
        return f"expected an aware datetime, got {kind_of(value)}"
    if value.utcoffset() is None:
        return "expected an aware datetime, got a naive one"
    return None


def _optional(inner: Check) -> Check:
    def check(value: Any) -> str | None:
        return None if value is None else inner(value)

    return check


def _tuple_of(inner: Check) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not tuple:
            return f"expected a tuple, got {kind_of(value)}"
        for item in value:
            problem = inner(item)
            if problem is not None:
                return f"an item: {problem}"
        return None

    return check


def _nested(cls: type) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not cls:
            return f"expected {cls.__name__}, got {kind_of(value)}"
        found = type_problem(value)
        return None if found is None else f"{found[0]}: {found[1]}"

    return check


def _check_for(hint: Any) -> Check:
    if hint is str:
        return _exact(str, "a string")
    if hint is int:
        return _exact(int, "an integer")
    if hint is bool:
        return _exact(bool, "a boolean")
    if hint is date:
        return _exact(date, "a date")
    if hint is datetime:
        return _aware
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _exact(hint, f"a {hint.__name__}")
    if isinstance(hint, type) and attrs.has(hint):
        return _nested(hint)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_of(_check_for(args[0]))
    if isinstance(hint, UnionType) and NoneType in args and len(args) == 2:
        (inner,) = (a for a in args if a is not NoneType)
        return _optional(_check_for(inner))
    raise TypeError(f"no strict check for the type {hint!r}")  # pragma: no cover


@functools.cache
def _type_checks(cls: type) -> tuple[tuple[str, Check], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _check_for(hints[f.name])) for f in attrs.fields(cls))


def type_problem(obj: Any) -> tuple[str, str] | None:
    """The first field of *obj* whose value is not exactly of its declared type.

    Subclasses do not pass (``True`` is no ``int`` here, a plain ``str`` no enum member),
    because they would not survive a store's JSON round trip.
    """
    cls: type = type(obj)
    for name, check in _type_checks(cls):
        problem = check(getattr(obj, name))
        if problem is not None:
            return name, problem
    return None


# -- bounds ----------------------------------------------------------------------------------

Bound = Callable[[str, Any], str | None]


def _id_bound(name: str, value: Any) -> str | None:
    return id_problem(value) if type(value) is str else None


def _text_bound(name: str, value: Any) -> str | None:
    return text_problem(value) if type(value) is str else None


def _ids_bound(name: str, value: Any) -> str | None:
    if type(value) is not tuple:
        return None
    for item in value:
        if type(item) is str and id_problem(item) is not None:
            return f"every entry {ID_PROBLEM}"
    return None


def _date_bound(name: str, value: Any) -> str | None:
    return date_problem(value) if type(value) is date else None


def _moment_bound(name: str, value: Any) -> str | None:
    return date_problem(value.date()) if type(value) is datetime else None


def _int_bound(name: str, value: Any) -> str | None:
    return int_problem(name, value) if type(value) is int else None


def _bound_for(name: str, hint: Any) -> Bound | None:
    args = typing.get_args(hint)
    if isinstance(hint, UnionType) and NoneType in args and len(args) == 2:
        (hint,) = (a for a in args if a is not NoneType)
    if hint is str:
        return _text_bound if name in TEXT_FIELDS else _id_bound
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[0] is str:
        return _ids_bound
    if hint is date:
        return None if name in COMPUTED_DATES else _date_bound
    if hint is datetime:
        return _moment_bound
    if hint is int:
        return _int_bound
    return None


@functools.cache
def _bounds(cls: type) -> tuple[tuple[str, Bound], ...]:
    hints = typing.get_type_hints(cls)
    found = []
    for f in attrs.fields(cls):
        bound = _bound_for(f.name, hints[f.name])
        if bound is not None:
            found.append((f.name, bound))
    return tuple(found)


def bound_problems(obj: attrs.AttrsInstance) -> list[tuple[str, str]]:
    """Every ``(field, problem)`` of *obj* (a command or an event) outside its bounds.

    Only fields of the right type are judged (types are :func:`type_problem`'s job). The
    actor of an event is judged too, as ``actor.id`` and so on.
    """
    found = []
    for name, bound in _bounds(type(obj)):
        value = getattr(obj, name)
        problem = bound(name, value)
        if problem is not None:
            found.append((name, problem))
    actor = getattr(obj, "actor", None)
    if actor is not None and attrs.has(type(actor)):
        found.extend((f"actor.{n}", p) for n, p in actor_problems(actor))
    return found


def actor_problems(actor: Any) -> list[tuple[str, str]]:
    """What is wrong with an actor's fields: its id, provider and district are ids."""
    found = []
    for name in ("id", "provider", "district"):
        value = getattr(actor, name, None)
        if value is None and name != "id":
            continue
        if type(value) is not str:
            found.append((name, f"expected a string, got {kind_of(value)}"))
        elif id_problem(value) is not None:
            found.append((name, ID_PROBLEM))
    return found


# -- compiled predicates for the engine's hot path ---------------------------------------------


def _id_term(v: str) -> str:
    return (
        f"(type({v}) is str and 0 < len({v}) <= {MAX_ID}"
        f" and {v}.isprintable() and not {v}.isspace())"
    )


def _term(name: str, bound: Bound) -> str:
    v = f"obj.{name}"
    if bound is _id_bound:
        return _id_term(v)
    if bound is _text_bound:
        return f"(type({v}) is str and len({v}) <= {MAX_TEXT} and _bad({v}) is None)"
    if bound is _ids_bound:
        return f"(type({v}) is tuple and (not {v} or _ids_ok({v})))"
    if bound is _date_bound:
        return f"(type({v}) is date and _min <= {v} <= _max)"
    if bound is _moment_bound:
        return f"(type({v}) is datetime and _min <= {v}.date() <= _max)"
    lo, hi = INT_BOUNDS.get(name, _INT32)
    return f"(type({v}) is int and {lo} <= {v} <= {hi})"


def _ids_ok(values: tuple[Any, ...]) -> bool:
    return all(type(v) is str and id_problem(v) is None for v in values)


def compile_bounds(cls: type) -> Callable[[Any], bool]:
    """A fast predicate: true when every bounded field of an instance of *cls* is in bounds.

    The engine calls it on every command and asks :func:`bound_problems` only when it
    says no, so a valid command costs one generated expression.
    """
    terms = [_term(name, bound) for name, bound in _bounds(cls)] or ["True"]
    namespace: dict[str, Any] = {
        "_bad": _BAD_TEXT.search,
        "_ids_ok": _ids_ok,
        "_min": MIN_DATE,
        "_max": MAX_DATE,
        "date": date,
        "datetime": datetime,
    }
    source = "def in_bounds(obj):\n    return " + " and ".join(terms) + "\n"
    exec(source, namespace)
    check: Callable[[Any], bool] = namespace["in_bounds"]
    check.__qualname__ = f"in_bounds({cls.__qualname__})"
    return check


def actor_ok(actor: Any) -> bool:
    """Whether *actor*'s id, provider and district are valid ids (its type is checked apart)."""
    a, p, d = actor.id, actor.provider, actor.district
    return (
        type(a) is str
        and 0 < len(a) <= MAX_ID
        and a.isprintable()
        and not a.isspace()
        and (p is None or (type(p) is str and id_problem(p) is None))
        and (d is None or (type(d) is str and id_problem(d) is None))
    )


# -- the same bounds as JSON Schema keywords ---------------------------------------------------

_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff"
_TEXT_CONTROL = "\\u0000-\\u0009\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\ud800-\\udfff"
_YEAR = "(201[89]|20[2-9][0-9])"
ID_SCHEMA: Mapping[str, Any] = MappingProxyType(
    {"minLength": 1, "maxLength": MAX_ID, "pattern": f"^(?!\\s+$)[^{_CONTROL}]+$"}
)
TEXT_SCHEMA: Mapping[str, Any] = MappingProxyType(
    {"maxLength": MAX_TEXT, "pattern": f"^[^{_TEXT_CONTROL}]*$"}
)


def schema_keywords(name: str, hint: Any) -> dict[str, Any]:
    """JSON Schema keywords for the bounds of field *name* (see :func:`bound_problems`).

    Ids refuse control characters and blanks; Python's own check (``str.isprintable``)
    refuses a few more, such as format characters, which a schema cannot name simply.
    """
    bound = _bound_for(name, hint)
    if bound is _id_bound:
        return dict(ID_SCHEMA)
    if bound is _text_bound:
        return dict(TEXT_SCHEMA)
    if bound is _ids_bound:
        return {"items": {"type": "string", **ID_SCHEMA}}
    if bound is _date_bound:
        return {"pattern": f"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"}
    if bound is _moment_bound:
        return {"pattern": f"^{_YEAR}-"}
    if bound is _int_bound:
        lo, hi = INT_BOUNDS.get(name, _INT32)
        return {"minimum": lo, "maximum": hi}
    return {}


def redacted(value: Any) -> str:
    """The ``repr`` of a personal field: never its content, only its size.

    >>> redacted("lives with an aunt"), redacted(""), redacted(("p-1", "p-2"))
    ('<redacted>', "''", '<2 redacted>')
    """
    if isinstance(value, tuple):
        return f"<{len(value)} redacted>"
    return "''" if value == "" else "<redacted>"


def _type_term(v: str, hint: Any, namespace: dict[str, Any]) -> str:
    if hint is datetime:
        return f"(type({v}) is datetime and {v}.utcoffset() is not None)"
    if isinstance(hint, type) and attrs.has(hint):
        name = f"_t{len(namespace)}"
        namespace[name] = hint
        inner = [
            _type_term(f"{v}.{f.name}", h, namespace)
            for f, h in ((f, typing.get_type_hints(hint)[f.name]) for f in attrs.fields(hint))
        ]
        return f"(type({v}) is {name} and " + " and ".join(inner) + ")"
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        name = f"_t{len(namespace)}"
        namespace[name] = args[0]
        return f"(type({v}) is tuple and all(type(x) is {name} for x in {v}))"
    if isinstance(hint, UnionType) and NoneType in args and len(args) == 2:
        (inner,) = (a for a in args if a is not NoneType)
        return f"({v} is None or {_type_term(v, inner, namespace)})"
    name = f"_t{len(namespace)}"
    namespace[name] = hint
    return f"(type({v}) is {name})"


@functools.cache
def compile_types(cls: type) -> Callable[[Any], bool]:
    """A fast predicate: true when every field of an instance of *cls* has exactly its
    declared type (nested attrs values included); :func:`type_problem` says what is wrong."""
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {"datetime": datetime}
    terms = [_type_term(f"obj.{f.name}", hints[f.name], namespace) for f in attrs.fields(cls)]
    source = "def exact(obj):\n    return " + (" and ".join(terms) or "True") + "\n"
    exec(source, namespace)
    check: Callable[[Any], bool] = namespace["exact"]
    return check
