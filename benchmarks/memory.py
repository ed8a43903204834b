"""The tap's peak memory as the data grows: the issue's v5 workload, the tap alone, several sizes.

    .venv/bin/python -m benchmarks.memory [--sizes tenth full] [--streams workload|analytics|NAME…]
        [--latency-ms 50] [--digest-file FILE] [--write benchmarks/README.md]

Each size is the sandbox of `benchmarks.vs_airbyte` (its clock at today, seed 7) with 3 ad
accounts and `x` times (500 campaigns, 5,000 ads): `tenth` 0.1, `full` 1, `ten` 10 (too big for
the whole workload here: about 11 M rows, use it with `--streams ad_analytics` or `analytics`).
The tap runs with the benchmark's config (`start_date` = today - 730 days) on the chosen
streams, to the end, in its own process. For each size: records, requests (the sandbox's log),
CPU (user + sys of the tap alone), wall, peak RSS (VmHWM) and, per stream, the largest RSS
sampled while that stream was writing its records (every 50 ms; a stream read ahead before its
turn shows in the stream written at that time).

`--digest-file` writes, per stream, an order-sensitive digest of its records (without
`time_extracted`) and of the last STATE: two runs of two versions of the tap on the same size
wrote the same messages in the same order when their digests are equal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import run_measured, splice, table
from benchmarks.vs_airbyte import (
    ANALYTICS,
    ENTITIES,
    WORKLOAD,
    Universe,
    tap_config,
    today,
    today_sandbox,
)
from tests.tapio import catalog_selecting, write_inputs

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"tenth": 0.1, "full": 1.0, "ten": 10.0}
STREAM_SETS = {"workload": WORKLOAD, "analytics": tuple(ANALYTICS), "entities": ENTITIES}
ABOUT = """The tap alone (`benchmarks/memory.py`), its own process, against the sandbox of the
Airbyte comparison (seed 7, clock at today, 50 ms a request, Pinterest's 300 analytics requests a
minute), to the end, with its defaults (`max_parallel_requests` 4). Sizes: 3 ad accounts x
(500 campaigns, 5,000 ads) times 0.1 (`tenth`), 1 (`full`) and 10 (`ten`). Streams: `workload`
is the issue's whole v5 workload of the Airbyte comparison (15 entity streams, the 4 daily
analytics streams, `advertiser_report`, `campaign_analytics_report`,
`advertiser_targeting_report`; `start_date` today - 730 days); ten times that is about 11 M
rows, so the ten-times runs take its two parts that grow with the ads: the daily analytics from
the sync endpoints (89 days: every call a full 250 ids x 90 days) and the entity streams. Peak
RSS is the tap's VmHWM; CPU is user + sys of the tap alone; requests are the sandbox's log
(report polls apart: how many a job takes depends on timing)."""
_STREAM = re.compile(rb'"stream":\s*"([^"]+)"')
_EXTRACTED = re.compile(rb',?\s*"time_extracted":\s*"[^"]*"')


def universe(factor: float) -> Universe:
    return Universe(3, round(500 * factor), round(5000 * factor))


def is_poll(entry: dict[str, Any]) -> bool:
    """`GET …/reports?token=`: asking whether a report job is done."""
    method = entry.get("method", "GET")
    return method == "GET" and entry["path"].endswith("/reports") and "token" in entry["params"]


@dataclass
class Output:
    """Reads the tap's stdout: records per stream, the stream writing now, and digests."""

    digests: bool
    counts: Counter[str] = field(default_factory=Counter)
    current: str = ""
    hashes: dict[str, Any] = field(default_factory=dict)
    state: bytes = b""

    def __call__(self, line: bytes) -> None:
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            match = _STREAM.search(line, 0, 200)
            stream = match.group(1).decode() if match else "?"
            self.current = stream
            self.counts[stream] += 1
            if self.digests:
                digest = self.hashes.get(stream)
                if digest is None:
                    digest = self.hashes[stream] = hashlib.blake2b(digest_size=16)
                digest.update(_EXTRACTED.sub(b"", line))
        elif b'"type":"STATE"' in line[:40] or b'"type": "STATE"' in line[:40]:
            self.state = line

    def digest_table(self) -> dict[str, str]:
        out = {stream: h.hexdigest() for stream, h in sorted(self.hashes.items())}
        out["STATE (last)"] = hashlib.blake2b(self.state, digest_size=16).hexdigest()
        return out


class Sampler:
    """VmRSS of the tap every 50 ms, kept as the largest per stream writing at the time."""

    INTERVAL = 0.05

    def __init__(self, output: Output) -> None:
        self.output = output
        self.pid = 0
        self.peaks: dict[str, float] = {}
        self.growth: dict[str, float] = {}  # how far the highest RSS rose while each wrote
        self.high = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def start(self, pid: int) -> None:
        self.pid = pid
        self.thread.start()

    def _watch(self) -> None:
        path = Path(f"/proc/{self.pid}/status")
        while not self.stop.is_set():
            try:
                status = path.read_text()
            except OSError:
                return
            match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
            if match is None:
                return
            stream = self.output.current or "(start-up)"
            rss = int(match.group(1)) / 1024
            self.peaks[stream] = max(self.peaks.get(stream, 0.0), rss)
            if rss > self.high:
                self.growth[stream] = self.growth.get(stream, 0.0) + rss - self.high
                self.high = rss
            time.sleep(self.INTERVAL)


@dataclass
class Result:
    size: str
    universe: str
    streams: str
    records: int
    requests: int
    polls: int | None  # report status polls: how many a job takes depends on timing
    cpu: float
    wall: float
    peak_mb: float
    per_stream: dict[str, float]
    growth: dict[str, float]
    counts: dict[str, int]
    digests: dict[str, str]
    load: tuple[float, float, float]
    commit: str = ""  # the tap's code: `git describe --always --dirty` where it ran
    at: str = ""  # when it ended, UTC
    latency_ms: int = 0


class _Popen:
    """Wraps run_measured's child start so the sampler learns the tap's pid."""

    def __init__(self, sampler: Sampler) -> None:
        import subprocess

        self.sampler = sampler
        self.original = subprocess.Popen

    def __enter__(self) -> None:
        import subprocess

        sampler, original = self.sampler, self.original

        class Watched(original):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                sampler.start(self.pid)

        subprocess.Popen = Watched  # type: ignore[misc]

    def __exit__(self, *exc: object) -> None:
        import subprocess

        subprocess.Popen = self.original  # type: ignore[misc]


def run_size(
    size: str,
    streams: tuple[str, ...],
    label: str,
    latency_ms: int,
    digests: bool,
    days: int | None = None,
) -> Result:
    world = universe(SIZES[size])
    flags = {"latency_ms": latency_ms} if latency_ms else {}
    process = today_sandbox(world)
    for name, value in flags.items():
        process.args += [f"--{name.replace('_', '-')}", str(value)]
    with process, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        process.reset()
        process.v5_state()  # the universe built before the tap starts
        config = tap_config(process)
        if days is not None:  # fewer days than the workload's two years
            config["start_date"] = (today() - dt.timedelta(days=days)).isoformat()
        catalog = catalog_selecting(tmp, config, set(streams))
        args = write_inputs(tmp / "tap", config, None, catalog)
        output = Output(digests)
        sampler = Sampler(output)
        with _Popen(sampler):
            cost = run_measured(args, output, stderr_path=tmp / "tap.err")
        sampler.stop.set()
        log = process.v5_requests()
        requests = len(log)
        polls = sum(is_poll(entry) for entry in log)
    return Result(
        size=size,
        universe=str(world),
        streams=label,
        records=sum(output.counts.values()),
        requests=requests,
        polls=polls,
        cpu=cost.cpu,
        wall=cost.seconds,
        peak_mb=cost.peak_rss_mb,
        per_stream=sampler.peaks,
        growth=sampler.growth,
        counts=dict(output.counts),
        digests=output.digest_table() if digests else {},
        load=os.getloadavg(),
        commit=subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        at=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        latency_ms=latency_ms,
    )


def render(results: list[Result], command: str) -> str:
    rows = [
        [
            r.commit,
            r.size,
            r.streams,
            f"{r.records:,}",
            f"{r.requests:,}" + (f" ({r.polls:,})" if r.polls is not None else ""),
            f"{r.cpu:.1f}",
            f"{r.wall:.1f}",
            f"**{r.peak_mb:.0f}**",
            f"{r.at[11:16]}, {r.load[0]:.1f}",
        ]
        for r in results
    ]
    header = [
        "Tap code",
        "Size",
        "Streams",
        "Records",
        "Requests (report polls)",
        "CPU (s)",
        "Wall (s)",
        "Peak RSS (MB)",
        "Ended (UTC), load",
    ]
    grew = {s for r in results for s, mb in r.growth.items() if mb >= 1}
    streams = sorted(grew, key=lambda s: (s != "(start-up)", s))
    per_stream = [
        [
            s,
            *(
                f"{r.per_stream[s]:.0f} (+{r.growth.get(s, 0):.0f})" if s in r.per_stream else "—"
                for r in results
            ),
        ]
        for s in streams
    ]
    runs = [f"{r.commit}, {r.size}, {r.streams.split(',')[0]}" for r in results]
    latencies = sorted({r.latency_ms for r in results})
    return "\n\n".join(
        [
            ABOUT,
            f"- {os.cpu_count()} CPUs, Python {platform.python_version()}; sandbox latency "
            f"{', '.join(map(str, latencies))} ms; each run's end and the 1-minute load average "
            "after it are in its row",
            f"- Regenerate: {command}",
            table(header, rows, text_columns=3),
            "Largest RSS (MB) sampled while each stream wrote its records, for the streams "
            "during which a run's highest RSS rose by 1 MB or more (in brackets: by how much; "
            "a stream's first calls are read while the stream before it writes):",
            table(["Stream", *runs], per_stream),
        ]
    )


def loaded(path: Path) -> list[Result]:
    """Results saved with --json, for --render."""
    fields = Result.__dataclass_fields__
    return [
        Result(**{k: v for k, v in {"polls": None, **item}.items() if k in fields})
        for item in json.loads(path.read_text())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["tenth", "full"])
    parser.add_argument("--streams", nargs="+", default=["workload"])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument(
        "--days",
        type=int,
        help="start_date = today - DAYS (default: the workload's 730; 89: sync endpoints only)",
    )
    parser.add_argument("--digest-file", type=Path, help="per-stream digests of the messages")
    parser.add_argument("--json", type=Path, help="the results as JSON")
    parser.add_argument("--write", type=Path, help="put the table into this Markdown file")
    parser.add_argument("--section", default="memory", help="the README section it rewrites")
    parser.add_argument("--title", default="The tap's peak memory as the data grows")
    parser.add_argument(
        "--render", type=Path, nargs="+", help="no run: one table of results saved with --json"
    )
    args = parser.parse_args()
    if args.render:
        done = [r for path in args.render for r in loaded(path)]
        command = "`make bench-memory` (each run saves its results; `--render` tables them)"
        text = render(done, command)
        print(text)
        if args.write:
            splice(args.write, args.section, f"### {args.title}\n\n" + text)
        return
    streams: tuple[str, ...] = ()
    for name in args.streams:
        streams += STREAM_SETS.get(name, (name,))
    label = " + ".join(args.streams) + (f", {args.days} days" if args.days else ", 730 days")
    results = []
    for size in args.sizes:
        digests = bool(args.digest_file)
        result = run_size(size, streams, label, args.latency_ms, digests, args.days)
        print(json.dumps(result.__dict__), file=sys.stderr, flush=True)
        results.append(result)
    command = "`python -m benchmarks.memory " + " ".join(sys.argv[1:]) + "`"
    text = render(results, command)
    print(text)
    if args.digest_file:
        args.digest_file.write_text(json.dumps({r.size: r.digests for r in results}, indent=1))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    if args.write:
        splice(args.write, args.section, f"### {args.title}\n\n" + text)


if __name__ == "__main__":
    main()
