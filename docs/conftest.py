"""Every code block in the docs runs as a test, collected by Sybil (and only by Sybil).

- ```` ```python ```` blocks run in one namespace per page, top to bottom; a block that
  starts with ``>>>`` is a doctest and its output is compared (``ELLIPSIS`` and
  ``NORMALIZE_WHITESPACE`` are on).
- ```` ```{code-block} toml ```` (or ``json``) blocks with a ``:caption:`` that is a file
  name are written to that file, so the page's Python can read it like a reader would;
  every TOML and JSON block must parse.
- ```` ```console ```` blocks run each ``$ `` line in a shell and compare the output
  that follows it (with ``...`` as a wildcard). The command must exit with 0, unless
  its output ends with a line ``[exit N]``: then it must exit with N.

The examples of one page share a namespace and run in order, so under pytest-xdist they
must stay on one worker: ``--dist loadfile`` in pyproject's addopts keeps each page (a
"file") on one worker.

Each page runs in a fresh temporary directory as the working directory, so the files it
writes (SQLite databases, TOML files, reports) never touch the repository. Pages that
talk to PostgreSQL (listed in ``POSTGRES_PAGES``) get a real server: the test suite's
throw-away server on loopback (or ``IMFLOW_TEST_PG_DSN``), announced to the page the way
a deployment would, in ``IMFLOW_PG_DSN`` and ``IMFLOW_PG_SCHEMA`` (and a master key
in ``IMFLOW_MASTER_KEY``).
"""

from __future__ import annotations

import doctest
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer
from sybil.parsers.myst import ClearNamespaceParser, PythonCodeBlockParser, SkipParser
from sybil.parsers.myst.lexers import DirectiveLexer

collect_ignore = ["conf.py", "_ext", "_build"]

POSTGRES_PAGES = ["how-to/persist.md", "how-to/asyncio.md", "how-to/several-servers.md"]

_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_EXIT = re.compile(r"\[exit (\d+)\]")
_BIN = Path(sys.executable).parent


def _data_check(language: str, text: str) -> None:
    if language == "toml":
        tomllib.loads(text)
    elif language == "json":
        json.loads(text)


class DataFileParser:
    """TOML and JSON blocks: they must parse; with a file-name caption they are saved."""

    def __init__(self) -> None:
        self.fenced = FencedCodeBlockLexer(
            language=r"toml|json", mapping={"language": "language", "source": "source"}
        )
        self.directive = DirectiveLexer(directive=r"code-block|code", arguments=r"toml|json")

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.fenced(document):
            language = region.lexemes["language"]
            source = str(region.lexemes["source"])
            region.parsed = (language, source, None)
            region.evaluator = self.evaluate
            yield region
        for region in self.directive(document):
            language = region.lexemes["arguments"]
            options = region.lexemes.get("options") or {}
            region.parsed = (language, str(region.lexemes["source"]), options.get("caption"))
            region.evaluator = self.evaluate
            yield region

    @staticmethod
    def evaluate(example: Example) -> str | None:
        language, source, filename = example.parsed
        _data_check(language, source)
        if filename:
            Path(filename).write_text(source, encoding="utf-8")
        return None


class ConsoleParser:
    """``console`` blocks: run each ``$ command`` and compare the output below it."""

    def __init__(self) -> None:
        self.lexer = FencedCodeBlockLexer(
            language=r"console", mapping={"language": "language", "source": "source"}
        )

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexer(document):
            region.parsed = str(region.lexemes["source"])
            region.evaluator = self.evaluate
            yield region

    @staticmethod
    def _steps(text: str) -> list[tuple[str, str]]:
        steps: list[tuple[str, list[str]]] = []
        for line in text.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        return [(cmd, "\n".join(out).strip()) for cmd, out in steps]

    @staticmethod
    def _exit_status(expected: str) -> tuple[str, int]:
        """The expected output without a final ``[exit N]`` line, and N (default 0)."""
        lines = expected.splitlines()
        if lines and (found := _EXIT.fullmatch(lines[-1].strip())):
            return "\n".join(lines[:-1]).strip(), int(found.group(1))
        return expected, 0

    @classmethod
    def evaluate(cls, example: Example) -> str | None:
        env = {**os.environ, "PATH": f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("CI", None)  # the CLI's own behaviour, not the test run's
        env["COLUMNS"] = "100"
        checker = doctest.OutputChecker()
        for command, shown in cls._steps(example.parsed):
            expected, status = cls._exit_status(shown)
            done = subprocess.run(
                command,
                shell=True,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
            )
            got = (done.stdout + done.stderr).strip()
            if expected and not checker.check_output(expected + "\n", got + "\n", _FLAGS):
                return f"$ {command}\nexpected:\n{expected}\ngot (exit {done.returncode}):\n{got}"
            if done.returncode != status:
                return f"$ {command}\nexited {done.returncode}, not {status}:\n{got}"
        return None


def _enter_temp_dir(namespace: dict[str, Any]) -> None:
    namespace["__docs_cwd__"] = os.getcwd()
    namespace["__docs_tmp__"] = tmp = tempfile.mkdtemp(prefix="imflow-docs-")
    namespace.setdefault("__name__", "docs")
    os.chdir(tmp)


def _leave_temp_dir(namespace: dict[str, Any]) -> None:
    os.chdir(namespace["__docs_cwd__"])
    shutil.rmtree(namespace["__docs_tmp__"], ignore_errors=True)


def _enter_postgres_page(namespace: dict[str, Any]) -> None:
    """Each PostgreSQL page gets a schema of its own (its case ids are its own business)."""
    from tests.pg import fresh_schema

    _enter_temp_dir(namespace)
    os.environ["IMFLOW_PG_SCHEMA"] = fresh_schema()


@pytest.fixture(scope="session")
def postgres_env() -> Iterator[str]:
    """A PostgreSQL server for the pages that use one, named in the environment."""
    from tests.pg import fresh_schema, server_dsn

    from imflow.keys import MasterKey

    with server_dsn() as dsn:
        names = ("IMFLOW_PG_DSN", "IMFLOW_PG_SCHEMA", "IMFLOW_MASTER_KEY")
        saved = {k: os.environ.get(k) for k in names}
        os.environ["IMFLOW_PG_DSN"] = dsn
        os.environ["IMFLOW_PG_SCHEMA"] = fresh_schema()
        # a deployment configures its master key; PostgreSQL has no default
        os.environ.setdefault("IMFLOW_MASTER_KEY", MasterKey.generate().text())
        try:
            yield dsn
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _sybil(setup: Any = _enter_temp_dir, **options: Any) -> Sybil:
    return Sybil(
        parsers=[
            PythonCodeBlockParser(doctest_optionflags=_FLAGS),
            DataFileParser(),
            ConsoleParser(),
            SkipParser(),
            ClearNamespaceParser(),
        ],
        setup=setup,
        teardown=_leave_temp_dir,
        **options,
    )


pytest_collect_file = (
    _sybil(patterns=["*.md"], excludes=["_build/*", *POSTGRES_PAGES])
    + _sybil(patterns=POSTGRES_PAGES, fixtures=["postgres_env"], setup=_enter_postgres_page)
).pytest()
