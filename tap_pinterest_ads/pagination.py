"""Walking the ad library's `scroll` cursor, and knowing when to stop paying for pages."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator

from tap_pinterest_ads.pacing import RequestBudget

# Why a walk ended; the first two leave the partition complete, the rest do not.
END_OF_RESULTS = "end of results"
REACHED_BOOKMARK = "reached bookmark - lookback"
BUDGET_SPENT = "max_requests_per_run reached"
LOOP_GUARD = "page held no unseen ids (loop guard)"
PAGE_CAP = "page cap per search reached"
# A page cap is a deliberate sample (newest first), so it completes the walk; a spent budget
# or a loop does not: the bookmark then stays where it was.
COMPLETE_REASONS = frozenset({END_OF_RESULTS, REACHED_BOOKMARK, PAGE_CAP})


@dataclass
class ScrollWalk:
    """One search's walk over a descending sort, kept across a restart of its cursor.

    `cutoff`: rows older than it are known already (bookmark - lookback) or unwanted (before
    start_date); the first page that reaches one is the last page paid for.
    """

    sort_value: Callable[[dict[str, Any]], dt.datetime | None]
    cutoff: dt.datetime | None
    bookmark: dt.datetime | None
    budget: RequestBudget
    logger: logging.Logger
    label: str
    page_size: int = 50
    page_cap: int | None = None
    seen: set[str] = field(default_factory=set)
    scroll: str | None = None
    stop_reason: str | None = None
    pages: int = 0
    records: int = 0
    new_records: int = 0
    undated: int = 0
    restarts: int = 0
    total: int | None = None
    total_relation: str | None = None
    nextscrapetime: int | None = None

    @property
    def complete(self) -> bool:
        return self.stop_reason in COMPLETE_REASONS

    def restart(self) -> None:
        """Back to the first page; emitted ids stay in `seen`, so none is emitted twice."""
        self.restarts += 1
        self.scroll = None
        self.stop_reason = None

    def take_page(self, body: dict[str, Any]) -> list[tuple[dict[str, Any], dt.datetime | None]]:
        """Rows of this page worth emitting, with their sort instant; decides whether to go on."""
        rows: list[dict[str, Any]] = body.get("data") or []
        self.pages += 1
        self.total = body.get("total", self.total)
        self.total_relation = body.get("total_relation", self.total_relation)
        self.nextscrapetime = body.get("nextscrapetime", self.nextscrapetime)
        self.scroll = body.get("scroll") or None

        kept: list[tuple[dict[str, Any], dt.datetime | None]] = []
        unseen = 0
        reached_cutoff = False
        for row in rows:
            row_id = str(row.get("id"))
            if row_id in self.seen:
                continue
            self.seen.add(row_id)
            unseen += 1
            instant = self.sort_value(row)
            if instant is None:
                self.undated += 1
            elif self.cutoff is not None and instant < self.cutoff:
                reached_cutoff = True
                continue
            if instant is not None and (self.bookmark is None or instant > self.bookmark):
                self.new_records += 1
            kept.append((row, instant))
        self.records += len(kept)

        if rows and not unseen:
            self.logger.warning("%s: %s; stopping this search", self.label, LOOP_GUARD)
            self.stop_reason = LOOP_GUARD
        elif reached_cutoff:
            self.stop_reason = REACHED_BOOKMARK
        elif not rows or not self.scroll:
            self.stop_reason = END_OF_RESULTS
        elif self.budget.exhausted:
            self.stop_reason = BUDGET_SPENT
        elif self.page_cap is not None and self.pages >= self.page_cap:
            self.stop_reason = PAGE_CAP
        self.log_progress()
        return kept

    def log_progress(self) -> None:
        # `total` is capped at 10000 by the API, so this is "about".
        expected = (
            f" of about {-(-min(self.total, 10_000) // self.page_size)}" if self.total else ""
        )
        self.logger.info(
            "%s: page %d%s (total %s), %d records so far",
            self.label,
            self.pages,
            expected,
            self.total,
            self.records,
        )

    def summary(self) -> str:
        scrape = (
            dt.datetime.fromtimestamp(self.nextscrapetime, dt.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"
            )
            if isinstance(self.nextscrapetime, (int, float))
            else "unknown"
        )
        cap = " (capped)" if self.total_relation == "gte" else ""
        return (
            f"{self.label}: {self.pages} pages, {self.records} records ({self.new_records} new"
            f", {self.undated} without datefound), stopped: {self.stop_reason or 'not started'}"
            f"; total={self.total}{cap}; nextscrapetime={scrape}"
            + (f"; cursor restarts={self.restarts}" if self.restarts else "")
        )


class ScrollPaginator(BaseAPIPaginator[str | None]):
    """Follows `scroll` with every other parameter unchanged, until the walk says stop."""

    def __init__(self, walk: ScrollWalk) -> None:
        super().__init__(walk.scroll)
        self.walk = walk

    def has_more(self, response: requests.Response) -> bool:
        return self.walk.stop_reason is None

    def get_next(self, response: requests.Response) -> str | None:
        return self.walk.scroll
