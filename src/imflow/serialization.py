"""JSON for commands, events and cases: strict on input, stable on disk.

:func:`dumps` and :func:`loads` turn commands, events and :class:`~imflow.Case` values
into JSON text and back. Documents are plain JSON objects: dates are ISO strings
(``"2025-03-01"``), datetimes ISO strings with an offset, enums their values, tuples
arrays. Commands and events carry their ``type`` tag, and every document carries
``schema_version`` so that older event documents can be migrated on read by
*upcasters* (see :data:`UPCASTERS`).

Input is never trusted: malformed JSON, an unknown ``type``, a missing, extra or
wrongly typed field, an unknown enum value, an impossible date or a datetime where a
date belongs raise :class:`~imflow.InvalidDocument`, whose ``path`` names the field.

>>> from datetime import date
>>> from imflow import commands as c
>>> text = dumps(c.RecordNeed(area="housing", note="", on=date(2025, 3, 2)))
>>> text
'{"type":"record_need","schema_version":1,"on":"2025-03-02","area":"housing","note":""}'
>>> loads(text, c.RecordNeed).area
<LifeArea.HOUSING: 'housing'>
>>> loads('{"type": "record_need", "on": "2025-02-30", "area": "housing"}', c.Command)
Traceback (most recent call last):
...
imflow.errors.InvalidDocument: $.on: impossible date

Messages say *where* and *what kind* of problem, never the value (which may be a
personal note). Values outside the bounds of domain.md § 8 are refused too (ids of 1 to
64 printable characters, free texts of at most 4,000 characters without control
characters, dates from 2018-01-01 to 2099-12-31, households of 1 to 30 persons), and a
case document must agree with its events: :func:`loads` replays them (see
:meth:`imflow.Engine.replay`).

The converter is an ordinary :class:`cattrs.Converter` that the host owns; build one
with :func:`make_converter` (for example with your own upcasters) and pass it on.
:func:`json_schema` describes the documents for hosts written in other languages.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import functools
import json
import re
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType, NoneType, UnionType
from typing import Any, Final, Literal, TypeVar, overload

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_tagged_union

from imflow import _bounds
from imflow.case import Case
from imflow.chain import Chain
from imflow.commands import COMMAND_TYPES, Command
from imflow.enums import (
    Channel,
    ClosureReason,
    ConsentStatus,
    CustomPhase,
    GoalStatus,
    LifeArea,
    Phase,
    Role,
)
from imflow.errors import InvalidDocument, InvalidHistory, WorkflowMismatch
from imflow.events import EVENT_TYPES, Event

if typing.TYPE_CHECKING:
    from imflow.engine import Engine

__all__ = [
    "SCHEMA_VERSION",
    "UPCASTERS",
    "Upcaster",
    "dumps",
    "from_document",
    "json_schema",
    "loads",
    "make_converter",
    "to_document",
]

T = TypeVar("T")

SCHEMA_VERSION: Final = 1
"""The schema version this imflow writes into every document."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Migrates one document of a ``type`` from schema version *n* to *n + 1*.

It receives a fresh copy of the document (a ``dict`` as parsed from JSON) and returns
the migrated document; it need not update ``schema_version``.
"""

UPCASTERS: Mapping[tuple[str, int], Upcaster] = MappingProxyType({})
"""imflow's own upcasters by ``(type tag, from_version)``; empty while the schema is at 1.

A host that stores documents of its own older layout passes more to
:func:`make_converter`::

    def rename_text(doc):            # version 0 called the note "text"
        doc["note"] = doc.pop("text")
        return doc

    converter = make_converter(upcasters={("need_recorded", 0): rename_text})
"""

_COMMAND_CLASSES = frozenset(COMMAND_TYPES.values())
_EVENT_CLASSES = frozenset(EVENT_TYPES.values())
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})")
_PHASES: Mapping[str, Phase] = {p.value: p for p in Phase}
_ENUMS: tuple[type[enum.Enum], ...] = (
    Channel,
    ClosureReason,
    ConsentStatus,
    GoalStatus,
    LifeArea,
    Phase,
    Role,
)


class _Bad(ValueError):
    """A value that does not fit its field; the message is shown as is."""


def _kind(value: Any) -> str:
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


# -- strict primitives ---------------------------------------------------------------------


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is not str:
        raise _Bad(f"expected a string, got {_kind(value)}")
    return value


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is not int:
        raise _Bad(f"expected an integer, got {_kind(value)}")
    return value


def _structure_date(value: Any, _: Any) -> date:
    if type(value) is not str:
        raise _Bad(f"expected a date 'YYYY-MM-DD', got {_kind(value)}")
    if not _DATE.fullmatch(value):
        raise _Bad("expected a date 'YYYY-MM-DD', got a string of another form")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Bad("impossible date") from None


def _structure_datetime(value: Any, _: Any) -> datetime:
    if type(value) is not str:
        raise _Bad(f"expected an ISO datetime with offset, got {_kind(value)}")
    if not _DATETIME.fullmatch(value):
        raise _Bad("expected an ISO datetime with offset, got a string of another form")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _Bad("impossible datetime") from None


def _structure_phase(value: Any, _: Any) -> str:
    text = _structure_str(value, str)
    return _PHASES.get(text) or CustomPhase(text)


def _is_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, enum.Enum)


def _enum_hook(cls: type[enum.Enum]) -> Callable[[Any, Any], enum.Enum]:
    members: Mapping[Any, enum.Enum] = dict(cls._value2member_map_)
    allowed = ", ".join(str(v) for v in members)

    def structure_enum(value: Any, _: Any) -> enum.Enum:
        member = members.get(value) if type(value) is str else None
        if member is None:
            shown = "an unknown string" if type(value) is str else _kind(value)
            raise _Bad(f"expected a {cls.__name__} (one of {allowed}), got {shown}")
        return member

    return structure_enum


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _is_tuple(t: Any) -> bool:
    args = typing.get_args(t)
    return typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_structure_hook(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], tuple[Any, ...]]:
    inner = homogenous_tuple_structure_factory(t, conv)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _Bad(f"expected an array, got {_kind(value)}")
        result: tuple[Any, ...] = inner(value, t)
        return result

    return structure_tuple


def _is_chain(t: Any) -> bool:
    return typing.get_origin(t) is Chain


def _chain_structure_hook(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Chain[Any]]:
    inner = _tuple_structure_hook(tuple[typing.get_args(t)[0], ...], conv)  # type: ignore[misc]
    return lambda value, _: Chain(inner(value, t))


def _chain_unstructure_hook(t: Any, conv: cattrs.Converter) -> Callable[[Any], list[Any]]:
    return _tuple_unstructure_hook(tuple[typing.get_args(t)[0], ...], conv)  # type: ignore[misc]


def _tuple_unstructure_hook(t: Any, conv: cattrs.Converter) -> Callable[[Any], list[Any]]:
    elem = typing.get_args(t)[0]
    if elem is str:
        return list
    hook = conv.get_unstructure_hook(elem)
    return lambda value: [hook(v) for v in value]


def _field_error(name: str, exc: Exception, cls: Any) -> ClassValidationError:
    note = AttributeValidationNote(f"Structuring {cls!r} @ attribute {name}", name, Any)
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return ClassValidationError(f"While structuring {cls!r}", [exc], cls)


def _schema_version(doc: dict[str, Any], cls: Any, *, required: bool, current: int) -> int:
    if "schema_version" not in doc:
        if required:
            raise _field_error("schema_version", KeyError("schema_version"), cls)
        return current
    version = doc["schema_version"]
    if type(version) is not int or not 1 <= version <= current:
        shown = repr(version) if type(version) is int else _kind(version)
        problem = _Bad(f"unsupported schema version {shown}; this imflow reads 1 to {current}")
        raise _field_error("schema_version", problem, cls)
    return version


def _tagged_union(
    conv: cattrs.Converter,
    union: Any,
    classes: Mapping[str, type[Any]],
    upcasters: Mapping[tuple[str, int], Upcaster],
    *,
    what: str,
    version_required: bool,
    current: int,
) -> None:
    """Configure *union* as a tagged union on ``type``, with a ``schema_version`` beside it."""
    tags = {cls: tag for tag, cls in classes.items()}
    configure_tagged_union(union, conv, tag_generator=tags.__getitem__, tag_name="type")
    tagged_structure = conv.get_structure_hook(union)
    by_class = {cls: conv.get_unstructure_hook(cls) for cls in classes.values()}
    known = ", ".join(sorted(classes))

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise _Bad(f"expected {what} object, got {_kind(value)}")
        if "type" not in value:
            raise _field_error("type", KeyError("type"), union)
        tag = value["type"]
        if type(tag) is not str or tag not in classes:
            shown = "an unknown one" if type(tag) is str else _kind(tag)
            raise _field_error(
                "type", _Bad(f"expected a known {what} type ({known}), got {shown}"), union
            )
        version = _schema_version(value, union, required=version_required, current=current)
        doc = dict(value)
        doc.pop("schema_version", None)
        while version < current:
            upcast = upcasters.get((tag, version))
            if upcast is not None:
                doc = upcast(doc)
                doc.pop("schema_version", None)
                doc["type"] = tag
            version += 1
        return tagged_structure(doc, union)

    def unstructure(value: Any) -> dict[str, Any]:
        return {
            "type": value.type,
            "schema_version": current,
            **by_class[type(value)](value),
        }

    conv.register_structure_hook(union, structure)
    conv.register_unstructure_hook(union, unstructure)


def make_converter(
    *,
    upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
    schema_version: int = SCHEMA_VERSION,
) -> cattrs.Converter:
    """A new converter for imflow's documents, owned by the caller.

    *upcasters* map ``(type tag, from_version)`` to a function that migrates an event
    (or command) document one schema version up; they run in version order on read.
    *schema_version* is the version the converter writes and upcasts to; only tests of
    upcasters (imflow's and a host's) set it, to stand in for a future layout.

    >>> conv = make_converter()
    >>> from imflow.enums import LifeArea
    >>> conv.structure("language", LifeArea)
    <LifeArea.LANGUAGE: 'language'>
    """
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    # cattrs dispatches on the class first: ``str`` would also catch the string enums,
    # so every enum gets its own exact hook
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    for enum_cls in _ENUMS:
        conv.register_structure_hook(enum_cls, _enum_hook(enum_cls))
        conv.register_unstructure_hook(enum_cls, _enum_value)
    conv.register_structure_hook_func(lambda t: t is date, _structure_date)
    conv.register_structure_hook_func(lambda t: t is datetime, _structure_datetime)
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook_factory(_is_tuple, _tuple_structure_hook)
    conv.register_unstructure_hook_factory(_is_tuple, _tuple_unstructure_hook)
    conv.register_structure_hook_factory(_is_chain, _chain_structure_hook)
    conv.register_unstructure_hook_factory(_is_chain, _chain_unstructure_hook)
    current = schema_version
    _tagged_union(
        conv,
        Command,
        COMMAND_TYPES,
        upcasters,
        what="command",
        version_required=False,
        current=current,
    )
    _tagged_union(
        conv, Event, EVENT_TYPES, upcasters, what="event", version_required=True, current=current
    )

    case_structure = make_dict_structure_fn(
        Case, conv, phase=override(struct_hook=_structure_phase)
    )
    case_unstructure = make_dict_unstructure_fn(Case, conv, phase=override(unstruct_hook=str))

    def structure_case(value: Any, _: Any) -> Case:
        if type(value) is not dict:
            raise _Bad(f"expected a case object, got {_kind(value)}")
        version = _schema_version(value, Case, required=True, current=current)
        if version != current:
            problem = _Bad(
                f"case documents of schema version {version} must be rebuilt from events"
            )
            raise _field_error("schema_version", problem, Case)
        doc = dict(value)
        del doc["schema_version"]
        return case_structure(doc, Case)

    def unstructure_case(value: Case) -> dict[str, Any]:
        return {"schema_version": current, **case_unstructure(value)}

    conv.register_structure_hook(Case, structure_case)
    conv.register_unstructure_hook(Case, unstructure_case)
    return conv


@functools.cache
def _default_converter() -> cattrs.Converter:
    return make_converter()


# -- documents and text ----------------------------------------------------------------------


def _unstructure_as(obj: Any) -> Any:
    cls = type(obj)
    if cls in _EVENT_CLASSES:
        return Event
    if cls in _COMMAND_CLASSES:
        return Command
    return cls


def to_document(obj: Any, *, converter: cattrs.Converter | None = None) -> dict[str, Any]:
    """*obj* (a command, an event or a case) as a JSON-ready ``dict``.

    >>> from datetime import date
    >>> from imflow.commands import StartPlanning
    >>> to_document(StartPlanning(on=date(2025, 4, 1)))
    {'type': 'start_planning', 'schema_version': 1, 'on': '2025-04-01'}
    """
    conv = converter or _default_converter()
    doc: dict[str, Any] = conv.unstructure(obj, unstructure_as=_unstructure_as(obj))
    return doc


def dumps(obj: Any, *, converter: cattrs.Converter | None = None) -> str:
    """*obj* (a command, an event or a case) as compact JSON text.

    ``loads(dumps(x), type(x)) == x`` for every command, event and case.
    """
    return json.dumps(
        to_document(obj, converter=converter), ensure_ascii=False, separators=(",", ":")
    )


def _problems(exc: BaseException, path: str) -> list[tuple[str, str]]:
    """``(path, message)`` for every leaf error of a cattrs validation error."""
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        found: list[tuple[str, str]] = []
        for sub, inote in with_notes:
            found.extend(_problems(sub, f"{path}[{inote.index!r}]"))
        for sub in without:
            found.extend(_problems(sub, path))
        return found
    if isinstance(exc, ClassValidationError):
        cwith, cwithout = exc.group_exceptions()
        found = []
        for sub, cnote in cwith:
            found.extend(_problems(sub, f"{path}.{cnote.name}"))
        for sub in cwithout:
            found.extend(_problems(sub, path))
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        return [(f"{path}.{name}", "unknown field") for name in sorted(exc.extra_fields)]
    if isinstance(exc, KeyError):
        return [(path, "required field missing")]
    if isinstance(exc, _Bad):
        return [(path, str(exc))]
    if isinstance(exc, AttributeError | TypeError) and not isinstance(exc, _Bad):
        return [(path, "expected an object")]
    return [(path, f"invalid value ({type(exc).__name__})")]


def _invalid(exc: BaseException) -> InvalidDocument:
    found = _problems(exc, "$") or [("$", "invalid document")]
    path, message = found[0]
    if len(found) > 1:
        message += "; also " + "; ".join(f"{p}: {m}" for p, m in found[1:6])
        if len(found) > 6:
            message += f"; and {len(found) - 6} more"
    return InvalidDocument(message, path=path)


def _structure_as(target: Any) -> Any:
    if target in _EVENT_CLASSES:
        return Event
    if target in _COMMAND_CLASSES:
        return Command
    return target


def from_stored_document(doc: Any, type: Any, *, converter: cattrs.Converter | None = None) -> Any:
    """Structure a document a store wrote itself (private to imflow's stores).

    Types are checked as in :func:`from_document`; the bounds and a case document's
    agreement with its events are not, because every stored row was admitted by the
    engine when it was written, and a database of an older imflow must stay readable.
    """
    conv = converter or _default_converter()
    target = _structure_as(type)
    try:
        obj = conv.structure(doc, target)
    except (cattrs.BaseValidationError, _Bad, KeyError, ForbiddenExtraKeysError) as exc:
        raise _invalid(exc) from None
    except (TypeError, ValueError, AttributeError) as exc:  # raised by a class's own validators
        raise InvalidDocument(f"invalid value ({exc.__class__.__name__})") from None
    if target is not type and not isinstance(obj, type):
        expected = getattr(type, "type", getattr(type, "__name__", str(type)))
        raise InvalidDocument(f"expected type {expected!r}, got {obj.type!r}", path="$.type")
    return obj


_LAST_MOMENT = datetime(2099, 12, 31, 12, tzinfo=UTC)


def _checked_case(case: Case, engine: Engine | None) -> Case:
    """*case* if its fields are the fold of its events, replayed as :meth:`Engine.replay`."""
    from imflow.clock import FrozenClock
    from imflow.engine import Engine

    if not case.events:
        raise InvalidDocument("a case document needs its events", path="$.events")
    # no clock of the host's to bound recorded_at: the latest moment within the bounds
    replayer = engine or Engine(clock=FrozenClock(_LAST_MOMENT))
    try:
        folded = replayer.replay(case.events)
    except WorkflowMismatch:
        raise InvalidDocument(
            "the case was recorded under another workflow definition", path="$.events[0]"
        ) from None
    except InvalidHistory as exc:
        raise InvalidDocument(f"the events are no valid history: {exc}", path="$.events") from None
    if folded != case:
        differs = next(
            (
                f.name
                for f in attrs.fields(Case)
                if getattr(folded, f.name) != getattr(case, f.name)
            ),
            "events",
        )
        raise InvalidDocument("disagrees with the case's events", path=f"$.{differs}")
    return case


def _document_problems(obj: attrs.AttrsInstance) -> list[tuple[str, str]]:
    """The bound problems of *obj* and of the values nested in it (a ``continues``),
    each named by its path: a document holds domain.md § 8 at every depth, as the
    engine does (an event's actor is judged by :func:`_bounds.bound_problems`).
    """
    found = _bounds.bound_problems(obj)
    for f in attrs.fields(type(obj)):
        value = getattr(obj, f.name)
        if f.name != "actor" and attrs.has(type(value)):
            found.extend((f"{f.name}.{n}", p) for n, p in _document_problems(value))
    return found


def from_document(
    doc: Any,
    type: Any,
    *,
    converter: cattrs.Converter | None = None,
    engine: Engine | None = None,
) -> Any:
    """Structure a parsed JSON document *doc* as *type* (see :func:`loads`).

    .. versionchanged:: 0.2.0 out-of-bounds values raise :class:`~imflow.InvalidDocument`;
       a case document is replayed by *engine* (see :func:`loads`).
    """
    obj = from_stored_document(doc, type, converter=converter)
    if isinstance(obj, Case):
        return _checked_case(obj, engine)
    if attrs.has(obj.__class__):
        problems = _document_problems(obj)
        if problems:
            field, problem = problems[0]
            raise InvalidDocument(problem, path=f"$.{field}")
    return obj


@overload
def loads(
    text: str | bytes,
    type: type[T],
    *,
    converter: cattrs.Converter | None = None,
    engine: Engine | None = None,
) -> T: ...


@overload
def loads(
    text: str | bytes,
    type: Any,
    *,
    converter: cattrs.Converter | None = None,
    engine: Engine | None = None,
) -> Any: ...


def loads(
    text: str | bytes,
    type: Any,
    *,
    converter: cattrs.Converter | None = None,
    engine: Engine | None = None,
) -> Any:
    """Parse JSON *text* as *type*: a command or event class, ``Command``, ``Event`` or ``Case``.

    Raises :class:`~imflow.InvalidDocument` naming the offending field for anything
    that is not a valid document of *type*; never any other exception.

    A case document is accepted only when its events form a history that *engine*
    replays (:meth:`imflow.Engine.replay`: every event re-decided) and its fields equal
    their fold. Without an *engine*, the default workflow and rule sets replay it, with
    no clock of the host's (``recorded_at`` up to the last day of the date bounds); a
    case of a district variant needs the variant's engine.

    >>> from imflow.events import Event
    >>> loads('{"type": "plan_agreed"}', Event)
    Traceback (most recent call last):
    ...
    imflow.errors.InvalidDocument: $.schema_version: required field missing
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidDocument(
            f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError, TypeError) as exc:
        raise InvalidDocument(f"malformed JSON ({exc.__class__.__name__})") from None
    return from_document(doc, type, converter=converter, engine=engine)


# -- JSON Schema -------------------------------------------------------------------------------

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _bounded(schema: dict[str, Any], name: str, hint: Any) -> dict[str, Any]:
    """*schema* with the keywords of the field's input bounds (domain.md § 8)."""
    extra = _bounds.schema_keywords(name, hint)
    if not extra:
        return schema
    if "anyOf" in schema:  # optional: bound the non-null branch
        first, *rest = schema["anyOf"]
        return {"anyOf": [{**first, **extra}, *rest]}
    if "items" in extra:
        return {**schema, "items": {**schema["items"], **extra["items"]}}
    if "pattern" in schema and "pattern" in extra:  # both must hold
        pattern = extra.pop("pattern")
        return {**schema, **extra, "allOf": [{"pattern": pattern}]}
    return {**schema, **extra}


class _SchemaBuilder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def of(self, t: Any) -> dict[str, Any]:
        if t is str:
            return {"type": "string"}
        if t is int:
            return {"type": "integer"}
        if t is date:
            return {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
        if t is datetime:
            return {"type": "string", "format": "date-time", "pattern": f"^{_DATETIME.pattern}$"}
        if _is_enum(t):
            name = t.__name__
            self.defs.setdefault(name, {"type": "string", "enum": [m.value for m in t]})
            return {"$ref": f"#/$defs/{name}"}
        if _is_tuple(t):
            return {"type": "array", "items": self.of(typing.get_args(t)[0])}
        args = typing.get_args(t)
        if isinstance(t, UnionType) and NoneType in args:
            (inner,) = (a for a in args if a is not NoneType)
            return {"anyOf": [self.of(inner), {"type": "null"}]}
        if attrs.has(t):
            name = t.__name__
            if name not in self.defs:
                self.defs[name] = {}  # placeholder against recursion
                self.defs[name] = self.object(t)
            return {"$ref": f"#/$defs/{name}"}
        raise TypeError(f"no JSON Schema for {t!r}")  # pragma: no cover - all types covered

    def object(
        self, cls: Any, *, tag: str | None = None, version_required: bool = False
    ) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        props: dict[str, Any] = {}
        required: list[str] = []
        if tag is not None:
            props["type"] = {"const": tag}
            props["schema_version"] = {"type": "integer", "minimum": 1, "maximum": SCHEMA_VERSION}
            required.append("type")
            if version_required:
                required.append("schema_version")
        for field in attrs.fields(cls):
            props[field.name] = _bounded(self.of(hints[field.name]), field.name, hints[field.name])
            if field.default is attrs.NOTHING:
                required.append(field.name)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
        if cls.__doc__:
            schema["description"] = cls.__doc__.strip().splitlines()[0]
        return schema


def json_schema(*, only: Literal["commands", "events"] | None = None) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of command and event documents.

    The schema is a ``oneOf`` of one object per ``type`` (a ``const``), with every
    field typed and no extra fields allowed. *only* restricts it to commands or events.

    >>> schema = json_schema(only="commands")
    >>> schema["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    >>> schema["$defs"]["open_case"]["properties"]["type"]
    {'const': 'open_case'}
    """
    builder = _SchemaBuilder()
    variants: list[dict[str, Any]] = []
    groups: list[tuple[Mapping[str, type[Any]], bool]] = []
    if only in (None, "commands"):
        groups.append((COMMAND_TYPES, False))
    if only in (None, "events"):
        groups.append((EVENT_TYPES, True))
    for classes, version_required in groups:
        for tag, cls in classes.items():
            builder.defs[tag] = builder.object(cls, tag=tag, version_required=version_required)
            variants.append({"$ref": f"#/$defs/{tag}"})
    title = {None: "commands and events", "commands": "commands", "events": "events"}[only]
    return {
        "$schema": _DRAFT,
        "$id": f"urn:imflow:schema:{only or 'documents'}:{SCHEMA_VERSION}",
        "title": f"imflow {title} (schema version {SCHEMA_VERSION})",
        "oneOf": variants,
        "$defs": builder.defs,
    }
