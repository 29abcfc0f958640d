"""Private: ``imflow sweep``: close the cases whose counselling period has ended (and,
with ``--retention``, erase what is due), on a SQLite file or a PostgreSQL database.

``--db`` is a SQLite file or a ``postgresql://`` URL. On PostgreSQL the store is opened
as a host would (never migrated or created here; ``--schema`` names imflow's schema)
and needs the master key: ``--master-key-file``, else ``IMFLOW_MASTER_KEY`` or
``IMFLOW_MASTER_KEY_FILE``. Several servers may sweep the same database at once: a
case another run closed first is counted as skipped, never closed twice. Registered
in :mod:`imflow.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from imflow._cli_safety import Fail, store_failures
from imflow.i18n import Lang

if TYPE_CHECKING:
    from imflow.case import Case
    from imflow.engine import Engine
    from imflow.store import Store

__all__ = ["add_subcommand"]

Subcommand = Callable[[str, Callable[[argparse.Namespace, Lang], int]], Any]


def add_subcommand(
    subcommand: Subcommand,
    t: Callable[[str], str],
    file: str,
    day: Callable[[str], date],
    when: str,
) -> None:
    """Add ``sweep`` to the command line's parser (*day* parses ``--on``)."""
    p = subcommand("sweep", _sweep)
    p.add_argument("--on", type=day, required=True, metavar=when, help=t("sweep.on"))
    p.add_argument("--db", default="imflow.db", metavar=f"{file}|URL", help=t("sweep.db"))
    p.add_argument("--schema", metavar="SCHEMA", help=t("sweep.schema"))
    p.add_argument("--master-key-file", metavar=file, help=t("sweep.master_key_file"))
    p.add_argument("--retention", action="store_true", help=t("sweep.retention"))
    p.add_argument("--dry-run", action="store_true", help=t("sweep.dry_run"))


def _sweep(args: argparse.Namespace, lang: Lang) -> int:
    from imflow.cli import EXIT_OK, EXIT_REJECTED, _emit, _say
    from imflow.clock import FrozenClock
    from imflow.deadlines import sweep, sweep_cases
    from imflow.engine import Engine
    from imflow.enums import ClosureReason

    on: date = args.on
    engine = Engine(clock=FrozenClock.on(on))
    with _opened(args, lang, engine) as store:
        # every due case is read before the first is closed: a damaged history stops
        # the sweep with nothing changed, rather than half-way through
        due = tuple(store.due_cases(on))
        if args.dry_run:
            result = sweep_cases(engine, due, on=on)
        else:
            result = sweep(_Loaded(store, due), on=on, engine=engine)
        erased = ""
        if args.retention:
            from imflow._cli_retention import retention_listing, retention_sweep

            if args.dry_run:
                erased = retention_listing(store, on, lang)
            else:
                erased = retention_sweep(store, on, lang)
    closed = len(result.closed)
    reason = ClosureReason.PERIOD_EXPIRED
    if args.dry_run:
        for case in result.closed:
            end = case.period_end
            _emit(_say("sweep.would_case", lang, case_id=case.case_id, period_end=end))
        _emit(_say("sweep.would", lang, n=closed, on=on, reason=reason))
    else:
        _emit(_say("sweep.done", lang, n=closed, on=on, reason=reason))
        if result.lost:
            _emit(_say("sweep.lost", lang, n=len(result.lost)))
        if result.errors:
            _emit(_say("sweep.errors", lang, n=len(result.errors)))
    if erased:
        _emit(erased)
    for case_id, reasons in result.refused:
        codes = ", ".join(r.code for r in reasons)
        print(_say("sweep.refused", lang, case_id=case_id, codes=codes), file=sys.stderr)
    return EXIT_REJECTED if result.refused else EXIT_OK


@contextlib.contextmanager
def _opened(args: argparse.Namespace, lang: Lang, engine: Engine) -> Iterator[Any]:
    """The store of ``--db``: the SQLite file as every subcommand opens it, or the
    PostgreSQL database with its master key (never migrated here)."""
    from imflow.cli import _say
    from imflow.store._migrate import backend_of

    if backend_of(args.db) != "postgresql":
        from imflow.cli import _open_store

        if args.schema is not None or args.master_key_file is not None:
            raise Fail(_say("sweep.postgres_only", lang))
        with _open_store(args.db, lang, must_exist=True, engine=engine) as store:
            yield store
        return
    yield from _postgres(args, lang, engine)


def _postgres(args: argparse.Namespace, lang: Lang, engine: Engine) -> Iterator[Any]:
    from imflow._cli_report import _pg_problem, safe_dsn
    from imflow.cli import _say
    from imflow.errors import InvalidDocument, InvalidHistory

    failures = store_failures()
    shown = safe_dsn(args.db)

    def fail(exc: BaseException) -> Fail:
        problem = _pg_problem(exc, args.db)
        return Fail(_say("error.database", lang, path=shown, problem=problem))

    try:
        from imflow.store import PostgresStore

        store = PostgresStore(
            args.db,
            schema=args.schema,
            engine=engine,
            master_key=args.master_key_file,
            pool_size=1,
        )
    except ImportError:
        raise Fail(_say("report.postgres_missing", lang)) from None
    except failures as exc:
        raise fail(exc) from None
    try:
        yield store
    except (InvalidHistory, InvalidDocument) as exc:  # rows changed behind imflow's back
        from imflow import _cli_safety as safety

        problem = safety.shown(str(exc), 120)
        raise Fail(_say("error.damaged", lang, path=shown, problem=problem)) from None
    except failures as exc:
        raise fail(exc) from None
    finally:
        store.close()


class _Loaded:
    """A store whose due cases were read already (see :func:`_sweep`)."""

    def __init__(self, store: Store, due: tuple[Case, ...]) -> None:
        self.store = store
        self.due = due

    def due_cases(self, on: date) -> tuple[Case, ...]:
        return self.due

    def append(self, case_id: str, events: Any, **options: Any) -> object:
        return self.store.append(case_id, events, **options)
