"""Benchmarks: the real tap process against a real sandbox process, measured and written up.

    .venv/bin/python -m benchmarks.run [--write benchmarks/README.md] [--slow]

No pass/fail: every number is printed, and `--write` renders them into a Markdown page.
Credits are counted from the sandbox's request log (one credit per ad-library request), never
from the tap's own view of what it sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.tapio import StreamedRun, catalog_selecting, stream_tap

API_PATH = "/api/v1/pinterest-ads"
SEED = 7
API_KEY = "wh_benchmark"
# Lift the sandbox's per-minute limit and credit balance, and the tap's pacing, so that
# only the pacing benchmark measures pacing.
FAST_SANDBOX: dict[str, Any] = {"rate_limit": 100_000, "credits": 10**9}
FAST_TAP: dict[str, Any] = {"requests_per_minute": 100_000}
UNIVERSES = (1500, 10_000)
DAILY_SYNCS = 3  # day 1 is inflated by the dense initial universe; later days are steady
MONTHLY_ALLOWANCE = 20_000  # credits in the Standard plan
DAYS_PER_MONTH = 30
THROUGHPUT_RUNS = 3
LATENCIES_MS = (0, 150, 400)
PACING_PAGES = 80
PACING_RPM = 60
SNAPSHOT_PAGES_PER_SEARCH = 2  # the tap's default

ONE_SEARCH: list[dict[str, Any]] = [{"name": "all"}]
FIVE_SEARCHES: list[dict[str, Any]] = [
    {"name": "skincare_us", "keyword": "serum,skincare", "countries": ["US", "CA"]}
    | {"mediatype": "video"},
    {"name": "winners", "adscorefilter": "winning"},
    {"name": "jewelry_gb_us", "niches": ["JY"], "countries": ["GB", "US"]},
    {"name": "home_shopify", "niches": ["HG", "KD"], "website": "shopify", "pagetype": "product"},
    {"name": "fitness_videos", "keyword": "leggings,yoga", "mediatype": "video"},
]
SEARCH_SETS = {1: ONE_SEARCH, 5: FIVE_SEARCHES}


# --- running the tap -------------------------------------------------------------------------


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> StreamedRun:
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        return stream_tap(Path(tmp), config, state, catalog)


def discover_catalog(config: dict[str, Any], selected: set[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        return catalog_selecting(Path(tmp), config, selected)


def tap_config(
    sandbox: SandboxProcess, searches: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {"api_key": API_KEY, "api_url": sandbox.url, "searches": searches, **FAST_TAP, **extra}


def api_requests(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.requests() if entry["path"] == API_PATH]


def logged_run(
    sandbox: SandboxProcess,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], StreamedRun]:
    """One tap run and the ad-library requests the sandbox logged meanwhile (one credit each)."""
    sandbox.clear_requests()
    run = run_tap(config, state, catalog)
    log = api_requests(sandbox)
    if statuses := sorted({entry["status"] for entry in log} - {200}):
        note(f"unexpected API answers {statuses}: counted as credits the sandbox logged")
    return log, run


@contextmanager
def sandbox(ads: int, **options: Any) -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=SEED, ads=ads, **options) as process:
        yield process


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- 1. credits per sync ---------------------------------------------------------------------


@dataclass
class Series:
    """Credits of a first sync, then of one sync per sandbox day."""

    first: int
    daily: list[int] = field(default_factory=list)

    @property
    def steady(self) -> float:
        return statistics.mean(self.daily[1:])

    @property
    def monthly(self) -> float:
        return self.steady * DAYS_PER_MONTH


@dataclass
class CreditCase:
    universe: int
    searches: int
    tap: Series
    rescan: Series
    page_size_20: Series


def daily_series(
    sandbox: SandboxProcess, config: dict[str, Any], *, rescan: Series | None = None
) -> Series:
    """First sync, then a sync with the previous STATE after each `advance(days=1)`.

    With `rescan`, the same day's stateless sync (a re-scan-and-diff monitor) is recorded too.
    """
    sandbox.reset()
    log, run = logged_run(sandbox, config)
    series = Series(len(log))
    for _ in range(DAILY_SYNCS):
        sandbox.advance(days=1)
        log, run = logged_run(sandbox, config, run.state)
        series.daily.append(len(log))
        if rescan is not None:
            rescan.daily.append(len(logged_run(sandbox, config)[0]))
    return series


def credit_case(sandbox: SandboxProcess, universe: int, searches: int) -> CreditCase:
    note(f"credits: {universe} ads, {searches} search(es)")
    config = tap_config(sandbox, SEARCH_SETS[searches])
    rescan = Series(first=0)
    tap = daily_series(sandbox, config, rescan=rescan)
    rescan.first = tap.first  # a stateless first sync is the same run
    page_size_20 = daily_series(sandbox, {**config, "page_size": 20})
    return CreditCase(universe, searches, tap, rescan, page_size_20)


# --- 2. records per second -------------------------------------------------------------------


@dataclass
class Throughput:
    records: int
    seconds: list[float]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def records_per_second(self) -> float:
        return self.records / self.median_seconds


def throughput(sandbox: SandboxProcess) -> Throughput:
    sandbox.reset()
    config = tap_config(sandbox, ONE_SEARCH)
    runs = [run_tap(config) for _ in range(THROUGHPUT_RUNS)]
    return Throughput(runs[0].records["pinterest_ads"], [run.seconds for run in runs])


# --- 3. wall time under latency --------------------------------------------------------------


@dataclass
class LatencyCase:
    latency_ms: int
    first_seconds: float
    first_requests: int
    incremental_seconds: float
    incremental_requests: int


def latency_case(sandbox: SandboxProcess, latency_ms: int) -> LatencyCase:
    sandbox.configure(latency_ms=latency_ms)
    sandbox.reset()
    config = tap_config(sandbox, ONE_SEARCH)
    first_log, first = logged_run(sandbox, config)
    sandbox.advance(days=1)
    incremental_log, incremental = logged_run(sandbox, config, first.state)
    sandbox.configure(latency_ms=0)
    return LatencyCase(
        latency_ms, first.seconds, len(first_log), incremental.seconds, len(incremental_log)
    )


# --- 4. pacing (--slow) ----------------------------------------------------------------------


@dataclass
class Pacing:
    requests: int
    rate_limited: int
    seconds: float
    longest_pause: float  # the pacer's wait between two requests


def pacing() -> Pacing:
    """`requests_per_minute` equal to the sandbox's limit, with more pages than one minute holds."""
    with sandbox(PACING_PAGES * 50, rate_limit=PACING_RPM, credits=10**9) as process:
        config = tap_config(process, ONE_SEARCH, requests_per_minute=PACING_RPM)
        run = run_tap(config)
        log = api_requests(process)
    rate_limited = sum(entry["status"] == 429 for entry in log)
    return Pacing(len(log), rate_limited, run.seconds, longest_pause(log))


def longest_pause(log: list[dict[str, Any]]) -> float:
    times = [dt.datetime.fromisoformat(entry["at"].replace("Z", "+00:00")) for entry in log]
    return max(((b - a).total_seconds() for a, b in itertools.pairwise(times)), default=0.0)


# --- 5. snapshot stream cost -----------------------------------------------------------------


@dataclass
class SnapshotCost:
    universe: int
    searches: int
    first: dict[str, int]  # credits per stream
    daily: dict[str, int]


def credits_by_stream(log: list[dict[str, Any]]) -> dict[str, int]:
    # The two streams differ only in the sort they walk.
    sorts = [entry["params"].get("sorting") for entry in log]
    return {
        "pinterest_ads": sorts.count("datefound"),
        "pinterest_ad_snapshots": sorts.count("lastseen"),
    }


def snapshot_cost(sandbox: SandboxProcess, universe: int) -> SnapshotCost:
    sandbox.reset()
    config = tap_config(sandbox, FIVE_SEARCHES)
    catalog = discover_catalog(config, {"pinterest_ads", "pinterest_ad_snapshots"})
    first_log, first = logged_run(sandbox, config, catalog=catalog)
    sandbox.advance(days=1)
    daily_log, _ = logged_run(sandbox, config, first.state, catalog)
    return SnapshotCost(
        universe,
        len(FIVE_SEARCHES),
        credits_by_stream(first_log),
        credits_by_stream(daily_log),
    )


# --- rendering -------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A Markdown table: the first `text_columns` left-aligned, the numbers right-aligned."""
    align = [":--" if i < text_columns else "--:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def ratio(baseline: float, tap: float) -> str:
    if not tap:
        return "n/a"
    times = baseline / tap
    return f"{times:.{0 if times >= 10 else 1}f}x fewer credits per day"


def credit_rows(case: CreditCase) -> list[list[str]]:
    methods = [
        ("this tap (STATE, limit 50)", case.tap),
        ("full rescan every run", case.rescan),
        ("API default page size (limit 20)", case.page_size_20),
    ]
    return [
        [
            number(case.universe),
            str(case.searches),
            name,
            number(series.first),
            number(series.daily[0]),
            number(series.steady),
            number(series.monthly),
            f"{series.monthly / MONTHLY_ALLOWANCE:.1%}",
            "—" if series is case.tap else ratio(series.steady, case.tap.steady),
        ]
        for name, series in methods
    ]


def credits_table(cases: list[CreditCase]) -> str:
    header = [
        "Ads in universe",
        "Searches",
        "How the tap runs",
        "First sync",
        "Day 1 sync",
        f"Day 2-{DAILY_SYNCS} sync (mean)",
        f"Per month ({DAYS_PER_MONTH} x day 2-{DAILY_SYNCS} mean)",
        f"Of {MONTHLY_ALLOWANCE:,}",
        "This tap spends",
    ]
    return table(header, [row for case in cases for row in credit_rows(case)], text_columns=3)


def throughput_table(result: Throughput) -> str:
    runs = ", ".join(f"{s:.2f}" for s in result.seconds)
    return table(
        ["Records", "Wall time per run (s)", "Median (s)", "Records per second"],
        [
            [
                number(result.records),
                runs,
                f"{result.median_seconds:.2f}",
                number(round(result.records_per_second)),
            ]
        ],
    )


def latency_table(cases: list[LatencyCase]) -> str:
    rows = [
        [
            str(case.latency_ms),
            str(case.first_requests),
            f"{case.first_seconds:.1f}",
            str(case.incremental_requests),
            f"{case.incremental_seconds:.1f}",
        ]
        for case in cases
    ]
    header = ["Latency (ms)", "First: requests", "First: s", "Incremental: requests"]
    return table([*header, "Incremental: s"], rows)


def pacing_table(result: Pacing | None) -> str:
    if result is None:
        return "Not run this time: pass `--slow` (it takes over a minute)."
    return table(
        [
            "requests_per_minute",
            "Sandbox limit / min",
            "Requests",
            "429 answers",
            "Longest pause between requests (s)",
            "Wall time (s)",
        ],
        [
            [
                str(PACING_RPM),
                str(PACING_RPM),
                str(result.requests),
                str(result.rate_limited),
                f"{result.longest_pause:.1f}",
                f"{result.seconds:.1f}",
            ]
        ],
    )


def snapshot_table(result: SnapshotCost) -> str:
    bound = SNAPSHOT_PAGES_PER_SEARCH * result.searches
    return table(
        [
            "Ads in universe",
            "Searches",
            "snapshot_pages_per_search",
            "Bound (pages x searches)",
            "Snapshot credits: first run",
            "Snapshot credits: daily run",
            "pinterest_ads credits: first / daily",
        ],
        [
            [
                number(result.universe),
                str(result.searches),
                str(SNAPSHOT_PAGES_PER_SEARCH),
                str(bound),
                str(result.first["pinterest_ad_snapshots"]),
                str(result.daily["pinterest_ad_snapshots"]),
                f"{result.first['pinterest_ads']} / {result.daily['pinterest_ads']}",
            ]
        ],
    )


@dataclass
class Results:
    credits: list[CreditCase]
    throughput: Throughput
    latency: list[LatencyCase]
    snapshots: SnapshotCost
    pacing: Pacing | None
    seconds: float


def render(results: Results, slow: bool) -> str:
    command = ".venv/bin/python -m benchmarks.run --write benchmarks/README.md" + (
        " --slow" if slow else ""
    )
    searches = "\n".join(f"  - `{json.dumps(search)}`" for search in FIVE_SEARCHES)
    return f"""# Benchmarks

The real tap (`python -m tap_pinterest_ads`, its own process) against the real sandbox API
(`tap_pinterest_ads.sandbox.server`, its own process, seed {SEED}), over loopback HTTP. Credits
are the ad-library requests in the sandbox's request log: the API charges one credit per request
whatever the page size. No pass/fail: these are measurements.

- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}
- Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}
- This run took {results.seconds:.0f} s. Regenerate (`make bench` runs it without `--slow`):

  ```sh
  {command}
  ```

Unless a section says otherwise the sandbox's per-minute limit is lifted (100000) and the tap's
`requests_per_minute` too, so that only the pacing section measures pacing.

## 1. Credits per sync

One search = the default unfiltered search `all`. Five searches = realistic filters from the
README:
{searches}

Each row is one way of running the same tap against the same universe. "First sync" has no
STATE; then the sandbox moves one day (`advance(days=1)`: 25-60 new ads, engagement grows) and
the tap runs again, {DAILY_SYNCS} days in a row.

- **this tap (STATE, limit 50)**: the default config, each run given the previous run's STATE.
- **full rescan every run**: the same tap without STATE every day — what a monitor that
  re-scans and diffs spends. Its first sync is the same run as the tap's.
- **API default page size (limit 20)**: with STATE, but `page_size: 20`, the API's default
  `limit`, as scripts that do not set it run.

"Day 1 sync" re-reads the whole last day of the initial universe (lookback 1 day), which is
denser than the days the sandbox adds afterwards; the later days are the steady state, and the
month column is {DAYS_PER_MONTH} x their mean (one sync per day), against the Standard plan's
{MONTHLY_ALLOWANCE:,} credits. The ratio compares the steady daily cost with this tap's. An
incremental sync re-reads from bookmark - `lookback_days` (default 1), so it pays for the pages
holding the new ads and the previous day's ads, not only the new ones.

{credits_table(results.credits)}

### Snapshot stream cost

`pinterest_ad_snapshots` selected next to `pinterest_ads` in a catalog from `--discover`, five
searches, default `snapshot_pages_per_search`. Its credits (requests sorted by `lastseen`) are
bounded by pages x searches; a search with fewer matches than the pages hold spends less.

{snapshot_table(results.snapshots)}

## 2. Records per second

A full first sync of the unfiltered search over a {UNIVERSES[-1]:,}-ad universe, no simulated
latency, stdout piped to this script, which counts the RECORD lines. Wall time of the whole
process (start-up included), {THROUGHPUT_RUNS} runs; records per second uses the median.

{throughput_table(results.throughput)}

## 3. Wall time under API latency

The sandbox sleeps `latency_ms` before answering every request. One unfiltered search over a
{UNIVERSES[0]:,}-ad universe: a first sync, then an incremental sync after one day. The
first sync pays one round trip per page of the universe; the incremental one only for the pages
holding new ads (a few, whatever the universe size: section 1).

{latency_table(results.latency)}

## 4. Pacing

`requests_per_minute: {PACING_RPM}` in the tap and a {PACING_RPM}/min rolling limit in the
sandbox, {PACING_PAGES} pages to fetch (one search over {PACING_PAGES * 50:,} ads). A 429 would be
a request the tap's pacing let through too early.

{pacing_table(results.pacing)}
"""


# --- main ------------------------------------------------------------------------------------


def measure(slow: bool) -> Results:
    started = time.perf_counter()
    small, large = UNIVERSES
    with sandbox(small, **FAST_SANDBOX) as process:
        cases = [credit_case(process, small, searches) for searches in SEARCH_SETS]
        note("latency")
        latency = [latency_case(process, ms) for ms in LATENCIES_MS]
    with sandbox(large, **FAST_SANDBOX) as process:
        cases += [credit_case(process, large, searches) for searches in SEARCH_SETS]
        note("snapshots")
        snapshots = snapshot_cost(process, large)
        note("throughput")
        speed = throughput(process)
    pacing_result = None
    if slow:
        note("pacing (about a minute)")
        pacing_result = pacing()
    return Results(cases, speed, latency, snapshots, pacing_result, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the Markdown report to this file")
    parser.add_argument("--slow", action="store_true", help="also run the pacing benchmark")
    args = parser.parse_args()
    report = render(measure(args.slow), args.slow)
    print(report)
    if args.write:
        args.write.write_text(report)


if __name__ == "__main__":
    main()
