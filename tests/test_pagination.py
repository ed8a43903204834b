"""The scroll walk's stopping rules, page by page (no HTTP: the walk is pure bookkeeping)."""

from __future__ import annotations

import datetime as dt
import logging

from hypothesis import given
from hypothesis import strategies as st

from tap_pinterest_ads.dates import UTC, parse_instant
from tap_pinterest_ads.pacing import RequestBudget
from tap_pinterest_ads.pagination import (
    BUDGET_SPENT,
    END_OF_RESULTS,
    LOOP_GUARD,
    PAGE_CAP,
    REACHED_BOOKMARK,
    ScrollWalk,
)

T0 = dt.datetime(2026, 9, 1, tzinfo=UTC)


def walk(cutoff=None, bookmark=None, budget=None, page_cap=None) -> ScrollWalk:
    return ScrollWalk(
        sort_value=lambda row: parse_instant(row.get("datefound")),
        cutoff=cutoff,
        bookmark=bookmark,
        budget=budget or RequestBudget(),
        logger=logging.getLogger("test-walk"),
        label="pinterest_ads[t]",
        page_cap=page_cap,
    )


def page(ids, hours, scroll="next"):
    rows = [
        {"id": i, "datefound": (T0 - dt.timedelta(hours=h)).isoformat() if h is not None else None}
        for i, h in zip(ids, hours, strict=True)
    ]
    return {"data": rows, "scroll": scroll, "total": 100}


def test_a_page_of_known_ids_ends_the_walk_with_a_warning(caplog):
    w = walk()
    assert len(w.take_page(page([1, 2], [1, 2]))) == 2
    assert w.stop_reason is None
    with caplog.at_level(logging.WARNING):
        assert w.take_page(page([1, 2], [1, 2])) == []
    assert w.stop_reason == LOOP_GUARD and not w.complete
    assert "loop guard" in caplog.text


def test_reaching_the_cutoff_stops_after_that_page_and_drops_older_rows():
    w = walk(cutoff=T0 - dt.timedelta(hours=10), bookmark=T0 - dt.timedelta(hours=5))
    kept = w.take_page(page([1, 2, 3, 4], [1, 6, 10, 11]))
    assert [row["id"] for row, _ in kept] == [1, 2, 3]  # inclusive at the cutoff
    assert w.stop_reason == REACHED_BOOKMARK and w.complete
    assert w.new_records == 1  # only the row newer than the bookmark


def test_undated_rows_are_kept_and_counted_but_never_stop_the_walk():
    w = walk(cutoff=T0 - dt.timedelta(hours=10))
    kept = w.take_page(page([1, 2], [None, 1]))
    assert len(kept) == 2 and w.undated == 1 and w.stop_reason is None


def test_end_of_results_budget_and_cap():
    w = walk()
    w.take_page(page([1], [1], scroll=None))
    assert w.stop_reason == END_OF_RESULTS and w.complete

    budget = RequestBudget(limit=1, used=1)
    w = walk(budget=budget)
    w.take_page(page([1], [1]))
    assert w.stop_reason == BUDGET_SPENT and not w.complete

    w = walk(page_cap=2)
    w.take_page(page([1], [1]))
    w.take_page(page([2], [2]))
    assert w.stop_reason == PAGE_CAP and w.complete


def test_restart_keeps_seen_ids():
    w = walk()
    w.take_page(page([1, 2], [1, 2]))
    w.restart()
    kept = w.take_page(page([1, 2, 3], [1, 2, 3]))
    assert [row["id"] for row, _ in kept] == [3]
    assert w.restarts == 1 and w.scroll == "next"


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
        emitted += w.take_page(page(ids, chunk, scroll=None if last else "next"))
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
        w.take_page(body)
    assert "pinterest_ads[t]: page 1 of about 3 (total 90), 2 records so far" in caplog.text
