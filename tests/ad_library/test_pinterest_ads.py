"""The pinterest_ads stream end to end: tap process -> real sandbox HTTP server."""

from __future__ import annotations

import collections
import datetime as dt
import json
import signal
import subprocess
from typing import Any

import pytest

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.conftest import API_KEY
from tests.tapio import (
    api_requests,
    catalog_selecting,
    parse_messages,
    run_tap,
    v5_settings,
    write_inputs,
)

PAGE = 50

SEARCHES: list[dict[str, Any]] = [
    {"name": "everything"},
    {"name": "skin", "keyword": "skin,serum", "searchkeyword": "All"},
    {"name": "us_video", "countries": ["US", "CA"], "mediatype": "video"},
    {"name": "popular_2026", "minlikes": 200, "maxlikes": 50000, "from": "2026-01-01"},
    {"name": "landing", "keyword": "shop", "searchkeyword": "landingurl", "pagetype": "product"},
]


def truth_for(sandbox: SandboxProcess, search: dict[str, Any]) -> set[str]:
    params = {k: (",".join(v) if isinstance(v, list) else v) for k, v in search.items()}
    params.pop("name")
    return set(sandbox.truth(**params))


def by_search(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = collections.defaultdict(list)
    for record in records:
        grouped[record["search_name"]].append(record["id"])
    return grouped


def bookmark(state: dict[str, Any] | None, search: str) -> str | None:
    assert state is not None
    for partition in state["bookmarks"]["pinterest_ads"]["partitions"]:
        if partition["context"] == {"search_name": search}:
            return partition.get("replication_key_value")
    return None


def test_full_sync_equals_sandbox_truth_per_search(sandbox, config, tmp_path):
    run = run_tap(tmp_path, {**config, "searches": SEARCHES})
    assert run.returncode == 0, run.stderr
    emitted = by_search(run.records())
    for search in SEARCHES:
        truth = truth_for(sandbox, search)
        assert truth, f"filter set {search['name']} should match something"
        ids = emitted[search["name"]]
        assert len(ids) == len(set(ids)), f"duplicate ids within {search['name']}"
        assert set(ids) == truth, search["name"]
    # Filters really narrow: each filtered search is a strict subset of everything.
    everything = set(emitted["everything"])
    for search in SEARCHES[1:]:
        assert set(emitted[search["name"]]) < everything


def test_requests_carry_filters_sort_and_scroll_only_as_documented(sandbox, config, tmp_path):
    search = {"name": "us_video", "countries": ["US", "CA"], "mediatype": "video"}
    run = run_tap(tmp_path, {**config, "searches": [search]})
    assert run.returncode == 0, run.stderr
    calls = api_requests(sandbox.requests())
    assert len(calls) >= 2
    first, *rest = calls
    assert "scroll" not in first["params"]
    for call in calls:
        assert call["params"]["sorting"] == "datefound"
        assert call["params"]["sortdirection"] == "desc"
        assert call["params"]["countries"] == "US,CA"
        assert call["params"]["mediatype"] == "video"
        assert call["params"]["limit"] == "50"
        assert "api_key" not in call["params"]
    assert all(call["params"]["scroll"] for call in rest)


def test_default_search_is_all_and_state_is_partitioned_per_search(sandbox, config, tmp_path):
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    records = run.records()
    assert {r["search_name"] for r in records} == {"all"}
    assert {r["id"] for r in records} == set(sandbox.truth())
    found = [parse_instant(r["datefound"]) for r in records if r["datefound"]]
    assert bookmark(run.final_state, "all") == max(found).isoformat()
    assert "progress_markers" not in str(run.final_state)


def test_datefound_normalised_and_undated_rows_kept(sandbox, config, tmp_path):
    run = run_tap(tmp_path, config)
    records = run.records()
    raw_forms = {type(r["datefound_raw"]).__name__ for r in records}
    assert raw_forms <= {"str", "NoneType"}
    undated = [r for r in records if r["datefound"] is None]
    assert undated, "the sandbox serves some rows with no parseable datefound"
    for record in records:
        if record["datefound"] is not None:
            assert record["datefound"].endswith("+00:00")
            assert parse_instant(record["datefound"]) == parse_instant(record["datefound_raw"])
    assert f"rows without a parseable datefound={len(undated)}" in run.stderr


def test_incremental_sync_spends_only_the_pages_new_ads_need(sandbox, config, tmp_path):
    first = run_tap(tmp_path / "1", config)
    assert first.returncode == 0, first.stderr
    known = {r["id"] for r in first.records()}
    added = sandbox.advance(days=1)["added"]
    assert added > 0
    sandbox.clear_requests()

    second = run_tap(tmp_path / "2", config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    emitted = [r["id"] for r in second.records() if r["datefound"]]
    # Emitted = new ads + the lookback window; the page holding the first older row is the last,
    # then one page of the oldest end for ads without a datefound.
    calls = api_requests(sandbox.requests())
    assert len(calls) == len(emitted) // PAGE + 1 + 1
    assert calls[-1]["params"]["sortdirection"] == "asc" and "scroll" not in calls[-1]["params"]
    assert len(calls) < len(first.records()) // PAGE
    assert "stopped: reached bookmark - lookback" in second.stderr
    assert bookmark(second.final_state, "all") > bookmark(first.final_state, "all")

    everything = run_tap(tmp_path / "full", config).records()
    new_ids = {r["id"] for r in everything} - known
    assert len(new_ids) == added
    dated = {r["id"] for r in everything if r["id"] in new_ids and r["datefound"]}
    assert dated <= set(emitted), "every newly found ad with a datefound is emitted"
    undated = new_ids - dated
    assert undated, "the sandbox finds some ads without a parseable datefound each day"
    # They sort after every dated ad, below the cutoff: the tail read reaches them.
    assert undated <= {r["id"] for r in second.records()}
    assert "undated ads this run could not have seen=0" in second.stderr


@pytest.mark.parametrize("tail_pages", [0, 1])
def test_nothing_new_costs_one_request_plus_the_undated_tail(sandbox, config, tmp_path, tail_pages):
    cfg = {**config, "lookback_days": 0, "undated_tail_pages": tail_pages}
    first = run_tap(tmp_path / "1", cfg)
    sandbox.clear_requests()
    second = run_tap(tmp_path / "2", cfg, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert len(api_requests(sandbox.requests())) == 1 + tail_pages
    assert bookmark(second.final_state, "all") == bookmark(first.final_state, "all")


def test_start_date_ignores_older_ads_on_first_sync(sandbox, config, tmp_path):
    everything = run_tap(tmp_path / "all", config).records()
    dated = sorted(parse_instant(r["datefound"]) for r in everything if r["datefound"])
    start = dated[len(dated) // 2]
    sandbox.clear_requests()
    run = run_tap(tmp_path / "since", {**config, "start_date": start.isoformat()})
    kept = [r for r in run.records() if r["datefound"]]
    assert kept and all(parse_instant(r["datefound"]) >= start for r in kept)
    assert len(kept) == sum(1 for d in dated if d >= start)
    # The pages down to start_date, then one page of the oldest end (ads without a datefound).
    assert len(api_requests(sandbox.requests())) == len(kept) // PAGE + 1 + 1


@pytest.mark.parametrize("kill_after_records", [1, 120, 260, 430])
def test_killed_sync_rerun_from_last_state_loses_nothing(
    sandbox, config, tmp_path, kill_after_records
):
    cfg = {**config, "searches": SEARCHES[:3]}
    args = write_inputs(tmp_path / "killed", cfg, None)
    lines: list[str] = []
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as tap:
        assert tap.stdout is not None
        records = 0
        for line in tap.stdout:
            lines.append(line)
            records += '"type":"RECORD"' in line.replace(" ", "")
            if records >= kill_after_records:
                tap.send_signal(signal.SIGKILL)
                break
        tap.wait()
    messages = parse_messages(lines)
    # A target commits only what precedes the last STATE it saw: count only that as loaded.
    last_state_at = max((i for i, m in enumerate(messages) if m["type"] == "STATE"), default=-1)
    committed = [m["record"] for m in messages[: last_state_at + 1] if m["type"] == "RECORD"]
    state = messages[last_state_at]["value"] if last_state_at >= 0 else None

    rerun = run_tap(tmp_path / "rerun", cfg, state=state)
    assert rerun.returncode == 0, rerun.stderr
    loaded = by_search(committed + rerun.records())
    for search in SEARCHES[:3]:
        assert set(loaded[search["name"]]) == truth_for(sandbox, search), search["name"]


def test_ad_in_several_searches_keeps_one_key_per_search(sandbox, config, tmp_path):
    run = run_tap(tmp_path, {**config, "searches": SEARCHES[:2]})
    pairs = [(r["search_name"], r["id"]) for r in run.records()]
    assert len(pairs) == len(set(pairs))


def test_budget_stops_cleanly_and_holds_the_bookmark(sandbox, config, tmp_path):
    limited = run_tap(tmp_path / "limited", {**config, "max_requests_per_run": 3})
    assert limited.returncode == 0, limited.stderr
    assert len(api_requests(sandbox.requests())) == 3
    assert len(limited.records()) == 3 * PAGE
    assert "stopped: max_requests_per_run reached" in limited.stderr
    # Only the newest pages were read: a bookmark now would hide the rest for good.
    assert bookmark(limited.final_state, "all") is None

    rest = run_tap(tmp_path / "rest", config, state=limited.final_state)
    ids = {r["id"] for r in limited.records()} | {r["id"] for r in rest.records()}
    assert ids == set(sandbox.truth())


def test_summary_line_per_search_ends_the_run(sandbox, config, tmp_path):
    run = run_tap(tmp_path, {**config, "searches": SEARCHES[:2]})
    lines = run.stderr.splitlines()
    last_page = max(i for i, ln in enumerate(lines) if ": page " in ln)
    summaries = [ln for ln in lines[last_page:] if " summary " in ln]
    assert len(summaries) == 3  # one per search, then the stream's total
    assert f"{len(api_requests(sandbox.requests()))} requests (= credits) this run" in summaries[-1]
    for search in SEARCHES[:2]:
        line = next(ln for ln in summaries if f"summary pinterest_ads[{search['name']}]" in ln)
        for part in ("pages", "records", "new", "stopped: end of results", "total=", "requests="):
            assert part in line
        assert "nextscrapetime=20" in line


def test_unknown_fields_are_kept_in_extra_fields(tmp_path):
    from tap_pinterest_ads.tap import TapPinterestAds

    tap = TapPinterestAds(config={"api_key": API_KEY}, validate_config=True)
    stream = tap.streams["pinterest_ads"]
    row = {"id": 123, "datefound": "2026-05-01 10:00:00", "brand_new_field": {"x": 1}}
    record = stream.shape(row, parse_instant(row["datefound"]))
    assert record["id"] == "123"
    assert record["extra_fields"] == {"brand_new_field": {"x": 1}}
    assert record["datefound"] == "2026-05-01T10:00:00+00:00"
    assert record["datefound_raw"] == "2026-05-01 10:00:00"


def test_schema_lists_every_field_the_sandbox_serves(sandbox, config, tmp_path):
    run = run_tap(tmp_path, config)
    assert all(r["extra_fields"] is None for r in run.records())
    served = {key for r in run.records() for key in r}
    schema = next(m for m in run.messages if m["type"] == "SCHEMA")["schema"]
    assert served <= set(schema["properties"])


def test_search_matches_keep_every_search_that_found_an_ad_without_extra_requests(
    sandbox, config, tmp_path
):
    searches = SEARCHES[:3]
    run = run_tap(tmp_path, {**config, "searches": searches})
    assert run.returncode == 0, run.stderr
    matches = run.records("pinterest_ad_search_matches")
    pairs = {(m["search_name"], m["id"]) for m in matches}
    assert len(pairs) == len(matches), "one row per (search, ad)"
    for search in searches:
        assert {i for s, i in pairs if s == search["name"]} == truth_for(sandbox, search)
    # pinterest_ads keeps one row per ad; the pairs keep every search that found it.
    shared = truth_for(sandbox, SEARCHES[0]) & truth_for(sandbox, SEARCHES[1])
    assert shared and all((s["name"], ad) in pairs for ad in shared for s in SEARCHES[:2])
    found = {r["id"]: r["datefound"] for r in run.records()}
    assert all(m["datefound"] == found[m["id"]] for m in matches)
    assert len(api_requests(sandbox.requests())) == sum(
        -(-len(truth_for(sandbox, s)) // PAGE) for s in searches
    )
    # Written page by page, before the checkpoint that covers the page; one SCHEMA for the run.
    order = [m["type"] + m.get("stream", "") for m in run.messages]
    first_state = order.index("STATE")
    assert "RECORDpinterest_ad_search_matches" in order[:first_state]
    assert order.count("SCHEMApinterest_ad_search_matches") == 1
    assert order.index("SCHEMApinterest_ad_search_matches") < order.index(
        "RECORDpinterest_ad_search_matches"
    )


def test_a_property_the_catalog_deselects_is_left_out_of_every_record(sandbox, config, tmp_path):
    catalog = catalog_selecting(tmp_path, config, {"pinterest_ads"})
    (entry,) = (e for e in catalog["streams"] if e["tap_stream_id"] == "pinterest_ads")
    for item in entry["metadata"]:
        if item["breadcrumb"] == ["properties", "ad_text"]:
            item["metadata"]["selected"] = False
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    records = run.records()
    assert records and not any("ad_text" in r for r in records)
    assert all("title" in r and "extra_fields" in r for r in records)


def test_discovery_lists_every_stream_whichever_family_the_config_holds(config, tmp_path):
    # An ad-library sync leaves the v5 family unbuilt; the catalog must not follow suit.
    args = [*write_inputs(tmp_path, config, None), "--discover"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    names = {entry["tap_stream_id"] for entry in json.loads(done.stdout)["streams"]}
    assert {"pinterest_ads", "campaigns", "ad_analytics", "advertiser_report"} <= names


def test_a_spent_budget_stops_the_next_search_before_its_first_request(sandbox, config, tmp_path):
    searches = [{"name": "skin", "keyword": "skin,serum"}, {"name": "all"}]
    skin_pages = -(-len(truth_for(sandbox, searches[0])) // PAGE)
    run = run_tap(tmp_path, {**config, "searches": searches, "max_requests_per_run": skin_pages})
    assert run.returncode == 0, run.stderr
    calls = api_requests(sandbox.requests())
    assert len(calls) == skin_pages and all(c["params"].get("keyword") for c in calls)
    assert "pinterest_ads[all]: 0 pages, 0 records (0 new); stopped: max_requests_per_run" in (
        run.stderr
    )
    assert bookmark(run.final_state, "skin") is not None
    assert bookmark(run.final_state, "all") is None


def test_start_date_later_than_the_lookback_bounds_an_incremental_sync(sandbox, config, tmp_path):
    first = run_tap(tmp_path / "1", config)
    saved = parse_instant(bookmark(first.final_state, "all"))
    start = saved - dt.timedelta(hours=12)
    sandbox.advance(days=1)
    cfg = {**config, "lookback_days": 3, "start_date": start.isoformat()}
    second = run_tap(tmp_path / "2", cfg, state=first.final_state)
    dated = [r for r in second.records() if r["datefound"]]
    assert dated and all(parse_instant(r["datefound"]) >= start for r in dated)
    everything = run_tap(tmp_path / "all", config).records()
    expected = {
        r["id"] for r in everything if r["datefound"] and parse_instant(r["datefound"]) >= start
    }
    assert {r["id"] for r in dated} == expected


def test_a_one_day_window_from_equals_to_is_valid(sandbox, config, tmp_path):
    search = {"name": "day", "from": "2026-03-01", "to": "2026-03-01"}
    run = run_tap(tmp_path, {**config, "searches": [search]})
    assert run.returncode == 0, run.stderr
    params = api_requests(sandbox.requests())[0]["params"]
    assert params["from"] == params["to"] == "2026-03-01"
    assert {r["id"] for r in run.records()} == set(
        sandbox.truth(**{"from": "2026-03-01", "to": "2026-03-01"})
    )


def test_the_summary_counts_exactly_the_ads_newer_than_the_bookmark(sandbox, config, tmp_path):
    first = run_tap(tmp_path / "1", config)
    saved = parse_instant(bookmark(first.final_state, "all"))
    sandbox.advance(days=1)
    second = run_tap(tmp_path / "2", config, state=first.final_state)
    newer = [
        r for r in second.records() if r["datefound"] and parse_instant(r["datefound"]) > saved
    ]
    assert newer
    assert f"records ({len(newer)} new)" in second.stderr


def test_a_v5_only_config_passes_the_connection_test(sandbox, tmp_path):
    # `--test` syncs every stream, selected or not: the ad-library ones must sit out quietly.
    account = sandbox.v5_truth("ad_accounts")[0]["id"]
    v5_only = v5_settings(sandbox.v5_url, tmp_path / "token.json", ad_account_ids=[account])
    args = [*write_inputs(tmp_path, v5_only, None), "--test"]
    sandbox.v5_clear_requests()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "api_key" not in done.stderr.replace("Ad-library streams skipped: `api_key`", "")
    assert not api_requests(sandbox.requests())
    # The SDK ends each stream at its first record by raising: not an error to report.
    assert "An unhandled error occurred" not in done.stderr
    # One record a stream proves it: the analytics and reports ask for the last days only, not
    # for 90 days of 250-id calls or months of report jobs (minutes against the real API).
    analytics = [r["params"] for r in sandbox.v5_requests() if r["path"].endswith("/analytics")]
    spans = {
        (dt.date.fromisoformat(p["end_date"][0]) - dt.date.fromisoformat(p["start_date"][0])).days
        for p in analytics
    }
    assert spans and max(spans) <= 7, spans
