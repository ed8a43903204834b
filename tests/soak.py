"""Soak: seeded kill/resume and fault trials of the tap against its sandbox, checked against truth.

    .venv/bin/python -m tests.soak --trials 100 --fault-trials 20 --seed 1   (make soak)
    .venv/bin/python -m tests.soak --seed 1 --only kill:17 -v                (one trial again)

Not collected by pytest and not part of `make test`. Each trial starts its own sandbox, configures
2-3 searches and runs the tap as a process, as a scheduler would: SIGKILL at a seeded moment
(after some output lines or a delay), resume from the last STATE line the run emitted, let new ads
arrive in between (the clock moves some hours), until a run completes; one to three such syncs
in a row. Then, per search, the ids a target would have committed (records up to the last STATE
of each run; all of a run that ended by itself with exit 0) are compared with the sandbox's
truth for the search's filters at the end:

- lost: truth minus committed, split into ads served with and without a usable `datefound`;
- duplicates within one run (informational: at-least-once allows them across runs);
- secrets: the API key found in any stdout, stderr or state file (fault trials sometimes make
  the API echo the key in an error).

Searches filter only on fields an ad keeps for life: with `minlikes` or `fromlastseen`, an old ad
can enter the filter later, and no incremental sync is expected to notice that.

Fault trials run the sandbox's random faults (`fault_rate`); quirk trials switch on one set of
the sandbox's quirks each, half of them with hostile rows among the new ads. Trials replay
from `--seed`, except where timing decides (kills after a delay).
Exit status 1 when any id is lost or any secret is found.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime as dt
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.tapio import TAP, api_requests

API_KEY = "wh_soak_9e2b_SECRET_51d7"
STREAM = "pinterest_ads"  # its records carry the search that emitted them
# Filters on fields an ad keeps for life (see the module docstring).
SEARCH_POOL: list[dict[str, Any]] = [
    {"name": "all"},
    {"name": "us_ca", "countries": ["US", "CA"]},
    {"name": "video", "mediatype": "video"},
    {"name": "product_pages", "pagetype": "product"},
    {"name": "jewelry_home", "niches": ["JY", "HG"]},
    {"name": "shop_links", "keyword": "shop", "searchkeyword": "landingurl"},
    {"name": "started_since_june", "from": "2026-06-01"},
]
PAGE_SIZES = (10, 20, 25, 50)
MAX_RUNS = 20  # a trial not completed by then is reported incomplete, then caught up
MAX_KILLS = 4
BUDGET_STOP = "max_requests_per_run reached"  # the tap's words for a walk cut short by budget
TAIL_SKIPPED = "no tail read: budget spent"  # ... and for an undated tail left for the next run
RUN_TIMEOUT = 300  # seconds; a run past it is killed and reported as hung
# Quirk trials take these in turn (`POST /_sandbox/quirks`); `faults` and `budget` add what
# makes the switch matter (a scroll error to answer, a walk that must continue by page).
QUIRK_SETS: list[dict[str, Any]] = [
    {"date_fields": "absent"},
    {"date_fields": "camel"},
    {"undated_sort": "first"},
    {"honour_page": False, "budget": True},
    {"scroll_error_status": 422, "faults": True},
    {"scroll_error_status": 200, "faults": True},
    {"retry_after_header": False, "faults": True},
    {"total_format": "comma", "count_format": "human"},
]
HOSTILE_KINDS = ("future", "compact", "compact_int", "null_id", "missing_id", "undated")


@dataclass(frozen=True)
class Trial:
    kind: str  # kill | fault | quirk
    index: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.index}"

    def rng(self) -> random.Random:
        return random.Random(f"{self.seed}:{self.name}")


@dataclass
class Run:
    lines: list[str]
    stderr: str
    returncode: int
    killed: bool
    hung: bool


@dataclass
class Result:
    trial: Trial
    group: str = ""  # the table's row
    setup: str = ""
    runs: int = 0
    syncs: int = 0  # completed ones
    kills: int = 0
    failed_runs: int = 0  # ended non-zero by itself (after retries gave up)
    requests: int = 0
    faults: int = 0
    lost_dated: int = 0
    lost_undated: int = 0
    duplicates: int = 0
    secrets: int = 0
    complete: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return bool(self.lost_dated or self.lost_undated or self.secrets)


# --- one tap run -------------------------------------------------------------------------------


def run_tap(
    workdir: Path, config: dict[str, Any], state: dict[str, Any] | None, kill: tuple[str, float]
) -> Run:
    """One tap process with its config and state files; `kill` is (lines|delay|none, amount)."""
    workdir.mkdir(parents=True)
    args = [*TAP, "--config", str(workdir / "config.json")]
    (workdir / "config.json").write_text(json.dumps(config))
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", str(workdir / "state.json")]
    how, amount = kill
    lines: list[str] = []
    with (
        (workdir / "stderr.log").open("w") as stderr,
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True) as tap,
    ):
        assert tap.stdout is not None
        watchdog = threading.Timer(RUN_TIMEOUT, tap.kill)
        timer = threading.Timer(amount, tap.kill) if how == "delay" else None
        for started in (watchdog, timer):
            if started:
                started.start()
        for line in tap.stdout:
            lines.append(line)
            if how == "lines" and len(lines) >= amount:
                tap.send_signal(signal.SIGKILL)
                break
        returncode = tap.wait()
        hung = not watchdog.is_alive() and returncode == -signal.SIGKILL
        for started in (watchdog, timer):
            if started:
                started.cancel()
    (workdir / "stdout.log").write_text("".join(lines))
    stderr_text = (workdir / "stderr.log").read_text()
    return Run(lines, stderr_text, returncode, returncode == -signal.SIGKILL, hung)


def messages(lines: list[str]) -> list[dict[str, Any]]:
    # A killed tap may leave its last line half written: only whole lines count.
    return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("\n")]


def is_ad(message: dict[str, Any]) -> bool:
    return message["type"] == "RECORD" and message["stream"] == STREAM


def committed(run: Run) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Records a target would have committed, and the STATE to resume from (None: none seen).

    A target commits what precedes the last STATE it saw; a run that ended by itself with exit 0
    is committed whole.
    """
    parsed = messages(run.lines)
    states = [i for i, m in enumerate(parsed) if m["type"] == "STATE"]
    state = parsed[states[-1]]["value"] if states else None
    end = len(parsed) if run.returncode == 0 else (states[-1] + 1 if states else 0)
    records = [m["record"] for m in parsed[:end] if is_ad(m)]
    return records, state


def duplicates_within(run: Run) -> int:
    keys = [
        (m["record"]["search_name"], m["record"]["id"]) for m in messages(run.lines) if is_ad(m)
    ]
    return len(keys) - len(set(keys))


# --- the sandbox side --------------------------------------------------------------------------


def filters_of(search: dict[str, Any]) -> dict[str, str]:
    return {
        k: ",".join(v) if isinstance(v, list) else str(v) for k, v in search.items() if k != "name"
    }


def undated_ids(sandbox: SandboxProcess, search: dict[str, Any]) -> set[str]:
    """Ids whose served row has no usable `datefound` (read from the API, faults off)."""
    params: dict[str, Any] = {**filters_of(search), "limit": 50}
    found: set[str] = set()
    while True:
        response = requests.get(
            f"{sandbox.url}/api/v1/pinterest-ads",
            params=params,
            headers={"X-API-Key": API_KEY},
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        found |= {
            str(row.get("id"))
            for row in body["data"]
            if not dated(row.get("datefound", row.get("dateFound")))
        }
        if not body.get("scroll") or not body["data"]:
            return found
        params["scroll"] = body["scroll"]


def dated(value: Any) -> bool:
    """Independent of the tap's parser: epoch numbers and ISO dates with a real year."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value > 0
    if not isinstance(value, str) or value.startswith("0000"):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --- one trial ---------------------------------------------------------------------------------


def plan_kill(
    trial: Trial, rng: random.Random, kills: int, expected_lines: int
) -> tuple[str, float]:
    if kills >= MAX_KILLS:
        return ("none", 0)
    chance = {"kill": 1.0 if kills == 0 else 0.4, "fault": 0.3, "quirk": 0.4}[trial.kind]
    if rng.random() >= chance:
        return ("none", 0)
    if rng.random() < 0.75:
        return ("lines", rng.randint(1, max(2, expected_lines)))
    return ("delay", round(rng.uniform(0.3, 3.0), 2))


@dataclass
class Plan:
    """What a trial sets up, drawn from its seed before anything runs."""

    searches: list[dict[str, Any]]
    config: dict[str, Any]
    sandbox_seed: int
    budget: int | None = None
    fault_seed: int | None = None
    echo_key: bool = False  # the first request's answer echoes the key (a leak probe)
    quirks: dict[str, Any] = field(default_factory=dict)
    hostile: bool = False  # hostile rows arrive with the new ads

    def describe(self) -> str:
        parts = [
            f"sandbox seed {self.sandbox_seed}",
            f"searches {[s['name'] for s in self.searches]}",
            f"page_size {self.config['page_size']}",
            f"lookback {self.config['lookback_days']}",
        ]
        parts += [f"budget {self.budget}"] if self.budget else []
        parts += [f"faults seed {self.fault_seed}"] if self.fault_seed else []
        parts += ["echo_key"] if self.echo_key else []
        parts += [quirk_label(self.quirks)] if self.quirks else []
        parts += ["hostile rows"] if self.hostile else []
        return ", ".join(parts)


def quirk_label(quirks: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in quirks.items())


def plan(trial: Trial, args: argparse.Namespace) -> Plan:
    rng = trial.rng()
    searches = rng.sample(SEARCH_POOL, rng.randint(2, 3))
    config: dict[str, Any] = {
        "api_key": API_KEY,
        "searches": searches,
        "requests_per_minute": 100_000,
        "request_timeout": 1,  # below the sandbox's random timeout (2 s): a real timeout
        "page_size": rng.choice(PAGE_SIZES),
        "lookback_days": rng.choice((0, 1, 1, 2)),
    }
    trial_plan = Plan(searches, config, sandbox_seed=rng.randrange(1, 10**6))
    extras: dict[str, Any] = {}
    if trial.kind == "quirk":
        extras = dict(QUIRK_SETS[trial.index % len(QUIRK_SETS)])
        trial_plan.hostile = rng.random() < 0.5
    wants_budget = extras.pop("budget", False) or (
        trial.kind == "kill" and rng.random() < args.budget_share
    )
    if wants_budget:
        trial_plan.budget = config["max_requests_per_run"] = rng.randint(3, 6)
        config["page_size"] = 50  # a walk of a few budgets, not dozens
    if extras.pop("faults", False) or trial.kind == "fault":
        trial_plan.fault_seed = rng.randrange(1, 10**6)
    trial_plan.echo_key = trial.kind == "fault" and rng.random() < 0.5
    trial_plan.quirks = extras
    return trial_plan


def between_runs(
    sandbox: SandboxProcess, rng: random.Random, trial_plan: Plan, first: bool
) -> None:
    """New ads arrive: the clock moves some hours (sometimes), hostile rows with them."""
    if trial_plan.hostile:
        sandbox.advance(hours=rng.randint(1, 30))
        for kind in rng.sample(HOSTILE_KINDS, rng.randint(1, 2)):
            sandbox.hostile(kind, rng.randint(1, 3))
    elif not first and rng.random() < 0.5:
        sandbox.advance(hours=rng.randint(1, 30))


def run_trial(trial: Trial, args: argparse.Namespace) -> Result:
    started = time.perf_counter()
    result = Result(trial)
    trial_plan = plan(trial, args)
    result.setup = trial_plan.describe()
    result.group = " ".join([trial.kind, quirk_label(trial_plan.quirks)]).strip()
    rng = random.Random(f"{trial.seed}:{trial.name}:runs")
    searches, config = trial_plan.searches, trial_plan.config
    with (
        workdir(args.keep, trial) as tmp,
        SandboxProcess(
            seed=trial_plan.sandbox_seed, ads=args.ads, rate_limit=10**6, credits=10**9
        ) as sandbox,
    ):
        config["api_url"] = sandbox.url
        if trial_plan.quirks:
            sandbox.quirks(**trial_plan.quirks)
        if trial_plan.fault_seed:
            sandbox.configure(fault_rate=args.fault_rate, fault_seed=trial_plan.fault_seed)
        if trial_plan.echo_key:
            sandbox.add_faults({"kind": "echo_key"})
        loaded: dict[str, set[str]] = collections.defaultdict(set)
        state: dict[str, Any] | None = None
        syncs = rng.randint(1, 3)  # scheduled syncs: each one runs until a run completes
        while result.runs < MAX_RUNS and result.syncs < syncs:
            between_runs(sandbox, rng, trial_plan, first=not result.runs)
            expected = sum(len(sandbox.truth(**filters_of(s))) for s in searches) + 10
            kill = plan_kill(trial, rng, result.kills, expected)
            run = run_tap(Path(tmp) / f"run{result.runs}", config, state, kill)
            result.runs += 1
            records, new_state = committed(run)
            for record in records:
                loaded[record["search_name"]].add(record["id"])
            state = new_state if new_state is not None else state
            result.duplicates += duplicates_within(run)
            if run.hung:
                result.notes.append(f"run {result.runs} hung past {RUN_TIMEOUT} s")
            if run.killed:
                result.kills += not run.hung
            elif run.returncode:
                result.failed_runs += 1
                result.notes.append(f"run {result.runs} exit {run.returncode}: {last_line(run)}")
            elif BUDGET_STOP not in run.stderr:  # else the next run goes on with the walk
                result.syncs += 1
        result.complete = result.syncs == syncs
        if not result.complete:
            result.notes.append(f"{result.syncs} of {syncs} syncs completed in {MAX_RUNS} runs")
        if not result.complete or TAIL_SKIPPED in run.stderr:
            # A walk the budget has not finished, or an undated tail it had no credit left for
            # (the run said so), is late, not lost: one run without budget, kill or new ads, from
            # the last STATE, must bring everything. What it cannot bring is lost.
            catch_up = {k: v for k, v in config.items() if k != "max_requests_per_run"}
            run = run_tap(Path(tmp) / f"run{result.runs}", catch_up, state, ("none", 0))
            result.runs += 1
            for record in committed(run)[0]:
                loaded[record["search_name"]].add(record["id"])
            if run.returncode:
                result.notes.append(f"catch-up run exit {run.returncode}: {last_line(run)}")
        result.secrets = sum(
            API_KEY in path.read_text()
            for name in ("stdout.log", "stderr.log", "state.json")
            for path in Path(tmp).glob(f"run*/{name}")
        )
        log = api_requests(sandbox.requests())
        result.requests = len(log)
        result.faults = sum(entry.get("fault") not in (None, "pass") for entry in log)
        sandbox.configure(fault_rate=0)
        lost_ids: dict[str, list[str]] = {}
        for search in searches:
            lost = set(sandbox.truth(**filters_of(search))) - loaded[search["name"]]
            if lost:
                lost_ids[search["name"]] = sorted(lost)
                undated = lost & undated_ids(sandbox, search)
                result.lost_undated += len(undated)
                result.lost_dated += len(lost - undated)
                result.notes.append(
                    f"{search['name']}: lost {len(lost - undated)} dated, {len(undated)} undated"
                )
        (Path(tmp) / "lost.json").write_text(json.dumps(lost_ids))  # for --keep
    result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def workdir(keep: Path | None, trial: Trial) -> Iterator[str]:
    if keep is None:
        with tempfile.TemporaryDirectory(prefix=f"soak-{trial.kind}-{trial.index}-") as tmp:
            yield tmp
    else:
        path = keep / f"{trial.kind}-{trial.index}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        yield str(path)


def last_line(run: Run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no stderr)"


# --- the report --------------------------------------------------------------------------------

COLUMNS = (
    "trials",
    "runs",
    "kills",
    "faults",
    "lost dated",
    "lost undated",
    "dup in run",
    "secrets",
    "incomplete",
    "wall s",
)


def row(label: str, results: list[Result]) -> list[str]:
    def total(name: str) -> int:
        return sum(getattr(r, name) for r in results)

    return [
        label,
        str(len(results)),
        str(total("runs")),
        str(total("kills")),
        str(total("faults")),
        str(total("lost_dated")),
        str(total("lost_undated")),
        str(total("duplicates")),
        str(total("secrets")),
        str(sum(not r.complete for r in results)),
        f"{sum(r.seconds for r in results):.0f}",
    ]


def table(results: list[Result], wall: float) -> str:
    groups: dict[str, list[Result]] = collections.defaultdict(list)
    for result in results:  # sorted by kind, then index
        groups[result.group].append(result)
    rows = [row(group, members) for group, members in groups.items()]
    rows.append(row("all", results))
    rows[-1][-1] += f" ({wall:.0f} elapsed)"
    header = ["trials of", *COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def describe(result: Result) -> str:
    flags = "BAD " if result.bad else ""
    return (
        f"{flags}{result.trial.name}: {result.syncs} syncs, {result.runs} runs, "
        f"{result.kills} kills, {result.faults} faults, {result.requests} requests, "
        f"{result.seconds:.0f} s; "
        f"{result.setup}" + "".join(f"\n    {note}" for note in result.notes)
    )


def trials(args: argparse.Namespace) -> list[Trial]:
    counts = {"kill": args.trials, "fault": args.fault_trials, "quirk": args.quirk_trials}
    every = [Trial(kind, i, args.seed) for kind, n in counts.items() for i in range(n)]
    if args.only:
        every = [t for t in every if t.name in args.only] or [
            Trial(kind, int(i), args.seed) for kind, i in (n.split(":") for n in args.only)
        ]
    return every


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--trials", type=int, default=100, help="kill/resume trials")
    parser.add_argument("--fault-trials", type=int, default=20)
    parser.add_argument("--quirk-trials", type=int, default=2 * len(QUIRK_SETS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ads", type=int, default=300, help="initial universe of each sandbox")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--budget-share", type=float, default=0.15, help="of kill trials")
    parser.add_argument("--jobs", type=int, default=2, help="trials at a time")
    parser.add_argument("--only", nargs="*", help="trial names such as kill:17")
    parser.add_argument("--json", type=Path, help="write every trial's figures here")
    parser.add_argument("--keep", type=Path, help="keep each run's files under this folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="describe every trial")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results: list[Result] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_trial, trial, args) for trial in trials(args)]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            if result.bad or result.notes or args.verbose:
                print(describe(result), flush=True)
    order = {"kill": 0, "fault": 1, "quirk": 2}
    results.sort(key=lambda r: (order[r.trial.kind], r.trial.index))
    wall = time.perf_counter() - started
    print(table(results, wall))
    if args.json:
        args.json.write_text(
            json.dumps([{**vars(r), "trial": r.trial.name} for r in results], indent=1)
        )
    bad = [r.trial.name for r in results if r.bad]
    if bad:
        print(f"ids lost or secrets found in {len(bad)} trials: {' '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
