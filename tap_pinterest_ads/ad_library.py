"""The ad-library family: other advertisers' Pinterest ads from `GET /api/v1/pinterest-ads`.

Each configured search is one state partition. Pages are walked newest first (a descending sort
on the replication key), so an incremental sync stops paying at the first page that reaches
bookmark - lookback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_pinterest_ads.auth import ad_library_auth
from tap_pinterest_ads.client import PinterestHTTPStream, json_body
from tap_pinterest_ads.dates import parse_day, parse_instant, to_iso
from tap_pinterest_ads.pagination import BUDGET_SPENT, ScrollPaginator, ScrollWalk

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.authenticators import APIKeyAuthenticator
    from singer_sdk.helpers.types import Context

    from tap_pinterest_ads.pacing import ApiResources
    from tap_pinterest_ads.settings import Search

AD_LIBRARY_PATH = "/api/v1/pinterest-ads"
PLAN_ERRORS = ("subscription required", "plan or higher required")
SCROLL_ERRORS = ("scroll token",)
DATE_FIELDS = ("started", "product_created")
INSTANT_FIELDS = ("lastseen", "datefound")


class AdLibraryError(FatalAPIError):
    """The API refused in a way no retry can fix; the message says what to do."""


class ScrollTokenError(FatalAPIError):
    """Expired or mismatched cursor: the walk restarts once from the first page."""


def load_schema(stream_name: str) -> dict[str, Any]:
    """From the wheel (`tap_pinterest_ads/schemas`) or, in a source checkout, `schemas/`."""
    packaged = resources.files("tap_pinterest_ads") / "schemas" / f"{stream_name}.json"
    if packaged.is_file():
        return dict(json.loads(packaged.read_text()))
    source = Path(__file__).resolve().parent.parent / "schemas" / f"{stream_name}.json"
    return dict(json.loads(source.read_text()))


class AdLibraryStream(PinterestHTTPStream[str | None]):
    """A walk per search over one descending sort of the ad library."""

    path = AD_LIBRARY_PATH
    is_sorted = False  # descending: the bookmark is promoted only once a search completes
    # shape() already keeps only schema fields; recursing into every nested value cost 40% of
    # a sync's CPU for nothing. Top-level values are still coerced (e.g. PHP-style 0/1 flags).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    sort_field: str
    undated_rows = "emitted without moving the bookmark"  # what happens to rows with no sort key

    def __init__(self, tap: Tap, *, resources: ApiResources, searches: tuple[Search, ...]) -> None:
        self.searches = {search.name: search for search in searches}
        super().__init__(tap, resources=resources, schema=load_schema(self.name))
        self._walk: ScrollWalk | None = None
        self._known_fields = frozenset(self.schema["properties"])
        self._summaries: list[str] = []  # one line per search, logged when the run ends

    @property
    def partitions(self) -> list[dict[str, Any]]:
        return [{"search_name": name} for name in self.searches]

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return ad_library_auth(str(self.config.get("api_key") or ""))

    def get_new_paginator(self) -> ScrollPaginator:
        assert self._walk is not None, "get_records sets the walk before paging"
        return ScrollPaginator(self._walk)

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        assert self._walk is not None, "get_records sets the walk before paging"
        search = self.searches[self._search_name(context)]
        params: dict[str, Any] = {
            **search.filters,
            **self.walk_filters(self._walk),
            "sorting": self.sort_field,
            "sortdirection": "desc",
            "limit": self._walk.page_size,
        }
        if next_page_token:
            params["scroll"] = next_page_token
        return params

    def walk_filters(self, walk: ScrollWalk) -> dict[str, str]:
        """Hook: filters a stream adds to every page of its walk."""
        return {}

    def page_cap(self) -> int | None:
        """Hook: pages per search per run, for a stream that samples on purpose."""
        return None

    @staticmethod
    def _search_name(context: Context | None) -> str:
        assert context is not None, "ad-library streams are partitioned by search"
        return str(context["search_name"])

    def cutoff(self, context: Context | None) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(bookmark, cutoff): rows older than the cutoff are known already or before start_date."""
        bookmark = parse_instant(self.get_context_state(context).get("replication_key_value"))
        start = parse_instant(self.config.get("start_date"))
        lookback = dt.timedelta(days=float(self.config.get("lookback_days", 1)))
        candidates = [c for c in (bookmark - lookback if bookmark else None, start) if c]
        return bookmark, max(candidates) if candidates else None

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        if not self.config.get("api_key"):
            message = f"Invalid setting `api_key`: required to sync {self.name}"
            raise ConfigValidationError(message, errors=[message])
        bookmark, cutoff = self.cutoff(context)
        walk = ScrollWalk(
            sort_value=lambda row: parse_instant(row.get(self.sort_field)),
            cutoff=cutoff,
            bookmark=bookmark,
            budget=self.resources.budget,
            logger=self.logger,
            label=f"{self.name}[{self._search_name(context)}]",
            page_size=int(self.config.get("page_size", 50)),
            page_cap=self.page_cap(),
        )
        self._walk = walk
        attempts_before = self.attempts
        try:
            if self.resources.budget.exhausted:
                walk.stop_reason = BUDGET_SPENT
                return
            try:
                yield from self.request_records(context)
            except ScrollTokenError as rejected:
                if walk.restarts:
                    raise
                self.logger.warning(
                    "%s: %s; restarting this search from the first page", walk.label, rejected
                )
                walk.restart()
                yield from self.request_records(context)
        finally:
            if not walk.complete:
                self.hold_bookmark(context)
            requests_sent = self.attempts - attempts_before
            if walk.undated:
                self.logger.warning(
                    "%s: %d rows had no parseable %s; %s",
                    walk.label,
                    walk.undated,
                    self.sort_field,
                    self.undated_rows,
                )
            summary = f"summary {walk.summary()}; requests={requests_sent}"
            if sys.exc_info()[0] is None:
                self._summaries.append(summary)
            else:  # the run is failing: say now what this search spent
                self.logger.info("%s", summary)

    def log_sync_costs(self) -> None:
        # The SDK calls this once per stream after every stream has synced: the run's last words.
        super().log_sync_costs()
        for line in self._summaries:
            self.logger.info("%s", line)
        if self._summaries:
            self.logger.info(
                "summary %s: %d requests (= credits) this run, %d for the whole ad-library API",
                self.name,
                self.attempts,
                self.resources.budget.used,
            )

    def hold_bookmark(self, context: Context | None) -> None:
        """An unfinished walk saw only the newest rows: promoting their max would skip the rest.

        Dropping the progress marker keeps the previous bookmark, so the next run re-reads.
        """
        markers = self.get_context_state(context).get("progress_markers") or {}
        markers.pop("replication_key", None)
        markers.pop("replication_key_value", None)

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        assert self._walk is not None
        for row, instant in self._walk.take_page(json_body(response)):
            if (record := self.shape(row, instant)) is not None:
                yield record

    def shape(self, row: dict[str, Any], instant: dt.datetime | None) -> dict[str, Any] | None:
        """Raw row -> record: typed dates, string ids; None drops a row the stream cannot key."""
        record = {key: value for key, value in row.items() if key in self._known_fields}
        record["id"] = str(row["id"])
        for key in DATE_FIELDS:
            if key in record:
                day = parse_day(record[key])
                record[key] = day.isoformat() if day else None
        for key in INSTANT_FIELDS:
            if key in record and key != self.sort_field:
                when = parse_instant(record[key])
                record[key] = to_iso(when) if when else None
        record[self.sort_field] = to_iso(instant) if instant else None
        return record

    # The ad library's error bodies: {"success": false, "error": ..., "allowed_values", "hint"}.

    def check_success_body(self, response: requests.Response) -> None:
        body = json_body(response)
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            return
        detail = self.api_message(response) if isinstance(body, dict) else "body is not JSON"
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
        if status == 400 and any(text in message.lower() for text in SCROLL_ERRORS):
            raise ScrollTokenError(f"{where}: {message}")
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
        record["saves"] = row.get("likes", row.get("save_count"))
        record["repins"] = row.get("shares", row.get("repin_count"))
        return record
