"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a free loopback port.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system
user and every server command goes through `runuser`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg
from psycopg.conninfo import make_conninfo


@dataclass(frozen=True)
class PgAddress:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> PgAddress:
        parts = urlparse(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or "postgres",
        )

    @property
    def conninfo(self) -> str:
        return make_conninfo(
            host=self.host, port=self.port, user=self.user, dbname=self.database,
            password=self.password or None,
        )  # fmt: skip


def server_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl (newest Debian major first); None if absent."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=lambda d: int(d.parent.name.split(".")[0]), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    tools = ("initdb", "pg_ctl")
    return next((d for d in candidates if all((d / t).is_file() for t in tools)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One cluster in its own dir; `stop()` is idempotent and always leaves nothing behind.

    Tests give neither `directory` nor `port` (a temp dir, a free port); `make pg` gives both, so
    a second `start()` finds the running server instead of starting another.
    """

    def __init__(
        self, bindir: Path, timezone: str = "UTC", directory: Path | None = None, port: int = 0
    ) -> None:
        self.bindir = bindir
        self.timezone = timezone
        self.owner = "postgres" if os.geteuid() == 0 else None
        if directory:
            directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory or Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.dir / "data"
        self.fixed_port = port
        self.port = port
        self.running = False
        if self.owner:
            entry = pwd.getpwnam(self.owner)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        # cwd: the server user may not be allowed into the caller's directory (a clone in /root).
        return subprocess.run(
            command, cwd=self.dir, capture_output=True, text=True, check=False, timeout=120
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} failed:\n{result.stdout}{result.stderr}{tail}")

    def address(self) -> PgAddress:
        return PgAddress("127.0.0.1", self.port, "postgres", "", "postgres")

    def start(self, attempts: int = 3) -> PgAddress:
        if self.data.is_dir():
            if self._pg("pg_ctl", "-D", str(self.data), "status").returncode == 0:
                self.running = True
                return self.address()
        else:
            self._initdb()
        for _ in range(1 if self.fixed_port else attempts):
            # Another process may grab a probed port between probe and bind: probe again.
            self.port = self.fixed_port or _free_port()
            options = (
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                f"-c timezone={self.timezone} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            result = self._pg(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.dir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if result.returncode == 0:
                self.running = True
                return self.address()
        self._check(result, "pg_ctl start")
        raise AssertionError("unreachable")

    def _initdb(self) -> None:
        self._check(
            self._pg(
                "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ),
            "initdb",
        )

    def stop(self) -> None:
        if self.running or self.data.is_dir():  # `make pg-stop` stops a server it did not start
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class PgDatabase:
    address: PgAddress
    schemas: list[str] = field(default_factory=list)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.address.conninfo, autocommit=True)

    def new_schema(self, label: str) -> str:
        """A schema name no other test uses (DATABASE_URL may point at a shared server)."""
        stem = "".join(c if c.isalnum() else "_" for c in label.lower())[:40]
        schema = f"t_{stem}_{uuid.uuid4().hex[:6]}"
        self.schemas.append(schema)
        return schema

    def drop_schemas(self) -> None:
        with self.connect() as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
