"""Run the tap as users do (its own process, real HTTP) and read its Singer output.

The one runner of the project: tests keep whole runs (`run_tap`), benchmarks stream them
(`stream_tap`), as a target would read them, without holding the output in memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAP = [sys.executable, "-m", "tap_pinterest_ads"]


def v5_settings(v5_url: str, token_store: Path, **extra: Any) -> dict[str, Any]:
    """A v5 config with the sandbox's documented test credentials; `token_store` is where the
    rotated refresh token goes (runs sharing a sandbox must share it)."""
    from tap_pinterest_ads.sandbox.v5.auth import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN

    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": FIRST_REFRESH_TOKEN,
        "v5_api_url": v5_url,
        "token_store_path": str(token_store),
        **extra,
    }


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str = "pinterest_ads") -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None


def parse_messages(lines: Iterable[str]) -> list[dict[str, Any]]:
    # Singer output is one JSON object per line; a failed run still wrote valid lines first.
    return [json.loads(line) for line in lines if line.startswith("{")]


def write_inputs(
    tmp: Path,
    config: dict[str, Any],
    state: dict[str, Any] | None,
    catalog: dict[str, Any] | None = None,
) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    args = [*TAP]
    for flag, content in (("config", config), ("state", state), ("catalog", catalog)):
        if content is not None:
            path = tmp / f"{flag}.json"
            path.write_text(json.dumps(content))
            args += [f"--{flag}", str(path)]
    return args


def run_tap(
    tmp: Path,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    timeout: int = 180,
) -> TapRun:
    args = write_inputs(tmp, config, state, catalog)
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    return TapRun(
        done.returncode, done.stdout, done.stderr, parse_messages(done.stdout.splitlines())
    )


@dataclass
class StreamedRun:
    seconds: float
    records: dict[str, int]  # RECORD messages per stream
    state: dict[str, Any] | None  # the last STATE


def stream_tap(
    tmp: Path,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> StreamedRun:
    """One tap run read as it streams; a failed run raises with the end of its stderr."""
    args = write_inputs(tmp, config, state, catalog)
    stderr_path = tmp / "stderr.log"
    records: dict[str, int] = {}
    last_state = None
    with stderr_path.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            if message["type"] == "RECORD":
                records[message["stream"]] = records.get(message["stream"], 0) + 1
            elif message["type"] == "STATE":
                last_state = message["value"]
        returncode = process.wait()
        seconds = time.perf_counter() - started
    if returncode:
        raise RuntimeError(f"tap exited {returncode}:\n{stderr_path.read_text()[-2000:]}")
    return StreamedRun(seconds, records, last_state)


def api_requests(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in log if entry["path"] == "/api/v1/pinterest-ads"]


def catalog_selecting(tmp: Path, config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """The tap's own discovered catalog with exactly `streams` selected."""
    args = [*write_inputs(tmp / "discover", config, None), "--discover"]
    catalog: dict[str, Any] = json.loads(
        subprocess.run(args, capture_output=True, text=True, check=True).stdout
    )
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def killed_after_first_record(args: list[str], stream: str, wait: float = 1.0) -> TapRun:
    """The tap run until `stream`'s first record, `wait` seconds more (what it reads ahead),
    then SIGKILL: every message it wrote, to resume from its last STATE."""
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as tap:
        assert tap.stdout is not None
        lines = []
        for line in tap.stdout:
            lines.append(line)
            if f'"stream":"{stream}"' in line and '"type":"RECORD"' in line:
                break
        time.sleep(wait)
        tap.kill()
        lines += tap.stdout.read().splitlines()
    return TapRun(tap.returncode, "", "", parse_messages(lines))
