"""Daily analytics of your own ad accounts (`GET …/analytics` at four levels; days older than
the sync endpoints keep come from async reports) and of the token user's organic content.

Entity ids come from listing every entity of the account in every status, never from the entity
streams' bookmarks: an entity's analytics do not depend on when it was last edited.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.columns import enums
from tap_pinterest_ads.marketing.metrics import (
    ACCOUNT_FIELDS,
    MAX_IDS,
    SYNC_DAYS_BACK,
    SYNC_WINDOW_DAYS,
    AnalyticsShared,
    AnalyticsStream,
    chunks,
    record_schema,
    windows,
)
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
from tap_pinterest_ads.marketing.settings import parse_analytics_settings

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_pinterest_ads.marketing.client import V5Family


class DailyAnalyticsStream(AnalyticsStream):
    """One level of `GET …/analytics`: at most 250 ids and 90 days a call. Days older than the
    sync endpoints keep come from async reports of the same level, which end the day before
    the sync range starts: no gap and no overlap at the seam."""

    entity: str | None = None  # the list whose ids go in `id_param`
    id_param: str | None = None
    id_column: str
    level: str  # the async report level with the same rows

    @property
    def key_fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.id_column, "DATE")

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        account = str(context["ad_account_id"])
        ids: Sequence[str | None] = [None]
        if self.entity is not None:  # first: its answer dates the span
            ids = self.shared.entity_ids(self, context, self.entity)
        start, end = self.span(context, REPORT_DAYS_BACK)
        seam = end - dt.timedelta(days=SYNC_DAYS_BACK)
        if start < seam:
            settings = self.shared.settings
            specs = [
                ReportSpec(
                    self.level, first, last, "DAY", self.report_columns, (), settings.attribution
                )
                for first, last in windows(start, seam - dt.timedelta(days=1), REPORT_WINDOW_DAYS)
            ]
            for key, row in ReportRunner(self, context).rows(specs):
                yield self.shape({self.id_column: key, **row}, account)
            start = seam
        path = self.path.format(ad_account_id=account)
        for first, last in windows(start, end, SYNC_WINDOW_DAYS):
            for batch in chunks(ids, MAX_IDS):  # type: ignore[arg-type]
                params = {
                    "start_date": first.isoformat(),
                    "end_date": last.isoformat(),
                    "granularity": "DAY",
                    "columns": ",".join(self.columns),
                    **self.shared.settings.attribution.query(),
                }
                if self.id_param is not None:
                    params[self.id_param] = ",".join(str(i) for i in batch)
                for row in self.call(context, path, params) or ():
                    yield self.shape(row, account)

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
