"""A PostgreSQL server of the cluster suite's own (initdb in a temporary directory owned by
postgres, its own port and socket directory), so a scenario may restart it mid-stream; the
shared server on 5432 is never touched. Stopped and removed by the fixture's finaliser and,
should that never run, at exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else BIN


def postgres_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the private PostgreSQL runs as the postgres user: run as root"
    if not (_bin() / "initdb").exists() or shutil.which("runuser") is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) or runuser are not installed"
    return None


@dataclass
class PrivatePostgres:
    port: int = 5499
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mra-pg-", dir="/tmp")))

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        out = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr or out.stdout}")

    def up(self) -> str:
        atexit.register(self.down)
        shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(
            str(_bin() / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self.start()
        return self.url

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._as_postgres(
            str(_bin() / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"), "-o", opts,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        self.wait()

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(str(_bin() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_for: float = 5.0) -> None:
        """Stopped (sessions cut), left down `down_for` seconds, started again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def down(self) -> None:
        if self.data.exists():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
