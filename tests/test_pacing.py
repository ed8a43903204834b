"""Requests are paced to `requests_per_minute`: a burst up to the limit, then the window waits."""

from __future__ import annotations

import datetime as dt

from tap_pinterest_ads.resources import WINDOW_SLACK_MS
from tests.tapio import api_requests, run_tap

LIMIT = 5


def test_the_request_past_the_limit_waits_for_the_rolling_minute(sandbox, config, tmp_path):
    # A walk of 12 pages, cut by the budget at LIMIT + 1 requests: only the last one must wait.
    cfg = {**config, "requests_per_minute": LIMIT, "max_requests_per_run": LIMIT + 1}
    run = run_tap(tmp_path, cfg, timeout=150)
    assert run.returncode == 0, run.stderr
    times = [dt.datetime.fromisoformat(r["at"]) for r in api_requests(sandbox.requests())]
    assert len(times) == LIMIT + 1
    burst = (times[LIMIT - 1] - times[0]).total_seconds()
    waited = (times[LIMIT] - times[0]).total_seconds()
    assert burst < 10, "requests within the limit are not slowed down"
    assert waited >= 60 + WINDOW_SLACK_MS / 1000 - 0.5, "request LIMIT+1 waits for the window"
