"""A throw-away PostgreSQL server on loopback, for the tests and the benchmarks.

``IMFLOW_TEST_PG_DSN`` points the tests at an existing server instead. Otherwise
:class:`ThrowawayServer` finds ``initdb`` and ``pg_ctl`` (under
``/usr/lib/postgresql/*/bin`` or on ``PATH``), creates a cluster in a temporary folder
(owned by the ``postgres`` user when running as root, since the server refuses to run
as root), listens on 127.0.0.1 on a free port only, and removes everything on stop.
A server that cannot start is an error with the server's log, never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ENV_DSN", "PostgresUnavailable", "ThrowawayServer", "fresh_schema", "server_dsn"]

ENV_DSN = "IMFLOW_TEST_PG_DSN"


class PostgresUnavailable(RuntimeError):
    """The tests could not get a PostgreSQL server."""


def _bin_dir() -> Path:
    def version(initdb: str) -> int:
        name = Path(initdb).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        "no initdb found under /usr/lib/postgresql/*/bin or on PATH; "
        "install PostgreSQL (bash scripts/check.sh does: apt-get install postgresql) "
        f"or set {ENV_DSN} to a server's connection string"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ThrowawayServer:
    """A PostgreSQL cluster in a temporary folder, started on 127.0.0.1."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self._as_root = os.geteuid() == 0
        # as root the cluster belongs to "postgres", who must reach the folder: use /tmp,
        # not a TMPDIR that may sit below a private home
        parent = "/tmp" if self._as_root and os.path.isdir("/tmp") else None
        self.root = Path(tempfile.mkdtemp(prefix="imflow-pg-", dir=parent))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def _log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return "(no server log)"

    def start(self) -> str:
        """Create and start the cluster; returns its connection string."""
        if self._as_root:
            shutil.chown(self.root, user="postgres", group="postgres")
        init = self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "imflow",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",  # a throw-away cluster: crash safety of the server is not tested
                "-c full_page_writes=off",
                "-c max_connections=60",
            ]
        )
        for attempt in range(3):
            ctl = self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if ctl.returncode == 0:
                break
            if attempt == 2:
                raise PostgresUnavailable(
                    f"pg_ctl start failed:\n{ctl.stdout}\n{ctl.stderr}\n{self._log_text()}"
                )
            self.port = _free_port()  # the port was taken meanwhile
            options = options.replace(options.split("-c port=")[1].split()[0], str(self.port))
            time.sleep(0.2)
        self.started = True
        return self.dsn

    @property
    def dsn(self) -> str:
        return f"postgresql://imflow@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def server_dsn() -> Iterator[str]:
    """The connection string of ``IMFLOW_TEST_PG_DSN`` or of a throw-away server."""
    given = os.environ.get(ENV_DSN)
    if given:
        yield given
        return
    server = ThrowawayServer()
    try:
        yield server.start()
    finally:
        server.stop()


def fresh_schema() -> str:
    """A new, unique PostgreSQL schema name, so tests never see each other's tables."""
    return f"t_{uuid.uuid4().hex[:16]}"
