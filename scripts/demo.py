"""`make demo`: sandbox API -> `meltano run tap-pinterest-ads target-duckdb`, twice.

Between the runs the sandbox clock moves one day (new ads appear, engagement grows), so the
second run shows the incremental sync: the new ids it adds and the few requests it pays for.
Every demo starts clean (no DuckDB file, no state for its pipeline), so it can be rerun.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tap_pinterest_ads.sandbox.control import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
MELTANO = Path(sys.executable).with_name("meltano")  # .venv/bin/meltano under `make demo`
EXTRACTOR, LOADER = "tap-pinterest-ads", "target-duckdb"
STATE_ID = f"dev:{EXTRACTOR}-to-{LOADER}"
DATABASE = ROOT / "demo.duckdb"  # no dots in the stem: target-duckdb names the catalog after it
SCHEMA = "pinterest"
LOG = ROOT / "output" / "demo-meltano.log"
API_PATH = "/api/v1/pinterest-ads"
SEED = 42


def show(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def meltano(*args: str, env: dict[str, str]) -> str:
    """Run Meltano with its chatter in the log file; on failure show the end of it and stop."""
    with LOG.open("a") as log:
        log.write(f"\n$ meltano {' '.join(args)}\n")
        log.flush()
        result = subprocess.run(
            [str(MELTANO), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log,
            text=True, check=False,
        )  # fmt: skip
    if result.returncode:
        tail = LOG.read_text().splitlines()[-25:]
        raise SystemExit("\n".join([f"meltano {' '.join(args)} failed; end of {LOG}:", *tail]))
    return result.stdout


@dataclass
class Run:
    seconds: float
    requests: int
    ads: dict[str, tuple[object, ...]]  # id -> engagement and lastseen


def sync(sandbox: SandboxProcess, env: dict[str, str]) -> Run:
    sandbox.clear_requests()
    started = time.monotonic()
    meltano("run", EXTRACTOR, LOADER, env=env)
    seconds = time.monotonic() - started
    requests = sum(1 for r in sandbox.requests() if r["path"] == API_PATH)
    with duckdb.connect(str(DATABASE), read_only=True) as db:
        rows = db.execute(
            f"SELECT id, likes, shares, comments, lastseen FROM {SCHEMA}.pinterest_ads"  # noqa: S608
        ).fetchall()
    return Run(seconds, requests, {row[0]: row[1:] for row in rows})


def run_line(label: str, what: str, run: Run) -> str:
    return f"{label}  {what:<17}{run.requests:>4} requests  {run.seconds:5.1f} s"


def table_counts() -> list[tuple[str, int, int]]:
    with duckdb.connect(str(DATABASE), read_only=True) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
            [SCHEMA],
        ).fetchall()
        return [
            (
                name,
                *db.execute(
                    f'SELECT count(*), count(DISTINCT id) FROM {SCHEMA}."{name}"'  # noqa: S608
                ).fetchone(),
            )
            for (name,) in tables
        ]


def main() -> None:
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    with SandboxProcess(seed=SEED) as sandbox:
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "TAP_PINTEREST_ADS_API_URL": sandbox.url,
            "TARGET_DUCKDB_FILEPATH": str(DATABASE),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": SCHEMA,
        }
        state = sandbox.state()
        show(f"sandbox  {sandbox.url}  seed {SEED}, {state['ads']} ads, clock {state['now']}")
        show(f"meltano  install {EXTRACTOR} {LOADER} (log: {LOG.relative_to(ROOT)})")
        meltano("install", EXTRACTOR, LOADER, env=env)
        DATABASE.unlink(missing_ok=True)
        meltano("state", "clear", "--force", STATE_ID, env=env)

        show(f"run 1    meltano run {EXTRACTOR} {LOADER}")
        first = sync(sandbox, env)
        moved = sandbox.advance(days=1)
        show(f"advance  one day -> clock {moved['now']}: {moved['added']} new ads found")
        show(f"run 2    meltano run {EXTRACTOR} {LOADER}")
        second = sync(sandbox, env)
        truth = sandbox.truth()
        bookmark = json.loads(meltano("state", "get", STATE_ID, env=env))

    show()
    show(f"DuckDB {DATABASE.name}, schema {SCHEMA}")
    counts = table_counts()
    width = max(len(name) for name, _, _ in [("table", 0, 0), *counts]) + 2
    show(f"  {'table':<{width}}{'rows':>8}{'distinct ids':>14}")
    for name, rows, ids in counts:
        show(f"  {name:<{width}}{rows:>8}{ids:>14}")
    missing = len(set(truth) - second.ads.keys())
    show(f"  sandbox truth: {len(truth)} ads" + (f", {missing} not loaded" if missing else ""))
    if missing:
        show(
            "  (new ads the API sent without a parseable datefound sort below the incremental"
            " cutoff;\n   `meltano run --full-refresh` loads them: README, Known limits)"
        )
    show()
    new_ids = second.ads.keys() - first.ads.keys()
    changed = sum(1 for key, ad in first.ads.items() if second.ads[key] != ad)
    show(run_line("run 1", f"{len(first.ads)} ids loaded", first))
    show(run_line("run 2", f"{len(new_ids)} new ids", second) + f"  ({changed} known ads updated)")
    for partition in bookmark["singer_state"]["bookmarks"]["pinterest_ads"]["partitions"]:
        show(
            f"state  {STATE_ID} [{partition['context']['search_name']}]"
            f" datefound bookmark {partition['replication_key_value']}"
        )


if __name__ == "__main__":
    main()
