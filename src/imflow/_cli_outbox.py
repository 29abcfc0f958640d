"""Private: ``imflow outbox status`` and ``imflow outbox requeue``, the outbox for operators.

``imflow outbox status --db URL`` prints what waits (pending, leased, dead letters,
the oldest pending event's age, per hook; ``--format json`` for a monitor);
``imflow outbox requeue --db URL --hook NAME --all`` (or ``--event CASE:SEQ``) gives
dead letters another round of attempts. Neither needs the master key: they read and
write delivery states only, never personal data. Registered in :mod:`imflow.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from imflow._cli_safety import store_failures
from imflow.i18n import Lang

__all__ = ["add_subcommands"]

Subcommand = Callable[[str, Callable[[argparse.Namespace, Lang], int]], Any]


def add_subcommands(subcommand: Subcommand, t: Callable[[str], str], file: str) -> None:
    """Add ``outbox`` (``status`` and ``requeue``) to the command line's parser."""
    p = subcommand("outbox", _outbox)
    p.add_argument("action", choices=["status", "requeue"], help=t("outbox.action"))
    p.add_argument("--db", required=True, metavar=f"{file}|URL", help=t("outbox.db"))
    p.add_argument("--schema", metavar="SCHEMA", help=t("migrate.schema"))
    p.add_argument("--format", choices=["text", "json"], default="text", help=t("outbox.format"))
    p.add_argument("--hooks", metavar="MODULE:NAME", help=t("outbox.hooks"))
    p.add_argument("--hook", metavar="NAME", help=t("outbox.hook"))
    p.add_argument("--all", action="store_true", help=t("outbox.all"))
    p.add_argument(
        "--event", action="append", default=[], metavar="CASE:SEQ", help=t("outbox.event")
    )


def age(value: timedelta | None) -> str:
    """An age as ``H:MM:SS`` (``–`` for none).

    >>> age(timedelta(seconds=3725.4)), age(None)
    ('1:02:05', '–')
    """
    return "–" if value is None else str(timedelta(seconds=round(value.total_seconds())))


@contextlib.contextmanager
def _opened(args: argparse.Namespace, lang: Lang) -> Iterator[Any]:
    """The store of ``--db`` without its keys (the outbox holds no personal data in
    clear), never migrated or created here."""
    from imflow._cli_migrate import shown
    from imflow._cli_safety import Fail
    from imflow.cli import _say
    from imflow.store import PostgresStore, SQLiteStore
    from imflow.store._migrate import backend_of

    db: str = args.db
    failures = store_failures()
    store: Any
    try:
        if backend_of(db) == "postgresql":
            store = PostgresStore(db, schema=args.schema, encrypt=False, pool_size=1)
        else:
            if args.schema is not None:
                raise ValueError("SQLite has no schemas")
            if not os.path.isfile(db):
                raise FileNotFoundError(f"no database file {db}")
            store = SQLiteStore(db, encrypt=False, migrate=False)
    except failures as exc:
        raise Fail(_say("outbox.failed", lang, db=shown(db), problem=_problem(exc))) from None
    try:
        yield store
    except failures as exc:
        raise Fail(_say("outbox.failed", lang, db=shown(db), problem=_problem(exc))) from None
    finally:
        store.close()


def _problem(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _hooks(spec: str | None, lang: Lang) -> Any:
    """The ``imflow.Hooks`` registry named by ``--hooks MODULE:NAME``."""
    from imflow._cli_safety import Fail
    from imflow.cli import _say
    from imflow.hooks import Hooks

    if spec is None:
        return None
    module, _, name = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module), name) if module and name else None
    except (ImportError, AttributeError):
        found = None
    if not isinstance(found, Hooks):
        raise Fail(_say("outbox.bad_hooks", lang, value=spec))
    return found


def _events(values: list[str], lang: Lang) -> list[tuple[str, int]]:
    from imflow._cli_safety import Fail
    from imflow.cli import _say

    found = []
    for value in values:
        case_id, _, seq = value.rpartition(":")
        if not case_id or not seq.isdigit():
            raise Fail(_say("outbox.bad_event", lang, value=value[:80]))
        found.append((case_id, int(seq)))
    return found


def _outbox(args: argparse.Namespace, lang: Lang) -> int:
    if args.action == "status":
        return _status(args, lang)
    return _requeue(args, lang)


def _status(args: argparse.Namespace, lang: Lang) -> int:
    from imflow.cli import EXIT_OK, _emit, _say
    from imflow.outbox import status

    hooks = _hooks(args.hooks, lang)
    with _opened(args, lang) as store:
        figures = status(store, hooks=hooks)
    if args.format == "json":
        _emit(json.dumps(figures.as_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    summary = _say(
        "outbox.summary",
        lang,
        pending=figures.pending,
        leased=figures.leased,
        dead=figures.dead,
        age=age(figures.oldest_age),
    )
    _emit(summary)
    for h in figures.hooks:
        pending = "?" if h.pending is None else h.pending
        line = _say(
            "outbox.hook_line",
            lang,
            hook=h.hook,
            pending=pending,
            retrying=h.retrying,
            dead=h.dead,
            age=age(h.oldest_age),
        )
        _emit(f"  {line}")
    return EXIT_OK


def _requeue(args: argparse.Namespace, lang: Lang) -> int:
    from imflow._cli_safety import Fail
    from imflow.cli import EXIT_OK, _emit, _say
    from imflow.outbox import requeue

    if not args.hook or args.all == bool(args.event):
        raise Fail(_say("outbox.choose", lang))
    events = None if args.all else _events(args.event, lang)
    with _opened(args, lang) as store:
        n = requeue(store, hook=args.hook, events=events)
    _emit(_say("outbox.requeued", lang, n=n, hook=args.hook))
    return EXIT_OK
