"""`make demo`: sandbox API -> `meltano run tap-pinterest-ads target-duckdb`, twice.

One run syncs both families: the ad library and your own ad accounts through Pinterest API v5
(the sandbox serves both; the v5 refresh token rotates, so the second run reads the one the
first left in the demo's token store). Between the runs the sandbox clock moves one day (new ads
appear, engagement grows, campaigns change), so the second run shows the incremental sync: the
new ids it adds and the few requests it pays for. Every demo starts clean (no DuckDB file, no
state for its pipeline, no token store), so it can be rerun.
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
from tap_pinterest_ads.sandbox.v5.auth import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN
from tap_pinterest_ads.sandbox.v5.controls import ENTITIES as V5_TRUTH
from tap_pinterest_ads.tap import TapPinterestAds

ROOT = Path(__file__).resolve().parents[1]
MELTANO = Path(sys.executable).with_name("meltano")  # .venv/bin/meltano under `make demo`
EXTRACTOR, LOADER = "tap-pinterest-ads", "target-duckdb"
STATE_ID = f"dev:{EXTRACTOR}-to-{LOADER}"
DATABASE = ROOT / "demo.duckdb"  # no dots in the stem: target-duckdb names the catalog after it
SCHEMA = "pinterest"
LOG = ROOT / "output" / "demo-meltano.log"
TOKEN_STORE = ROOT / ".meltano" / "demo-refresh-token.json"  # not dev's: `make sandbox` owns that
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
    requests: int  # ad-library requests (credits)
    v5_requests: int
    ads: dict[str, tuple[object, ...]]  # id -> engagement and lastseen


def sync(sandbox: SandboxProcess, env: dict[str, str]) -> Run:
    sandbox.clear_requests()
    sandbox.v5_clear_requests()
    started = time.monotonic()
    meltano("run", EXTRACTOR, LOADER, env=env)
    seconds = time.monotonic() - started
    requests = sum(1 for r in sandbox.requests() if r["path"] == API_PATH)
    with duckdb.connect(str(DATABASE), read_only=True) as db:
        rows = db.execute(
            f"SELECT id, likes, shares, comments, lastseen FROM {SCHEMA}.pinterest_ads"  # noqa: S608
        ).fetchall()
    return Run(seconds, requests, len(sandbox.v5_requests()), {row[0]: row[1:] for row in rows})


def run_line(label: str, what: str, run: Run) -> str:
    return (
        f"{label}  {what:<17}{run.requests:>4} ad-library requests, {run.v5_requests} v5 requests"
        f"  {run.seconds:5.1f} s"
    )


def served(sandbox: SandboxProcess) -> dict[str, int]:
    """Rows a complete read gives per stream, from the sandbox's own truth."""
    ads = len(sandbox.truth())
    counts = {"pinterest_ads": ads, "pinterest_ad_search_matches": ads}  # one search: all
    accounts = sandbox.v5_state()["ad_accounts"]
    for name in V5_TRUTH:
        # ad_accounts lists every account the token sees, readable or not.
        filters = {"ad_account_id": accounts} if name == "ad_accounts" else {}
        counts[name] = len(sandbox.v5_truth(name, **filters))
    return counts


def table_counts() -> list[tuple[str, int, int]]:
    """Rows and distinct keys of each table (the stream's primary key)."""
    streams = TapPinterestAds(config={}, validate_config=False).streams
    with duckdb.connect(str(DATABASE), read_only=True) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
            [SCHEMA],
        ).fetchall()
        counts = []
        for (name,) in tables:
            keys = ", ".join(f'"{key}"' for key in streams[name].primary_keys)
            rows, distinct = db.execute(
                f'SELECT count(*), count(DISTINCT ({keys})) FROM {SCHEMA}."{name}"'  # noqa: S608
            ).fetchone()
            counts.append((name, rows, distinct))
        return counts


def main() -> None:
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    with SandboxProcess(seed=SEED) as sandbox:
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "TAP_PINTEREST_ADS_API_URL": sandbox.url,
            "TAP_PINTEREST_ADS_V5_API_URL": sandbox.v5_url,
            "TAP_PINTEREST_ADS_CLIENT_ID": CLIENT_ID,
            "TAP_PINTEREST_ADS_CLIENT_SECRET": CLIENT_SECRET,
            "TAP_PINTEREST_ADS_REFRESH_TOKEN": FIRST_REFRESH_TOKEN,
            "TAP_PINTEREST_ADS_TOKEN_STORE_PATH": str(TOKEN_STORE),
            "TARGET_DUCKDB_FILEPATH": str(DATABASE),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": SCHEMA,
        }
        state = sandbox.state()
        show(f"sandbox  {sandbox.url}  seed {SEED}, {state['ads']} ads, clock {state['now']}")
        accounts = sandbox.v5_state()["ad_accounts"]
        show(f"         Pinterest API v5 under {sandbox.v5_url}, {len(accounts)} ad accounts")
        show(f"meltano  install {EXTRACTOR} {LOADER} (log: {LOG.relative_to(ROOT)})")
        meltano("install", EXTRACTOR, LOADER, env=env)
        DATABASE.unlink(missing_ok=True)
        TOKEN_STORE.unlink(missing_ok=True)  # this sandbox knows only the first refresh token
        meltano("state", "clear", "--force", STATE_ID, env=env)

        show(f"run 1    meltano run {EXTRACTOR} {LOADER}")
        first = sync(sandbox, env)
        moved = sandbox.advance(days=1)
        show(f"advance  one day -> clock {moved['now']}: {moved['added']} new ads found")
        show(f"run 2    meltano run {EXTRACTOR} {LOADER}")
        second = sync(sandbox, env)
        truth = sandbox.truth()
        api_rows = served(sandbox)
        bookmark = json.loads(meltano("state", "get", STATE_ID, env=env))

    show()
    show(f"DuckDB {DATABASE.name}, schema {SCHEMA}: what landed per stream")
    counts = table_counts()
    width = max(len(name) for name, _, _ in [("table", 0, 0), *counts]) + 2
    show(f"  {'table':<{width}}{'rows':>8}{'distinct keys':>15}{'API serves':>12}")
    for name, rows, keys in counts:
        show(f"  {name:<{width}}{rows:>8}{keys:>15}{api_rows.get(name, ''):>12}")
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
