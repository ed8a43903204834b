"""Daily analytics of your own ad accounts (`GET …/analytics` at four levels; days older than
the sync endpoints keep come from async reports) and of the token user's organic content.

Entity ids come from listing every entity of the account in every status, never from the entity
streams' bookmarks: an entity's analytics do not depend on when it was last edited.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.client import PAGE_SIZE
from tap_pinterest_ads.marketing.columns import enums
from tap_pinterest_ads.marketing.metrics import (
    ACCOUNT_FIELDS,
    MAX_IDS,
    SYNC_DAYS_BACK,
    SYNC_WINDOW_DAYS,
    AnalyticsShared,
    AnalyticsStream,
    record_schema,
    windows,
)
from tap_pinterest_ads.marketing.parallel import ReadAhead, ordered
from tap_pinterest_ads.marketing.reports import (
    REPORT_DAYS_BACK,
    REPORT_STREAMS,
    REPORT_WINDOW_DAYS,
    CustomReportStream,
    ReportRunner,
    ReportSpec,
    async_columns,
    report_schemas,
)
from tap_pinterest_ads.marketing.settings import ENTITY_STATUSES, parse_analytics_settings

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_pinterest_ads.marketing.client import V5Family

Read = Callable[[], Iterable[list[dict[str, Any]]]]  # one request's rows (a report's: pages)
WALK_BATCHES = 40  # id batches listed ahead per ad account: 10,000 ids, whatever their number
PAGES_AHEAD = 2  # pages a call read ahead holds at most (a page: a chunk of its answer)


class DailyAnalyticsStream(AnalyticsStream):
    """One level of `GET …/analytics`: at most 250 ids and 90 days a call. Days older than the
    sync endpoints keep come from async reports of the same level. The calls of an ad account
    are read `max_parallel_requests` at a time (parallel.ordered) and their rows emitted in
    the order of the calls: the same records and STATE as one call at a time."""

    entity: str | None = None  # the list whose ids go in `id_param`
    id_param: str | None = None
    id_column: str
    level: str  # the async report level with the same rows

    @property
    def key_fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.id_column, "DATE")

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        batches: Iterator[list[str] | None] = iter([None])
        if self.entity is not None:  # first: its answer dates the span
            batches = self.id_batches(context)
            batches = itertools.chain(list(itertools.islice(batches, 1)), batches)
        start, end = self.span(context, REPORT_DAYS_BACK)
        seam = end - dt.timedelta(days=SYNC_DAYS_BACK)
        reads: list[Read] = []
        if start < seam:
            reads.append(functools.partial(self.history, context, start, seam))
            start = seam
        # Batch after batch as the ids come in (the sync range is one 90-day window).
        sync = list(windows(start, end, SYNC_WINDOW_DAYS))
        calls: Iterator[Read] = itertools.chain(
            reads,
            (
                functools.partial(self.analytics, context, batch, first, last)
                for batch in batches
                for first, last in sync
            ),
        )
        parallel = self.family.settings.max_parallel_requests
        pages: Iterable[list[dict[str, Any]]] = (page for call in calls for page in call())
        if parallel > 1:  # a page at a time through the buffers, not a row at a time
            pages = ordered(self.family.readers, calls, parallel, size=PAGES_AHEAD)
        account = str(context["ad_account_id"])
        for page in pages:
            for row in page:
                yield self.shape(row, account)

    def id_batches(self, context: Context) -> Iterator[list[str] | None]:
        """Every id of the entity in the account in every status, not only those the entity
        streams emit (edited since their bookmark, chosen statuses), MAX_IDS at a time as the
        pages come in: listed ahead for the next ad accounts while this one's are read."""
        if self.family.settings.max_parallel_requests > 1:
            return self.walks.rows(context, self.upcoming())
        return self.list_ids(context)

    @cached_property
    def walks(self) -> ReadAhead:
        self.requests_session  # noqa: B018 (made here, not by two workers at once)
        ahead = self.family.settings.max_parallel_requests
        return ReadAhead(self.family.readers, self.list_ids, ahead, size=WALK_BATCHES)

    def list_ids(self, context: Context) -> Iterator[list[str] | None]:
        account = context["ad_account_id"]
        params: dict[str, Any] = {"page_size": PAGE_SIZE, "entity_statuses": ENTITY_STATUSES}
        batch: list[str] = []
        while True:
            body = self.call(context, f"/ad_accounts/{account}/{self.entity}", params, paced=False)
            batch += [str(item["id"]) for item in body.get("items") or ()]
            while len(batch) >= MAX_IDS:
                yield batch[:MAX_IDS]
                batch = batch[MAX_IDS:]
            if not body.get("bookmark"):
                break
            params = {**params, "bookmark": body["bookmark"]}
        if batch:
            yield batch

    def history(
        self, context: Context, start: dt.date, seam: dt.date
    ) -> Iterator[list[dict[str, Any]]]:
        """Days before `seam`, older than the sync endpoints keep: from async reports, which
        end the day before the sync range starts (no gap, no overlap at the seam). Pages of
        rows as the files stream in."""
        settings = self.shared.settings
        specs = [
            ReportSpec(
                self.level, first, last, "DAY", self.report_columns, (), settings.attribution
            )
            for first, last in windows(start, seam - dt.timedelta(days=1), REPORT_WINDOW_DAYS)
        ]
        page: list[dict[str, Any]] = []
        for key, row in ReportRunner(self, context).rows(specs):
            page.append({self.id_column: key, **row})
            if len(page) == PAGE_SIZE:
                yield page
                page = []
        if page:
            yield page

    def analytics(
        self, context: Context, batch: list[str] | None, first: dt.date, last: dt.date
    ) -> Iterator[list[dict[str, Any]]]:
        """One call: the days first..last of a batch of ids (or of the account), its rows a
        chunk of the answer at a time (`call_pages`)."""
        account = str(context["ad_account_id"])
        params = {
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "granularity": "DAY",
            "columns": ",".join(self.columns),
            **self.shared.settings.attribution.query(),
        }
        if self.id_param is not None and batch is not None:
            params[self.id_param] = ",".join(batch)
        yield from self.call_pages(context, self.path.format(ad_account_id=account), params)

    @property
    def report_columns(self) -> tuple[str, ...]:
        return async_columns(self.columns)


class AdAccountAnalyticsStream(DailyAnalyticsStream):
    name = "ad_account_analytics"
    path = "/ad_accounts/{ad_account_id}/analytics"
    id_column = "AD_ACCOUNT_ID"
    level = "ADVERTISER"


class CampaignAnalyticsStream(DailyAnalyticsStream):
    name = "campaign_analytics"
    path = "/ad_accounts/{ad_account_id}/campaigns/analytics"
    entity = "campaigns"
    id_param = "campaign_ids"
    id_column = "CAMPAIGN_ID"
    level = "CAMPAIGN"


class AdGroupAnalyticsStream(DailyAnalyticsStream):
    name = "ad_group_analytics"
    path = "/ad_accounts/{ad_account_id}/ad_groups/analytics"
    entity = "ad_groups"
    id_param = "ad_group_ids"
    id_column = "AD_GROUP_ID"
    level = "AD_GROUP"


class AdAnalyticsStream(DailyAnalyticsStream):
    name = "ad_analytics"
    path = "/ad_accounts/{ad_account_id}/ads/analytics"
    entity = "ads"
    id_param = "ad_ids"
    id_column = "AD_ID"
    level = "PIN_PROMOTION"


class UserAccountAnalyticsStream(AnalyticsStream):
    """The token user's organic analytics (`GET /user_account/analytics`): 90 days back at
    most, no reports. One row a day, keyed by the user account's id and DATE."""

    name = "user_account_analytics"
    path = "/user_account/analytics"
    key_fields = ("USER_ACCOUNT_ID", "DATE")
    extras = {"DATA_STATUS": {"type": ["string", "null"]}}
    state_partitioning_keys: list[str] = []

    @property
    def columns(self) -> tuple[str, ...]:
        return enums()["organic_metric_types"]

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return None

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        user = self.call(context, "/user_account", {}, paced=False)  # also dates the span
        user_id = str(user.get("id") or user.get("username"))
        start, end = self.span(context, SYNC_DAYS_BACK)
        for first, last in windows(start, end, SYNC_WINDOW_DAYS):
            params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
            body = self.call(context, self.path, params, paced=False) or {}
            for split in body.values():  # "all" without a split_field
                for day in split.get("daily_metrics") or ():
                    row = {
                        **(day.get("metrics") or {}),
                        "USER_ACCOUNT_ID": user_id,
                        "DATE": day.get("date"),
                        "DATA_STATUS": day.get("data_status"),
                    }
                    yield self.shape(row, None)


DAILY_STREAMS: tuple[type[AnalyticsStream], ...] = (
    AdAccountAnalyticsStream,
    CampaignAnalyticsStream,
    AdGroupAnalyticsStream,
    AdAnalyticsStream,
    UserAccountAnalyticsStream,
)


def analytics_streams(tap: Tap, family: V5Family) -> list[AnalyticsStream]:
    """The analytics and report streams, settings checked here: before any request."""
    settings = parse_analytics_settings(tap.config)
    shared = AnalyticsShared(family, settings)
    built = [
        stream(tap, family=family, shared=shared) for stream in (*DAILY_STREAMS, *REPORT_STREAMS)
    ]
    return built + [
        CustomReportStream(tap, family=family, shared=shared, report=report)
        for report in settings.custom_reports
    ]


def schema_files() -> dict[str, dict[str, Any]]:
    """`schemas/<stream>.json` of the built-in streams: every column `analytics_columns` may
    name (a run narrows each to the configured ones)."""
    columns = enums()["sync_columns"]
    files = {
        name: record_schema((stream.id_column, "DATE"), ACCOUNT_FIELDS, columns)
        for name, stream in (
            ("ad_account_analytics", AdAccountAnalyticsStream),
            ("campaign_analytics", CampaignAnalyticsStream),
            ("ad_group_analytics", AdGroupAnalyticsStream),
            ("ad_analytics", AdAnalyticsStream),
        )
    }
    files["user_account_analytics"] = record_schema(
        UserAccountAnalyticsStream.key_fields,
        UserAccountAnalyticsStream.extras,
        enums()["organic_metric_types"],
    )
    return {**files, **report_schemas(columns)}


def main(argv: list[str]) -> None:
    """python -m tap_pinterest_ads.marketing.analytics [schemas/]: rewrite the schema files
    (after `columns.py` read a new spec)."""
    target = Path(argv[0] if argv else "schemas")
    for name, schema in schema_files().items():
        (target / f"{name}.json").write_text(json.dumps(schema, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
