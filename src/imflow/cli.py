"""The ``imflow`` command line: simulate, report, diagram, schema, validate, sweep,
migrate, schema-sql.

Every subcommand has ``--help``; output is German by default and English with
``--lang en`` (or ``IMFLOW_LANG=en``). Exit codes: ``0`` all well, ``1`` a command was
rejected or the report has plausibility findings, ``2`` bad usage or input that cannot be
used (unknown options, dates outside 2018-01-01 to 2099-12-31, reporting years outside
2018 to 2099, an unknown provider, missing or unreadable files, a database that is not
imflow's or whose stored history is damaged). Errors are one line on standard error,
never a traceback; an unexpected error is reported by its kind only (never a value) and
also exits with ``2``. A file that is not imflow's is refused before anything writes to
it, so it stays byte-for-byte unchanged.

The command line is a host application: it configures structlog for itself (warnings
and errors to standard error); the library never does.

``imflow validate FILE`` reads JSON lines, one command per line::

    {"actor": {"id": "im-1", "role": "manager", "provider": "drk", "district": "08337"},
     "command": {"type": "open_case", "case_id": "wt-1", "person": "p-1",
                 "district": "08337", "provider": "drk", "on": "2025-03-03"}}
    {"case_id": "wt-1", "actor": {...}, "command": {"type": "record_consent", "on": "2025-03-03"}}

``command`` is a command document as :func:`imflow.serialization.dumps` writes it
(``schema_version`` may be left out; ``imflow schema`` describes it), ``actor`` an
actor document. ``case_id`` names the case for every command but ``open_case``, which
carries its own (a ``case_id`` next to it must agree). Blank lines are skipped. The
commands run in file order through a fresh engine and an in-memory store; the engine's
"today" is ``--today`` (default: the system date).

>>> main(["--version"])
imflow 0.1.0
0

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gettext
import io
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import structlog

from imflow import _cli_safety as safety
from imflow._cli_jobs import jobs_type
from imflow._cli_safety import Fail as _Fail
from imflow.i18n import Lang, Messages

if TYPE_CHECKING:
    from imflow.engine import Engine
    from imflow.store import SQLiteStore
    from imflow.workflow import Workflow

__all__ = ["main"]

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


def _say(key: str, lang: Lang, **params: object) -> str:
    """The command line's words: ``cli.<key>`` of the message catalogue."""
    return Messages.default().say(f"cli.{key}", lang, **params)


# -- argparse's own words -----------------------------------------------------------------


@functools.cache
def _argparse_translations(lang: Lang) -> gettext.NullTranslations:
    """argparse's messages in *lang*, from ``locale/<lang>/LC_MESSAGES/argparse.po``
    (compiled in memory, so a source checkout needs no build step); English is
    argparse's own."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = resources.files("imflow") / "locale" / lang / "LC_MESSAGES" / "argparse.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@contextlib.contextmanager
def _argparse_speaks(lang: Lang) -> Iterator[None]:
    """Let argparse's own texts ("usage:", "options", its errors) speak *lang*.

    argparse translates through gettext: it calls the module-level ``_`` and
    ``ngettext`` it imported from :mod:`gettext`. The supported hook is to give those
    the translations of argparse's messages; they are swapped only while the command
    line parses its arguments and restored afterwards, so a host calling :func:`main`
    keeps its own gettext set-up (the process's text domain is never touched).
    """
    translations = _argparse_translations(lang)
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    setattr(argparse, "_", translations.gettext)  # noqa: B010
    setattr(argparse, "ngettext", translations.ngettext)  # noqa: B010
    try:
        yield
    finally:
        setattr(argparse, "_", saved[0])  # noqa: B010
        setattr(argparse, "ngettext", saved[1])  # noqa: B010


class _Parser(argparse.ArgumentParser):
    """Reports usage errors as one line, in its language, and exits with 2."""

    def __init__(self, *args: Any, lang: Lang, **kwargs: Any) -> None:
        self.lang = lang
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise _Fail(_say("error.usage", self.lang, message=message, prog=self.prog))


# -- argument types ---------------------------------------------------------------------


def _parse_date(value: str) -> date:
    """An ISO date (``2025-03-01``) or a German one (``01.03.2025``, ``1.3.2025``)."""
    text = value.strip()
    if "." in text:
        day, month, year = text.split(".")
        if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
            raise ValueError(value)
        return date(int(year), int(month), int(day))
    if len(text) != 10:
        raise ValueError(value)
    return date.fromisoformat(text)


def _date_type(lang: Lang) -> Callable[[str], date]:
    def parse(value: str) -> date:
        try:
            day = _parse_date(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _say("error.date", lang, value=safety.shown(value))
            ) from None
        return safety.bounded_date(day, value, lang)

    return parse


def _int_type(lang: Lang) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _say("error.int", lang, value=safety.shown(value))
            ) from None

    return parse


def _share_type(lang: Lang) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not 0.0 < share <= 1.0:
            raise argparse.ArgumentTypeError(_say("error.share", lang, value=safety.shown(value)))
        return share

    return parse


# -- the parser -------------------------------------------------------------------------


def _peek_lang(argv: Sequence[str]) -> Lang:
    """The language asked for, before parsing (so that ``--help`` is in it too)."""
    lang = os.environ.get("IMFLOW_LANG", "de")
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            lang = argv[i + 1]
        elif arg.startswith("--lang="):
            lang = arg.partition("=")[2]
    return "en" if lang == "en" else "de"


def _parser(lang: Lang) -> _Parser:
    """The command line's parser, with every word in *lang* (build it inside
    :func:`_argparse_speaks`, so argparse's own group titles are in *lang* too)."""

    def t(key: str) -> str:
        return _say(key, lang)

    DATE, FILE = t("metavar.date"), t("metavar.file")  # noqa: N806
    common = _Parser(add_help=False, lang=lang)
    common.add_argument("--lang", choices=["de", "en"], default=argparse.SUPPRESS, help=t("lang"))
    parser = _Parser(
        prog="imflow",
        description=t("description"),
        epilog=t("epilog"),
        parents=[common],
        add_help=False,
        lang=lang,
    )
    parser.add_argument("-h", "--help", action="help", help=t("help"))
    from imflow import __version__

    parser.add_argument(
        "--version", action="version", version=f"imflow {__version__}", help=t("version")
    )
    sub = parser.add_subparsers(
        dest="subcommand",
        title=t("subcommands"),
        metavar=t("metavar.command"),
        required=True,
    )

    def subcommand(name: str, run: Callable[[argparse.Namespace, Lang], int]) -> _Parser:
        p = sub.add_parser(
            name,
            help=t(name),
            description=t(name),
            epilog=t("epilog"),
            parents=[common],
            add_help=False,
            lang=lang,
        )
        p.add_argument("-h", "--help", action="help", help=t("help"))
        p.set_defaults(run=run)
        return p

    p = subcommand("simulate", _simulate)
    p.add_argument(
        "--cases",
        type=safety.cases_type(lang),
        default=1000,
        metavar=t("metavar.number"),
        help=t("simulate.cases"),
    )
    p.add_argument(
        "--seed",
        type=_int_type(lang),
        default=1,
        metavar=t("metavar.number"),
        help=t("simulate.seed"),
    )
    p.add_argument(
        "--from",
        dest="start",
        type=_date_type(lang),
        default=date(2025, 1, 1),
        metavar=DATE,
        help=t("simulate.from"),
    )
    p.add_argument(
        "--until", type=_date_type(lang), default=None, metavar=DATE, help=t("simulate.until")
    )
    p.add_argument("--db", default="imflow.db", metavar=FILE, help=t("simulate.db"))
    p.add_argument(
        "--opening-window",
        type=_share_type(lang),
        default=1.0,
        metavar=t("metavar.share"),
        help=t("simulate.window"),
    )
    p.add_argument("--staffing", type=Path, default=None, metavar=FILE, help=t("simulate.staffing"))
    p.add_argument(
        "--jobs",
        type=jobs_type(lang),
        default=1,
        metavar=t("metavar.number"),
        help=t("simulate.jobs"),
    )

    from imflow._cli_report import FORMATS, years_type

    p = subcommand("report", _report)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--year",
        type=safety.year_type(lang),
        metavar=t("metavar.year"),
        help=t("report.year"),
    )
    when.add_argument("--years", type=years_type(lang), metavar=t("metavar.years"),
                      help=t("report.years"))  # fmt: skip
    p.add_argument("--db", default="imflow.db", metavar=FILE, help=t("report.db"))
    p.add_argument("--district", metavar="AGS", help=t("report.district"))
    p.add_argument("--provider", help=t("report.provider"))
    p.add_argument("--format", choices=FORMATS, default=None, help=t("report.format"))
    p.add_argument("-o", "--output", type=Path, action="append", metavar=FILE,
                   help=t("report.output"))  # fmt: skip
    p.add_argument("--staffing", type=Path, default=None, metavar=FILE, help=t("report.staffing"))

    p = subcommand("diagram", _diagram)
    p.add_argument(
        "--format", choices=["mermaid", "dot"], default="mermaid", help=t("diagram.format")
    )
    p.add_argument("--workflow", type=Path, metavar=FILE, help=t("diagram.workflow"))
    p.add_argument("--internal", action="store_true", help=t("diagram.internal"))

    p = subcommand("schema", _schema)
    p.add_argument("--only", choices=["commands", "events"], help=t("schema.only"))

    p = subcommand("validate", _validate)
    p.add_argument("file", metavar=FILE, help=t("validate.file"))
    p.add_argument("--today", type=_date_type(lang), metavar=DATE, help=t("validate.today"))
    p.add_argument("--workflow", type=Path, metavar=FILE, help=t("diagram.workflow"))
    p.add_argument("-v", "--verbose", action="store_true", help=t("validate.verbose"))

    from imflow._cli_sweep import add_subcommand as add_sweep  # sweep, SQLite or PostgreSQL

    add_sweep(subcommand, t, FILE, _date_type(lang), DATE)

    from imflow._cli_migrate import add_subcommands  # migrate, schema-sql

    add_subcommands(subcommand, t, FILE)
    from imflow._cli_outbox import add_subcommands as add_outbox  # outbox status, requeue

    add_outbox(subcommand, t, FILE)
    return parser


# -- helpers ------------------------------------------------------------------------------


def _configure_logging() -> None:
    """The command line's own logging: warnings and errors as one line on stderr.

    Left alone when the process has configured structlog already (a host calling
    :func:`main`, or a test run).
    """
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["level", "event"]),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _load_workflow(path: Path | None, lang: Lang) -> Workflow:
    from imflow._workflow_doc import MalformedWorkflow
    from imflow.errors import InvalidWorkflow
    from imflow.workflow import Workflow, bw_integrationsmanagement

    if path is None:
        return bw_integrationsmanagement()
    text = _read_text(path, lang)
    try:
        if path.suffix.lower() == ".json":
            return Workflow.from_json(text)
        return Workflow.from_toml(text)
    except InvalidWorkflow as exc:
        # not a workflow document at all (syntax, nesting, wrong kinds): bad input, 2;
        # a well-formed but inconsistent definition: rejected, 1
        code = EXIT_USAGE if isinstance(exc, MalformedWorkflow) else EXIT_REJECTED
        problems = "; ".join(safety.shown(p, 200) for p in exc.problems[:10])
        raise _Fail(_say("workflow.invalid", lang, path=path) + ": " + problems, code) from None


def _read_text(path: Path, lang: Lang) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Fail(_say("error.missing", lang, path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Fail(_say("error.unreadable", lang, path=path, problem=_problem(exc))) from None


def _problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@contextlib.contextmanager
def _open_store(
    db: str, lang: Lang, *, must_exist: bool, engine: Engine | None = None
) -> Iterator[SQLiteStore]:
    from imflow.errors import ImflowError, InvalidDocument, InvalidHistory
    from imflow.store import SQLiteStore

    safety.probe_database(db, lang, creating=not must_exist)  # another app's file: refused
    try:
        store = SQLiteStore(db, engine=engine, synchronous="NORMAL")
    except (sqlite3.Error, OSError, ValueError, ImflowError) as exc:
        raise _Fail(_say("error.database", lang, path=db, problem=_problem(exc))) from None
    try:
        yield store
    except sqlite3.Error as exc:
        raise _Fail(_say("error.database", lang, path=db, problem=_problem(exc))) from None
    except (InvalidHistory, InvalidDocument) as exc:  # rows changed behind imflow's back
        problem = safety.shown(str(exc), 120)
        raise _Fail(_say("error.damaged", lang, path=db, problem=problem)) from None
    finally:
        store.close()


def _progress_bar(lang: Lang) -> Callable[[int, int], None]:
    """A progress bar with the time left, on standard error (a terminal)."""
    from imflow._progress import ProgressBar

    return ProgressBar(
        _say("simulate.progress", lang),
        sys.stderr,
        left=lambda time: _say("simulate.eta", lang, time=time),
        took=lambda time: _say("simulate.took", lang, time=time),
    )


def _emit(text: str = "") -> None:
    """Print a line to stdout; if the reader went away (``| head``), drop the rest quietly."""
    try:
        print(text)
    except BrokenPipeError:
        _silence_stdout()


def _emit_bytes(data: bytes) -> None:
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# -- simulate -----------------------------------------------------------------------------


def _simulate(args: argparse.Namespace, lang: Lang) -> int:
    from imflow._bounds import MAX_DATE
    from imflow.clock import FrozenClock
    from imflow.engine import Engine
    from imflow.errors import CaseNotFound, ConcurrencyConflict
    from imflow.period import last_day
    from imflow.simulation import SimulationParams, simulate

    start: date = args.start
    # four years by default, but never past the last date imflow accepts
    until: date = args.until or min(last_day(start, months=48), MAX_DATE)
    if until < start:
        raise _Fail(_say("simulate.order", lang, until=until, start=start))
    params = SimulationParams(opening_window=args.opening_window)
    progress = _progress_bar(lang) if sys.stderr.isatty() else None  # quiet when piped
    engine = Engine(clock=FrozenClock.on(start))
    jobs: int = args.jobs
    simulating = None if jobs > 1 else engine  # more processes drive engines of their own
    first_id = f"{params.case_prefix}-{args.seed}-{0:07d}"
    if args.db == ":memory:":
        cohort = simulate(
            args.cases,
            seed=args.seed,
            start=start,
            until=until,
            params=params,
            engine=simulating,
            progress=progress,
            keep_cases=False,
            jobs=jobs,
        )
        _emit(cohort.summary(lang))
        if args.staffing is not None:  # the staffing is the simulation's, not the store's
            _write_staffing(args.staffing, params.staffing(), lang)
            _emit(_say("simulate.memory_staffing", lang, staffing=args.staffing))
        return EXIT_OK
    with _open_store(args.db, lang, must_exist=False, engine=engine) as store:
        with contextlib.suppress(CaseNotFound):
            store.load(first_id)
            raise _Fail(_say("simulate.exists", lang, db=args.db, case_id=first_id))
        try:
            cohort = simulate(
                args.cases,
                seed=args.seed,
                start=start,
                until=until,
                params=params,
                store=store,
                engine=simulating,
                progress=progress,
                keep_cases=False,
                jobs=jobs,
            )
        except ConcurrencyConflict as exc:
            raise _Fail(_say("simulate.exists", lang, db=args.db, case_id=exc.case_id)) from None
    _emit(cohort.summary(lang))
    if args.staffing is not None:
        _write_staffing(args.staffing, params.staffing(), lang)
        _emit(_say("simulate.written", lang, db=args.db, staffing=args.staffing))
    else:
        _emit(_say("simulate.stored", lang, db=args.db))
    return EXIT_OK


def _write_staffing(path: Path, staffing: dict[tuple[str, str], Decimal], lang: Lang) -> None:
    lines = ["district;provider;fte"] + [f"{d};{p};{fte}" for (d, p), fte in staffing.items()]
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise _Fail(_say("error.unreadable", lang, path=path, problem=_problem(exc))) from None


def _read_staffing(path: Path, lang: Lang) -> dict[tuple[str, str], Decimal]:
    from imflow.organisations import fte

    staffing: dict[tuple[str, str], Decimal] = {}
    for number, raw in enumerate(_read_text(path, lang).lstrip("\ufeff").splitlines(), 1):
        text = raw.strip()
        if not text or (number == 1 and text.lower().startswith(("district", "kreis"))):
            continue
        # ";" (German spreadsheets, decimal comma allowed), tab, or "," as the delimiter
        delimiter = next((d for d in ";\t" if d in text), ",")
        parts = [p.strip() for p in text.split(delimiter)]
        if len(parts) != 3:
            raise _Fail(
                _say("report.staffing_bad", lang, path=path, line=number, text=safety.shown(text))
            )
        try:
            staffing[(parts[0], parts[1])] = fte(parts[2].replace(",", "."))
        except (ValueError, ArithmeticError):
            raise _Fail(
                _say(
                    "report.staffing_fte", lang, path=path, line=number, text=safety.shown(parts[2])
                )
            ) from None
    return staffing


# -- report -------------------------------------------------------------------------------


def _report(args: argparse.Namespace, lang: Lang) -> int:
    from imflow._cli_report import open_report_source, report_years_of, safe_dsn, write_report
    from imflow.districts import DISTRICTS
    from imflow.kennzahlen import report_years

    if args.district is not None and args.district not in DISTRICTS:
        raise _Fail(_say("report.district_unknown", lang, ags=args.district))
    staffing = None if args.staffing is None else _read_staffing(args.staffing, lang)
    years = report_years_of(args, lang)  # checks the outputs' formats too
    with open_report_source(args.db, lang) as store:  # SQLite, or postgresql://…
        if args.provider is not None:
            shown_db = safe_dsn(args.db)
            safety.check_provider(store, args.provider, args.district, shown_db, lang)
        result = report_years(
            store,
            years=years,
            district=args.district,
            provider=args.provider,
            staffing=staffing,
        )
    write_report(result, args, lang)  # text, json, csv, xlsx, html, pdf, summary; -o FILE
    findings = result.latest.findings
    if findings:
        print(_say("report.findings", lang, n=len(findings)), file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


# -- diagram and schema ---------------------------------------------------------------------


def _diagram(args: argparse.Namespace, lang: Lang) -> int:
    workflow = _load_workflow(args.workflow, lang)
    if args.format == "dot":
        try:
            _emit(workflow.to_dot(lang=lang, internal=args.internal))
        except ImportError:
            raise _Fail(_say("diagram.graphviz", lang)) from None
    else:
        _emit(workflow.to_mermaid(lang=lang, internal=args.internal))
    return EXIT_OK


def _schema(args: argparse.Namespace, lang: Lang) -> int:
    from imflow.serialization import json_schema

    _emit(json.dumps(json_schema(only=args.only), indent=2, ensure_ascii=False))
    return EXIT_OK


# -- validate -------------------------------------------------------------------------------


def _validate(args: argparse.Namespace, lang: Lang) -> int:
    from imflow.clock import FrozenClock
    from imflow.engine import Engine
    from imflow.store import MemoryStore

    workflow = _load_workflow(args.workflow, lang)
    if args.file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        lines = _read_text(Path(args.file), lang).splitlines()
    clock = None if args.today is None else FrozenClock.on(args.today)
    engine = Engine(workflow=workflow, clock=clock)
    store = MemoryStore(engine=engine)
    counts = {"accepted": 0, "rejected": 0, "malformed": 0}
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        outcome = _validate_line(number, text, engine, store, lang, verbose=args.verbose)
        counts[outcome] += 1
    total = sum(counts.values())
    _emit(_say("validate.summary", lang, total=total, **counts))
    return EXIT_REJECTED if counts["rejected"] or counts["malformed"] else EXIT_OK


def _validate_line(
    number: int, text: str, engine: Engine, store: Any, lang: Lang, *, verbose: bool
) -> str:
    from imflow import commands as c
    from imflow.actors import Actor
    from imflow.errors import CaseNotFound, InvalidDocument, Rejected
    from imflow.serialization import from_document

    def malformed(problem: str) -> str:
        _emit(_say("validate.malformed", lang, line=number, problem=problem))
        return "malformed"

    doc, problem = safety.json_line(text, lang)
    if problem is not None:
        return malformed(problem)
    if not isinstance(doc, dict) or "command" not in doc or "actor" not in doc:
        return malformed(_say("validate.not_object", lang))
    try:
        actor = from_document(doc["actor"], Actor)
    except InvalidDocument as exc:
        return malformed(_at("actor", exc))
    command_doc = doc["command"]
    if isinstance(command_doc, dict):
        command_doc = {"schema_version": 1, **command_doc}
    try:
        command = from_document(command_doc, c.Command)
    except InvalidDocument as exc:
        return malformed(_at("command", exc))
    case_id = doc.get("case_id")
    if case_id is not None and not isinstance(case_id, str):
        return malformed("case_id")
    try:
        if isinstance(command, c.OpenCase):
            if case_id is not None and case_id != command.case_id:
                return malformed(
                    _say("validate.case_id_mismatch", lang, given=case_id, opened=command.case_id)
                )
            case_id = command.case_id
            with contextlib.suppress(CaseNotFound):
                store.load(case_id)
                return _rejected(
                    number,
                    case_id,
                    command.type,
                    lang,
                    [("case_exists", _say("validate.duplicate", lang, case_id=case_id))],
                )
            case = engine.open(command, by=actor)
            store.append(case_id, case.events, expected_version=0)
        else:
            if case_id is None:
                return malformed(_say("validate.no_case_id", lang))
            try:
                before = store.load(case_id)
            except CaseNotFound:
                return _rejected(
                    number,
                    case_id,
                    command.type,
                    lang,
                    [("case_not_found", _say("validate.unknown_case", lang, case_id=case_id))],
                )
            case = engine.handle(before, command, by=actor)
            store.append(case_id, case.events[before.version :], expected_version=before.version)
    except Rejected as refused:
        return _rejected(
            number,
            case_id or "",
            refused.command_type or command.type,
            lang,
            [(r.code, r.message(lang)) for r in refused.reasons],
        )
    if verbose:
        phase = case.phase
        label = engine.workflow.phase(phase).label(lang) if phase else phase
        _emit(
            _say(
                "validate.accepted",
                lang,
                line=number,
                case_id=case_id,
                command_type=command.type,
                label=label,
            )
        )
    return "accepted"


def _at(field: str, exc: Exception) -> str:
    """An :class:`~imflow.InvalidDocument` message with its path from the line's root."""
    text = str(exc)
    return f"$.{field}{text[1:]}" if text.startswith("$") else f"{field}: {text}"


def _rejected(
    number: int, case_id: str, command: str, lang: Lang, reasons: list[tuple[str, str]]
) -> str:
    _emit(_say("validate.rejected", lang, line=number, case_id=case_id, command_type=command))
    for code, message in reasons:
        _emit(f"  {code}: {message}")
    return "rejected"


# -- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``imflow`` command line with *argv* (default: ``sys.argv[1:]``).

    Returns the exit code: 0 ok, 1 rejected or findings, 2 bad usage or unusable
    input (also for an unexpected error, reported as one line by its kind only).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    lang = _peek_lang(args_list)
    try:
        with _argparse_speaks(lang):
            args = _parser(lang).parse_args(args_list)
        _configure_logging()
        code: int = args.run(args, lang)
    except _Fail as failure:
        sys.stdout.flush()
        print(f"imflow: {failure}", file=sys.stderr)
        return failure.code
    except SystemExit as leave:  # --help and --version
        return leave.code if isinstance(leave.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print(f"imflow: {_say('error.interrupted', lang)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away while argparse printed help
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # the safety net: one line, the kind only, never a value
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        print(f"imflow: {safety.internal_error(exc, lang)}", file=sys.stderr)
        return EXIT_USAGE
    return code
