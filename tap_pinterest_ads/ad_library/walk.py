"""Walking the ad library's `scroll` cursor: when to stop paying for pages, and how to resume.

A walk reads one search newest first. It ends complete at the first page that reaches what the
last sync already has (bookmark - lookback, or for rows without dates the newest ids the last
walk saw), or at the end of results. It ends incomplete when the run's request budget is spent,
a cursor loops, or the run fails; an incomplete walk leaves a `Resume` in its search's state, and
the next run continues from that page (the API's 0-based `page` parameter) instead of paying for
the newest pages again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from singer_sdk.pagination import BaseAPIPaginator

from tap_pinterest_ads.conform import parse_count
from tap_pinterest_ads.dates import UTC, parse_instant, to_iso
from tap_pinterest_ads.resources import RequestBudget

# Why a walk ended; complete ones move the bookmark, the rest keep it and resume next run.
END_OF_RESULTS = "end of results"
REACHED_BOOKMARK = "reached bookmark - lookback"
REACHED_KNOWN = "reached the newest ads the last sync read"
PAGE_CAP = "page cap per search reached"
BUDGET_SPENT = "max_requests_per_run reached; the next run resumes here"
LOOP_GUARD = "page held no unseen ids (loop guard)"
COMPLETE_REASONS = frozenset({END_OF_RESULTS, REACHED_BOOKMARK, REACHED_KNOWN, PAGE_CAP})

# An instant this far past the run's start is an API bug (seen: 2099), not a bookmark.
FUTURE_SKEW = dt.timedelta(days=1)
# Ids a completed walk remembers from its first page: the stop mark for rows without dates.
KNOWN_IDS = 50
# A STATE message every this many pages: a killed run pays for at most this many pages again.
CHECKPOINT_PAGES = 5
MAX_CURSOR_RESTARTS = 3
# A walk remembers the ids of this many recent pages: a row new ads pushed onto a later page
# is dropped as a duplicate; one pushed further (more new ads than this many pages hold while
# the walk reads them) is emitted twice, which the key absorbs. Memory stays flat however
# long the walk.
SEEN_PAGES = 20

Row = dict[str, Any]


class SeenIds(Protocol):
    def __contains__(self, rid: object) -> bool: ...

    def add(self, rid: str) -> None: ...


class RecentIds:
    """The ids read in the current page and the `pages` pages before it."""

    def __init__(self, pages: int = SEEN_PAGES) -> None:
        self.pages = pages
        self.page = 0
        self.last_page: dict[str, int] = {}  # id -> the latest page it was read on
        self.by_page: deque[list[str]] = deque([[]])

    def start_page(self) -> None:
        self.page += 1
        self.by_page.append([])
        if len(self.by_page) > self.pages + 1:
            gone = self.page - self.pages - 1
            for rid in self.by_page.popleft():
                if self.last_page.get(rid) == gone:
                    del self.last_page[rid]

    def __contains__(self, rid: object) -> bool:
        return rid in self.last_page

    def __len__(self) -> int:
        return len(self.last_page)

    def add(self, rid: str) -> None:
        self.last_page[rid] = self.page
        self.by_page[-1].append(rid)


@dataclass(frozen=True)
class Resume:
    """Where an unfinished walk stopped, kept in its search's state."""

    page: int  # 0-based index of the next page to ask for
    last_ids: tuple[str, ...]  # ids of the last page read: they show how far new ads shifted it
    head_ids: tuple[str, ...]  # ids of the walk's first page: a `page` the API ignores echoes them
    newest: str | None  # newest sort value read so far: the bookmark once the walk completes
    query: str = ""  # the filters and sort the page numbers belong to

    def to_state(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "last_ids": list(self.last_ids),
            "head_ids": list(self.head_ids),
            "newest": self.newest,
            "query": self.query,
        }

    @classmethod
    def from_state(cls, raw: object) -> Resume | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("page"), int):
            return None
        ids = {key: tuple(str(i) for i in raw.get(key) or ()) for key in ("last_ids", "head_ids")}
        newest, query = raw.get("newest"), raw.get("query")
        return cls(
            page=max(0, raw["page"]),
            last_ids=ids["last_ids"],
            head_ids=ids["head_ids"],
            newest=newest if isinstance(newest, str) else None,
            query=query if isinstance(query, str) else "",
        )


def row_id(row: Row) -> str | None:
    value = row.get("id")
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


@dataclass
class ScrollWalk:
    """One search's walk over a descending sort, kept across restarts of its cursor.

    `cutoff`: dated rows older than it are known already (bookmark - lookback) or unwanted (before
    start_date); the first page that reaches one is the last page paid for.
    """

    sort_value: Callable[[Row], dt.datetime | None]
    cutoff: dt.datetime | None
    bookmark: dt.datetime | None
    budget: RequestBudget
    logger: logging.Logger
    label: str
    page_size: int
    page_cap: int | None = None
    known_ids: frozenset[str] = frozenset()
    resume: Resume | None = None
    query: str = ""
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))

    seen: RecentIds = field(default_factory=RecentIds)
    # The first id of every page read, with the page it was last read on: one id a page, enough
    # to tell a cursor that went back to a page read long ago from rows new ads pushed down.
    anchors: dict[str, int] = field(default_factory=dict)
    scroll: str | None = None
    stop_reason: str | None = None
    pages: int = 0  # pages read in this run
    records: int = 0
    new_records: int = 0
    undated: int = 0
    future: int = 0
    idless: int = 0
    dated: int = 0
    restarts: int = 0
    overlap: int = 0
    page_ignored: bool = False
    read_to_end: bool = False  # the last page read was the search's last
    total: int | None = None
    total_relation: str | None = None
    nextscrapetime: int | None = None

    def __post_init__(self) -> None:
        self.offset = self.resume.page if self.resume else 0  # next page, in the walk's numbering
        self.jump: int | None = self.offset or None  # ask for `page=N` instead of a cursor
        self.head_ids: tuple[str, ...] = self.resume.head_ids if self.resume else ()
        self.last_ids: tuple[str, ...] = self.resume.last_ids if self.resume else ()
        newest = self.resume.newest if self.resume else None
        self.newest: dt.datetime | None = parse_instant(newest)
        self.replay = 0  # pages of already-read rows to accept after a restart from the top

    @property
    def complete(self) -> bool:
        return self.stop_reason in COMPLETE_REASONS

    @property
    def resumed(self) -> bool:
        return self.resume is not None

    def restart_after_cursor_error(self) -> bool:
        """Continue from the current page by number; False once restarts are used up."""
        if self.restarts >= MAX_CURSOR_RESTARTS:
            return False
        self.restarts += 1
        self.scroll = None
        self.stop_reason = None
        self.jump = self.offset or None
        if self.jump is None:  # the first page failed: plain restart
            self.replay = 0
        return True

    def checkpoint(self) -> Resume:
        return Resume(
            page=self.offset,
            last_ids=self.last_ids,
            head_ids=self.head_ids,
            newest=to_iso(self.newest) if self.newest else None,
            query=self.query,
        )

    def take_page(self, body: Mapping[str, Any], rows: list[Row]) -> list[tuple[Row, Any]]:
        """Rows of this page worth emitting, with their sort instant; decides whether to go on."""
        jumped, self.jump = self.jump, None
        self.pages += 1
        self.seen.start_page()
        self.total = parse_count(body.get("total")) if "total" in body else self.total
        self.total_relation = body.get("total_relation", self.total_relation)
        self.nextscrapetime = parse_count(body.get("nextscrapetime")) or self.nextscrapetime
        previous_scroll, self.scroll = self.scroll, body.get("scroll") or None

        ids = [row_id(row) for row in rows]
        page_ids = tuple(i for i in ids if i is not None)
        if jumped and self.head_ids and self.head_ids[0] in page_ids:
            self._page_parameter_ignored(jumped)
        elif jumped:
            self.overlap = sum(1 for i in page_ids if i in self.last_ids)
            self.logger.info(
                "%s: resumed at page %d (%d rows overlapped the last page read)",
                self.label,
                jumped + 1,
                self.overlap,
            )
        if self.offset == 0:
            self.head_ids = page_ids[:KNOWN_IDS]
        self.offset += 1
        if page_ids:
            self.last_ids = page_ids
        long_ago = self.pages - SEEN_PAGES  # pages before this one are out of `seen`
        anchors = self.anchors

        kept: list[tuple[Row, Any]] = []
        unseen = reached_cutoff = reached_known = went_back = False
        for row, rid in zip(rows, ids, strict=True):
            if rid is None:
                self.idless += 1
                continue
            anchor = anchors.get(rid)
            if anchor is not None:
                # New ads push rows down a page or two, never back up to a page read long ago.
                went_back = went_back or anchor < long_ago
                anchors[rid] = self.pages
            if rid in self.seen:
                self.seen.add(rid)  # still here: keep it while it drifts
                continue
            self.seen.add(rid)
            unseen = True
            instant = self.sort_value(row)
            if instant is not None and instant > self.now + FUTURE_SKEW:
                self.future += 1
                instant = None  # kept as data, never a bookmark or a stop mark
            if instant is None:
                self.undated += 1
                reached_known = reached_known or rid in self.known_ids
            else:
                self.dated += 1
                if self.cutoff is not None and instant < self.cutoff:
                    reached_cutoff = True
                    continue
                if self.newest is None or instant > self.newest:
                    self.newest = instant
                if self.bookmark is None or instant > self.bookmark:
                    self.new_records += 1
            kept.append((row, instant))
        self.records += len(kept)
        if page_ids:
            anchors[page_ids[0]] = self.pages

        self.read_to_end = not rows or not self.scroll
        looped = bool(page_ids) and (not unseen or went_back) and not self.replay
        self.replay = max(0, self.replay - 1)
        if looped or (self.scroll and self.scroll == previous_scroll):
            self.logger.warning("%s: %s; stopping this search", self.label, LOOP_GUARD)
            self.stop_reason = LOOP_GUARD
        elif reached_cutoff:
            self.stop_reason = REACHED_BOOKMARK
        elif reached_known and not self.dated:
            # Only for searches whose rows carry no dates: where dates exist, the cutoff rules
            # (a future-dated row among the known ids must not end the walk at the head).
            self.stop_reason = REACHED_KNOWN
        elif self.read_to_end:
            self.stop_reason = END_OF_RESULTS
        elif self.budget.exhausted:
            self.stop_reason = BUDGET_SPENT
        elif self.page_cap is not None and self.pages >= self.page_cap:
            self.stop_reason = PAGE_CAP
        self.log_progress()
        return kept

    def _page_parameter_ignored(self, asked: int) -> None:
        # The API answered `page=N` with the first page: resuming by number cannot work here.
        self.page_ignored = True
        self.offset = 0
        self.replay = asked  # the pages up to `asked` were read before: not a loop
        self.logger.warning(
            "%s: the API ignored `page=%d` and sent the first page again, so this search cannot "
            "resume where it stopped; it walks again from the newest ads (a walk longer than "
            "max_requests_per_run can then never finish: raise it)",
            self.label,
            asked,
        )

    def log_progress(self) -> None:
        # `total` is capped at 10000 by the API, so this is "about".
        expected = (
            f" of about {-(-min(self.total, 10_000) // self.page_size)}" if self.total else ""
        )
        self.logger.info(
            "%s: page %d%s, %d records so far", self.label, self.offset, expected, self.records
        )

    def summary(self) -> str:
        parts = [
            f"{self.label}: {self.pages} pages, {self.records} records ({self.new_records} new)",
            f"stopped: {self.stop_reason or 'before the first page'}",
        ]
        if self.total is not None:
            parts.append(
                f"total={self.total}" + (" (capped)" if self.total_relation == "gte" else "")
            )
        if isinstance(self.nextscrapetime, int) and self.nextscrapetime > 0:
            when = dt.datetime.fromtimestamp(self.nextscrapetime, UTC)
            parts.append(f"nextscrapetime={when:%Y-%m-%d %H:%M} UTC")
        skipped = {
            "rows without id skipped": self.idless,
            "rows dated in the future (kept, not bookmarked)": self.future,
            "cursor restarts": self.restarts,
        }
        parts += [f"{label}={count}" for label, count in skipped.items() if count]
        return "; ".join(parts)


@dataclass
class TailRead:
    """After an incremental walk: the oldest end of the search, where rows without a parseable
    sort date sort, read for ads the date-bounded walk cannot reach."""

    sort_value: Callable[[Row], dt.datetime | None]
    pages_allowed: int
    seen: SeenIds
    scroll: str | None = None
    pages: int = 0
    records: int = 0
    stop_reason: str | None = None
    reached_dated: bool = False

    def take_page(self, body: Mapping[str, Any], rows: list[Row]) -> list[tuple[Row, Any]]:
        self.pages += 1
        self.scroll = body.get("scroll") or None
        kept: list[tuple[Row, Any]] = []
        for row in rows:
            rid = row_id(row)
            if rid is None or self.sort_value(row) is not None:
                self.reached_dated = self.reached_dated or rid is not None
                continue
            if rid not in self.seen:
                self.seen.add(rid)
                kept.append((row, None))
        self.records += len(kept)
        if self.reached_dated or not rows or not self.scroll:
            self.stop_reason = END_OF_RESULTS
        elif self.pages >= self.pages_allowed:
            self.stop_reason = PAGE_CAP
        return kept

    @property
    def saw_every_undated_row(self) -> bool:
        return self.stop_reason == END_OF_RESULTS


class ScrollPaginator(BaseAPIPaginator[str | None]):
    """Follows `scroll` with every other parameter unchanged, until the walk says stop."""

    def __init__(self, walk: ScrollWalk | TailRead, on_page: Callable[[], None]) -> None:
        super().__init__(walk.scroll)
        self.walk = walk
        self.on_page = on_page

    def advance(self, response: requests.Response) -> None:
        # Called once the page's records are all written: a safe moment for a checkpoint.
        self.on_page()
        super().advance(response)

    def has_more(self, response: requests.Response) -> bool:
        return self.walk.stop_reason is None

    def continue_if_empty(self, response: requests.Response) -> bool:
        # A page whose rows were all skipped (no id) is not the end of the search; `advance`
        # then ends the walk when it is over (the SDK's own stop would log a misleading line).
        return True

    def get_next(self, response: requests.Response) -> str | None:
        return self.walk.scroll


def canonical_keys(known: Iterable[str]) -> Callable[[Row], Row]:
    """Renames `dateFound`, `date_found`, `LastSeen`… to the schema's spelling."""
    by_form = {name.replace("_", "").lower(): name for name in known}
    known_set = frozenset(known)

    def rename(row: Row) -> Row:
        odd = [key for key in row if key not in known_set]
        for key in odd:
            name = by_form.get(key.replace("_", "").lower())
            if name is not None and name not in row:
                row[name] = row.pop(key)
        return row

    return rename
