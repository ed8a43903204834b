"""Drive the repo's Meltano project from tests.

Each test session gets a private `.meltano` (MELTANO_SYS_DIR_ROOT) holding its own system
database (so all state) and run directory, because Meltano writes every run's catalog and
config to one path per plugin: two concurrent runs in one `.meltano` clobber each other. Only
the plugin venvs (the slow part) are shared, through symlinks to the repo's `.meltano`; an
install takes that folder exclusively, while runs hold it shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MELTANO = Path(sys.executable).with_name("meltano")
UV = Path(sys.executable).with_name("uv")  # Meltano ships it
ENVIRONMENT = "dev"
SHARED = ROOT / ".meltano"
PLUGIN_DIRS = ("extractors", "loaders")
PLUGINS_LOCK = SHARED / "test-plugins.lock"
# A developer's shell may hold real keys or warehouse settings: never let them leak into a test.
_FOREIGN_PREFIXES = ("TAP_PINTEREST_ADS_", "TARGET_", "MELTANO_", "PGTZ")


class MeltanoError(AssertionError):
    pass


class Meltano:
    """`project` is the repo's Meltano project unless a test works on a copy of it."""

    def __init__(self, workdir: Path, project: Path = ROOT) -> None:
        self.workdir = workdir
        self.project = project
        sys_dir = workdir / "sys"
        sys_dir.mkdir(parents=True)
        for name in PLUGIN_DIRS:
            (SHARED / name).mkdir(parents=True, exist_ok=True)
            (sys_dir / name).symlink_to(SHARED / name, target_is_directory=True)
        self.base_env = {
            key: value for key, value in os.environ.items() if not key.startswith(_FOREIGN_PREFIXES)
        }
        self.base_env |= {
            "MELTANO_PROJECT_ROOT": str(project),
            "MELTANO_SYS_DIR_ROOT": str(sys_dir),
            "MELTANO_ENVIRONMENT": ENVIRONMENT,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def env(self, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
        values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (extra or {}).items()}
        return {**self.base_env, **values}

    def __call__(
        self, *args: str, env: Mapping[str, Any] | None = None, timeout: float = 300
    ) -> str:
        """Run `meltano ARGS`; returns stdout, raises with the log tail when it fails."""
        result = self.attempt(*args, env=env, timeout=timeout)
        if result.returncode:
            raise MeltanoError(
                f"meltano {' '.join(args)} exited {result.returncode}:\n{result.stderr[-6000:]}"
            )
        return result.stdout

    def attempt(
        self, *args: str, env: Mapping[str, Any] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano ARGS` whatever comes of it: for tests of what a failure looks like."""
        with locked(PLUGINS_LOCK, shared=args[0] != "install"):
            return subprocess.run(
                [str(MELTANO), *args],
                cwd=self.project,
                env=self.env(env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )

    @contextlib.contextmanager
    def started(
        self, *args: str, env: Mapping[str, Any] | None = None
    ) -> Iterator[subprocess.Popen[str]]:
        """`meltano ARGS` in the background (logs in the work dir); killed if still running."""
        with (
            locked(PLUGINS_LOCK, shared=True),
            (self.workdir / "background.log").open("a") as log,
        ):
            process = subprocess.Popen(
                [str(MELTANO), *args], cwd=self.project, env=self.env(env), stdout=log, stderr=log
            )
            try:
                yield process
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()

    def install(self, *plugins: str) -> None:
        self("install", *plugins, timeout=900)

    def run(
        self, extractor: str, loader: str, *, state_suffix: str, env: Mapping[str, Any]
    ) -> None:
        self("run", extractor, loader, "--state-id-suffix", state_suffix, env=env)

    def state(self, state_id: str) -> dict[str, Any]:
        return dict(json.loads(self("state", "get", state_id))["singer_state"])


def state_id(extractor: str, loader: str, suffix: str) -> str:
    return f"{ENVIRONMENT}:{extractor}-to-{loader}:{suffix}"


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False) -> Iterator[None]:
    """An flock across processes: exclusive, or shared with other shared holders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class LogLine:
    level: str
    source: str  # "meltano" or the plugin's name
    message: str


# Meltano's console format: `<timestamp> [<level padded>] <source> <message>`.
_CONSOLE = re.compile(r"^\S+ \[(\w+)\s*\] (\S+)\s+(.*)$")


def log_lines(output: str) -> list[LogLine]:
    """Meltano's console log as a person reads it; continuation lines are left out."""
    return [
        LogLine(*match.groups()) for line in output.splitlines() if (match := _CONSOLE.match(line))
    ]
