"""Private: fast constructors for the engine's own frozen values (events, cases).

A frozen, slotted attrs class sets each field in ``__init__`` through
``object.__setattr__`` after matching keyword arguments; for the 9 to 14 fields of an
event that is most of the cost of a command. For classes whose ``__init__`` does nothing
else (no validators, converters, factories or ``__attrs_post_init__``), storing into the
slots directly builds an equal object in about half the time. The engine uses these
constructors only for values it computed itself; hosts keep calling the classes.

>>> from imflow.case import Contact
>>> from imflow.enums import Channel
>>> from datetime import date
>>> make = constructor(Contact)
>>> make(date(2025, 3, 3), 45, Channel.PHONE, ()) == Contact(
...     on=date(2025, 3, 3), minutes=45, channel=Channel.PHONE, topics=())
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__: list[str] = []

_T = TypeVar("_T", bound=attrs.AttrsInstance)


_MADE: dict[type, Callable[..., Any]] = {}


def constructor(cls: type[_T]) -> Callable[..., _T]:
    """A function ``make(field_1, field_2, ...)`` taking every field of *cls* in order.

    Refuses (``TypeError``) a class whose ``__init__`` would do more than store values.
    A converter marked ``passthrough`` (it returns values of its type unchanged) is
    allowed: the engine always passes the converted type.
    """
    made: Callable[..., _T] | None = _MADE.get(cls)
    if made is None:
        made = _MADE[cls] = _compile(cls)
    return made


def _compile(cls: type[_T]) -> Callable[..., _T]:
    fields = attrs.fields(cls)
    problems = [
        f.name
        for f in fields
        if f.validator is not None
        or (f.converter is not None and not getattr(f.converter, "passthrough", False))
        or not f.init
        or f.on_setattr
    ]
    if problems or hasattr(cls, "__attrs_post_init__") or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} needs its own __init__ (fields {problems})")
    names = [f.name for f in fields]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    lines = [f"def make({', '.join(names)}):", "    obj = new(cls)"]
    for name in names:
        namespace[f"set_{name}"] = _slot(cls, name).__set__
        lines.append(f"    set_{name}(obj, {name})")
    lines.append("    return obj")
    exec("\n".join(lines) + "\n", namespace)
    make: Callable[..., _T] = namespace["make"]
    make.__qualname__ = f"constructor({cls.__qualname__})"
    return make


def _slot(cls: type, name: str) -> Any:
    """The slot descriptor of *name*, from whichever class in the MRO declares it."""
    for klass in cls.__mro__:
        if name in klass.__dict__.get("__slots__", ()):
            return klass.__dict__[name]
    raise TypeError(f"{cls.__name__}.{name} is not a slot")
