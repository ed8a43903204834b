"""The tap against its floor (`benchmarks/floor.py`): same requests, same records, what it costs.

    .venv/bin/python -m benchmarks.vs_floor [--write benchmarks/README.md] [--profile]

For each family, the tap and the floor run alternately against one sandbox process (no latency,
limits lifted), several times; the table gives medians of wall time and of CPU (user + sys of the
child alone) and the peak RSS, at two data sizes, so memory per record is the slope between them.
Before any number counts, both runs must have made the same requests (the sandbox's log, page
cursors aside) and written the same records (per key, run timestamps aside). `--profile` adds
where the tap's CPU goes (cProfile of one tap run, by function and by package).
"""

from __future__ import annotations

import argparse
import compileall
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.floor import V5_STREAMS
from benchmarks.measure import (
    Cost,
    Records,
    machine_line,
    request_shapes,
    run_measured,
    sandbox,
    splice,
    table,
)
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.auth import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN
from tests.tapio import catalog_selecting, write_inputs

SEED = 7
RUNS = 3
AD_LIBRARY_SIZES = (5_000, 20_000)  # ads in the universe: one unfiltered search reads them all
# v5: the default universe, the (3 ad accounts x 500 campaigns x 5,000 ads: about 4.7
# times its records in much the same mix, half ads, a quarter keywords) and ten times that: the
# smallest and largest give the cost per record and the start-up apart.
V5_SIZES: tuple[tuple[str, dict[str, int]], ...] = (
    ("default universe", {}),
    ("3 x 500 campaigns x 5,000 ads", {"v5_accounts": 3, "v5_campaigns": 500, "v5_ads": 5000}),
    ("3 x 5,000 campaigns x 50,000 ads", {"v5_accounts": 3, "v5_campaigns": 5000, "v5_ads": 50000}),
)
API_KEY = "wh_benchmark"
FLOOR = [sys.executable, "-m", "benchmarks.floor"]
FAST = {"rate_limit": 100_000, "credits": 10**9, "v5_rate_limit": 100_000}
# pinterest_ad_search_matches.last_matched_at is the run's start: it differs from run to run.
VOLATILE = frozenset({"last_matched_at"})
PROFILE_TOP = 15
PROFILE_PACKAGES = 6
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Side:
    costs: list[Cost] = field(default_factory=list)
    records: Records | None = None
    requests: Counter[str] = field(default_factory=Counter)

    @property
    def seconds(self) -> float:
        return statistics.median(c.seconds for c in self.costs)

    @property
    def cpu(self) -> float:
        return statistics.median(c.cpu for c in self.costs)

    @property
    def peak_mb(self) -> float:
        return max(c.peak_rss_mb for c in self.costs)

    @property
    def total(self) -> int:
        assert self.records is not None
        return sum(self.records.counts.values())


@dataclass
class Case:
    family: str
    size: str
    tap: Side
    floor: Side
    problems: list[str]


@dataclass
class Workload:
    """One family's tap config and floor command line against a sandbox."""

    family: str
    tap_config: dict[str, Any]
    floor_args: list[str]
    cursor: str  # the page cursor's parameter name, left out when comparing requests
    log: Callable[[], list[dict[str, Any]]]
    warm: Callable[[], object]  # builds the universe after a reset, so no run pays for it
    streams: set[str] | None = None  # the tap's streams, when not its default selection


def ad_library(process: SandboxProcess) -> Workload:
    config = {
        "api_url": process.url,
        "api_key": API_KEY,
        "searches": [{"name": "all"}],
        "requests_per_minute": 100_000,
    }
    args = ["ad-library", "--api-url", process.url, "--api-key", API_KEY]
    return Workload("ad library", config, args, "scroll", process.requests, process.state)


def v5(process: SandboxProcess) -> Workload:
    credentials = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": FIRST_REFRESH_TOKEN,
    }
    args = ["v5", "--api-url", process.v5_url, "--streams", ",".join(V5_STREAMS)]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in credentials.items()]
    config = {"v5_api_url": process.v5_url, **credentials}
    return Workload(
        "v5 entities",
        config,
        args,
        "bookmark",
        process.v5_requests,
        process.v5_state,
        set(V5_STREAMS),
    )


def run_once(process: SandboxProcess, work: Workload, args: list[str], side: Side) -> None:
    process.reset()  # the first refresh token again, an empty log, the initial clock
    work.warm()
    records = Records(volatile=VOLATILE)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        cost = run_measured(args, records, stderr_path=Path(tmp) / "stderr.log")
    side.costs.append(cost)
    side.records = records
    side.requests = request_shapes(work.log(), work.cursor)


def tap_args(tmp: Path, work: Workload) -> list[str]:
    catalog = catalog_selecting(tmp, work.tap_config, work.streams) if work.streams else None
    return write_inputs(tmp, work.tap_config, None, catalog)


def compare(process: SandboxProcess, work: Workload, size: str, runs: int) -> Case:
    tap, floor = Side(), Side()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        args = tap_args(Path(tmp), work)
        for run in range(runs):
            note(f"{work.family} ({size}): run {run + 1} of {runs}")
            run_once(process, work, args, tap)
            run_once(process, work, [*FLOOR, *work.floor_args], floor)
    assert tap.records is not None and floor.records is not None
    problems = []
    if tap.requests != floor.requests:
        extra = (tap.requests - floor.requests) + (floor.requests - tap.requests)
        problems.append(f"requests differ: {sorted(extra.items())[:5]}")
    if differing := tap.records.differing(floor.records):
        problems.append(f"records differ (keys per stream): {differing}")
    for problem in problems:
        note(f"{work.family} ({size}): {problem}")
    return Case(work.family, size, tap, floor, problems)


def profile(process: SandboxProcess, work: Workload, out: Path) -> pstats.Stats:
    """One tap run under cProfile (in the tap's process); its stats. cProfile sees only the
    main thread, so the v5 reads run there: one request at a time, the same work."""
    process.reset()
    work.warm()
    serial = {**work.tap_config, "max_parallel_requests": 1}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        args = tap_args(Path(tmp), replace(work, tap_config=serial))
        # args: python -m tap_pinterest_ads --config ...
        run = [args[0], "-m", "benchmarks.cpu_profile", str(out), *args[2:]]
        run_measured(run, lambda line: None, stderr_path=Path(tmp) / "stderr.log")
    return pstats.Stats(str(out))


STARTUP_RUNS = 7
PAUSED = "import gc; gc.disable()"
# What a run pays before its first request, step by step: each step a process of its own that
# stops there (CPU, best of STARTUP_RUNS). The tap is built from the v5 workload's config and
# catalog, as the benchmark runs it (no request: the token is asked for when a stream syncs).
BUILD = """
import json, sys
from tap_pinterest_ads.tap import TapPinterestAds
config, catalog = (json.loads(open(path).read()) for path in sys.argv[1:3])
TapPinterestAds(config=config, catalog=catalog, validate_config=True)
"""
STARTUP_STEPS = (
    ("Python itself", ["-c", "pass"]),
    ("+ msgspec and requests (the floor's imports)", ["-c", "import msgspec, requests"]),
    # The tap pauses the collector while it imports and then freezes what they built (tap.py),
    # which also spares the collection at exit: so does this step.
    ("+ singer_sdk", ["-c", f"{PAUSED}; import msgspec, requests, singer_sdk; gc.freeze()"]),
    (
        "+ the tap's modules",
        ["-c", "import tap_pinterest_ads.tap, tap_pinterest_ads.marketing.streams"],
    ),
    ("+ the tap built (settings checked, 35 streams, catalog applied)", ["-c", BUILD]),
)


def startup_parts(work: Workload) -> list[tuple[str, float]]:
    """CPU seconds of each start-up step (cumulative), best of STARTUP_RUNS."""
    parts = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        args = tap_args(Path(tmp), work)  # python -m tap_pinterest_ads --config C --catalog K
        files = [args[args.index("--config") + 1], args[args.index("--catalog") + 1]]
        for label, step in STARTUP_STEPS:
            run = [sys.executable, *step, *(files if step[-1] == BUILD else [])]
            best = min(
                run_measured(run, lambda line: None, stderr_path=Path(tmp) / "stderr.log").cpu
                for _ in range(STARTUP_RUNS)
            )
            parts.append((label, best))
    return parts


def startup_table(parts: list[tuple[str, float]]) -> str:
    rows = []
    previous = 0.0
    for label, cpu in parts:
        rows.append([label, f"{cpu:.3f}", f"{cpu - previous:+.3f}" if previous else ""])
        previous = cpu
    return table(["Step (each a process that stops there)", "CPU (s)", "Step's own"], rows)


# --- rendering -------------------------------------------------------------------------------


def ratio(tap: float, floor: float) -> str:
    return f"{tap / floor:.2f}x" if floor else "n/a"


def cases_table(cases: list[Case]) -> str:
    rows = []
    for case in cases:
        for name, side in (("tap", case.tap), ("floor", case.floor)):
            rows.append(
                [
                    case.family,
                    case.size,
                    name,
                    f"{side.total:,}",
                    str(sum(side.requests.values())),
                    ", ".join(f"{c.seconds:.2f}" for c in side.costs),
                    f"{side.seconds:.2f}",
                    f"{side.cpu:.2f}",
                    f"{side.total / side.cpu:,.0f}" if side.cpu else "n/a",
                    f"{side.peak_mb:.1f}",
                ]
            )
        rows.append(
            [
                case.family,
                case.size,
                "**tap / floor**",
                "",
                "",
                "",
                f"**{ratio(case.tap.seconds, case.floor.seconds)}**",
                f"**{ratio(case.tap.cpu, case.floor.cpu)}**",
                "",
                f"{case.tap.peak_mb - case.floor.peak_mb:+.1f}",
            ]
        )
    header = ["Family", "Data", "Run", "Records", "Requests", "Wall per run (s)", "Wall median"]
    header += ["CPU median (s)", "Records per CPU s", "Peak RSS (MB)"]
    return table(header, rows, text_columns=3)


def size_pairs(cases: list[Case]) -> Iterator[tuple[str, str, Any, Any]]:
    """(family, tap or floor, its smallest run, its largest) for each family run at two sizes
    or more."""
    for family in dict.fromkeys(c.family for c in cases):
        pair = [c for c in cases if c.family == family]
        if len(pair) >= 2:
            for name in ("tap", "floor"):
                yield family, name, getattr(pair[0], name), getattr(pair[-1], name)


def memory_table(cases: list[Case]) -> str:
    rows = []
    for family, name, a, b in size_pairs(cases):
        slope = (b.peak_mb - a.peak_mb) * 1024 / (b.total - a.total)
        rows.append(
            [
                family,
                name,
                f"{a.total:,} → {b.total:,}",
                f"{a.peak_mb:.1f} → {b.peak_mb:.1f}",
                f"{slope:+.3f}",
            ]
        )
    header = ["Family", "Run", "Records", "Peak RSS (MB)", "KB per extra record"]
    return table(header, rows, text_columns=2)


def cpu_split_table(cases: list[Case]) -> str:
    """CPU medians as a line through the smallest and largest size: per record (the slope) and
    start-up (what a run with no records would cost: imports, settings, catalog)."""
    rows = []
    splits: dict[str, dict[str, tuple[float, float]]] = {}
    for family, name, a, b in size_pairs(cases):
        per_record = (b.cpu - a.cpu) / (b.total - a.total)
        splits.setdefault(family, {})[name] = (per_record, a.cpu - per_record * a.total)
    for family, split in splits.items():
        for name, (per_record, start_up) in split.items():
            rows.append([family, name, f"{per_record * 1e6:.0f}", f"{start_up:.2f}"])
        tap, floor = split["tap"], split["floor"]
        rows.append(
            [family, "**tap / floor**", f"**{ratio(tap[0], floor[0])}**", ratio(tap[1], floor[1])]
        )
    header = ["Family", "Run", "CPU µs per extra record", "Start-up CPU (s)"]
    return table(header, rows, text_columns=2)


def package_of(filename: str) -> str:
    for marker in ("singer_sdk", "tap_pinterest_ads", "requests", "urllib3", "jsonschema"):
        if f"/{marker}/" in filename:
            return marker
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith("~") or "/lib/python3" in filename:
        return "Python stdlib and builtins"
    return "other"


def profile_tables(stats: pstats.Stats) -> str:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())  # own time of every function
    by_package: Counter[str] = Counter()
    functions = []
    for (filename, line, name), (_, calls, own, cumulative, _) in raw.items():
        by_package[package_of(filename)] += own
        where = filename.split("site-packages/")[-1] if filename != "~" else "builtin"
        functions.append((own, cumulative, calls, f"`{name}` ({where}:{line})"))
    functions.sort(reverse=True)
    top = [
        [label, f"{own / total:.1%}", f"{cumulative / total:.1%}", f"{calls:,}"]
        for own, cumulative, calls, label in functions[:PROFILE_TOP]
    ]
    ranked = by_package.most_common()
    rest = sum(own for _, own in ranked[PROFILE_PACKAGES:])
    packages = [[package, f"{own / total:.1%}"] for package, own in ranked[:PROFILE_PACKAGES]]
    packages.append(["everything else", f"{rest / total:.1%}"])
    return (
        table(["Package", "Own time"], packages)
        + "\n\n"
        + table(["Function", "Own time", "With callees", "Calls"], top)
    )


def render(
    cases: list[Case],
    profiles: dict[str, str],
    runs: int,
    seconds: float,
    flags: str,
    startup: list[tuple[str, float]],
) -> str:
    problems = [f"- {c.family} ({c.size}): {p}" for c in cases for p in c.problems]
    checked = (
        "\n".join(problems)
        if problems
        else "Both sides made the same requests and wrote the same records in every case."
    )
    profiled = "".join(
        f"\n\n#### {family}: where the tap's CPU goes (cProfile on CPU time, one run)\n\n{text}"
        for family, text in profiles.items()
    )
    return f"""## The tap against its floor

`benchmarks/floor.py` makes the tap's requests with one `requests.Session` and writes its
records with msgspec, nothing else (no retries, pacing, schema checks or state logic): the
cost of the work itself. Ad library: the `pinterest_ads` full sync of one unfiltered search (50
rows a page, `scroll`) with its `pinterest_ad_search_matches` rows, on the universes below.
v5 entities: every v5 entity stream (250 rows a page, `bookmark`; keywords per ad account and
per 250 ad groups) on the sandbox's default universe, on the issue's (`--v5-accounts 3
--v5-campaigns 500 --v5-ads 5000`: about 4.7 times the records, in much the same mix) and on ten
times the issue's (`--v5-campaigns 5000 --v5-ads 50000`). No
latency, limits lifted; {runs} runs each, tap and floor alternating; CPU is user + sys of the
child alone; peak RSS is the largest. Both sides run from modules compiled to bytecode
beforehand, as an installed package does (this machine sets PYTHONDONTWRITEBYTECODE, which
otherwise has every tap run compile its own modules again: about 0.25 s of CPU).

- {machine_line()}
- This run took {seconds:.0f} s. Regenerate:
  `.venv/bin/python -m benchmarks.vs_floor{flags} --write benchmarks/README.md`

{checked}

{cases_table(cases)}

Memory per record: the peak RSS growth between the smallest and largest size, per extra record
written.

{memory_table(cases)}

Where the CPU goes between the smallest and largest size: the slope is the cost per record, the
intercept the cost of a run that writes none (start-up: imports, settings, catalog, first
request).

{cpu_split_table(cases)}

What the start-up is made of, measured: a process that stops after each step (CPU, best of
{STARTUP_RUNS}; v5 config and catalog). The floor stops after its two imports; the rest of the
tap's intercept is per stream and per context (a SCHEMA and STATE for each, the token
request, the first pages) and is in neither table.

{startup_table(startup)}{profiled}
"""


def byte_compile() -> None:
    """Both sides' modules compiled to bytecode once, as pip leaves an installed package:
    where PYTHONDONTWRITEBYTECODE is set (this machine sets it) nothing is cached, and every
    run would compile the tap's modules from source again (about 0.25 s of CPU each time)."""
    for package in ("tap_pinterest_ads", "benchmarks"):
        compileall.compile_dir(ROOT / package, quiet=1)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="put the section into this Markdown file")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the tap")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    started = time.perf_counter()
    byte_compile()
    cases: list[Case] = []
    profiles: dict[str, str] = {}
    startup: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        for size in AD_LIBRARY_SIZES:
            with sandbox(seed=SEED, ads=size, **FAST) as process:
                work = ad_library(process)
                cases.append(compare(process, work, f"{size:,} ads", args.runs))
                if args.profile and size == AD_LIBRARY_SIZES[-1]:
                    note("profiling the ad-library sync")
                    stats = profile(process, work, Path(tmp) / "ad_library.prof")
                    profiles[f"Ad library, {size:,} ads"] = profile_tables(stats)
        for label, universe in V5_SIZES:
            with sandbox(seed=SEED, **FAST, **universe) as process:
                work = v5(process)
                cases.append(compare(process, work, label, args.runs))
                if args.profile and label == V5_SIZES[-1][0]:
                    note("profiling the v5 entity sync")
                    stats = profile(process, work, Path(tmp) / "v5.prof")
                    profiles[f"v5 entities, {label}"] = profile_tables(stats)
                if label == V5_SIZES[0][0]:
                    note("timing the start-up steps")
                    startup = startup_parts(work)
    flags = (" --profile" if args.profile else "") + (
        f" --runs {args.runs}" if args.runs != RUNS else ""
    )
    seconds = time.perf_counter() - started
    report = render(cases, profiles, args.runs, seconds, flags, startup)
    print(report)
    if args.write:
        splice(args.write, "vs_floor", report)


if __name__ == "__main__":
    main()
