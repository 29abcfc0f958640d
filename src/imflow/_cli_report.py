"""Private: the outputs of ``imflow report`` (formats, files, the PostgreSQL source).

``imflow report`` reads SQLite or, with ``--db postgresql://…``, PostgreSQL, and writes
one of the formats text, json, csv, xlsx, html, pdf and summary: to standard output, or
with ``-o FILE`` (repeatable; the format follows the file's extension) to files, in
which case standard output shows the short summary and the paths written. JSON, CSV,
text and the workbook are of the reporting year alone unless ``--years`` asks for a
trend; the committee report (html, pdf) and the summary always show last year beside
the reporting year, and the charts the years up to three before it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imflow._cli_safety import Fail as _Fail
from imflow.cli import EXIT_USAGE, _emit, _emit_bytes, _open_store, _problem, _say
from imflow.i18n import Lang

if TYPE_CHECKING:
    from imflow.kennzahlen import Report, Trend

__all__ = [
    "FORMATS",
    "open_report_source",
    "report_years_of",
    "write_report",
    "years_type",
]

FORMATS = ("text", "json", "csv", "xlsx", "html", "pdf", "summary")
"""The formats of ``imflow report --format``."""

_EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_BINARY = {"xlsx", "pdf"}
_FIRST_YEAR, _LAST_YEAR = 2018, 2099  # the dates imflow accepts (domain.md § 8)
_CHART_YEARS = 4  # the committee report's charts show the reporting year and 3 before
_YEARS = re.compile(r"^\s*(\d{4})\s*(?:[-–‐]\s*(\d{4}))?\s*$")
_SECRET = re.compile(r"(://[^:/@\s]*:)[^@\s]*@|(password\s*=\s*)\S+", re.IGNORECASE)


def years_type(lang: Lang) -> Callable[[str], range]:
    """``--years``: ``2023-2026`` (or one year), from 2018 to 2099, first before last."""

    def parse(value: str) -> range:
        found = _YEARS.match(value)
        if found:
            first = int(found[1])
            last = int(found[2] or found[1])
            if _FIRST_YEAR <= first <= last <= _LAST_YEAR:
                return range(first, last + 1)
        raise argparse.ArgumentTypeError(_say("report.years_bad", lang, value=value))

    return parse


def _formats(args: argparse.Namespace, lang: Lang) -> list[tuple[str, Path | None]]:
    """``(format, file)`` of every output; ``None`` is standard output."""
    outputs: list[Path] = list(args.output or [])
    if not outputs:
        return [(args.format or "text", None)]
    chosen: list[tuple[str, Path | None]] = []
    for path in outputs:
        by_extension = _EXTENSIONS.get(path.suffix.lower())
        fmt = args.format if args.format and len(outputs) == 1 else by_extension
        if fmt is None:
            raise _Fail(_say("report.output_format", lang, path=path))
        chosen.append((fmt, path))
    return chosen


def report_years_of(args: argparse.Namespace, lang: Lang) -> range:
    """The years to compute: ``--years``, or the reporting year and the years before it
    that the formats asked for show."""
    if args.years is not None:
        years: range = args.years
        return years
    year: int = args.year
    formats = {fmt for fmt, _ in _formats(args, lang)}
    if args.output:
        formats.add("summary")
    before = 0
    if formats & {"html", "pdf"}:
        before = _CHART_YEARS - 1
    elif "summary" in formats:
        before = 1
    return range(max(_FIRST_YEAR, min(year, year - before)), year + 1)


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def safe_dsn(db: str) -> str:
    """*db* with any password hidden, for messages.

    >>> safe_dsn("postgresql://im:secret@127.0.0.1/imflow")
    'postgresql://im:***@127.0.0.1/imflow'
    """
    return _SECRET.sub(lambda m: f"{m[1]}***@" if m[1] else f"{m[2]}***", db)


@contextlib.contextmanager
def open_report_source(db: str, lang: Lang) -> Iterator[Any]:
    """What :func:`imflow.kennzahlen.report` reads: a SQLite store, or a read-only
    connection to a PostgreSQL database with imflow's tables (nothing is created)."""
    if not _is_postgres(db):
        with _open_store(db, lang, must_exist=True) as store:
            yield store
        return
    shown = safe_dsn(db)
    try:
        import psycopg
    except ImportError:
        raise _Fail(_say("report.postgres_missing", lang)) from None
    try:
        conn = psycopg.connect(db, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise _Fail(
            _say("error.database", lang, path=shown, problem=_pg_problem(exc, db))
        ) from None
    try:
        conn.read_only = True
        row = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
        if not row or not row[0]:
            raise _Fail(_say("report.no_events", lang, path=shown))
        yield conn
    except psycopg.Error as exc:
        raise _Fail(
            _say("error.database", lang, path=shown, problem=_pg_problem(exc, db))
        ) from None
    finally:
        conn.close()


def _pg_problem(exc: BaseException, db: str) -> str:
    text = safe_dsn(_problem(exc))
    return text.replace(db, safe_dsn(db))


def _render(fmt: str, trend: Trend, explicit_years: bool, lang: Lang) -> str | bytes:
    from imflow.kennzahlen import to_csv, to_html, to_json, to_summary, to_text, to_xlsx

    source: Report | Trend = trend if explicit_years else trend.latest
    if fmt == "json":
        return to_json(source)
    if fmt == "csv":
        return to_csv(source, lang=lang)
    if fmt == "text":
        return to_text(source, lang=lang)
    if fmt == "summary":
        return to_summary(trend, lang=lang)
    try:
        if fmt == "xlsx":
            return to_xlsx(source, lang=lang)
        page = to_html(trend, lang=lang)
    except ImportError:
        raise _Fail(_say("report.extra_missing", lang, format=fmt)) from None
    if fmt == "html":
        return page
    return _pdf(page, lang)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _pdf(page: str, lang: Lang) -> bytes:
    """The committee report printed to PDF by headless Chromium."""
    chromium = _chromium()
    if chromium is None:
        raise _Fail(_say("report.no_pdf", lang))
    with tempfile.TemporaryDirectory(prefix="imflow-pdf-") as folder:
        source = Path(folder) / "report.html"
        source.write_text(page, encoding="utf-8")
        target = Path(folder) / "report.pdf"
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--user-data-dir={Path(folder) / 'profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={target}", source.as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _Fail(_say("report.pdf_failed", lang, problem=_problem(exc))) from None
        if not target.is_file() or target.stat().st_size == 0:
            problem = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise _Fail(_say("report.pdf_failed", lang, problem=problem[:200]))
        return target.read_bytes()


def _write_file(path: Path, data: str | bytes, lang: Lang) -> None:
    """Write *data* whole or not at all: to a new file beside *path* (created with the
    usual permissions, as the umask allows), then renamed over it."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _Fail(_say("report.write_failed", lang, path=path, problem=_problem(exc))) from None


def write_report(trend: Trend, args: argparse.Namespace, lang: Lang) -> None:
    """Render and write every output that *args* asks for (see the module doc)."""
    outputs = _formats(args, lang)
    explicit_years = args.years is not None
    if outputs == [(outputs[0][0], None)]:
        fmt = outputs[0][0]
        if fmt in _BINARY and sys.stdout.isatty():
            raise _Fail(_say("report.binary_tty", lang, format=fmt), EXIT_USAGE)
        data = _render(fmt, trend, explicit_years, lang)
        if isinstance(data, bytes):
            _emit_bytes(data)
        else:
            _emit(data.rstrip("\n"))
        return
    rendered = [(path, _render(fmt, trend, explicit_years, lang)) for fmt, path in outputs]
    for path, data in rendered:
        assert path is not None
        _write_file(path, data, lang)
    from imflow.kennzahlen import to_summary

    _emit(to_summary(trend, lang=lang))
    _emit(_say("report.files", lang))
    for path, _ in rendered:
        _emit(f"  {path}")
