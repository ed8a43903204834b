"""The ad-library family: other advertisers' Pinterest ads from `GET /api/v1/pinterest-ads`.

Each configured search is one state partition. Pages are walked newest first (a descending sort
on the replication key), so an incremental sync stops paying at the first page that reaches
bookmark - lookback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sys
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from singer_sdk import metrics
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_pinterest_ads.ad_library.auth import ad_library_auth
from tap_pinterest_ads.ad_library.walk import (
    BUDGET_SPENT,
    CHECKPOINT_PAGES,
    FUTURE_SKEW,
    LOOP_GUARD,
    REACHED_BOOKMARK,
    REACHED_KNOWN,
    Resume,
    ScrollPaginator,
    ScrollWalk,
    TailRead,
    canonical_keys,
)
from tap_pinterest_ads.client import PinterestHTTPStream, json_body
from tap_pinterest_ads.conform import Losses, SelfConformed, converter
from tap_pinterest_ads.dates import UTC, parse_instant, to_iso
from tap_pinterest_ads.marketing.settings import configured as v5_configured
from tap_pinterest_ads.schema_files import load_schema

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.authenticators import APIKeyAuthenticator
    from singer_sdk.helpers.types import Context

    from tap_pinterest_ads.ad_library.searches import Search
    from tap_pinterest_ads.resources import ApiResources

AD_LIBRARY_PATH = "/api/v1/pinterest-ads"
PLAN_ERRORS = ("subscription required", "plan or higher required")
SCROLL_ERRORS = ("scroll token",)
DEFAULT_PAGE_SIZE = 50  # the API's maximum `limit`; a credit buys a page whatever its size
KEY_ERRORS = ("api key", "api_key", "apikey", "x-api-key")  # a 400 about the key, not the filters


class AdLibraryError(FatalAPIError):
    """The API refused in a way no retry can fix; the message says what to do."""


class ScrollTokenError(FatalAPIError):
    """Expired or mismatched cursor: the walk continues from its page by number."""


class AdLibraryStream(SelfConformed, PinterestHTTPStream[str | None]):
    """A walk per search over one descending sort of the ad library."""

    path = AD_LIBRARY_PATH
    # Bookmarks are written by the walk (see `settle`), not record by record: a descending walk
    # may only move its bookmark once it is complete, and never to a date in the future.
    is_sorted = False
    sort_field: str
    resumable = False  # an unfinished walk continues next run from its page
    undated_rows = "emitted without moving the bookmark"  # what happens to rows with no sort key

    def __init__(self, tap: Tap, *, resources: ApiResources, searches: tuple[Search, ...]) -> None:
        self.searches = {search.name: search for search in searches}
        super().__init__(tap, resources=resources, schema=load_schema(self.name))
        self._walk: ScrollWalk | TailRead | None = None
        self._known_fields = frozenset(self.schema["properties"])
        self._canonical = canonical_keys(self._known_fields)
        self._nulled = Losses()
        # One converter for the whole row: the fields it knows, each to its schema type.
        self._conform = converter(
            {
                "type": "object",
                "properties": {
                    name: spec
                    for name, spec in self.schema["properties"].items()
                    if name not in {"id", self.sort_field, "extra_fields"}
                },
                "additionalProperties": False,
            },
            self._nulled,
        )
        self._summaries: list[str] = []  # one line per search, logged when the run ends

    @property
    def partitions(self) -> list[dict[str, Any]]:
        contexts = [{"search_name": name} for name in self.searches]
        # Searches least recently completed go first: with a small max_requests_per_run, the
        # searches already caught up would otherwise spend the budget every run, and a long
        # walk behind them would never finish.
        return sorted(contexts, key=lambda c: self.get_context_state(c).get("completed_at", ""))

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return ad_library_auth(str(self.config.get("api_key") or ""))

    def get_new_paginator(self) -> ScrollPaginator:
        assert self._walk is not None, "get_records sets the walk before paging"
        return ScrollPaginator(self._walk, on_page=self._on_page)

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        walk = self._walk
        assert walk is not None, "get_records sets the walk before paging"
        search = self.searches[self._search_name(context)]
        params: dict[str, Any] = {
            **search.filters,
            "sorting": self.sort_field,
            "sortdirection": "asc" if isinstance(walk, TailRead) else "desc",
            "limit": self.page_size,
        }
        if isinstance(walk, ScrollWalk):
            params.update(self.walk_filters(walk))
            if walk.jump is not None:
                params["page"] = walk.jump
        if next_page_token:
            params["scroll"] = next_page_token
        return params

    def walk_filters(self, walk: ScrollWalk) -> dict[str, str]:
        """Hook: filters a stream adds to every page of its walk."""
        return {}

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size", DEFAULT_PAGE_SIZE))

    def page_cap(self) -> int | None:
        """Hook: pages per search per run, for a stream that samples on purpose."""
        return None

    def tail_pages(self) -> int:
        """Hook: pages of the oldest end read after an incremental walk (rows without dates)."""
        return 0

    def sort_value(self, row: dict[str, Any]) -> dt.datetime | None:
        return parse_instant(row.get(self.sort_field))

    @staticmethod
    def _search_name(context: Context | None) -> str:
        assert context is not None, "ad-library streams are partitioned by search"
        return str(context["search_name"])

    def _increment_stream_state(
        self, latest_record: Any, *, context: Context | None = None
    ) -> None:
        # The SDK would move the bookmark record by record; `settle` does it per completed walk.
        return

    def read_bookmark(self, context: Context | None, label: str) -> dt.datetime | None:
        state = self.get_context_state(context)
        bookmark = parse_instant(state.get("replication_key_value"))
        if bookmark is not None and bookmark > dt.datetime.now(UTC) + FUTURE_SKEW:
            self.logger.warning(
                "%s: the saved bookmark %s is in the future; ignoring it, so this search is "
                "read as on a first sync (start_date applies)",
                label,
                to_iso(bookmark),
            )
            return None
        return bookmark

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        if not self.config.get("api_key"):
            if v5_configured(self.config):
                return  # a v5-only config: the tap says once that this family sits out
            message = f"Invalid setting `api_key`: required to sync {self.name}"
            raise ConfigValidationError(message, errors=[message])
        label = f"{self.name}[{self._search_name(context)}]"
        start = parse_instant(self.config.get("start_date"))
        walk = self.new_walk(context, label, start, self.saved_resume(context, label))
        self._context = context
        attempts_before, nulled_before = self.attempts, self._nulled.count
        tail: TailRead | None = None
        try:
            if self.resources.budget.exhausted:
                walk.stop_reason = BUDGET_SPENT
                return
            yield from self.walk_pages(context, walk)
            if walk.resumed and walk.complete:
                # The pages a resumed walk read were pushed down by the ads found since it
                # began: those are at the head now. Read them down to the walk's bookmark.
                self.settle(context, walk)
                self.logger.info(
                    "%s: resumed walk complete (%s); reading the ads found since it began",
                    label,
                    walk.summary(),
                )
                walk = self.new_walk(context, label, start, None)
                yield from self.walk_pages(context, walk)
            tail = self.read_tail(context, walk)
            if tail is not None:
                yield from self.request_records(context)
        finally:
            self._walk = walk
            self.settle(context, walk)
            line = self.summarise(walk, tail, start)
            line += f"; requests={self.attempts - attempts_before}"
            if nulled := self._nulled.count - nulled_before:
                line += f"; values not readable as their type, set to null={nulled}"
            if sys.exc_info()[0] is None:
                self._summaries.append(line)
            else:  # the run is failing: say now what this search spent
                self.logger.info("summary %s", line)

    def new_walk(
        self, context: Context | None, label: str, start: dt.datetime | None, resume: Resume | None
    ) -> ScrollWalk:
        state = self.get_context_state(context)
        bookmark = self.read_bookmark(context, label)
        lookback = dt.timedelta(days=float(self.config.get("lookback_days", 1)))
        candidates = [c for c in (bookmark - lookback if bookmark else None, start) if c]
        # The newest ids the last walk read are the stop mark of a search whose rows carry no
        # dates. Once it has a bookmark, the cutoff is: a block of undated rows at the head
        # holding those ids must not end the walk above the new dated ones.
        known = () if state.get("replication_key_value") else state.get("known_ids") or ()
        self._walk = ScrollWalk(
            sort_value=self.sort_value,
            cutoff=max(candidates) if candidates else None,
            bookmark=bookmark,
            budget=self.resources.budget,
            logger=self.logger,
            label=label,
            page_size=self.page_size,
            page_cap=self.page_cap(),
            known_ids=frozenset(str(i) for i in known),
            resume=resume,
            query=self.query_key(context),
        )
        return self._walk

    def walk_pages(self, context: Context | None, walk: ScrollWalk) -> Iterable[dict[str, Any]]:
        while True:
            try:
                yield from self.request_records(context)
                return
            except ScrollTokenError as rejected:
                if not walk.restart_after_cursor_error():
                    raise
                self.logger.warning(
                    "%s: %s; continuing this search from page %d",
                    walk.label,
                    rejected,
                    walk.offset + 1,
                )

    def query_key(self, context: Context | None) -> str:
        """What a resume page number is relative to: the search's filters and sort."""
        search = self.searches[self._search_name(context)]
        text = json.dumps([self.sort_field, sorted(search.filters.items())])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def saved_resume(self, context: Context | None, label: str) -> Resume | None:
        resume = Resume.from_state(self.get_context_state(context).get("resume"))
        if not self.resumable or resume is None:
            return None
        if resume.query != self.query_key(context):
            self.logger.warning(
                "%s: the search's filters changed since its walk stopped at page %d; "
                "walking again from the newest ads",
                label,
                resume.page + 1,
            )
            return None
        return resume

    def read_tail(self, context: Context | None, walk: ScrollWalk) -> TailRead | None:
        """Undated rows sort at one end of the search; when the walk stopped before the end,
        read the other end too, so new undated ads are not lost (credits: `tail_pages()`)."""
        pages = self.tail_pages()
        if (
            not pages
            or walk.read_to_end
            or walk.stop_reason not in {REACHED_BOOKMARK, REACHED_KNOWN}
        ):
            return None  # off, or the walk saw the oldest end itself
        if self.resources.budget.exhausted:
            return None
        tail = TailRead(
            sort_value=self.sort_value,
            pages_allowed=pages,
            seen=walk.seen,
        )
        self._walk = tail
        return tail

    def _on_page(self) -> None:
        walk = self._walk
        if isinstance(walk, ScrollWalk) and walk.pages % CHECKPOINT_PAGES == 0:
            self.write_checkpoint(self._context, walk)

    def write_checkpoint(self, context: Context | None, walk: ScrollWalk) -> None:
        if self.resumable and walk.stop_reason is None:
            self.get_context_state(context)["resume"] = walk.checkpoint().to_state()
            self.flush_state()

    def flush_state(self) -> None:
        # The SDK writes STATE only every 10,000 records and at the end: too late for a run
        # that dies mid-way after paying for pages.
        self.state_manager.is_flushed = False
        self._write_state_message()

    def settle(self, context: Context | None, walk: ScrollWalk) -> None:
        """A complete walk moves the bookmark to the newest (non-future) row it read; an
        unfinished one keeps the old bookmark and, where it can, where to resume."""
        state = self.get_context_state(context)
        if walk.complete:
            if walk.newest is not None:
                # walk.bookmark is the saved one, None when it was in the future.
                old = walk.bookmark
                newest = max(walk.newest, old) if old else walk.newest
                state["replication_key"] = self.replication_key
                state["replication_key_value"] = to_iso(newest)
            if walk.head_ids:
                state["known_ids"] = list(walk.head_ids)
            state["completed_at"] = to_iso(walk.now)
            state.pop("resume", None)
        elif self.resumable and walk.offset and walk.stop_reason != LOOP_GUARD:
            state["resume"] = walk.checkpoint().to_state()
        else:
            state.pop("resume", None)
        self.flush_state()

    def summarise(self, walk: ScrollWalk, tail: TailRead | None, start: dt.datetime | None) -> str:
        line = walk.summary()
        if walk.undated:
            line += (
                f"; rows without a parseable {self.sort_field}={walk.undated} ({self.undated_rows})"
            )
        if tail is not None:
            line += f"; undated tail: {tail.records} read in {tail.pages} pages"
            if tail.saw_every_undated_row:
                line += "; undated ads this run could not have seen=0"
            else:
                line += "; undated ads this run could not have seen=unknown"
                self.logger.warning(
                    "%s: the oldest end of this search holds more than %d page(s) of ads without "
                    "a parseable %s; new ones among them may be missed: raise "
                    "`undated_tail_pages`",
                    walk.label,
                    tail.pages_allowed,
                    self.sort_field,
                )
        elif (
            self.resumable
            and not walk.read_to_end
            and walk.stop_reason in {REACHED_BOOKMARK, REACHED_KNOWN}
        ):
            why = "undated_tail_pages=0" if not self.tail_pages() else "budget spent"
            line += f"; undated ads this run could not have seen=unknown (no tail read: {why})"
        if walk.complete and not walk.dated and walk.records and start is not None:
            line += f"; start_date not applied: rows carry no {self.sort_field}"
        return line

    def log_sync_costs(self) -> None:
        # The SDK calls this once per stream after every stream has synced: the run's last words.
        super().log_sync_costs()
        for line in self._summaries:
            self.logger.info("summary %s", line)
        if self._summaries:
            self.logger.info(
                "summary %s: %d requests (= credits) this run, %d for the whole ad-library API",
                self.name,
                self.attempts,
                self.resources.budget.used,
            )

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        walk = self._walk
        assert walk is not None
        body = json_body(response)
        rows = [self._canonical(row) for row in body.get("data") or () if isinstance(row, dict)]
        for row, instant in walk.take_page(body, rows):
            if (record := self.shape(row, instant)) is not None:
                yield record

    def shape(self, row: dict[str, Any], instant: dt.datetime | None) -> dict[str, Any] | None:
        """Raw row -> record of the schema's types; None drops a row the stream cannot key."""
        record: dict[str, Any] = self._conform(row)
        record["id"] = str(row["id"]).strip()
        record[self.sort_field] = to_iso(instant) if instant else None
        return record

    # The ad library's error bodies: {"success": false, "error": ..., "allowed_values", "hint"}.

    def check_success_body(self, response: requests.Response) -> None:
        body = json_body(response)
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            return
        detail = self.api_message(response) if isinstance(body, dict) else "body is not JSON"
        if self.is_scroll_error(detail):  # seen: a 200 whose body is the cursor error
            raise ScrollTokenError(f"{response.status_code} from {self.path}: {detail}")
        upgrade = body.get("upgrade") if isinstance(body, dict) else None
        raise AdLibraryError(
            f"{response.status_code} from {self.path} without `data`: {detail}"
            + (
                f" (upgrade needed: {upgrade}). Your plan does not include Pinterest ads; "
                "upgrade it, then rerun."
                if upgrade
                else ". The response is not an ad page; rerun later, or report it if it persists."
            )
        )

    @staticmethod
    def is_scroll_error(message: str) -> bool:
        return any(text in message.lower() for text in SCROLL_ERRORS)

    def classify_error(self, response: requests.Response, *, retriable: bool) -> None:
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        status, message = response.status_code, self.api_message(response)
        where = f"{status} from {self.path}"
        if status == 401:
            raise AdLibraryError(
                f"{where}: {message}. The `api_key` setting was refused: check it (keys are "
                "made at https://app.winninghunter.com/api; regenerating one kills the old one)."
            )
        if status == 403 or any(text in message.lower() for text in PLAN_ERRORS):
            raise AdLibraryError(
                f"{where}: {message}. Your WinningHunter plan does not include the Pinterest ads "
                "API; upgrade the plan of the account that owns `api_key`, then rerun."
            )
        if status == 429 and isinstance(body.get("credits"), dict):
            balance = body["credits"]
            purchase = (body.get("purchase") or {}).get("url", "https://app.winninghunter.com/api")
            raise AdLibraryError(
                f"{where}: {message}. Monthly API credits are spent (used {balance.get('used')} "
                f"of {balance.get('limit')}, {balance.get('total_remaining', 0)} left). Buy "
                f"credits at {purchase} or wait for the monthly reset; lower "
                "`max_requests_per_run` to spread them."
            )
        if 400 <= status < 500 and self.is_scroll_error(message):  # 400, or 422 elsewhere
            raise ScrollTokenError(f"{where}: {message}")
        if status == 400 and any(text in message.lower() for text in KEY_ERRORS):
            raise AdLibraryError(
                f"{where}: {message}. The request's key was refused: check the `api_key` setting."
            )
        if status == 400:
            allowed = body.get("allowed_values")
            hint = body.get("hint")
            raise AdLibraryError(
                f"{where}: {message}"
                + (f"; allowed values: {', '.join(map(str, allowed))}" if allowed else "")
                + (f"; hint: {hint}" if hint else "")
                + ". Fix the search filters in `searches`."
            )


class PinterestAdsStream(AdLibraryStream):
    """One record per ad (key `id`), incremental on `datefound`."""

    name = "pinterest_ads"
    primary_keys = ("id",)
    replication_key = "datefound"
    sort_field = "datefound"
    resumable = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.matches: list[tuple[str, str | None]] = []  # (id, datefound) of the current page

    def tail_pages(self) -> int:
        return int(self.config.get("undated_tail_pages", 1))

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        self.matches = []
        records = list(super().parse_response(response))
        self.matches = [(record["id"], record["datefound"]) for record in records]
        yield from records

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        # One child sync per page, after its last record: search_matches reads `self.matches`.
        if self.matches and record["id"] == self.matches[-1][0]:
            yield {"search_name": self._search_name(context)}

    def shape(self, row: dict[str, Any], instant: dt.datetime | None) -> dict[str, Any]:
        record = super().shape(row, instant)
        assert record is not None
        # Nothing the API sends is dropped: fields this schema does not know yet land here.
        extras = {key: value for key, value in row.items() if key not in self._known_fields}
        record["extra_fields"] = extras or None
        raw = row.get("datefound")
        record["datefound_raw"] = None if raw is None else str(raw)
        return record


class PinterestAdSnapshotsStream(AdLibraryStream):
    """Append-only engagement history: one row per ad per day the library saw it.

    A bounded refresh of recently seen ads (`sorting=lastseen`, `fromlastseen`), newest first and
    at most `snapshot_pages_per_search` pages per search per run, so its cost is fixed and known.
    """

    name = "pinterest_ad_snapshots"
    primary_keys = ("id", "snapshot_date")
    replication_key = "lastseen"
    sort_field = "lastseen"
    selected_by_default = False  # it spends credits of its own: opt in
    undated_rows = "skipped: without a lastseen day a snapshot has no key"

    def page_cap(self) -> int | None:
        return int(self.config.get("snapshot_pages_per_search", 2))

    def walk_filters(self, walk: ScrollWalk) -> dict[str, str]:
        # Let the API drop ads not seen since the cutoff day (inclusive) before they cost a page.
        return {"fromlastseen": walk.cutoff.date().isoformat()} if walk.cutoff else {}

    def shape(self, row: dict[str, Any], instant: dt.datetime | None) -> dict[str, Any] | None:
        if instant is None:
            return None  # no lastseen, no snapshot date: the row cannot be keyed
        record = super().shape(row, instant)
        assert record is not None
        record["snapshot_date"] = instant.date().isoformat()
        record["saves"] = record.get("likes", record.get("save_count"))
        record["repins"] = record.get("shares", record.get("repin_count"))
        return record


_QUIET_METRICS = logging.getLogger("tap_pinterest_ads.quiet_metrics")
_QUIET_METRICS.setLevel(logging.WARNING)
Meter = TypeVar("Meter", bound=metrics.Meter)


def _quiet(meter: Meter) -> Meter:
    meter.logger = _QUIET_METRICS
    return meter


class PinterestAdSearchMatchesStream(SelfConformed):
    """Which searches matched an ad, from the pages pinterest_ads already read: no credits.

    pinterest_ads keeps one row per ad, and a later search overwrites `search_name`; this
    stream keeps every (search, ad) pair, written page by page before the page's checkpoint.
    """

    name = "pinterest_ad_search_matches"
    parent_stream_type = PinterestAdsStream
    primary_keys = ("search_name", "id")
    state_partitioning_keys: list[str] = []  # no bookmark: written a page at a time

    def __init__(self, tap: Tap, *, source: PinterestAdsStream) -> None:
        super().__init__(tap, schema=load_schema(self.name))
        self.source = source
        self._schema_written = False
        self.run_started = to_iso(dt.datetime.now(UTC))
        # One child sync per page would otherwise log its start every page.
        self.logger.setLevel(logging.WARNING)

    # A child sync per page would log two METRIC lines per page; pinterest_ads' own counts
    # already tell the run's story.
    def get_record_counter(self, **kwargs: Any) -> metrics.Counter:
        return _quiet(super().get_record_counter(**kwargs))

    def get_sync_timer(self) -> metrics.Timer:
        return _quiet(super().get_sync_timer())

    def _write_schema_message(self) -> None:
        # The SDK writes a child's SCHEMA at each of its syncs, here one per page: once is
        # enough (each costs a copy of the schema, and targets may flush their batches on it).
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        for ad_id, found in self.source.matches:
            yield {
                "search_name": context["search_name"],
                "id": ad_id,
                "datefound": found,
                "last_matched_at": self.run_started,
            }
