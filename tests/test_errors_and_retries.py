"""Refusals fail at once with the API's words; transient trouble is retried; nothing leaks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tap_pinterest_ads.ad_library.walk import MAX_CURSOR_RESTARTS
from tests.conftest import API_KEY
from tests.tapio import api_requests, run_tap


@pytest.mark.parametrize(
    ("key", "api_says", "advice"),
    [
        ("not-a-valid-key-0001", "Unauthorized", "`api_key`"),
        ("wh_basic_plan", "WinningHunter Standard subscription required", "upgrade"),
        ("wh_free_plan", "WinningHunter Basic plan or higher required", "upgrade"),
        ("wh_upgrade", "Pinterest ads need the Standard plan", "upgrade"),
        ("wh_no_credits", "Monthly API credits exhausted", "Buy credits"),
    ],
)
def test_refusals_fail_at_once_without_retries(sandbox, config, tmp_path, key, api_says, advice):
    run = run_tap(tmp_path, {**config, "api_key": key})
    assert run.returncode != 0
    assert api_says in run.stderr
    assert advice in run.stderr
    assert len(api_requests(sandbox.requests())) == 1, "no retries for a refusal"
    assert "Traceback" not in run.stderr
    assert not run.records()


def test_bad_request_shows_error_allowed_values_and_hint(sandbox, config, tmp_path):
    # gender is free text in the tap (the docs give no list), so the API is the judge.
    run = run_tap(tmp_path, {**config, "searches": [{"name": "g", "gender": "robots"}]})
    assert run.returncode != 0
    assert "gender" in run.stderr
    assert "allowed values: " in run.stderr
    assert "hint: " in run.stderr
    assert len(api_requests(sandbox.requests())) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "429", "retry_after": 1},
        {"kind": "500"},
        {"kind": "503"},
        {"kind": "timeout", "seconds": 3},
        {"kind": "drop"},
    ],
)
def test_transient_faults_are_retried_and_nothing_is_lost(sandbox, config, tmp_path, fault):
    sandbox.add_faults(fault)
    run = run_tap(tmp_path, {**config, "request_timeout": 1})
    assert run.returncode == 0, run.stderr
    assert {r["id"] for r in run.records()} == set(sandbox.truth())
    assert "retry 1 of" in run.stderr
    calls = api_requests(sandbox.requests())
    assert len(calls) >= 2
    # The first page was asked for twice, the same request both times (the log is in order of
    # completion, and a timed-out request completes after its retry).
    # The retry is the same request again. (The sandbox logs a request when it has answered
    # it, so a request whose client timed out or lost the connection may be missing.)
    first_pages = [c["params"] for c in calls if "scroll" not in c["params"]]
    assert 1 <= len(first_pages) <= 2
    assert all(params == first_pages[0] for params in first_pages)


def test_retry_after_is_honoured(sandbox, config, tmp_path):
    sandbox.add_faults({"kind": "429", "retry_after": 2})
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    first, second = api_requests(sandbox.requests())[:2]
    assert first["status"] == 429
    gap = dt.datetime.fromisoformat(second["at"]) - dt.datetime.fromisoformat(first["at"])
    assert gap.total_seconds() >= 1.9


def test_persistent_server_errors_give_up_after_capped_retries(sandbox, config, tmp_path):
    sandbox.add_faults(*[{"kind": "429", "retry_after": 0} for _ in range(10)])
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert len(api_requests(sandbox.requests())) == 6


def test_expired_scroll_restarts_the_search_once(sandbox, config, tmp_path):
    sandbox.add_faults({"kind": "expire_scroll"})
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    ids = [r["id"] for r in run.records()]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(sandbox.truth())
    assert "continuing this search from page 1" in run.stderr
    assert "cursor restarts=1" in run.stderr


def test_a_cursor_that_keeps_failing_fails_the_run(sandbox, config, tmp_path):
    sandbox.add_faults(*[{"kind": "expire_scroll"}] * (MAX_CURSOR_RESTARTS + 1))
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "Invalid or expired scroll token" in run.stderr


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"searches": [{"name": "a", "mediatype": "gif"}]}, "searches[0].mediatype"),
        ({"searches": [{"name": "a", "searchkeyword": "title"}]}, "searches[0].searchkeyword"),
        ({"searches": [{"name": "a", "pagetype": "home"}]}, "searches[0].pagetype"),
        ({"searches": [{"name": "a", "adscorefilter": "great"}]}, "searches[0].adscorefilter"),
        ({"searches": [{"name": "a", "from": "31/01/2026"}]}, "searches[0].from"),
        (
            {"searches": [{"name": "a", "from": "2026-02-01", "to": "2026-01-01"}]},
            "searches[0].from",
        ),
        ({"searches": [{"name": "a", "minlikes": 10, "maxlikes": 5}]}, "searches[0].minlikes"),
        ({"searches": [{"name": "a", "minprice": "cheap"}]}, "searches[0].minprice"),
        ({"searches": [{"name": "a"}, {"name": "a"}]}, "searches[1].name"),
        ({"searches": [{"keyword": "x"}]}, "'name' is a required property"),
        ({"searches": [{"name": "a", "colour": "red"}]}, "searches[0].colour"),
        ({"api_url": "http://app.winninghunter.com"}, "api_url"),
        ({"api_key": None}, "api_key"),
        ({"page_size": 80}, "page_size"),
    ],
)
def test_invalid_config_fails_before_any_request(sandbox, config, tmp_path, change, setting):
    cfg: dict[str, Any] = {**config, **change}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    run = run_tap(tmp_path, cfg)
    assert run.returncode != 0
    assert setting in run.stderr
    assert api_requests(sandbox.requests()) == []


def test_the_key_never_leaks(sandbox, config, tmp_path):
    sandbox.add_faults({"kind": "500"}, {"kind": "429", "retry_after": 0}, {"kind": "drop"})
    ok = run_tap(tmp_path / "ok", config)
    bad_key = "wh_definitely_wrong_but_secret_991"
    refused = run_tap(tmp_path / "refused", {**config, "api_key": "not" + bad_key})
    for run in (ok, refused):
        for text in (run.stdout, run.stderr):
            assert API_KEY not in text
            assert bad_key not in text
    assert API_KEY not in str(ok.final_state)
    log = sandbox.requests()
    assert API_KEY not in str(log)
    # The header only: never the query string, where URLs and server logs would keep it.
    answered = [r for r in api_requests(log) if r["status"] != 401]
    assert answered and all(r["auth_via"] == "x-api-key" for r in answered)
    assert not any(r["key_in_query"] for r in api_requests(log))


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    assert "unhandled error" not in stderr
    assert "Backing off" not in stderr, "each retry is logged once, by the tap"
    (line,) = [line for line in stderr.splitlines() if "| ERROR" in line]
    return line


def test_an_unreachable_api_ends_in_one_line_naming_api_url(config, tmp_path):
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    run = run_tap(tmp_path, {**config, "api_url": closed})
    assert run.returncode != 0
    line = one_error_line(run.stderr)
    assert f"Could not reach the ad-library API at {closed} (`api_url`)" in line
    assert "connection refused after 6 tries" in line
    assert "Check `api_url`" in line
    assert run.stderr.count("retry ") == 5


def test_persistent_server_errors_end_in_one_line_saying_rerun_later(sandbox, config, tmp_path):
    sandbox.add_faults(*[{"kind": "503"} for _ in range(6)])
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    line = one_error_line(run.stderr)
    assert f"The ad-library API at {config['api_url']} (`api_url`)" in line
    assert "kept answering HTTP 503" in line
    assert "Rerun later" in line
    assert len(api_requests(sandbox.requests())) == 6


def test_the_budget_counts_only_requests_the_api_answered(sandbox, config, tmp_path):
    # The first try times out (no answer); the budget of 2 still buys two pages.
    sandbox.add_faults({"kind": "timeout", "seconds": 3})
    run = run_tap(tmp_path, {**config, "request_timeout": 1, "max_requests_per_run": 2})
    assert run.returncode == 0, run.stderr
    assert len(run.records()) == 2 * 50
    assert "requests=2" in run.stderr


def test_a_rate_limit_without_retry_after_waits_longer_than_a_server_error(
    sandbox, config, tmp_path
):
    sandbox.quirks(retry_after_header=False)
    sandbox.add_faults({"kind": "429"})
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert {r["id"] for r in run.records()} == set(sandbox.truth())
    refused, retried = api_requests(sandbox.requests())[:2]
    assert refused["status"] == 429
    gap = dt.datetime.fromisoformat(retried["at"]) - dt.datetime.fromisoformat(refused["at"])
    assert gap.total_seconds() >= 4.9, "a rate limit's first wait is 5 s (a server error's: 1 s)"


def test_a_run_with_a_retry_reads_as_a_short_story(sandbox, config, tmp_path):
    sandbox.add_faults({"kind": "500"})
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("retry 1 of 5") == 1, "each retry is logged once"
    assert "Backing off" not in run.stderr
    assert "http_request_duration" not in run.stderr, "no METRIC line per request"
    assert "Initializing default bucket" not in run.stderr
    assert '"metric":"record_count"' in run.stderr, "the SDK's record counts stay"
