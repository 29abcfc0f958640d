"""Private: the JSON text of the store's own rows, written and read without per-call set-up.

:func:`compact` is ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``
with one encoder for every call (``json.dumps`` with options builds one each time).
:func:`loads` is ``json.loads`` of a text: the scanner of the standard decoder is run
on the text directly, and whatever it does not read whole at once (leading or trailing
whitespace, extra data, not JSON, bytes) goes through ``json.loads`` itself, which then
reads it or raises as always. So both give exactly what the standard calls give.

>>> compact({"a": ["ä", 1, None]})
'{"a":["ä",1,null]}'
>>> loads('{"a":[1,2]}'), loads(' [1] ')
({'a': [1, 2]}, [1])
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__: list[str] = []

compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""The JSON text a store writes of a value."""

_decoder: Any = json.JSONDecoder()  # its scan_once (untyped in typeshed): json.loads's scanner
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once
_loads = json.loads


def loads(text: str | bytes | bytearray) -> Any:
    """The value of JSON *text*, as ``json.loads`` reads it (and raises)."""
    if type(text) is str:
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            return _loads(text)
        if end == len(text):
            return value
    return _loads(text)
