"""The scroll walk's stopping rules, page by page (no HTTP: the walk is pure bookkeeping)."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_pinterest_ads.ad_library.walk import (
    BUDGET_SPENT,
    END_OF_RESULTS,
    LOOP_GUARD,
    PAGE_CAP,
    REACHED_BOOKMARK,
    REACHED_KNOWN,
    SEEN_PAGES,
    Resume,
    ScrollWalk,
    TailRead,
    canonical_keys,
)
from tap_pinterest_ads.dates import UTC, parse_instant
from tap_pinterest_ads.resources import RequestBudget

T0 = dt.datetime(2026, 9, 1, tzinfo=UTC)


def walk(cutoff=None, bookmark=None, budget=None, page_cap=None, **extra) -> ScrollWalk:
    return ScrollWalk(
        sort_value=lambda row: parse_instant(row.get("datefound")),
        cutoff=cutoff,
        bookmark=bookmark,
        budget=budget or RequestBudget(),
        logger=logging.getLogger("test-walk"),
        label="pinterest_ads[t]",
        page_cap=page_cap,
        now=T0,
        **{"page_size": 50, **extra},
    )


_tokens = itertools.count()


def page(ids, hours, scroll: str | None = "next"):
    rows = [
        {"id": i, "datefound": (T0 - dt.timedelta(hours=h)).isoformat() if h is not None else None}
        for i, h in zip(ids, hours, strict=True)
    ]
    # Every cursor the API hands out is new; the walk treats a repeated one as a loop.
    token = f"{scroll}-{next(_tokens)}" if scroll == "next" else scroll
    return {"data": rows, "scroll": token, "total": 100}


def take(w, body):
    return w.take_page(body, body["data"])


def test_a_page_of_known_ids_ends_the_walk_with_a_warning(caplog):
    w = walk()
    assert len(take(w, page([1, 2], [1, 2]))) == 2
    assert w.stop_reason is None
    with caplog.at_level(logging.WARNING):
        assert take(w, page([1, 2], [1, 2])) == []
    assert w.stop_reason == LOOP_GUARD and not w.complete
    assert "loop guard" in caplog.text


def test_reaching_the_cutoff_stops_after_that_page_and_drops_older_rows():
    w = walk(cutoff=T0 - dt.timedelta(hours=10), bookmark=T0 - dt.timedelta(hours=5))
    kept = take(w, page([1, 2, 3, 4], [1, 6, 10, 11]))
    assert [row["id"] for row, _ in kept] == [1, 2, 3]  # inclusive at the cutoff
    assert w.stop_reason == REACHED_BOOKMARK and w.complete
    assert w.new_records == 1  # only the row newer than the bookmark


def test_undated_rows_are_kept_and_counted_but_never_stop_the_walk():
    w = walk(cutoff=T0 - dt.timedelta(hours=10))
    kept = take(w, page([1, 2], [None, 1]))
    assert len(kept) == 2 and w.undated == 1 and w.stop_reason is None


def test_end_of_results_budget_and_cap():
    w = walk()
    take(w, page([1], [1], scroll=None))
    assert w.stop_reason == END_OF_RESULTS and w.complete

    budget = RequestBudget(limit=1, used=1)
    w = walk(budget=budget)
    take(w, page([1], [1]))
    assert w.stop_reason == BUDGET_SPENT and not w.complete

    w = walk(page_cap=2)
    take(w, page([1], [1]))
    take(w, page([2], [2]))
    assert w.stop_reason == PAGE_CAP and w.complete


def test_a_cursor_error_continues_from_the_current_page_by_number():
    w = walk()
    take(w, page([1, 2], [1, 2], scroll="a"))
    take(w, page([3, 4], [3, 4], scroll="b"))
    assert w.restart_after_cursor_error()
    assert w.jump == 2 and w.scroll is None and w.stop_reason is None
    # The page asked for by number starts with a row the walk already has (a new ad shifted it).
    kept = take(w, page([4, 5, 6], [4, 5, 6], scroll="c"))
    assert [row["id"] for row, _ in kept] == [5, 6]
    assert w.stop_reason is None and w.overlap == 1 and w.jump is None
    assert w.restart_after_cursor_error() and w.restart_after_cursor_error()
    assert not w.restart_after_cursor_error(), "bounded: the fourth cursor error is fatal"


def test_an_api_that_ignores_page_is_detected_and_the_walk_replays_without_the_loop_guard(
    caplog,
):
    w = walk()
    take(w, page([1, 2], [1, 2], scroll="a"))
    take(w, page([3, 4], [3, 4], scroll="b"))
    w.restart_after_cursor_error()
    with caplog.at_level(logging.WARNING):
        kept = take(w, page([1, 2], [1, 2], scroll="a2"))  # page=2 answered with page 0
    assert w.page_ignored and "ignored `page=2`" in caplog.text
    assert kept == [] and w.stop_reason is None, "replayed pages are not a loop"
    take(w, page([3, 4], [3, 4], scroll="b2"))
    assert w.stop_reason is None
    kept = take(w, page([5], [5], scroll=None))
    assert [row["id"] for row, _ in kept] == [5] and w.stop_reason == END_OF_RESULTS


def test_future_rows_are_kept_but_never_become_the_newest_instant():
    w = walk()
    body = page([1, 2], [1, 2])
    body["data"][0]["datefound"] = "2099-01-01 00:00:00"
    kept = take(w, body)
    assert [instant for _, instant in kept] == [None, T0 - dt.timedelta(hours=2)]
    assert w.future == 1 and w.newest == T0 - dt.timedelta(hours=2)
    assert "rows dated in the future (kept, not bookmarked)=1" in w.summary()


def test_rows_without_id_are_skipped_counted_and_a_page_of_them_does_not_end_the_walk():
    w = walk()
    body = {"data": [{"id": None}, {"datefound": "2026-08-01"}, {"id": " "}], "scroll": "a"}
    assert take(w, body) == []
    assert w.stop_reason is None and w.idless == 3
    kept = take(w, page([None, 7], [1, 2], scroll="b"))
    assert [row["id"] for row, _ in kept] == [7] and w.idless == 4
    assert "None" not in w.seen


def test_the_same_cursor_twice_is_a_loop():
    w = walk()
    take(w, {"data": [{"id": None}], "scroll": "same"})
    take(w, {"data": [{"id": None}], "scroll": "same"})
    assert w.stop_reason == LOOP_GUARD


def test_undated_rows_stop_at_the_newest_ids_the_last_walk_read():
    w = walk(known_ids=frozenset({"3"}))
    kept = take(w, page([1, 2], [None, None]))
    assert len(kept) == 2 and w.stop_reason is None
    kept = take(w, page([3, 4], [None, None]))
    assert w.stop_reason == REACHED_KNOWN and w.complete
    assert w.head_ids == ("1", "2")


def test_a_checkpoint_resumes_where_the_walk_stopped():
    w = walk(budget=RequestBudget(limit=2))
    w.budget.used = 1
    take(w, page([1, 2], [1, 2], scroll="a"))
    w.budget.used = 2
    take(w, page([3, 4], [3, 4], scroll="b"))
    assert w.stop_reason == BUDGET_SPENT and not w.complete
    saved = Resume.from_state(w.checkpoint().to_state())
    assert saved == Resume(
        page=2,
        last_ids=("3", "4"),
        head_ids=("1", "2"),
        newest=(T0 - dt.timedelta(hours=1)).isoformat(),
    )
    resumed = walk(resume=saved)
    assert resumed.jump == 2 and resumed.newest == T0 - dt.timedelta(hours=1)
    kept = take(resumed, page([5, 6], [5, 6], scroll=None))
    assert [row["id"] for row, _ in kept] == [5, 6] and resumed.complete
    assert resumed.head_ids == ("1", "2"), "the walk's first page stays its stop mark"
    assert Resume.from_state({"page": "x"}) is None


def test_tail_read_keeps_only_unseen_undated_rows_and_knows_when_it_saw_them_all():
    tail = TailRead(
        sort_value=lambda row: parse_instant(row.get("datefound")), pages_allowed=1, seen={"9"}
    )
    body = page([8, 9, 10], [None, None, 5])
    kept = tail.take_page(body, body["data"])
    assert [row["id"] for row, _ in kept] == [8]
    assert tail.saw_every_undated_row
    full = TailRead(sort_value=lambda row: None, pages_allowed=1, seen=set())
    full.take_page({"scroll": "x"}, page([1, 2], [None, None])["data"])
    assert not full.saw_every_undated_row


def test_spellings_of_known_fields_are_renamed():
    rename = canonical_keys(["datefound", "lastseen", "page_name"])
    row = rename({"dateFound": "2026-01-01", "last_seen": "x", "pageName": "p", "odd": 1})
    assert row == {"datefound": "2026-01-01", "lastseen": "x", "page_name": "p", "odd": 1}


@given(
    hours=st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=300),
    cutoff_hours=st.integers(min_value=0, max_value=500),
    size=st.integers(min_value=1, max_value=50),
)
def test_a_descending_walk_emits_exactly_the_rows_since_cutoff_and_pays_no_extra_page(
    hours, cutoff_hours, size
):
    hours = sorted(hours)  # newest first: hours ago ascending
    cutoff = T0 - dt.timedelta(hours=cutoff_hours)
    w = walk(cutoff=cutoff)
    pages = [hours[i : i + size] for i in range(0, len(hours), size)]
    emitted, paid = [], 0
    for n, chunk in enumerate(pages):
        ids = list(range(n * size, n * size + len(chunk)))
        last = n == len(pages) - 1
        emitted += take(w, page(ids, chunk, scroll=None if last else "next"))
        paid += 1
        if w.stop_reason:
            break
    assert len(emitted) == sum(1 for h in hours if h <= cutoff_hours)
    first_older = next((i for i, h in enumerate(hours) if h > cutoff_hours), None)
    assert paid == (len(pages) if first_older is None else first_older // size + 1)
    assert w.complete


def test_progress_counts_pages_from_total_and_page_size(caplog):
    w = walk()
    w.page_size = 40
    body = page([1, 2], [1, 2]) | {"total": 90}
    with caplog.at_level(logging.INFO, logger="test-walk"):
        take(w, body)
    assert "pinterest_ads[t]: page 1 of about 3, 2 records so far" in caplog.text


def test_human_formatted_total_is_read():
    w = walk()
    take(w, page([1], [1]) | {"total": "1,234"})
    assert w.total == 1234


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"total": 90, "total_relation": "eq"}, "total=90;"),
        ({"total": 10_000, "total_relation": "gte"}, "total=10000 (capped)"),
        ({"total": None}, None),
    ],
)
def test_the_summary_gives_the_total_only_when_the_api_did(extra, says):
    w = walk()
    take(w, page([1], [1], scroll=None) | extra)
    line = w.summary() + ";"
    if says is None:
        assert "total=" not in line
    else:
        assert says in line
        assert ("(capped)" in line) == (extra.get("total_relation") == "gte")


def test_a_tail_read_reads_as_many_pages_as_allowed():
    tail = TailRead(sort_value=lambda row: None, pages_allowed=2, seen=set())
    tail.take_page({"scroll": "x"}, page([1], [None])["data"])
    assert tail.stop_reason is None, "one page of two allowed: go on"
    tail.take_page({"scroll": "y"}, page([2], [None])["data"])
    assert tail.stop_reason is not None


def long_walk(pages: int, size: int = 50) -> tuple[ScrollWalk, list[list[int]]]:
    """A walk over `pages` full pages of distinct ids, newest first (id n is n minutes old)."""
    w = walk()
    read = [list(range(n * size, (n + 1) * size)) for n in range(pages)]
    for ids in read:
        take(w, page(ids, [i / 60 for i in ids]))
    return w, read


def test_a_walk_remembers_recent_pages_only_so_its_memory_does_not_grow_with_the_search():
    w, _ = long_walk(SEEN_PAGES * 5)
    assert w.records == SEEN_PAGES * 5 * 50 and w.stop_reason is None
    assert len(w.seen) <= (SEEN_PAGES + 1) * 50
    assert len(w.anchors) == SEEN_PAGES * 5, "one id a page"


def test_rows_pushed_down_within_the_window_are_dropped_and_beyond_it_emitted_again():
    w, read = long_walk(SEEN_PAGES + 5)
    # New ads pushed rows of the page before last down to this one: inside the window.
    pushed = read[-2][:10]
    kept = take(w, page([*pushed, 10_000, 10_001], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]))
    assert [row["id"] for row, _ in kept] == [10_000, 10_001]
    assert w.stop_reason is None
    # A row read more than SEEN_PAGES pages ago: emitted again (the key absorbs it), never lost.
    kept = take(w, page([read[1][5], 10_002], [1, 1]))
    assert [row["id"] for row, _ in kept] == [read[1][5], 10_002]
    assert w.stop_reason is None


def test_a_cursor_that_goes_back_to_a_page_read_long_ago_is_a_loop(caplog):
    w, read = long_walk(SEEN_PAGES + 5)
    with caplog.at_level(logging.WARNING):
        take(w, page(read[2], [i / 60 for i in read[2]]))
    assert w.stop_reason == LOOP_GUARD and not w.complete
    assert "loop guard" in caplog.text
