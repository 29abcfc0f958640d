"""An immutable sequence that grows in constant time: a case's events and contacts.

A :class:`Chain` is a read-only view of the first *n* items of a list it may share
with longer chains. :meth:`Chain.appended` returns a new chain one item longer; when
nobody has appended to the shared list beyond *n* yet (the usual case: a case is
handled once, the new case handled next) the item goes onto the shared list and no
item is copied, so a command costs the same on the 3rd event as on the 3,000th.
Appending to an older chain again (two different commands on the same case) copies
once and goes on from there. A chain never shows items beyond its own length, so each
chain is as immutable as a tuple.

A chain equals any tuple or chain with equal items, hashes like that tuple, slices to
tuples and pickles as its items.

>>> a = Chain((1, 2))
>>> b = a.appended(3)
>>> c = a.appended(4)        # a branch: copies a's items once
>>> a, b, c
(Chain((1, 2)), Chain((1, 2, 3)), Chain((1, 2, 4)))
>>> b == (1, 2, 3) and b[-1] == 3 and b[1:] == (2, 3)
True

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Generic, NamedTuple, TypeVar, overload

__all__ = ["Chain"]

T = TypeVar("T")


class Pending(NamedTuple):
    """Private: an item not decoded yet (a store's row), with what is known without it.

    ``type`` and ``seq`` come from the row's own columns, so that a store can ask a
    loaded case for its latest erasure without decoding every event. A tuple, so that a
    store makes a row's worth of them in C (``map(tuple.__new__, repeat(Pending), ...)``).
    """

    decode: Callable[[Any], Any]
    raw: Any
    type: str
    seq: int


class _Items(list[Any]):
    """The list chains share; ``lazy`` is how many leading items may still be pending."""

    __slots__ = ("lazy",)

    def __init__(self, items: Iterable[Any] = (), lazy: int = 0) -> None:
        super().__init__(items)
        self.lazy = lazy


def _decoded(items: _Items, upto: int) -> None:
    """Decode every pending item of *items* before *upto* (in place, idempotent)."""
    for i in range(min(items.lazy, upto)):
        item = items[i]
        if type(item) is Pending:
            items[i] = item.decode(item.raw)
    if upto >= items.lazy:
        items.lazy = 0


class Chain(Sequence[T], Generic[T]):
    """An immutable sequence with a constant-time :meth:`appended` (see the module)."""

    __slots__ = ("_items", "_n")
    _items: _Items
    _n: int

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items = _Items(items)
        self._n = len(self._items)

    @classmethod
    def _view(cls, items: _Items, n: int) -> Chain[T]:
        chain: Chain[T] = object.__new__(cls)
        chain._items, chain._n = items, n
        return chain

    @classmethod
    def _lazy(cls, items: list[Any], lazy: int | None = None) -> Chain[T]:
        """Private: a chain whose leading :class:`Pending` items decode on first use.

        *lazy*: how many leading items may be pending, when the caller knows.
        """
        if lazy is None:
            lazy = 0
            for i, item in enumerate(items):
                if type(item) is Pending:
                    lazy = i + 1
        return cls._view(_Items(items, lazy), len(items))

    @staticmethod
    def of(items: Iterable[T]) -> Chain[T]:
        """*items* as a chain (a chain itself is returned as it is).

        >>> Chain.of([1, 2]) == (1, 2)
        True
        """
        if isinstance(items, Chain):
            return items
        return Chain(items)

    def appended(self, item: T) -> Chain[T]:
        """A chain with *item* after this chain's items; this chain is unchanged.

        >>> Chain((1,)).appended(2)
        Chain((1, 2))
        """
        items, n = self._items, self._n
        if len(items) == n:
            items.append(item)
            # another thread may have appended in between: then ours is not at n
            if items[n] is item:
                return Chain._view(items, n + 1)
        copy = _Items(items[:n], min(items.lazy, n))
        copy.append(item)
        return Chain._view(copy, n + 1)

    def peek(self, index: int) -> Any:
        """Private: the item at *index*, or its :class:`Pending` row if not decoded yet."""
        if not -self._n <= index < self._n:
            raise IndexError("chain index out of range")
        return self._items[index % self._n]

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        items, n = self._items, self._n
        if type(index) is slice:
            start, stop, step = index.indices(n)
            if step != 1:
                return self[:][index]
            if items.lazy and start < items.lazy:
                _decoded(items, stop)
            return tuple(items[start:stop])
        if not -n <= index < n:
            raise IndexError("chain index out of range")
        i: int = index % n
        item = items[i]
        if type(item) is Pending:
            item = items[i] = item.decode(item.raw)
        return item  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[T]:
        items = self._items
        if items.lazy:
            _decoded(items, self._n)
        return islice(items, self._n)

    def __reversed__(self) -> Iterator[T]:
        return reversed(self[:])

    def __bool__(self) -> bool:
        return self._n > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Chain):
            if other._n != self._n:
                return False
            if other._items is self._items:
                return True
            return self[:] == other[:]
        if isinstance(other, tuple):
            return len(other) == self._n and self[:] == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self[:])

    def __add__(self, other: Sequence[T]) -> tuple[T, ...]:
        return (*self, *other)

    def __radd__(self, other: Sequence[T]) -> tuple[T, ...]:
        return (*other, *self)

    def __repr__(self) -> str:
        return f"Chain({self[:]!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Chain, (self[:],))

    def __copy__(self) -> Chain[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Chain[T]:
        import copy

        return Chain(copy.deepcopy(self[:], memo))
