"""This tap and Airbyte's source-pinterest 2.1.12, side by side on the same sandbox workload.

    .venv/bin/python -m benchmarks.vs_airbyte [--scale small|full] [--write benchmarks/README.md]

Airbyte runs from its own Python 3.11 venv (`make bench-airbyte-venv`: benchmarks/.airbyte-venv),
unchanged: its manifest hard-codes https://api.pinterest.com/v5/ for the API and the token URL,
and its loader reads `./manifest.yaml` before its packaged copy, so each run gets a working
directory holding the installed manifest with that URL replaced by the sandbox's (the only
change), and runs `source-pinterest read --config … --catalog …` there.

Each workload (a set of streams both sides offer, and a sandbox universe) runs at each latency:
the sandbox is reset (first refresh token, empty request log), one side runs, its requests are
read from the sandbox's log, then the other side. Both get the same OAuth refresh-token grant,
and the sandbox keeps its default v5 rate limits (the tap paces to its headers; Airbyte has its
own 300/min budget for analytics). Rows are compared per stream by key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import Cost, Records, machine_line, run_measured, sandbox, splice, table
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
# Airbyte's `status` takes at most these three; the API's default (unset) is ACTIVE and PAUSED.
AIRBYTE_STATUSES = ["ACTIVE", "PAUSED", "ARCHIVED"]
ANALYTICS_PER_MINUTE = 300
ANALYTICS_DAYS = 89  # Airbyte's sync analytics never reach further back
ANALYTICS_DATA_DAYS = 3  # days with data in that range (see align_clock)

ENTITIES = tuple(name for name in SANDBOX_TRUTH if name != "user_account")
ANALYTICS = {
    "ad_account_analytics": ("AD_ACCOUNT_ID", "DATE"),
    "campaign_analytics": ("CAMPAIGN_ID", "DATE"),
    "ad_group_analytics": ("AD_GROUP_ID", "DATE"),
    "ad_analytics": ("AD_ID", "DATE"),
}
KEYS: dict[str, tuple[str, ...]] = {**dict.fromkeys(ENTITIES, ("id",)), **ANALYTICS}
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

    def flags(self) -> dict[str, int]:
        return {
            "v5_accounts": self.accounts,
            "v5_campaigns": self.campaigns,
            "v5_ads": self.ads,
            # Pinterest's ads_analytics limit for Standard access (the sandbox's default is off)
            "v5_analytics_rate_limit": ANALYTICS_PER_MINUTE,
        }

    def __str__(self) -> str:
        return f"{self.accounts} x ({self.campaigns:,} campaigns, {self.ads:,} ads)"


@dataclass(frozen=True)
class Workload:
    name: str
    streams: tuple[str, ...]
    universes: tuple[Universe, ...]  # the first at every latency; the others (10x) at the first
    analytics: bool = False


SCALES: dict[str, tuple[Workload, ...]] = {
    "small": (
        Workload("entities", ENTITIES, (Universe(3, 50, 500), Universe(3, 500, 5000))),
        Workload("daily analytics, last 89 days", tuple(ANALYTICS), (Universe(3, 5, 20),), True),
    ),
    "full": (
        Workload("entities", ENTITIES, (Universe(3, 500, 5000),)),
        Workload("daily analytics, last 89 days", tuple(ANALYTICS), (Universe(3, 50, 500),), True),
    ),
}


@dataclass
class SideRun:
    cost: Cost
    records: Records
    requests: Counter[str]  # per kind of request
    statuses: Counter[int]

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass
class Case:
    workload: Workload
    universe: Universe
    latency_ms: int
    tap: SideRun
    airbyte: SideRun


# --- the two sides ---------------------------------------------------------------------------


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def tap_config(process: SandboxProcess, work: Workload) -> dict[str, Any]:
    config: dict[str, Any] = {
        "v5_api_url": process.v5_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": FIRST_REFRESH_TOKEN,
    }
    if work.analytics:
        config["start_date"] = (today() - dt.timedelta(days=ANALYTICS_DAYS)).isoformat()
    return config


def airbyte_config(work: Workload) -> dict[str, Any]:
    # No start_date: Airbyte applies it to campaigns, ad groups and ads as a client-side filter
    # on updated_time, and their analytics vanish with them; unset, entities start at epoch 0
    # and analytics at today - 89 days.
    credentials = {
        "auth_method": "oauth2.0",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": FIRST_REFRESH_TOKEN,
    }
    return {"credentials": credentials, "status": AIRBYTE_STATUSES}


def airbyte_workdir(tmp: Path, process: SandboxProcess) -> Path:
    """A directory whose manifest.yaml is the installed one pointed at the sandbox."""
    installed = next(AIRBYTE_VENV.glob("lib/python3*/site-packages/source_pinterest"))
    manifest = (installed / "manifest.yaml").read_text()
    assert manifest.count(PINTEREST_V5) == 2, "expected the API base and the token URL"
    workdir = tmp / "airbyte"
    workdir.mkdir()
    (workdir / "manifest.yaml").write_text(manifest.replace(PINTEREST_V5, f"{process.v5_url}/"))
    return workdir


def airbyte_catalog(workdir: Path, config: Path, streams: tuple[str, ...]) -> Path:
    """Airbyte's own discovered streams, configured for a full refresh (no state)."""
    done = subprocess.run(
        [str(AIRBYTE), "discover", "--config", str(config)],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("type") == "CATALOG":
            found = {s["name"]: s for s in message["catalog"]["streams"]}
    configured = [
        {"stream": found[name], "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for name in streams
    ]
    path = workdir / "catalog.json"
    path.write_text(json.dumps({"streams": configured}))
    return path


def request_kinds(log: list[dict[str, Any]]) -> tuple[Counter[str], Counter[int]]:
    """Requests per kind (the path with ids dropped) and per HTTP status."""
    kinds: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for entry in log:
        parts = [p for p in entry["path"].split("/") if p and not p.isdigit()]
        kinds["/".join(parts[1:]) or "/"] += 1  # without the leading v5
        statuses[int(entry["status"])] += 1
    return kinds, statuses


def align_clock(process: SandboxProcess) -> None:
    """Airbyte asks for analytics from today - 89 days (the machine's date) and the sandbox
    reports only days before its own clock: move the clock to ANALYTICS_DATA_DAYS after that
    start. Not further: each day of advance adds campaigns, and Airbyte pays per campaign."""
    now = dt.datetime.fromisoformat(process.state()["now"].replace("Z", "+00:00"))
    start = today() - dt.timedelta(days=ANALYTICS_DAYS)
    if (days := (start - now.date()).days + ANALYTICS_DATA_DAYS) > 0:
        process.advance(days=days)


def measured(
    process: SandboxProcess,
    work: Workload,
    args: list[str],
    tmp: Path,
    *,
    airbyte: bool,
    cwd: Path | None = None,
) -> SideRun:
    process.reset()
    if work.analytics:
        align_clock(process)
    process.v5_state()  # build the universe now: neither side pays for it
    records = Records(KEYS, airbyte=airbyte, facets=FACETS)
    stderr = tmp / ("airbyte.err" if airbyte else "tap.err")
    cost = run_measured(args, records, stderr_path=stderr, cwd=cwd, check=not airbyte)
    kinds, statuses = request_kinds(process.v5_requests())
    return SideRun(cost, records, kinds, statuses)


def case(process: SandboxProcess, work: Workload, universe: Universe, latency: int) -> Case:
    process.configure(latency_ms=latency)
    note(f"{work.name}, {universe}, {latency} ms")
    with tempfile.TemporaryDirectory(prefix="bench-airbyte-") as name:
        tmp = Path(name)
        config = tap_config(process, work)
        catalog = catalog_selecting(tmp, config, set(work.streams))
        args = write_inputs(tmp / "tap", config, None, catalog)
        tap = measured(process, work, args, tmp, airbyte=False)
        note(f"  tap: {tap.cost.seconds:.1f} s, {tap.total_requests} requests")
        workdir = airbyte_workdir(tmp, process)
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(airbyte_config(work)))
        catalog_path = airbyte_catalog(workdir, config_path, work.streams)
        args = [str(AIRBYTE), "read", "--config", str(config_path), "--catalog", str(catalog_path)]
        theirs = measured(process, work, args, tmp, airbyte=True, cwd=workdir)
        note(f"  airbyte: {theirs.cost.seconds:.1f} s, {theirs.total_requests} requests")
    return Case(work, universe, latency, tap, theirs)


# --- rendering -------------------------------------------------------------------------------


def times(ours: float, theirs: float, better: str) -> str:
    if not ours or not theirs:
        return "n/a"
    if theirs >= ours:
        return f"{theirs / ours:.1f}x {better}"
    return f"{ours / theirs:.1f}x worse"


def summary_table(cases: list[Case]) -> str:
    rows = []
    for c in cases:
        for name, side in (("this tap", c.tap), ("Airbyte 2.1.12", c.airbyte)):
            failed = "" if not side.cost.returncode else f" (exit {side.cost.returncode})"
            rows.append(
                [
                    c.workload.name,
                    str(c.universe),
                    str(c.latency_ms),
                    name + failed,
                    f"{side.cost.seconds:.1f}",
                    f"{side.total_requests:,}",
                    f"{side.statuses.get(429, 0):,}",
                    f"{side.cost.cpu:.1f}",
                    f"{side.cost.peak_rss_mb:.0f}",
                    f"{sum(side.records.counts.values()):,}",
                ]
            )
        rows.append(
            [
                c.workload.name,
                str(c.universe),
                str(c.latency_ms),
                "**this tap vs Airbyte**",
                f"**{times(c.tap.cost.seconds, c.airbyte.cost.seconds, 'faster')}**",
                f"**{times(c.tap.total_requests, c.airbyte.total_requests, 'fewer')}**",
                "",
                times(c.tap.cost.cpu, c.airbyte.cost.cpu, "less"),
                times(c.tap.cost.peak_rss_mb, c.airbyte.cost.peak_rss_mb, "less"),
                "",
            ]
        )
    header = ["Workload", "Universe", "Latency (ms)", "Side", "Wall (s)", "Requests", "429s"]
    header += ["CPU (s)", "Peak RSS (MB)", "Records"]
    return table(header, rows, text_columns=4)


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
    for stream in c.workload.streams:
        ours, theirs = c.tap.records, c.airbyte.records
        both = len(ours.ids(stream) & theirs.ids(stream))
        dupes = f"{ours.duplicates[stream]:,} / {theirs.duplicates[stream]:,}"
        rows.append(
            [
                stream,
                f"{ours.counts[stream]:,}",
                f"{theirs.counts[stream]:,}",
                f"{both:,}",
                missing(ours, theirs, stream),
                missing(theirs, ours, stream),
                dupes,
            ]
        )
    header = ["Stream", "Tap rows", "Airbyte rows", "Same key in both", "Only the tap has"]
    header += ["Only Airbyte has", "Repeated keys (tap / Airbyte)"]
    return table(header, rows)


def requests_table(c: Case) -> str:
    kinds = sorted(set(c.tap.requests) | set(c.airbyte.requests))
    rows = [[k, f"{c.tap.requests[k]:,}", f"{c.airbyte.requests[k]:,}"] for k in kinds]
    return table(["Request (ids dropped)", "This tap", "Airbyte"], rows)


def render(cases: list[Case], scale: str, detailed_ms: int, seconds: float) -> str:
    details = []
    for c in cases:
        if c.latency_ms != detailed_ms:
            continue
        details.append(
            f"#### {c.workload.name}, {c.universe}, {c.latency_ms} ms: rows per stream\n\n"
            f"{rows_table(c)}\n\nRequests by kind:\n\n{requests_table(c)}"
        )
    detail = "\n\n".join(details)
    return f"""## This tap against Airbyte's source-pinterest 2.1.12

The same sandbox workload through this tap and through Airbyte's `airbyte-source-pinterest==2.1.12`
(PyPI, its own Python 3.11 venv; `source-pinterest read` with its installed manifest, only the
API base URL replaced by the sandbox's). Both sides get the same OAuth grant and a fresh sandbox;
the sandbox keeps its default v5 limit (1,000 requests a minute) plus Pinterest's
{ANALYTICS_PER_MINUTE} a minute for analytics, and adds the latency shown to every request.
Requests are the sandbox's own log. CPU is user + sys of the side's process; peak RSS its
largest resident set. Airbyte is configured for the most it can read: `status` ACTIVE, PAUSED
and ARCHIVED (its enum stops there; unset it reads only ACTIVE and PAUSED), no `start_date`
(it would drop entities not edited since, and their analytics). The tap runs with its defaults
(every entity status; analytics from `start_date` = today - {ANALYTICS_DAYS} days, the range
Airbyte's sync analytics read). One run per line: wall times on this shared machine move by
10-20% from run to run; requests and rows do not.

- {machine_line()}
- Scale `{scale}`; this run took {seconds / 60:.0f} min. Regenerate:
  `make bench-airbyte-venv && .venv/bin/python -m benchmarks.vs_airbyte --scale {scale}
  --write benchmarks/README.md`

{summary_table(cases)}

{detail}
"""


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--workload", help="only the workloads whose name starts with this")
    parser.add_argument("--latencies", type=int, nargs="+", default=list(LATENCIES_MS))
    parser.add_argument("--write", type=Path, help="put the section into this Markdown file")
    parser.add_argument(
        "--first-universe", action="store_true", help="skip the 10x universes (a quick look)"
    )
    args = parser.parse_args()
    if not AIRBYTE.exists():
        sys.exit(f"{AIRBYTE} is missing: run `make bench-airbyte-venv` first")
    started = time.perf_counter()
    cases = []
    for work in SCALES[args.scale]:
        if args.workload and not work.name.startswith(args.workload):
            continue
        first, *larger = work.universes
        # 10x data shows memory and request growth; latency adds nothing to that
        plan = [(first, args.latencies)]
        if not args.first_universe:
            plan += [(u, args.latencies[:1]) for u in larger]
        for universe, latencies in plan:
            with sandbox(seed=SEED, **universe.flags()) as process:
                cases += [case(process, work, universe, ms) for ms in latencies]
    report = render(cases, args.scale, args.latencies[-1], time.perf_counter() - started)
    print(report)
    if args.write:
        splice(args.write, f"vs_airbyte ({args.scale})", report)


if __name__ == "__main__":
    main()
