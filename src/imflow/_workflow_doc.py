"""Private: the shape of a declarative workflow document (parsed TOML or JSON).

:meth:`imflow.Workflow.from_mapping` builds phase and command definitions straight from
the document, so a value of the wrong kind (a number where a name belongs, a string
where a list belongs, a list used as a key) would otherwise surface as a ``TypeError``
deep inside. :func:`shape_problems` checks every key :meth:`~imflow.Workflow.from_mapping`
reads before anything is built; each problem names *where* and *what kind* is expected.

>>> shape_problems({"id": "x", "phases": [{"name": 5}]})
['$.phases[0].name: expected a string, got an integer']
>>> shape_problems({"extends": "bw-integrationsmanagement", "allow_in": {"close_case": 5}})
['$.allow_in.close_case: expected a list of strings, got an integer']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imflow.errors import InvalidWorkflow

__all__ = ["MalformedWorkflow", "check_shape", "parse_problem", "shape_problems"]


class MalformedWorkflow(InvalidWorkflow):
    """The document is not a workflow document at all: not JSON/TOML, nested too deeply,
    or a value of the wrong kind (as opposed to a well-formed but inconsistent one)."""


_PHASE_KEYS: Mapping[str, str] = {
    "name": "str",
    "label_de": "str",
    "label_en": "str",
    "final": "bool",
}
_COMMAND_KEYS: Mapping[str, str] = {
    "name": "str",
    "sources": "names",
    "target": "str?",
    "guards": "names",
    "after_period": "bool",
    "needs_consent": "bool",
    "label_de": "str",
    "label_en": "str",
}
_TOP_KEYS: Mapping[str, str] = {"id": "str", "extends": "str", "initial": "str"}
_REQUIRED = {"phases": ("name",), "commands": ("name", "sources")}

_KINDS = {
    "str": "a string",
    "str?": "a string or null",
    "bool": "true or false",
    "names": "a list of strings",
    "table": "a table (mapping)",
    "list": "a list of tables",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return "a value of another kind"


def _fits(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "str?":
        return value is None or isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "names":
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    return False  # pragma: no cover - every kind above is handled


def _wrong(path: str, kind: str, value: Any) -> str:
    return f"{path}: expected {_KINDS[kind]}, got {_kind(value)}"


def _entries(
    path: str, items: Any, keys: Mapping[str, str], required: tuple[str, ...]
) -> list[str]:
    if not isinstance(items, list | tuple):
        return [_wrong(path, "list", items)]
    problems: list[str] = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(_wrong(where, "table", item))
            continue
        for key, value in item.items():
            if not isinstance(key, str) or key not in keys:
                problems.append(f"{where}: unknown key (allowed: {', '.join(keys)})")
            elif not _fits(value, keys[key]):
                problems.append(_wrong(f"{where}.{key}", keys[key], value))
        problems.extend(f"{where}: '{k}' is missing" for k in required if k not in item)
    return problems


def _table_of(path: str, table: Any, check: str) -> list[str]:
    if not isinstance(table, Mapping):
        return [_wrong(path, "table", table)]
    problems: list[str] = []
    for key, value in table.items():
        if not isinstance(key, str):
            problems.append(f"{path}: every key must be a name")
            continue
        where = f"{path}.{key}"
        if check == "names" and not _fits(value, "names"):
            problems.append(_wrong(where, "names", value))
        elif check == "labels":
            if not isinstance(value, Mapping):
                problems.append(_wrong(where, "table", value))
                continue
            for lang, text in value.items():
                if lang not in ("de", "en"):
                    problems.append(f"{where}: unknown key (allowed: de, en)")
                elif not isinstance(text, str):
                    problems.append(_wrong(f"{where}.{lang}", "str", text))
    return problems


def shape_problems(doc: Any) -> list[str]:
    """Every place where *doc* holds a value of the wrong kind (empty: the shape is fine)."""
    if not isinstance(doc, Mapping):
        return [_wrong("$", "table", doc)]
    problems: list[str] = []
    for key, kind in _TOP_KEYS.items():
        if key in doc and not _fits(doc[key], kind):
            problems.append(_wrong(f"$.{key}", kind, doc[key]))
    for key, keys in (("phases", _PHASE_KEYS), ("commands", _COMMAND_KEYS)):
        if key in doc:
            problems.extend(_entries(f"$.{key}", doc[key], keys, _REQUIRED[key]))
    for key, check in (("allow_in", "names"), ("add_guards", "names"), ("labels", "labels")):
        if key in doc:
            problems.extend(_table_of(f"$.{key}", doc[key], check))
    return problems


def parse_problem(exc: BaseException, language: str) -> str:
    """Why a JSON or TOML text could not be read, without quoting the text."""
    if isinstance(exc, RecursionError):
        return f"not valid {language}: nested too deeply"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return f"not valid {language}: a number with too many digits"
    return f"not valid {language}: {exc}"


def check_shape(doc: Any) -> None:
    """Raise :class:`MalformedWorkflow` listing every problem of :func:`shape_problems`."""
    problems = shape_problems(doc)
    if problems:
        raise MalformedWorkflow(problems)
