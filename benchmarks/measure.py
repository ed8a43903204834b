"""What one child process cost: wall time, CPU and peak memory, read as its stdout streams.

Shared by the floor and Airbyte benchmarks, which run three kinds of process (the tap, the floor
scripts, Airbyte's source); `tests/tapio.py` builds the tap's command line. Also the README's
sections: each benchmark rewrites only its own,

    python -m benchmarks.measure SECTION_FILE.md NAME [README] [--title TITLE]

puts a rendered file in as section NAME (its headings one level down), as `make bench` does
with the ad-library page of `benchmarks/run.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tap_pinterest_ads.sandbox.control import SandboxProcess


@dataclass
class Cost:
    seconds: float  # wall, from start to exit, output read as it came
    user: float  # CPU seconds of the child alone (os.wait4), not of this reader
    system: float
    peak_rss_mb: float
    returncode: int = 0
    capped: bool = False  # stopped at its time cap, not finished

    @property
    def cpu(self) -> float:
        return self.user + self.system


def run_measured(
    args: list[str],
    on_line: Callable[[bytes], None],
    *,
    stderr_path: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    cap_seconds: float | None = None,
) -> Cost:
    """Run `args`, hand each stdout line to `on_line`; with `check`, raise with the end of its
    stderr if it fails. With `cap_seconds`, stop it (its process group) after that long: what
    it wrote until then is what it read."""
    with stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        # A capped child gets its own process group, so that the cap ends all of it.
        process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            env=env,
            start_new_session=bool(cap_seconds),
        )
        peak = PeakMemory(process.pid)
        cap = Cap(process.pid, cap_seconds) if cap_seconds else None
        assert process.stdout is not None
        for line in process.stdout:
            on_line(line)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        peak.thread.join()
        capped = cap.stop() if cap else False
    if check and process.returncode and not capped:
        tail = stderr_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{args[0]} … exited {process.returncode}:\n{tail}")
    cpu = (usage.ru_utime, usage.ru_stime)
    return Cost(seconds, *cpu, peak.kib / 1024, process.returncode, capped)


class Cap:
    """Ends a child's process group `seconds` after it started: SIGTERM, then SIGKILL."""

    GRACE = 10.0

    def __init__(self, pid: int, seconds: float) -> None:
        self.pid = pid
        self.fired = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, args=(seconds,), daemon=True)
        self.thread.start()

    def _watch(self, seconds: float) -> None:
        if self.done.wait(seconds):
            return
        self.fired = True
        for sig, wait in ((signal.SIGTERM, self.GRACE), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            if self.done.wait(wait):
                return

    def stop(self) -> bool:
        """Whether the cap ended the process."""
        self.done.set()
        self.thread.join()
        return self.fired


class PeakMemory:
    """The child's own peak RSS: VmHWM of /proc/PID/status, read until the process is gone.
    Not ru_maxrss, which counts the forked image of this (growing) reader before exec. VmHWM
    is a high-water mark itself, so polling loses only the growth of the last interval."""

    INTERVAL = 0.05

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.kib = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while True:
            try:
                status = self.path.read_text()
            except OSError:
                return
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match is None:  # a zombie: exited, not yet reaped
                return
            self.kib = max(self.kib, int(match.group(1)))
            time.sleep(self.INTERVAL)


def canonical(value: Any) -> Any:
    """One spelling per value across two writers: numbers as floats (1 and 1.0 are the same
    amount), ids and other scalars as text; None stays None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return str(value)


def key_text(value: Any) -> str:
    """A key field as text, whatever number type a writer gave it: Airbyte's report rows carry
    their ids as floats (549755885214.0), the API's and the tap's as whole numbers or text."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


class Records:
    """Reads Singer (or, with `airbyte`, Airbyte) messages line by line and keeps, per stream,
    a digest of each record by its key: enough to say whether two runs wrote the same rows
    without holding them. `volatile` fields (run timestamps) are left out of the digest; for a
    stream in `compared`, only those fields go in it, canonical (two writers, one value)."""

    def __init__(
        self,
        keys: dict[str, tuple[str, ...]] | None = None,
        volatile: frozenset[str] = frozenset(),
        airbyte: bool = False,
        facets: dict[str, str] | None = None,
        compared: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.keys = keys or {}
        self.compared = compared or {}
        self.facet_fields = facets or {}  # stream -> a field kept per key, to explain a diff
        self.facets: dict[str, dict[tuple[str, ...], str]] = {}
        self.volatile = volatile
        self.airbyte = airbyte
        self.counts: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.digests: dict[str, dict[tuple[str, ...], bytes]] = {}
        self._decode = msgspec.json.Decoder().decode
        self._encode = msgspec.json.Encoder(order="sorted").encode

    def __call__(self, line: bytes) -> None:
        if not line.startswith(b"{"):
            return
        message = self._decode(line)
        if message.get("type") != "RECORD":
            return
        if self.airbyte:
            stream, record = message["record"]["stream"], message["record"]["data"]
        else:
            stream, record = message["stream"], message["record"]
        key = tuple(key_text(record.get(name)) for name in self.keys.get(stream, ("id",)))
        if stream in self.compared:
            kept = {name: canonical(record.get(name)) for name in self.compared[stream]}
        else:
            kept = {k: v for k, v in record.items() if k not in self.volatile}
        digests = self.digests.setdefault(stream, {})
        self.counts[stream] += 1
        if key in digests:
            self.duplicates[stream] += 1
        digests[key] = hashlib.blake2b(self._encode(kept), digest_size=8).digest()
        if stream in self.facet_fields:
            facet = str(record.get(self.facet_fields[stream]))
            self.facets.setdefault(stream, {})[key] = facet

    def ids(self, stream: str) -> set[tuple[str, ...]]:
        return set(self.digests.get(stream, {}))

    def differing(self, other: Records) -> dict[str, int]:
        """Per stream, keys one side lacks or whose record differs."""
        out = {}
        for stream in sorted(set(self.digests) | set(other.digests)):
            mine, theirs = self.digests.get(stream, {}), other.digests.get(stream, {})
            diff = sum(mine.get(k) != theirs.get(k) for k in set(mine) | set(theirs))
            if diff:
                out[stream] = diff
        return out


def request_shapes(log: list[dict[str, Any]], cursor: str) -> Counter[str]:
    """The sandbox's request log as path + parameters, the page cursor's value left out: two
    runs that walk the same pages have the same shapes."""
    shapes: Counter[str] = Counter()
    for entry in log:
        params = {k: v for k, v in (entry.get("params") or {}).items() if k != cursor}
        shapes[f"{entry.get('method', 'GET')} {entry['path']} {sorted(params.items())}"] += 1
    return shapes


@contextmanager
def sandbox(**options: Any) -> Iterator[SandboxProcess]:
    """The bundled sandbox in its own process with these flags (`latency_ms=200`, ...)."""
    with SandboxProcess(**options) as process:
        yield process


def machine_line() -> str:
    """When and where: the load average matters on a shared 2-core machine."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    now = dt.datetime.now(dt.timezone.utc)
    return (
        f"{now:%Y-%m-%d %H:%M UTC}; {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) "
        f"at the end; Python {platform.python_version()}"
    )


def table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A Markdown table: the first `text_columns` left-aligned, the numbers right-aligned."""
    align = [":--" if i < text_columns else "--:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, align, *rows])


def splice(readme: Path, name: str, text: str) -> None:
    """Put `text` between this section's markers in the README, or append it: each benchmark
    script rewrites only its own section."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    current = readme.read_text() if readme.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    readme.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description="Put a rendered page in as one README section.")
    parser.add_argument("page", type=Path)
    parser.add_argument("name")
    parser.add_argument("readme", type=Path, nargs="?", default=Path("benchmarks/README.md"))
    parser.add_argument("--title", help="in place of the page's first heading")
    args = parser.parse_args()
    text = re.sub(r"^(#+) ", r"#\1 ", args.page.read_text(), flags=re.MULTILINE)
    if args.title:
        text = re.sub(r"^#+ .*$", f"## {args.title}", text, count=1, flags=re.MULTILINE)
    splice(args.readme, args.name, text)


if __name__ == "__main__":
    main()
