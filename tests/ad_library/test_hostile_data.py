"""Hostile rows and real-world API quirks: nothing lost silently (issue: nothing lost, nothing
leaked). Each test drives the real tap process against the sandbox with one quirk switched on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest

from tap_pinterest_ads.dates import parse_instant
from tests.tapio import TapRun, api_requests, run_tap

PAGE = 50


def bookmark(state: dict[str, Any] | None, search: str = "all") -> dict[str, Any]:
    assert state is not None
    for partition in state["bookmarks"]["pinterest_ads"]["partitions"]:
        if partition["context"] == {"search_name": search}:
            return dict(partition)
    return {}


def ids(run: TapRun) -> set[str]:
    return {r["id"] for r in run.records()}


def assert_records_match_schema(run: TapRun, stream: str = "pinterest_ads") -> None:
    schema = next(
        m["schema"] for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream
    )
    validator = jsonschema.Draft7Validator(schema)  # one compiled validator, not one per row
    for record in run.records(stream):
        validator.validate(record)


def test_a_future_datefound_never_becomes_the_bookmark(sandbox, config, tmp_path):
    first = run_tap(tmp_path / "1", config)
    [future] = sandbox.hostile("future", 1)
    sandbox.advance(days=1)
    second = run_tap(tmp_path / "2", config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert future in ids(second)
    assert "rows dated in the future (kept, not bookmarked)=1" in second.stderr
    saved = bookmark(second.final_state)["replication_key_value"]
    assert not saved.startswith("2099")

    sandbox.advance(days=3)
    third = run_tap(tmp_path / "3", config, state=second.final_state)
    new = set(sandbox.truth()) - ids(first) - ids(second)
    assert len(new) > 50, "more new ads than one page, below the future-dated one"
    assert new <= ids(third), "every ad found after the future-dated one is loaded"


def test_a_future_bookmark_in_state_is_ignored_with_a_warning(sandbox, config, tmp_path):
    first = run_tap(tmp_path / "1", config)
    state = first.final_state
    bookmark(state)  # exists
    for partition in state["bookmarks"]["pinterest_ads"]["partitions"]:
        partition["replication_key_value"] = "2099-01-01T00:00:00+00:00"
        partition.pop("known_ids", None)
    second = run_tap(tmp_path / "2", config, state=state)
    assert second.returncode == 0, second.stderr
    assert "is in the future; ignoring it" in second.stderr
    assert ids(second) == set(sandbox.truth())


@pytest.mark.parametrize("kind", ["compact", "compact_int"])
def test_compact_dates_are_days_not_epoch_seconds(sandbox, config, tmp_path, kind):
    first = run_tap(tmp_path / "1", config)
    added = set(sandbox.hostile(kind, 3))
    found_by = parse_instant(sandbox.state()["now"])
    sandbox.advance(days=1)
    second = run_tap(tmp_path / "2", config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    records = {r["id"]: r for r in second.records()}
    assert added <= set(records)
    for ad in added:
        assert records[ad]["datefound"] is not None
        assert not records[ad]["datefound"].startswith("1970")
    # The walk did not stop at a 1970 "date" on page 1: every new ad is here.
    assert set(sandbox.truth()) - ids(first) <= set(records)
    saved = parse_instant(bookmark(second.final_state)["replication_key_value"])
    assert saved > found_by - dt.timedelta(days=1)


def test_compact_date_filters_are_sent_as_iso_days(sandbox, config, tmp_path):
    search = {"name": "since", "from": "20260101", "to": 20261231}
    run = run_tap(tmp_path, {**config, "searches": [search]})
    assert run.returncode == 0, run.stderr
    params = api_requests(sandbox.requests())[0]["params"]
    assert (params["from"], params["to"]) == ("2026-01-01", "2026-12-31")


def test_rows_without_id_are_skipped_and_counted_never_keyed_none(sandbox, config, tmp_path):
    sandbox.hostile("null_id", 4)
    sandbox.hostile("missing_id", 3)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "None" not in ids(run)
    assert ids(run) == set(sandbox.truth())
    assert "rows without id skipped=7" in run.stderr


def test_a_whole_page_of_id_less_rows_does_not_end_the_walk(sandbox, config, tmp_path):
    sandbox.hostile("null_id", 30)  # more than a page, at the head of the walk
    sandbox.hostile("missing_id", 30)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert ids(run) == set(sandbox.truth())
    assert "rows without id skipped=60" in run.stderr
    assert bookmark(run.final_state).get("replication_key_value")


@pytest.mark.parametrize("undated_sort", ["last", "first"])
def test_new_undated_ads_after_the_first_sync_are_loaded(sandbox, config, tmp_path, undated_sort):
    sandbox.quirks(undated_sort=undated_sort)
    first = run_tap(tmp_path / "1", config)
    added = set(sandbox.hostile("undated", 3))
    sandbox.advance(hours=6)
    sandbox.clear_requests()
    second = run_tap(tmp_path / "2", config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert added <= ids(second)
    assert set(sandbox.truth()) == ids(first) | ids(second)
    assert "undated ads this run could not have seen=0" in second.stderr or undated_sort == "first"
    assert len(api_requests(sandbox.requests())) <= 3


def test_a_block_of_undated_ads_at_the_head_does_not_end_an_incremental_walk(
    sandbox, config, tmp_path
):
    # Undated ads sort first and fill the first page, so the newest ids the first walk read
    # are undated; the search has dates below them, and the bookmark must decide where the
    # next walk ends (found by the soak: quirk undated_sort=first, page_size 10).
    sandbox.quirks(undated_sort="first")
    small = {**config, "page_size": 10}
    sandbox.hostile("undated", 12)
    first = run_tap(tmp_path / "1", small)
    assert first.returncode == 0, first.stderr
    sandbox.advance(days=1)
    second = run_tap(tmp_path / "2", small, state=first.final_state)
    assert second.returncode == 0, second.stderr
    new = set(sandbox.truth()) - ids(first)
    assert new and new <= ids(second)


def test_undated_tail_can_be_turned_off_and_the_summary_says_what_it_costs(
    sandbox, config, tmp_path
):
    first = run_tap(tmp_path / "1", config)
    added = set(sandbox.hostile("undated", 2))
    sandbox.clear_requests()
    off = {**config, "undated_tail_pages": 0}
    second = run_tap(tmp_path / "2", off, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert not added & ids(second)
    assert "could not have seen=unknown (no tail read: undated_tail_pages=0)" in second.stderr
    assert all(c["params"]["sortdirection"] == "desc" for c in api_requests(sandbox.requests()))


def test_rows_without_any_datefound_stay_near_one_request_per_incremental_sync(
    sandbox, config, tmp_path
):
    sandbox.quirks(date_fields="absent")
    first = run_tap(tmp_path / "1", config)
    assert first.returncode == 0, first.stderr
    assert ids(first) == set(sandbox.truth())
    state = bookmark(first.final_state)
    assert state.get("known_ids"), "the newest ids are the stop mark when rows carry no dates"

    sandbox.advance(days=1)
    sandbox.clear_requests()
    second = run_tap(tmp_path / "2", config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    new = set(sandbox.truth()) - ids(first)
    assert new and new <= ids(second)
    # The newest-ids stop, then one page of the oldest end: an ad whose hidden datefound the
    # server cannot parse sorts there.
    assert len(api_requests(sandbox.requests())) <= len(new) // PAGE + 2
    assert "stopped: reached the newest ads the last sync read" in second.stderr


def test_camel_case_date_fields_are_read(sandbox, config, tmp_path):
    sandbox.quirks(date_fields="camel")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    dated = [r for r in run.records() if r["datefound"]]
    assert len(dated) > 0.9 * len(run.records())
    assert all(r["extra_fields"] is None or "dateFound" not in r["extra_fields"] for r in dated)
    assert bookmark(run.final_state)["replication_key_value"]


def test_state_is_emitted_per_search_so_a_failing_run_keeps_what_it_paid_for(
    sandbox, config, tmp_path
):
    searches = [{"name": "one", "keyword": "skin,serum"}, {"name": "two"}]
    sandbox.configure(monthly_credits=8)  # search one needs a few pages; two runs out
    failed = run_tap(tmp_path / "1", {**config, "searches": searches})
    assert failed.returncode != 0
    assert "credits" in failed.stderr.lower()
    assert bookmark(failed.final_state, "one").get("replication_key_value")
    # Search two paid for pages too: it resumes rather than reading them again.
    assert bookmark(failed.final_state, "two").get("resume", {}).get("page", 0) >= 1

    sandbox.configure(monthly_credits=20_000)
    sandbox.clear_requests()
    rerun = run_tap(tmp_path / "2", {**config, "searches": searches}, state=failed.final_state)
    assert rerun.returncode == 0, rerun.stderr
    one_calls = [c for c in api_requests(sandbox.requests()) if c["params"].get("keyword")]
    assert len(one_calls) <= 2, "search one is incremental now, not a first sync again"
    assert ids(failed) | ids(rerun) >= set(sandbox.truth())


def test_a_long_walk_checkpoints_state_every_few_pages(sandbox, config, tmp_path):
    run = run_tap(tmp_path, config)
    pages = len(api_requests(sandbox.requests()))
    assert pages >= 10
    resumes = [bookmark(s).get("resume") for s in run.states if "pinterest_ads" in s["bookmarks"]]
    # Every 5 pages: a kill costs at most 5 pages of credits.
    assert [r["page"] for r in resumes if r] == list(range(5, pages, 5))


def test_runs_with_a_small_budget_finish_the_walk_together(sandbox, config, tmp_path):
    budget = 2
    truth = set(sandbox.truth())
    pages_needed = -(-len(truth) // PAGE)
    state, loaded, runs = None, set(), 0
    while runs < pages_needed + 2:
        runs += 1
        run = run_tap(tmp_path / str(runs), {**config, "max_requests_per_run": budget}, state)
        assert run.returncode == 0, run.stderr
        loaded |= ids(run)
        state = run.final_state
        if bookmark(state).get("replication_key_value"):
            break
    assert loaded >= truth
    assert runs <= -(-pages_needed // budget) + 1, f"{runs} runs of {budget} for {pages_needed}"


def test_a_budget_walk_resumes_past_ads_found_between_runs(sandbox, config, tmp_path):
    state, loaded, runs = None, set(), 0
    while not bookmark(state or {"bookmarks": {"pinterest_ads": {"partitions": []}}}).get(
        "replication_key_value"
    ):
        runs += 1
        assert runs <= 6, "12 pages at 3 a run (one of them re-checking a shifted page)"
        run = run_tap(tmp_path / str(runs), {**config, "max_requests_per_run": 3}, state)
        assert run.returncode == 0, run.stderr
        loaded |= ids(run)
        state = run.final_state
        sandbox.advance(hours=6)  # new ads push the unread pages down between runs
    final = run_tap(tmp_path / "last", config, state)
    loaded |= ids(final)
    assert loaded >= set(sandbox.truth())


def test_an_api_that_ignores_page_is_detected_and_said(sandbox, config, tmp_path):
    sandbox.quirks(honour_page=False)
    first = run_tap(tmp_path / "1", {**config, "max_requests_per_run": 2})
    second = run_tap(tmp_path / "2", {**config, "max_requests_per_run": 2}, first.final_state)
    assert second.returncode == 0, second.stderr
    assert "the API ignored `page=2`" in second.stderr
    assert "raise it" in second.stderr


@pytest.mark.parametrize("status", [400, 422, 200])
def test_a_cursor_that_expires_mid_walk_does_not_end_the_sync(sandbox, config, tmp_path, status):
    sandbox.quirks(scroll_error_status=status)
    # Queued faults apply to requests in order; a zero-second "timeout" is a normal answer.
    sandbox.add_faults(*[{"kind": "timeout", "seconds": 0}] * 3, {"kind": "expire_scroll"})
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert ids(run) == set(sandbox.truth())
    assert "continuing this search from page 4" in run.stderr
    assert bookmark(run.final_state).get("replication_key_value")
    calls = api_requests(sandbox.requests())
    assert calls[4]["params"].get("page") == "3" and "scroll" not in calls[4]["params"]
    assert len(calls) == -(-len(ids(run)) // PAGE) + 1, "one extra request, not a replay"


def test_human_formatted_numbers_are_read_and_every_record_fits_its_schema(
    sandbox, config, tmp_path
):
    sandbox.quirks(count_format="human", total_format="comma")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert_records_match_schema(run)
    assert ids(run) == set(sandbox.truth())
    counts = [r[k] for r in run.records() for k in ("likes", "shares", "comments")]
    assert all(isinstance(v, int) for v in counts if v is not None)
    assert any(v >= 1000 for v in counts if v is not None), "some were served as `1.2k`"
    assert "total=600" in run.stderr


def test_bookmark_is_never_a_date_from_an_unfinished_walk(sandbox, config, tmp_path):
    run = run_tap(tmp_path, {**config, "max_requests_per_run": 1})
    assert bookmark(run.final_state).get("replication_key_value") is None
    assert parse_instant(bookmark(run.final_state)["resume"]["newest"]) is not None


def test_a_search_whose_filters_changed_does_not_resume_at_a_foreign_page(
    sandbox, config, tmp_path
):
    cut = run_tap(tmp_path / "1", {**config, "max_requests_per_run": 2})
    assert bookmark(cut.final_state)["resume"]["page"] == 2
    narrowed = {**config, "searches": [{"name": "all", "mediatype": "video"}]}
    sandbox.clear_requests()
    rerun = run_tap(tmp_path / "2", narrowed, cut.final_state)
    assert rerun.returncode == 0, rerun.stderr
    assert "filters changed since its walk stopped at page 3" in rerun.stderr
    assert "page" not in api_requests(sandbox.requests())[0]["params"]
    assert ids(rerun) == set(sandbox.truth(mediatype="video"))


def test_a_search_whose_walk_reached_its_last_page_pays_for_no_tail(sandbox, config, tmp_path):
    small = {**config, "searches": [{"name": "skin", "keyword": "skin,serum"}]}
    assert len(sandbox.truth(keyword="skin,serum")) < PAGE
    first = run_tap(tmp_path / "1", small)
    sandbox.advance(days=1)
    sandbox.clear_requests()
    second = run_tap(tmp_path / "2", small, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert len(api_requests(sandbox.requests())) == 1, "one page held the whole search"
    assert "could not have seen" not in second.stderr


def test_a_long_walk_behind_caught_up_searches_still_finishes_on_a_small_budget(
    sandbox, config, tmp_path
):
    searches = [{"name": "skin", "keyword": "skin,serum"}, {"name": "video", "mediatype": "video"}]
    cfg = {**config, "searches": [*searches, {"name": "all"}]}
    first = run_tap(tmp_path / "0", {**config, "searches": searches})  # two caught up
    state, runs = first.final_state, 0
    while not bookmark(state, "all").get("replication_key_value"):
        runs += 1
        assert runs <= 14, "the unfinished search gets its share of a 2-request budget"
        run = run_tap(tmp_path / str(runs), {**cfg, "max_requests_per_run": 2}, state)
        assert run.returncode == 0, run.stderr
        state = run.final_state


def test_the_run_that_finishes_a_resumed_walk_also_reads_the_ads_found_since(
    sandbox, config, tmp_path
):
    cut = run_tap(tmp_path / "cut", {**config, "max_requests_per_run": 3})
    assert bookmark(cut.final_state)["resume"]
    assert sandbox.advance(days=1)["added"], "new ads arrive while the walk waits"
    rest = run_tap(tmp_path / "rest", config, cut.final_state)
    assert rest.returncode == 0, rest.stderr
    # Complete at its end, nothing waits for a later run: the new ads came with this one.
    assert ids(cut) | ids(rest) == set(sandbox.truth())
    assert "reading the ads found since it began" in rest.stderr
    assert "resume" not in bookmark(rest.final_state)
