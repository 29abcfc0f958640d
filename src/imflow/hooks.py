"""Typed event hooks: callbacks ``(event, case) -> None`` subscribed by event class.

Hooks are an object the host owns and hands to an :class:`imflow.Engine` (or to a
store runner); nothing is registered globally. A hook sees only events that are final:
without a store, after :meth:`~imflow.Engine.handle` has built the new case; with a
store, after the commit (see :mod:`imflow.outbox`). A hook that raises never changes
the case.

>>> from imflow.events import PlanAgreed
>>> hooks = Hooks()
>>> @hooks.on(PlanAgreed)
... def notify(event: PlanAgreed, case: "Case") -> None:
...     print("plan", event.plan_version, "agreed for", case.case_id)
>>> len(hooks)
1

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

from imflow.events import EVENT_TYPES, Event

if TYPE_CHECKING:
    from imflow.case import Case

__all__ = ["Hook", "HookFailure", "Hooks"]

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)
E3 = TypeVar("E3", bound=Event)
E4 = TypeVar("E4", bound=Event)
Hook = Callable[[E, "Case"], None]
"""A hook for events of type ``E``."""


@attrs.frozen
class HookFailure:
    """A hook raised while handling an event."""

    hook: str
    event_type: str
    case_id: str
    seq: int
    error: str


def hook_name(fn: Callable[..., Any]) -> str:
    """A stable name for a hook: its module and qualified name."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class Hooks:
    """A registry of hooks that the host owns."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[frozenset[str], Callable[[Any, Case], None]]] = []
        self._by_type: dict[str, tuple[Callable[[Any, Case], None], ...]] = {}

    # Overloads so that mypy checks the hook's event parameter against the classes
    # subscribed: one class, or up to four (as arguments or as one tuple) for a hook
    # typed with their union. Any other form needs a hook that accepts every Event.
    @overload
    def on(self, event_type: type[E], /) -> Callable[[Hook[E]], Hook[E]]: ...

    @overload
    def on(self, a: type[E], b: type[E2], /) -> Callable[[Hook[E | E2]], Hook[E | E2]]: ...

    @overload
    def on(
        self, a: type[E], b: type[E2], c: type[E3], /
    ) -> Callable[[Hook[E | E2 | E3]], Hook[E | E2 | E3]]: ...

    @overload
    def on(
        self, a: type[E], b: type[E2], c: type[E3], d: type[E4], /
    ) -> Callable[[Hook[E | E2 | E3 | E4]], Hook[E | E2 | E3 | E4]]: ...

    @overload
    def on(
        self, event_types: tuple[type[E], type[E2]], /
    ) -> Callable[[Hook[E | E2]], Hook[E | E2]]: ...

    @overload
    def on(
        self, event_types: tuple[type[E], type[E2], type[E3]], /
    ) -> Callable[[Hook[E | E2 | E3]], Hook[E | E2 | E3]]: ...

    @overload
    def on(
        self, *event_types: type[Event] | tuple[type[Event], ...]
    ) -> Callable[[Hook[Event]], Hook[Event]]: ...

    def on(self, *event_types: Any) -> Callable[[Any], Any]:
        """Subscribe the decorated callback to *event_types* (all events if none are given)."""

        def register(fn: Callable[[Any, Case], None]) -> Callable[[Any, Case], None]:
            self.subscribe(fn, *event_types)
            return fn

        return register

    def subscribe(
        self,
        fn: Callable[[Any, Case], None],
        *event_types: type[Event] | tuple[type[Event], ...],
    ) -> None:
        """Subscribe *fn* to *event_types* (all events if none are given)."""
        flat: list[type[Event]] = []
        for et in event_types:
            flat.extend(et if isinstance(et, tuple) else (et,))
        for et in flat:
            if getattr(et, "type", None) not in EVENT_TYPES:
                raise TypeError(f"{et!r} is not an imflow event class")
        tags = frozenset(et.type for et in flat) if flat else frozenset(EVENT_TYPES)
        self._subscriptions.append((tags, fn))
        self._by_type.clear()

    def callbacks(self, event_type: str) -> tuple[Callable[[Any, Case], None], ...]:
        """The callbacks subscribed to events of *event_type*, in subscription order."""
        found = self._by_type.get(event_type)
        if found is None:
            found = tuple(fn for tags, fn in self._subscriptions if event_type in tags)
            self._by_type[event_type] = found
        return found

    def run(self, events: Iterable[Event], case: Case) -> list[HookFailure]:
        """Call every subscribed hook for *events*; collect failures instead of raising."""
        failures: list[HookFailure] = []
        by_type = self._by_type
        for event in events:
            callbacks = by_type.get(event.type)
            if callbacks is None:
                callbacks = self.callbacks(event.type)
            for fn in callbacks:
                try:
                    fn(event, case)
                except Exception as exc:  # a hook must never break the caller
                    failures.append(
                        HookFailure(
                            hook_name(fn),
                            event.type,
                            event.case_id,
                            event.seq,
                            f"{type(exc).__name__}: {exc}",
                        )
                    )
        return failures

    def __len__(self) -> int:
        return len(self._subscriptions)

    def __bool__(self) -> bool:
        return bool(self._subscriptions)
