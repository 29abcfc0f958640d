"""Private: the fast reader of a store's own rows (events and case snapshots).

A store's rows were written by imflow itself: each event was admitted by the engine
(:meth:`imflow.Engine.admit`) and encoded by :func:`imflow.serialization.to_document`
before it was written. Reading them back, :class:`Decoder` still checks every value's
*type and form* (a string where a string belongs, an integer, a ``YYYY-MM-DD`` date, a
datetime with offset, a known enum member, arrays, no unknown keys, the current schema
version), in code generated per class, but it skips what makes the validating path slow:
cattrs' detailed error collection, the bounds of the input edge, and building each value
through its keyword ``__init__``. Anything that does not pass, and every document of an
older schema version (upcasters), goes through the validating path, which either reads
it or raises :class:`~imflow.InvalidDocument` with its detailed message. So a row is
read as the validating path would read it, or refused as it would be, only faster.

>>> from imflow.serialization import to_document
>>> from imflow.testing import FAR_FUTURE
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> from datetime import date
>>> engine = Engine(clock=FrozenClock(FAR_FUTURE))
>>> case = engine.open(c.OpenCase(case_id="k-1", person="p-1", district="08111",
...     provider="drk", on=date(2025, 3, 3)),
...     by=Actor("im-1", Role.MANAGER, provider="drk", district="08111"))
>>> Decoder().event(to_document(case.events[0])) == case.events[0]
True
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from itertools import repeat
from typing import Any

import attrs
import cattrs

from imflow._construct import constructor
from imflow.actors import Actor
from imflow.case import Case, Contact
from imflow.chain import Chain, Pending
from imflow.enums import CustomPhase, Phase
from imflow.errors import InvalidDocument
from imflow.events import EVENT_TYPES, Event
from imflow.serialization import SCHEMA_VERSION, _default_converter, from_stored_document

__all__: list[str] = []

_PHASES: Mapping[str, Phase] = {p.value: p for p in Phase}
CONTACTS_FROM_EVENTS = "contacts_from_events"  # a snapshot's mark: contacts are the rows'
_ACTORS = 1024  # distinct actors remembered per decoder (a case sees a handful)

_new_case = constructor(Case)
_CASE_FIELDS = attrs.fields(Case)
_HISTORY = frozenset({"events", "contacts"})
_EMPTY: Chain[Any] = Chain()


def without_history(case: Case) -> Case:
    """*case* with no events and no contacts, what a snapshot holds of it (built without
    ``Case.__init__``: the fields are the case's own, already of their types).

    >>> from imflow.enums import Phase
    >>> bare = without_history(Case("k-1", Phase.INTAKE, "system-2025", None))
    >>> bare == Case("k-1", Phase.INTAKE, "system-2025", None)
    True
    """
    return _new_case(
        *[_EMPTY if f.name in _HISTORY else getattr(case, f.name) for f in _CASE_FIELDS]
    )


class _Reject(Exception):
    """A value the fast path does not take: the validating path decides."""


def _str(v: Any) -> str:
    if type(v) is not str:
        raise _Reject
    return v


def _int(v: Any) -> int:
    if type(v) is not int:
        raise _Reject
    return v


def _date(v: Any) -> date:
    if type(v) is not str or len(v) != 10 or v[4] != "-" or v[7] != "-":
        raise _Reject
    return date.fromisoformat(v)  # ValueError for anything else: the validating path


def _datetime(v: Any) -> datetime:
    if type(v) is not str or len(v) < 20 or v[10] != "T" or v[4] != "-" or v[7] != "-":
        raise _Reject
    moment = datetime.fromisoformat(v)
    if moment.tzinfo is None:
        raise _Reject
    return moment


def _phase(v: Any) -> Phase | CustomPhase:
    return _PHASES.get(_str(v)) or CustomPhase(v)


def _enum(cls: type[enum.Enum]) -> Callable[[Any], Any]:
    members = {k: m for k, m in cls._value2member_map_.items() if type(k) is str}
    get = members.__getitem__  # KeyError for an unknown value: the validating path

    def member(v: Any) -> Any:
        if type(v) is not str:
            raise _Reject
        return get(v)

    return member


def _items(inner: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def items(v: Any) -> tuple[Any, ...]:
        if type(v) is not list:
            raise _Reject
        return tuple([inner(x) for x in v])

    return items


_KNOWN_ITEMS = 1024  # distinct enum tuples remembered per reader (topics: a handful)


def _enum_items(cls: type[enum.Enum]) -> Callable[[Any], tuple[Any, ...]]:
    """A reader of a tuple of *cls* members (a contact's topics) that remembers the
    tuples it read: the same few combinations recur in every case, and a tuple of
    enum members is a value (immutable, compared by its items)."""
    members = {k: m for k, m in cls._value2member_map_.items() if type(k) is str}
    known: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def items(v: Any) -> tuple[Any, ...]:
        if type(v) is not list:
            raise _Reject
        key = tuple(v)  # TypeError for an unhashable item: the validating path
        read = known.get(key)
        if read is None:
            read = tuple([members[x] for x in v])  # KeyError for anything else
            if len(known) < _KNOWN_ITEMS:
                known[key] = read
        return read

    return items


def _optional(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else inner(v)


class Decoder:
    """Reads documents a store wrote (events, snapshots) fast; see the module.

    One per store: it remembers up to 1,024 :class:`~imflow.Actor` values (frozen,
    shared between the events that name them).
    """

    def __init__(self, converter: cattrs.Converter | None = None) -> None:
        self._conv = converter or _default_converter()
        # a host's own converter may upcast or read differently: it reads every row
        self._fast = self._conv is _default_converter()
        self._made: dict[Any, Callable[[Any], Any]] = {}
        self._actors: dict[tuple[Any, ...], Actor] = {}
        self._events: dict[str, Callable[[Any], Any]] = {}
        for tag, cls in EVENT_TYPES.items():
            self._events[tag] = self._for(cls, skip=("type", "schema_version"))
        self._case = self._for(Case, skip=("schema_version", "events"))

    # -- the two entry points --------------------------------------------------------------

    def event(self, doc: Any) -> Event:
        """The event of a stored document (validated like the store's own rows)."""
        try:
            if not self._fast or type(doc) is not dict:
                raise _Reject
            version = doc.get("schema_version")
            if type(version) is not int or version != SCHEMA_VERSION:
                raise _Reject
            event: Event = self._events[doc["type"]](doc)
            return event
        except (_Reject, KeyError, TypeError, ValueError, IndexError):
            slow: Event = from_stored_document(doc, Event, converter=self._conv)
            return slow

    def snapshot(
        self, doc: Any, events: Chain[Event], contacts: Chain[Contact] | None = None
    ) -> Case | None:
        """The case of a snapshot document without its events, with *events*.

        A snapshot of the current layout holds no contacts either (it says so with
        ``"contacts_from_events": true``): they are *contacts*, read from the rows of
        the case's ``contact_recorded`` events. ``None`` for a document this path does
        not read (an older layout that holds the events itself, the current one without
        *contacts*, or a value that does not pass): the store then folds the events
        instead. A snapshot of the layout before (contacts inside) still reads.
        """
        if type(doc) is not dict or "events" in doc:
            return None
        marked = doc.pop(CONTACTS_FROM_EVENTS, None)
        if marked is not None and (marked is not True or contacts is None or "contacts" in doc):
            return None
        try:
            version = doc.get("schema_version")
            if not self._fast or type(version) is not int or version != SCHEMA_VERSION:
                raise _Reject
            case: Case = self._case(doc)
        except (_Reject, KeyError, TypeError, ValueError, IndexError):
            try:
                case = from_stored_document(doc, Case, converter=self._conv)
            except InvalidDocument:
                return None
        object.__setattr__(case, "events", events)
        if marked:
            object.__setattr__(case, "contacts", contacts)
        return case

    # -- generated readers -----------------------------------------------------------------

    def _value(self, hint: Any) -> Callable[[Any], Any]:
        """The reader of one value of type *hint*."""
        made = self._made.get(hint)
        if made is not None:
            return made
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is str:
            made = _str
        elif hint is int:
            made = _int
        elif hint is date:
            made = _date
        elif hint is datetime:
            made = _datetime
        elif hint is Actor:
            made = self._actor
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            made = _enum(hint)
        elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            inner = args[0]
            if isinstance(inner, type) and issubclass(inner, enum.Enum):
                made = _enum_items(inner)
            else:
                made = _items(self._value(inner))
        elif origin is Chain:
            made = self._lazy_items(args[0])
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in args if a is not type(None)]
            if len(rest) != 1 or len(args) != 2:
                raise TypeError(f"no fast reader for {hint!r}")
            made = _optional(self._value(rest[0]))
        elif attrs.has(hint):
            made = self._for(hint)
        else:
            raise TypeError(f"no fast reader for {hint!r}")
        self._made[hint] = made
        return made

    def _inline(
        self, name: str, var: str, hint: Any, namespace: dict[str, Any], cls: type[Any]
    ) -> list[str]:
        """The lines that check (and convert) *var*, a value of type *hint*, in place."""
        args = typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                inner = self._inline(name, var, rest[0], namespace, cls)
                return [f"if {var} is not None:", *("    " + line for line in inner)]
        if hint is str or hint is int:
            return [f"if type({var}) is not {hint.__name__}:", "    raise Reject"]
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            namespace[f"e_{name}"] = {
                k: m for k, m in hint._value2member_map_.items() if type(k) is str
            }
            return [f"{var} = e_{name}[{var}]"]  # KeyError, TypeError: the validating path
        reader = _phase if cls is Case and name == "phase" else self._value(hint)
        namespace[f"r_{name}"] = reader
        return [f"{var} = r_{name}({var})"]

    def _lazy_items(self, hint: Any) -> Callable[[Any], Chain[Any]]:
        """The reader of a chain of *hint* values (a snapshot's contacts) that decodes
        its items when they are first read: a load that never looks at them pays a list.

        An item the fast reader does not take goes through the validating path then,
        which reads it or raises :class:`~imflow.InvalidDocument`, as for the lazily
        read events (see :meth:`imflow.store.SQLiteStore.load`).
        """
        fast, conv = self._value(hint), self._conv

        def item(v: Any) -> Any:
            try:
                return fast(v)
            except (_Reject, KeyError, TypeError, ValueError, IndexError):
                return from_stored_document(v, hint, converter=conv)

        make = Pending._make

        def chain(v: Any) -> Chain[Any]:
            if type(v) is not list:
                raise _Reject
            n = len(v)
            pending = list(
                map(make, zip(repeat(item, n), v, repeat("", n), repeat(0, n), strict=True))
            )
            return Chain._lazy(pending, n)

        return chain

    def _actor(self, v: Any) -> Actor:
        if type(v) is not dict:
            raise _Reject
        key = (v.get("id"), v.get("role"), v.get("provider"), v.get("district"), len(v))
        actor = self._actors.get(key)
        if actor is None:
            actor = from_stored_document(v, Actor, converter=self._conv)
            if len(self._actors) >= _ACTORS:
                self._actors.clear()
            self._actors[key] = actor
        return actor

    def _for(self, cls: type[Any], *, skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
        """A reader of a document of attrs class *cls* (keys in *skip* allowed, ignored)."""
        hints = typing.get_type_hints(cls)
        fields = [f for f in attrs.fields(cls) if f.init]
        try:
            make: Callable[..., Any] = constructor(cls)
            positional = True
        except TypeError:  # a class with its own __init__ work: called as written
            make, positional = cls, False
        namespace: dict[str, Any] = {
            "make": make,
            "Reject": _Reject,
            "allowed": frozenset([f.name for f in fields] + list(skip)),
            "NOTHING": attrs.NOTHING,
        }
        lines = ["def read(doc):", "    if type(doc) is not dict or not doc.keys() <= allowed:"]
        lines.append("        raise Reject")
        args = []
        for f in fields:
            if cls is Case and f.name == "events":
                args.append("None")  # set by the caller
                continue
            hint = hints[f.name]
            var = f"v_{f.name}"
            if f.default is attrs.NOTHING:
                lines.append(f"    {var} = doc[{f.name!r}]")
            else:
                if isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
                    raise TypeError(f"no fast reader for {cls.__name__}.{f.name}")
                namespace[f"d_{f.name}"] = f.default
                lines.append(f"    {var} = doc.get({f.name!r}, d_{f.name})")
                lines.append(f"    if {var} is not d_{f.name}:")
            indent = "    " if f.default is attrs.NOTHING else "        "
            lines.extend(indent + line for line in self._inline(f.name, var, hint, namespace, cls))
            args.append(var if positional else f"{f.name}={var}")
        lines.append(f"    return make({', '.join(args)})")
        exec("\n".join(lines) + "\n", namespace)
        read: Callable[[Any], Any] = namespace["read"]
        return read
