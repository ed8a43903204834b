"""This tap and Airbyte's source-pinterest 2.1.12, side by side on the same sandbox workload.

    .venv/bin/python -m benchmarks.vs_airbyte [--scale full|small] [--write benchmarks/README.md]

The workload is the issue's: 3 ad accounts x (500 campaigns, 5,000 ads) with two years of daily
analytics, at 50 and 200 ms of sandbox latency: the 15 entity streams, the 4 daily analytics
streams (ad account, campaign, ad group, ad) and three report streams both sides offer
(`advertiser_report`, `campaign_analytics_report`, `advertiser_targeting_report`). The tap reads
all of it in one run, to the end. The same data 3 x (50, 500), a tenth, shows how the tap's
peak memory grows with data.

Airbyte runs from its own Python 3.11 venv (`make bench-airbyte-venv`: benchmarks/.airbyte-venv),
unchanged: its manifest hard-codes https://api.pinterest.com/v5/ for the API and the token URL,
and its loader reads `./manifest.yaml` before its packaged copy, so each run gets a working
directory holding the installed manifest with that URL replaced by the sandbox's (the only
change). It runs in three parts, each its own `source-pinterest read`: entities (to the end),
daily analytics and reports. Its analytics cost one request per entity per 30-day window at its
own budget of 300 a minute (hours at this size) and its reports run one job at a time, polled
every 5 s, so those two parts run for a time cap, and their full time is extrapolated from its
own design (how many requests or jobs the workload needs) and its measured pace: the tables say
which Airbyte figures are measured and which are extrapolated.

The sandbox's clock starts at today's date (UTC midnight): Airbyte dates its windows by the
machine's clock, the tap by the API's `Date` header, and both must ask for the same days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import Cost, Records, machine_line, run_measured, splice, table
from tap_pinterest_ads.marketing.settings import DEFAULT_COLUMNS
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.auth import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN
from tap_pinterest_ads.sandbox.v5.controls import ENTITIES as SANDBOX_TRUTH
from tests.tapio import catalog_selecting, write_inputs

ROOT = Path(__file__).resolve().parent.parent
AIRBYTE_VENV = ROOT / "benchmarks" / ".airbyte-venv"
AIRBYTE = AIRBYTE_VENV / "bin" / "source-pinterest"
PINTEREST_V5 = "https://api.pinterest.com/v5/"
SEED = 7
LATENCIES_MS = (50, 200)
HISTORY_DAYS = 730  # two years of daily analytics
# Airbyte's `status` takes at most these three; the API's default (unset) is ACTIVE and PAUSED.
AIRBYTE_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED")
ANALYTICS_PER_MINUTE = 300  # Pinterest's ads_analytics limit, and Airbyte's own budget
# Airbyte's design (manifest.yaml of 2.1.12): 25 rows a page (no page_size), sync analytics
# from today - 89 days in 30-day windows, reports in 185-day windows.
AIRBYTE_PAGE = 25
AIRBYTE_ANALYTICS_DAYS = 89
AIRBYTE_ANALYTICS_STEP = 30
AIRBYTE_REPORT_STEP = 185
# What the API breaks a targeting report down by when the request names nothing (Airbyte
# names nothing); the tap is given the same, so both read the same rows.
API_TARGETING = ("APPTYPE", "GENDER", "AGE_BUCKET", "COUNTRY")

ENTITIES = tuple(name for name in SANDBOX_TRUTH if name != "user_account")
ANALYTICS = {
    "ad_account_analytics": ("AD_ACCOUNT_ID", "DATE"),
    "campaign_analytics": ("CAMPAIGN_ID", "DATE"),
    "ad_group_analytics": ("AD_GROUP_ID", "DATE"),
    "ad_analytics": ("AD_ID", "DATE"),
}
REPORTS = {
    "advertiser_report": ("ADVERTISER_ID", "DATE"),
    "campaign_analytics_report": ("CAMPAIGN_ID", "DATE"),
    "advertiser_targeting_report": ("ADVERTISER_ID", "DATE", "TARGETING_TYPE", "TARGETING_VALUE"),
}
KEYS: dict[str, tuple[str, ...]] = {**dict.fromkeys(ENTITIES, ("id",)), **ANALYTICS, **REPORTS}
# Entities whose analytics Airbyte asks for, one request per entity and window.
ANALYTICS_PARENTS = ("campaigns", "ad_groups", "ads")
# What a missing row is tallied by, to say why it is missing.
FACETS = {
    "campaigns": "status",
    "ad_groups": "status",
    "ads": "status",
    "keywords": "parent_type",
}


@dataclass(frozen=True)
class Universe:
    accounts: int
    campaigns: int  # per account
    ads: int  # per account

    def flags(self) -> dict[str, Any]:
        return {
            "v5_accounts": self.accounts,
            "v5_campaigns": self.campaigns,
            "v5_ads": self.ads,
            "v5_analytics_rate_limit": ANALYTICS_PER_MINUTE,
        }

    def __str__(self) -> str:
        return f"{self.accounts} x ({self.campaigns:,} campaigns, {self.ads:,} ads)"


@dataclass(frozen=True)
class Part:
    """One `source-pinterest read` of Airbyte: some streams, to the end or for a time cap."""

    name: str
    streams: tuple[str, ...]
    capped: bool  # runs for the cap, then is extrapolated

    def config(self) -> dict[str, Any]:
        credentials = {
            "auth_method": "oauth2.0",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": FIRST_REFRESH_TOKEN,
        }
        config: dict[str, Any] = {"credentials": credentials, "status": list(AIRBYTE_STATUSES)}
        # Airbyte applies start_date to campaigns, ad groups and ads as a client-side filter on
        # updated_time, and their analytics vanish with them: only the reports get one.
        if self is REPORT_PART:
            config["start_date"] = history_start().isoformat()
        return config


ENTITY_PART = Part("entities", ENTITIES, capped=False)
ANALYTICS_PART = Part("daily analytics", tuple(ANALYTICS), capped=True)
REPORT_PART = Part("reports", tuple(REPORTS), capped=True)
PARTS = (ENTITY_PART, ANALYTICS_PART, REPORT_PART)
WORKLOAD = (*ENTITIES, *ANALYTICS, *REPORTS)

RESULTS = ROOT / "benchmarks" / ".runs" / "vs_airbyte.json"
FULL = Universe(3, 500, 5000)
TENTH = Universe(3, 50, 500)


@dataclass(frozen=True)
class Plan:
    universe: Universe
    latencies: tuple[int, ...]
    parts: tuple[Part, ...]  # Airbyte's


SCALES: dict[str, tuple[Plan, ...]] = {
    # The target latency first; the tenth shows the tap's memory at 1x (and Airbyte's
    # where it runs to the end).
    "full": (
        Plan(FULL, (200,), PARTS),
        Plan(TENTH, (200,), (ENTITY_PART,)),
        Plan(FULL, (50,), PARTS),
    ),
    "small": (Plan(TENTH, LATENCIES_MS, PARTS),),
    "tiny": (Plan(Universe(3, 5, 20), (50,), PARTS),),  # does it all work: a minute or two
}


@dataclass
class SideRun:
    cost: Cost
    records: Records
    log: list[dict[str, Any]]  # the sandbox's request log of this run
    started: dt.datetime

    @property
    def requests(self) -> Counter[str]:
        """Per kind of request: the path with ids dropped."""
        kinds: Counter[str] = Counter()
        for entry in self.log:
            parts = [p for p in entry["path"].split("/") if p and not p.isdigit()]
            kind = "/".join(parts[1:]) or "/"  # without the leading v5
            kinds["report file" if kind.startswith("_s3") else kind] += 1
        return kinds

    @property
    def total_requests(self) -> int:
        return len(self.log)

    @property
    def rate_limited(self) -> int:
        return sum(entry["status"] == 429 for entry in self.log)

    @property
    def rows(self) -> int:
        return sum(self.records.counts.values())


@dataclass
class Figures:
    """One line of the summary: measured, or extrapolated (`how` says how)."""

    seconds: float
    requests: float
    rate_limited: int | None
    cpu: float
    peak_rss_mb: float | None
    records: float
    how: str

    @classmethod
    def of(cls, run: SideRun, how: str) -> Figures:
        cost = run.cost
        seconds, rss = cost.seconds, cost.peak_rss_mb
        return cls(seconds, run.total_requests, run.rate_limited, cost.cpu, rss, run.rows, how)


@dataclass
class AirbytePart:
    part: Part
    run: SideRun
    cap_minutes: float | None
    startup_cpu: float  # CPU before its first request (its `discover`'s)
    estimate: Figures | None = None  # the whole part, when the cap ended it
    notes: list[str] = field(default_factory=list)

    @property
    def whole(self) -> Figures:
        return self.estimate or Figures.of(self.run, "measured, to the end")


@dataclass
class Case:
    universe: Universe
    latency_ms: int
    tap: SideRun
    airbyte: list[AirbytePart]
    load: tuple[float, ...]

    def part(self, part: Part) -> AirbytePart | None:
        return next((p for p in self.airbyte if p.part is part), None)

    @property
    def complete(self) -> bool:
        return len(self.airbyte) == len(PARTS)


# --- dates -----------------------------------------------------------------------------------


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def history_start() -> dt.date:
    return today() - dt.timedelta(days=HISTORY_DAYS)


def airbyte_windows(start: dt.date, end: dt.date, step: int) -> int:
    """How many windows Airbyte's DatetimeBasedCursor cuts start..end (inclusive) into."""
    return math.ceil(((end - start).days + 1) / step)


def at(entry: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))


# --- the sandbox at today's date -------------------------------------------------------------


def today_sandbox(universe: Universe) -> SandboxProcess:
    return SandboxProcess(seed=SEED, start="today", **universe.flags())


# --- the two sides ---------------------------------------------------------------------------


def compared_columns() -> tuple[str, ...]:
    """The metric columns both sides read: the tap's default ones that Airbyte asks for too."""
    theirs = set(airbyte_manifest().split('columns: "', 1)[1].split('"', 1)[0].split(","))
    return tuple(c for c in DEFAULT_COLUMNS if c in theirs)


def records_reader(airbyte: bool) -> Records:
    # The metrics only: keys are compared as keys (Airbyte writes report ids as floats).
    compared = dict.fromkeys((*ANALYTICS, *REPORTS), compared_columns())
    return Records(KEYS, airbyte=airbyte, facets=FACETS, compared=compared)


def tap_config(process: SandboxProcess) -> dict[str, Any]:
    return {
        "v5_api_url": process.v5_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": FIRST_REFRESH_TOKEN,
        "start_date": history_start().isoformat(),
        "report_targeting_types": list(API_TARGETING),
    }


@functools.cache
def airbyte_manifest() -> str:
    installed = next(AIRBYTE_VENV.glob("lib/python3*/site-packages/source_pinterest"))
    return (installed / "manifest.yaml").read_text()


def airbyte_workdir(tmp: Path, process: SandboxProcess) -> Path:
    """A directory whose manifest.yaml is the installed one pointed at the sandbox."""
    manifest = airbyte_manifest()
    assert manifest.count(PINTEREST_V5) == 2, "expected the API base and the token URL"
    workdir = tmp / "airbyte"
    workdir.mkdir(exist_ok=True)
    (workdir / "manifest.yaml").write_text(manifest.replace(PINTEREST_V5, f"{process.v5_url}/"))
    return workdir


def airbyte_catalog(workdir: Path, config: Path, streams: tuple[str, ...]) -> tuple[Path, float]:
    """Airbyte's own discovered streams, configured for a full refresh (no state), and the CPU
    seconds `discover` took: about what any run of it spends before its first request."""
    lines: list[bytes] = []
    args = [str(AIRBYTE), "discover", "--config", str(config)]
    cost = run_measured(args, lines.append, stderr_path=workdir / "discover.err", cwd=workdir)
    found = {}
    for line in lines:
        message = json.loads(line) if line.startswith(b"{") else {}
        if message.get("type") == "CATALOG":
            found = {s["name"]: s for s in message["catalog"]["streams"]}
    configured = [
        {"stream": found[name], "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for name in streams
    ]
    path = workdir / "catalog.json"
    path.write_text(json.dumps({"streams": configured}))
    return path, cost.cpu


def measured(
    process: SandboxProcess,
    args: list[str],
    tmp: Path,
    *,
    airbyte: bool,
    cwd: Path | None = None,
    cap_minutes: float | None = None,
) -> SideRun:
    process.reset()  # the first refresh token, empty request log and rate windows
    process.v5_state()  # build the universe now: neither side pays for it
    records = records_reader(airbyte)
    stderr = tmp / ("airbyte.err" if airbyte else "tap.err")
    started = dt.datetime.now(dt.timezone.utc)
    cap = cap_minutes * 60 if cap_minutes else None
    cost = run_measured(
        args, records, stderr_path=stderr, cwd=cwd, check=not airbyte, cap_seconds=cap
    )
    return SideRun(cost, records, process.v5_requests(), started)


def run_tap(process: SandboxProcess, tmp: Path) -> SideRun:
    config = tap_config(process)
    catalog = catalog_selecting(tmp, config, set(WORKLOAD))
    args = write_inputs(tmp / "tap", config, None, catalog)
    return measured(process, args, tmp, airbyte=False)


def run_airbyte(
    process: SandboxProcess, tmp: Path, part: Part, cap_minutes: float | None
) -> AirbytePart:
    workdir = airbyte_workdir(tmp, process)
    config = workdir / "config.json"
    config.write_text(json.dumps(part.config()))
    catalog, startup_cpu = airbyte_catalog(workdir, config, part.streams)
    args = [str(AIRBYTE), "read", "--config", str(config), "--catalog", str(catalog)]
    run = measured(process, args, tmp, airbyte=True, cwd=workdir, cap_minutes=cap_minutes)
    return AirbytePart(part, run, cap_minutes, startup_cpu)


# --- extrapolating Airbyte's capped parts ----------------------------------------------------


def airbyte_parents(process: SandboxProcess) -> dict[str, list[int]]:
    """Per kind, per ad account: the entities Airbyte lists (its three statuses)."""
    accounts = process.v5_state()["ad_accounts"]
    statuses = ",".join(AIRBYTE_STATUSES)
    return {
        kind: [
            len(process.v5_truth(kind, ad_account_id=account, entity_statuses=statuses))
            for account in accounts
        ]
        for kind in ANALYTICS_PARENTS
    }


def span(run: SideRun, calls: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds from the process start to the first of `calls`, and from it to the last."""
    first, last = at(calls[0]), at(calls[-1])
    return (first - run.started).total_seconds(), (last - first).total_seconds()


def tap_rows_since(tap: SideRun, streams: Iterable[str], first: dt.date) -> int:
    """The tap's rows of these streams dated `first` or later: what Airbyte would read of them."""
    day = first.isoformat()
    return sum(
        sum(key[1] >= day for key in tap.records.ids(stream))  # keys are (id, DATE, …)
        for stream in streams
    )


def scaled(ours: AirbytePart, factor: float) -> float:
    """Its CPU with the work after start-up `factor` times as long."""
    return ours.startup_cpu + max(0.0, ours.run.cost.cpu - ours.startup_cpu) * factor


def estimate_analytics(
    ours: AirbytePart, parents: dict[str, list[int]], tap: SideRun, cap: float
) -> None:
    run = ours.run
    calls = [e for e in run.log if e["path"].endswith("/analytics")]
    answered = sum(e["status"] == 200 for e in calls)
    if answered < 2:
        ours.notes.append("too few analytics answers in the cap to extrapolate")
        return
    start = today() - dt.timedelta(days=AIRBYTE_ANALYTICS_DAYS)
    windows = airbyte_windows(start, today(), AIRBYTE_ANALYTICS_STEP)
    accounts = len(parents["campaigns"])
    entities = accounts + sum(sum(counts) for counts in parents.values())
    needed = windows * entities
    pages = sum(math.ceil(n / AIRBYTE_PAGE) for counts in parents.values() for n in counts)
    lead, spent = span(run, calls)
    # Its pace in answers: a call refused (429) is asked again, and costs a request more.
    per_second = answered / spent
    per_answer = len(calls) / answered
    seen = sorted({(e["params"]["start_date"][0], e["params"]["end_date"][0]) for e in calls})
    ours.notes.append(
        f"{len(calls):,} analytics requests in {cap:g} min, {answered:,} answered "
        f"({per_second * 60:.0f} a minute; the others 429), {len(seen)} windows seen "
        f"({seen[0][0]} .. {seen[-1][1]}); the whole part needs {windows} windows x "
        f"{entities:,} entities ({accounts} ad accounts, and the campaigns, ad groups and ads in "
        f"{'/'.join(AIRBYTE_STATUSES)}) = {needed:,} answers, plus {pages:,} list pages of 25 "
        f"for their ids"
    )
    ours.estimate = Figures(
        seconds=lead + needed / per_second,
        requests=needed * per_answer + max(run.total_requests - len(calls), pages),
        rate_limited=None,
        cpu=scaled(ours, needed / answered),
        peak_rss_mb=None,
        records=tap_rows_since(tap, ANALYTICS, start),
        how=f"extrapolated: {lead:.0f} s to its first analytics request + {needed:,} answers "
        f"at its measured {per_second * 60:.0f}/min (and its share of 429s); CPU per answer "
        f"as measured after "
        f"start-up; rows: the tap's for its {AIRBYTE_ANALYTICS_DAYS + 1} days",
    )


def estimate_reports(ours: AirbytePart, accounts: int, tap: SideRun, cap: float) -> None:
    run = ours.run
    created = [e for e in run.log if e["method"] == "POST" and e["path"].endswith("/reports")]
    files = [e for e in run.log if "/_s3/" in e["path"] and e["status"] == 200]
    if not created or not files:
        ours.notes.append("no report finished in the cap: nothing to extrapolate from")
        return
    windows = airbyte_windows(history_start(), today(), AIRBYTE_REPORT_STEP)
    needed = accounts * windows * len(REPORTS)
    lead, spent = span(run, [created[0], files[-1]])
    per_job = spent / len(files)
    ours.notes.append(
        f"{len(files)} of {needed} report jobs done in {cap:g} min, one at a time "
        f"({per_job:.1f} s each: create, polls every 5 s, download); the whole part needs "
        f"{accounts} ad accounts x {windows} windows of {AIRBYTE_REPORT_STEP} days x "
        f"{len(REPORTS)} streams = {needed} jobs"
    )
    ours.estimate = Figures(
        seconds=lead + per_job * needed,
        requests=run.total_requests * needed / len(files),
        rate_limited=None,
        cpu=scaled(ours, needed / len(files)),
        peak_rss_mb=None,
        records=tap_rows_since(tap, REPORTS, history_start()),
        how=f"extrapolated: {lead:.0f} s to its first job + {needed} jobs x its measured "
        f"{per_job:.1f} s; requests and CPU per job as measured after start-up; rows: the tap's",
    )


def airbyte_whole(case: Case) -> Figures:
    """Airbyte's three parts as one run: at least its longest part (its analytics budget and
    its one report at a time bound it whatever its threads do), at most their sum."""
    parts = [p.whole for p in case.airbyte]
    longest = max(p.seconds for p in parts)
    return Figures(
        seconds=longest,
        requests=sum(p.requests for p in parts),
        rate_limited=None,
        cpu=sum(p.cpu for p in parts),
        peak_rss_mb=max(p.run.cost.peak_rss_mb for p in case.airbyte),
        records=sum(p.records for p in parts),
        how=f"extrapolated: its longest part (the sum of the parts: "
        f"{sum(p.seconds for p in parts) / 60:,.0f} min); requests, CPU and rows summed",
    )


# --- one case --------------------------------------------------------------------------------


def run_case(
    process: SandboxProcess, plan: Plan, latency: int, caps: dict[Part, float | None]
) -> Case:
    process.configure(latency_ms=latency)
    note(f"{plan.universe}, {latency} ms")
    with tempfile.TemporaryDirectory(prefix="bench-airbyte-") as name:
        tmp = Path(name)
        tap = run_tap(process, tmp)
        note(f"  tap: {tap.cost.seconds:.1f} s, {tap.total_requests} requests, {tap.rows:,} rows")
        parents = airbyte_parents(process) if ANALYTICS_PART in plan.parts else {}
        accounts = len(process.v5_state()["ad_accounts"])
        parts = []
        for part in plan.parts:
            cap = caps[part]
            theirs = run_airbyte(process, tmp, part, cap)
            if theirs.run.cost.capped and cap is not None and part is ANALYTICS_PART:
                estimate_analytics(theirs, parents, tap, cap)
            elif theirs.run.cost.capped and cap is not None and part is REPORT_PART:
                estimate_reports(theirs, accounts, tap, cap)
            elif theirs.run.cost.capped:
                theirs.notes.append("stopped by its safety cap: incomplete, not extrapolated")
            parts.append(theirs)
            note(
                f"  airbyte {part.name}: {theirs.run.cost.seconds:.1f} s, "
                f"{theirs.run.total_requests} requests, {theirs.run.rows:,} rows"
                + (f" -> {theirs.whole.seconds / 60:.0f} min" if theirs.estimate else "")
            )
    load = tuple(round(x, 1) for x in os.getloadavg())
    return Case(plan.universe, latency, tap, parts, load)


# --- rendering -------------------------------------------------------------------------------


@dataclass
class Rendered:
    """What the page shows of one case, kept in RESULTS between runs: a run of some latencies
    (`--latencies`) leaves the other cases of the page as their last run left them."""

    scale: str
    universe: str
    ads: int  # per account: orders the universes
    latency_ms: int
    when: str  # time, commit and load of the run
    summary: list[list[str]]
    target: list[str] | None  # against the targets (the full universe only)
    memory: dict[str, list[float]]  # run -> [records, peak RSS MB]
    notes: list[str]
    details: str  # rows per stream and requests by kind (complete cases)

    @property
    def key(self) -> str:
        return f"{self.scale}: {self.universe}, {self.latency_ms} ms"


def times(ours: float, theirs: float, better: str) -> str:
    if not ours or not theirs:
        return "n/a"
    if theirs >= ours:
        return f"{theirs / ours:,.1f}x {better}"
    return f"{ours / theirs:.1f}x worse"


def figure_row(case: Case, side: str, part: str, f: Figures, bold: bool = False) -> list[str]:
    def cell(text: str) -> str:
        return f"**{text}**" if bold else text

    return [
        str(case.universe),
        str(case.latency_ms),
        cell(side),
        part,
        f.how,
        cell(f"{f.seconds:,.1f}" if f.seconds < 600 else f"{f.seconds / 60:,.0f} min"),
        cell(f"{f.requests:,.0f}"),
        "—" if f.rate_limited is None else f"{f.rate_limited:,}",
        f"{f.cpu:,.1f}",
        "—" if f.peak_rss_mb is None else f"{f.peak_rss_mb:.0f}",
        f"{f.records:,.0f}",
    ]


def summary_rows(c: Case) -> list[list[str]]:
    rows = [figure_row(c, "this tap", "whole workload, one run", Figures.of(c.tap, "measured"))]
    for p in c.airbyte:
        if p.estimate is not None:
            how = f"measured, first {p.cap_minutes:g} min (then stopped)"
            rows.append(figure_row(c, "Airbyte", p.part.name, Figures.of(p.run, how)))
        rows.append(figure_row(c, "Airbyte", p.part.name, p.whole))
    if c.complete:
        theirs = airbyte_whole(c)
        rows.append(figure_row(c, "Airbyte", "whole workload", theirs, bold=True))
        rows.append(ratio_row(c, Figures.of(c.tap, ""), theirs))
    return rows


def ratio_row(c: Case, ours: Figures, theirs: Figures) -> list[str]:
    return [
        str(c.universe),
        str(c.latency_ms),
        "**this tap vs Airbyte**",
        "whole workload",
        "",
        f"**{times(ours.seconds, theirs.seconds, 'faster')}**",
        f"**{times(ours.requests, theirs.requests, 'fewer')}**",
        "",
        times(ours.cpu, theirs.cpu, "less"),
        times(ours.peak_rss_mb or 0, theirs.peak_rss_mb or 0, "less"),
        "",
    ]


def target_row(c: Case) -> list[str] | None:
    if not c.complete or c.universe != FULL:
        return None
    theirs, ours = airbyte_whole(c), Figures.of(c.tap, "")
    speed = theirs.seconds / ours.seconds
    share = ours.requests / theirs.requests
    same, differing, read = rows_agree(c)
    return [
        f"{c.latency_ms} ms",
        f"{speed:,.1f}x ({'met' if speed >= 3 else 'not met'})",
        f"1/{1 / share:,.0f} ({'met' if share <= 0.1 else 'not met'})",
        f"{same:,} of the {read:,} analytics and report rows Airbyte read have the tap's key "
        f"and values; {differing:,} differ",
    ]


def rows_agree(c: Case) -> tuple[int, int, int]:
    """Over the analytics and report streams: rows Airbyte read whose key the tap has with the
    same values, with other values, and all Airbyte read (keys)."""
    same = differing = read = 0
    ours, theirs = c.tap.records.digests, {}
    for p in c.airbyte:
        theirs.update(p.run.records.digests)
    for stream in (*ANALYTICS, *REPORTS):
        mine = ours.get(stream, {})
        for key, digest in theirs.get(stream, {}).items():
            read += 1
            if key in mine:
                same += mine[key] == digest
                differing += mine[key] != digest
    return same, differing, read


def missing(ours: Records, theirs: Records, stream: str) -> str:
    """What the side lacking rows lacks, tallied by the facet field where there is one."""
    only = ours.ids(stream) - theirs.ids(stream)
    if not only:
        return "—"
    facets = ours.facets.get(stream)
    if not facets:
        return f"{len(only):,}"
    tally = Counter(facets[key] for key in only)
    return f"{len(only):,} (" + ", ".join(f"{k} {n:,}" for k, n in tally.most_common()) + ")"


def rows_table(c: Case) -> str:
    rows = []
    for p in c.airbyte:
        capped = p.run.cost.capped
        for stream in p.part.streams:
            ours, theirs = c.tap.records, p.run.records
            mine, their = ours.digests.get(stream, {}), theirs.digests.get(stream, {})
            both = [k for k in their if k in mine]
            valued = stream in ANALYTICS or stream in REPORTS
            equal = sum(mine[k] == their[k] for k in both) if valued else None
            rows.append(
                [
                    stream,
                    p.part.name + (" (stopped at its cap)" if capped else ""),
                    f"{ours.counts[stream]:,}",
                    f"{theirs.counts[stream]:,}",
                    f"{len(both):,}",
                    "keys only" if equal is None else f"{equal:,}",
                    "n/a (stopped)" if capped else missing(ours, theirs, stream),
                    missing(theirs, ours, stream),
                    f"{ours.duplicates[stream]:,} / {theirs.duplicates[stream]:,}",
                ]
            )
    header = ["Stream", "Airbyte part", "Tap rows", "Airbyte rows", "Same key in both"]
    header += ["Same values too", "Only the tap has", "Only Airbyte has"]
    header += ["Repeated keys (tap / Airbyte)"]
    return table(header, rows, text_columns=2)


def requests_table(c: Case) -> str:
    theirs: Counter[str] = Counter()
    for p in c.airbyte:
        theirs.update(p.run.requests)
    ours = c.tap.requests
    kinds = sorted(set(ours) | set(theirs))
    rows = [[k, f"{ours[k]:,}", f"{theirs[k]:,}"] for k in kinds]
    return table(["Request (ids dropped)", "This tap", "Airbyte (measured, all parts)"], rows)


def rendered(c: Case, scale: str) -> Rendered:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    load = ", ".join(str(x) for x in c.load)
    notes = [f"Airbyte {p.part.name}: {text}" for p in c.airbyte for text in p.notes]
    notes += [
        f"Airbyte {p.part.name} exited {p.run.cost.returncode}"
        for p in c.airbyte
        if p.run.cost.returncode and not p.run.cost.capped
    ]
    memory = {"this tap, whole workload": [c.tap.rows, c.tap.cost.peak_rss_mb]}
    if entities := c.part(ENTITY_PART):
        memory["Airbyte, entities"] = [entities.run.rows, entities.run.cost.peak_rss_mb]
    details = ""
    if c.complete:
        details = (
            f"#### {c.universe}, {c.latency_ms} ms: rows per stream\n\n{rows_table(c)}\n\n"
            f"Requests by kind:\n\n{requests_table(c)}"
        )
    return Rendered(
        scale=scale,
        universe=str(c.universe),
        ads=c.universe.ads,
        latency_ms=c.latency_ms,
        when=f"{dt.datetime.now(dt.timezone.utc):%H:%M} UTC on {commit}, load after it {load}",
        summary=summary_rows(c),
        target=target_row(c),
        memory=memory,
        notes=notes,
        details=details,
    )


def load_results(path: Path) -> dict[str, Rendered]:
    if not path.exists():
        return {}
    return {key: Rendered(**value) for key, value in json.loads(path.read_text()).items()}


def save_results(path: Path, results: dict[str, Rendered]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: vars(v) for k, v in results.items()}, indent=1))


def memory_table(cases: list[Rendered]) -> str:
    """The tap's (and Airbyte's entities') peak memory at a tenth and at full size, at the
    same latency where both sizes ran at one."""
    small = [c for c in cases if c.ads < FULL.ads]
    large = [c for c in cases if c.ads == FULL.ads]
    pairs = [(a, b) for a in small for b in large if a.latency_ms == b.latency_ms]
    pairs += [(a, b) for a in small for b in large]
    if not pairs:
        return "Only one size ran: no growth to show."
    a, b = pairs[0]
    rows = []
    for name in a.memory:
        if name not in b.memory:
            continue
        (rows_a, rss_a), (rows_b, rss_b) = a.memory[name], b.memory[name]
        per = (rss_b - rss_a) * 1024 / (rows_b - rows_a) if rows_b != rows_a else 0.0
        rows.append(
            [
                name,
                f"{a.latency_ms} / {b.latency_ms}",
                f"{rows_a:,.0f} → {rows_b:,.0f} ({rows_b / rows_a:.1f}x)",
                f"{rss_a:.0f} → {rss_b:.0f}",
                f"{per:+.4f}",
            ]
        )
    header = ["Run", "Latency (ms)", f"Records ({a.universe} → {b.universe})"]
    header += ["Peak RSS (MB)", "KB per extra record"]
    return table(header, rows, text_columns=2)


def render(cases: list[Rendered], scale: str, caps: dict[Part, float | None]) -> str:
    cases = sorted(cases, key=lambda c: (-c.ads, c.latency_ms))
    header = ["Universe", "Latency (ms)", "Side", "Part", "How", "Wall (s)", "Requests", "429s"]
    header += ["CPU (s)", "Peak RSS (MB)", "Records"]
    summary = table(header, [row for c in cases for row in c.summary], text_columns=5)
    targets = [c.target for c in cases if c.target]
    target_header = ["Latency", "At least 3x faster", "At most 1/10 of the requests"]
    targets_text = table([*target_header, "Same rows"], targets) if targets else "Not run."
    runs = "\n".join(
        f"- {c.universe}, {c.latency_ms} ms: run at {c.when}."
        + "".join(f"\n  - {text}." for text in c.notes)
        for c in cases
    )
    details = "\n\n".join(c.details for c in cases if c.details)
    columns = compared_columns()
    cap = caps[ANALYTICS_PART]
    return f"""## This tap against Airbyte's source-pinterest 2.1.12

The issue's workload through this tap and through Airbyte's `airbyte-source-pinterest==2.1.12`
(PyPI, its own Python 3.11 venv; `source-pinterest read` with its installed manifest, only the
API base URL replaced by the sandbox's): {FULL} with {HISTORY_DAYS} days of daily analytics,
the {len(ENTITIES)} entity streams, the 4 daily analytics streams and
{", ".join(f"`{r}`" for r in REPORTS)}, at 50 and 200 ms of latency per request. The sandbox's
clock starts at today's date (both sides then ask for the same days), allows 1,000 requests a
minute and Pinterest's {ANALYTICS_PER_MINUTE} a minute for analytics and reports. Requests are
the sandbox's own log; CPU is user + sys of the side's process; peak RSS its largest resident
set.

- **This tap**: one run of every stream, to the end, with its defaults, `start_date` = today -
  {HISTORY_DAYS} days (older days of the daily streams come from async reports, the last 90 from
  the sync endpoints) and `report_targeting_types` = {", ".join(API_TARGETING)} (what the API
  breaks a targeting report down by when the request names none, as Airbyte's do).
- **Airbyte**, in three runs: entities to the end (`status` ACTIVE, PAUSED, ARCHIVED; no
  `start_date`, which would drop entities not edited since, and their analytics); daily
  analytics (the same config: its sync analytics read the last {AIRBYTE_ANALYTICS_DAYS + 1}
  days, one request per entity per 30-day window, at its own budget of {ANALYTICS_PER_MINUTE} a
  minute); reports (`start_date` today - {HISTORY_DAYS} days; one job at a time, polled every
  5 s; its rows come out an ad account at a time). The last two stop after {cap:g} minutes;
  their whole time is **extrapolated** from Airbyte's own design (requests or jobs the workload
  needs) and its pace measured in the cap; every extrapolated line says how. Airbyte's whole
  run is at least its longest part (its analytics budget and its one report at a time bound it
  whatever its threads do): the ratios use that lower bound.
- Rows are compared per stream by key; for analytics and reports also by value, on the
  {len(columns)} metric columns both read (the tap's default `analytics_columns`; Airbyte asks
  for 112). A stopped Airbyte run is compared on the rows it did read.

- {machine_line()}
- Scale `{scale}`. Regenerate (about 30 minutes a latency at full scale; `--latencies 200`
  reruns one and keeps the others' last results, kept in `{RESULTS.relative_to(ROOT)}`):
  `make bench-airbyte-venv && .venv/bin/python -m benchmarks.vs_airbyte --scale {scale}
  --write benchmarks/README.md`

{summary}

Against the issue's targets (this tap against Airbyte's whole workload, {FULL}):

{targets_text}

Peak memory with data (the whole workload at a tenth and at full size):

{memory_table(cases)}

The runs, and how Airbyte's parts went:

{runs}

{details}
"""


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--latencies", type=int, nargs="+", help="only these latencies")
    parser.add_argument(
        "--cap-minutes",
        type=float,
        default=3.0,
        help="how long Airbyte's daily analytics and reports run before they are stopped",
    )
    parser.add_argument(
        "--entities-cap-minutes",
        type=float,
        default=15.0,
        help="a safety cap on Airbyte's entities (they are meant to finish)",
    )
    parser.add_argument("--write", type=Path, help="put the section into this Markdown file")
    args = parser.parse_args()
    if not AIRBYTE.exists():
        sys.exit(f"{AIRBYTE} is missing: run `make bench-airbyte-venv` first")
    caps: dict[Part, float | None] = {
        ENTITY_PART: args.entities_cap_minutes,
        ANALYTICS_PART: args.cap_minutes,
        REPORT_PART: args.cap_minutes,
    }
    results = {k: v for k, v in load_results(RESULTS).items() if v.scale == args.scale}
    for plan in SCALES[args.scale]:
        latencies = [ms for ms in plan.latencies if not args.latencies or ms in args.latencies]
        if not latencies:
            continue
        with today_sandbox(plan.universe) as process:
            for ms in latencies:
                done = rendered(run_case(process, plan, ms, caps), args.scale)
                results[done.key] = done
                save_results(RESULTS, {**load_results(RESULTS), done.key: done})
                report = render(list(results.values()), args.scale, caps)
                if args.write:  # after each case: a stopped run leaves what it measured
                    splice(args.write, "vs_airbyte", report)
    print(render(list(results.values()), args.scale, caps))


if __name__ == "__main__":
    main()
