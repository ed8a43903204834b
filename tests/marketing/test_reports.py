"""Async report streams and the report side of the daily analytics streams, end to end against
the sandbox's /v5 (jobs, polls, the pre-signed download), plus the streaming file reader."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_pinterest_ads.marketing.reports import JOB_ATTEMPTS, report_rows
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.tapio import TapRun, catalog_selecting, run_tap, v5_settings

SYNC_DAYS_BACK = 89


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=5, ads=50, rate_limit=100_000) as process:
        process.v5_configure(rate_limit_per_minute=100_000, report_polls=1)
        behind = utc_today() - dt.date.fromisoformat(process.v5_state()["now"][:10])
        process.advance(days=behind.days)  # the tap dates its reads by the API's Date header
        yield process


@pytest.fixture(scope="module")
def account(sandbox: SandboxProcess) -> str:
    return str(sandbox.v5_state()["owned_ad_accounts"][1])  # the smaller owned account


@pytest.fixture(scope="module")
def settings(
    sandbox: SandboxProcess, account: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict[str, Any]]:
    store = tmp_path_factory.mktemp("tokens") / "tokens.json"  # one: each run rotates it
    columns = ["SPEND_IN_MICRO_DOLLAR", "TOTAL_IMPRESSION", "TOTAL_CONVERSIONS"]
    return lambda **extra: v5_settings(
        sandbox.v5_url,
        store,
        **{"request_timeout": 10, "ad_account_ids": [account], "analytics_columns": columns},
        **extra,
    )


def sync(
    sandbox: SandboxProcess, tmp: Path, config: dict[str, Any], streams: set[str], **kwargs: Any
) -> tuple[TapRun, list[dict[str, Any]]]:
    catalog = catalog_selecting(tmp, config, streams)
    sandbox.v5_clear_requests()
    run = run_tap(tmp, config, catalog=catalog, **kwargs)
    return run, sandbox.v5_requests()


def report_calls(log: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [e for e in log if e["method"] == method and e["path"].endswith("/reports")]


def downloads(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if "authorization_sent" in e]


@pytest.fixture(scope="module")
def reports_run(
    sandbox: SandboxProcess,
    settings: Callable[..., dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[TapRun, list[dict[str, Any]]]:
    """Two report streams over 400 days: three 185-day jobs each."""
    start = (utc_today() - dt.timedelta(days=400)).isoformat()
    config = settings(start_date=start, report_targeting_types=["GENDER"])
    streams = {"campaign_analytics_report", "campaign_targeting_report"}
    run, log = sync(sandbox, tmp_path_factory.mktemp("reports"), config, streams)
    return ok(run), log


def test_report_jobs_run_several_at_once_and_are_downloaded_without_the_bearer(
    reports_run: tuple[TapRun, list[dict[str, Any]]],
) -> None:
    _, log = reports_run
    created = report_calls(log, "POST")
    assert len(created) == 6  # 2 streams x 3 windows of at most 185 days
    files = downloads(log)
    assert len(files) == 6 and not any(e["authorization_sent"] for e in files)
    # The first stream's three jobs were all asked for before its first file was fetched.
    first_file = log.index(files[0])
    assert sum(1 for e in created if log.index(e) < first_file) == 3


def test_report_rows_are_unique_per_key_with_their_breakdown(
    reports_run: tuple[TapRun, list[dict[str, Any]]],
) -> None:
    run, _ = reports_run
    campaigns = run.records("campaign_analytics_report")
    keys = Counter((r["AD_ACCOUNT_ID"], r["CAMPAIGN_ID"], r["DATE"]) for r in campaigns)
    assert campaigns and max(keys.values()) == 1
    oldest = min(r["DATE"] for r in campaigns)
    assert oldest >= (utc_today() - dt.timedelta(days=400)).isoformat()
    targeting = run.records("campaign_targeting_report")
    breakdowns = Counter(
        (r["CAMPAIGN_ID"], r["DATE"], r["TARGETING_TYPE"], r["TARGETING_VALUE"]) for r in targeting
    )
    assert targeting and max(breakdowns.values()) == 1
    assert {r["TARGETING_TYPE"] for r in targeting} == {"GENDER"}
    assert all(isinstance(r["SPEND_IN_MICRO_DOLLAR"], (int, type(None))) for r in targeting)


def test_history_comes_from_reports_and_recent_days_from_sync_with_no_gap_or_duplicate(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    start = utc_today() - dt.timedelta(days=200)
    config = settings(start_date=start.isoformat())
    run, log = sync(sandbox, tmp_path, config, {"ad_account_analytics"})
    rows = ok(run).records("ad_account_analytics")
    dates = Counter(r["DATE"] for r in rows)
    assert max(dates.values()) == 1  # no day twice at the seam
    seam = utc_today() - dt.timedelta(days=SYNC_DAYS_BACK)
    sync_calls = [e for e in log if e["path"].endswith("/analytics")]
    assert [c["params"]["start_date"] for c in sync_calls] == [[seam.isoformat()]]
    assert report_calls(log, "POST"), "no report was asked for the history"
    # Every day from start_date to the last reported one, none missing across the seam.
    first, last = min(dates), max(dates)
    assert first == start.isoformat()
    span = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
    assert len(dates) == span, f"{span - len(dates)} days missing"


def test_a_failed_report_is_asked_for_again_then_fails_clearly(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    start = (utc_today() - dt.timedelta(days=200)).isoformat()
    config = settings(start_date=start)
    sandbox.v5_configure(report_fail_rate=0.5)  # which jobs fail hangs on the jobs made before
    jobs_before = sandbox.v5_state()["reports"]
    try:
        run, log = sync(sandbox, tmp_path / "half", config, {"campaign_analytics_report"})
        ok(run)
        assert len(report_calls(log, "POST")) > 2 and run.records("campaign_analytics_report"), (
            f"no job failed after {jobs_before} jobs: pick another start"
        )
        assert "asking again" in run.stderr
        sandbox.v5_configure(report_fail_rate=1.0)
        config = settings(start_date=(utc_today() - dt.timedelta(days=30)).isoformat())
        run, log = sync(sandbox, tmp_path / "all", config, {"campaign_analytics_report"})
    finally:
        sandbox.v5_configure(report_fail_rate=0.0)
    assert run.returncode != 0
    assert len(report_calls(log, "POST")) == JOB_ATTEMPTS
    assert f"failed {JOB_ATTEMPTS} times" in run.stderr and "CAMPAIGN report" in run.stderr


def test_a_custom_report_is_its_own_stream_with_a_key(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    custom = {
        "name": "Weekly Spend",
        "level": "CAMPAIGN",
        "granularity": "WEEK",
        "columns": ["SPEND_IN_MICRO_DOLLAR", "TOTAL_CLICKTHROUGH"],
        "click_window_days": 7,
    }
    start = (utc_today() - dt.timedelta(days=60)).isoformat()
    config = settings(start_date=start, custom_reports=[custom])
    run, _ = sync(sandbox, tmp_path, config, {"custom_weekly_spend"})
    rows = ok(run).records("custom_weekly_spend")
    keys = Counter((r["CAMPAIGN_ID"], r["DATE"]) for r in rows)
    assert rows and max(keys.values()) == 1
    assert set(rows[0]) >= {"SPEND_IN_MICRO_DOLLAR", "TOTAL_CLICKTHROUGH", "CURRENCY"}
    assert all(dt.date.fromisoformat(r["DATE"]).weekday() == 0 for r in rows)


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_the_report_file_is_read_in_pieces_of_any_size(size: int) -> None:
    content: dict[str, list[dict[str, Any]]] = {
        "11": [{"DATE": "2026-01-01", "SPEND_IN_MICRO_DOLLAR": 12345678901234567}],
        "12": [],
        "13": [{"DATE": "2026-01-02", "NAME": 'é "x" [1]'}, {"DATE": "2026-01-03"}],
    }
    data = json.dumps(content, ensure_ascii=False).encode()
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    got = list(report_rows(chunks))
    assert got == [(key, row) for key, rows in content.items() for row in rows]
    assert list(report_rows([])) == []
