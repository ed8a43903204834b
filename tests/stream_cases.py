"""What the warehouse tests need to know about each stream; a new stream is one more entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.marketing.metrics import SYNC_DAYS_BACK
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.data import DEFAULT_START, AdUniverse
from tap_pinterest_ads.sandbox.v5 import analytics as sandbox_analytics
from tap_pinterest_ads.sandbox.v5 import metrics as sandbox_metrics
from tap_pinterest_ads.sandbox.v5 import reports as sandbox_reports
from tap_pinterest_ads.sandbox.v5.auth import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN
from tap_pinterest_ads.sandbox.v5.data import Size, V5Universe
from tap_pinterest_ads.tap import SETTINGS

EXTRACTOR = "tap-pinterest-ads"
# A small universe keeps each `meltano run` to a few seconds; the rate limits are not under test.
SANDBOX_OPTIONS: dict[str, Any] = {
    "seed": 7,
    "ads": 300,
    "rate_limit": 100_000,
    "v5_rate_limit": 100_000,
}
LOOKBACK_DAYS = 1
PAGE_SIZE = 50


def fresh_sandbox() -> SandboxProcess:
    """Same options, same data: two sandboxes at the same clock serve identical rows."""
    return SandboxProcess(**SANDBOX_OPTIONS)


def descending_walk_pages(
    instants: Sequence[dt.datetime | None], cutoff: dt.datetime, page_size: int
) -> int:
    """Pages a newest-first walk pays for: up to the first page holding a row older than cutoff.

    `instants` are the replication-key values of every row the API serves (None sorts oldest).
    """
    fresh = sum(1 for instant in instants if instant is not None and instant >= cutoff)
    if fresh == len(instants):
        return -(-fresh // page_size)
    return fresh // page_size + 1


def incremental_pages(
    instants: Sequence[dt.datetime | None], cutoff: dt.datetime, page_size: int, tail_pages: int
) -> int:
    """The walk's pages, plus the undated tail when the walk stopped before the last page."""
    walk = descending_walk_pages(instants, cutoff, page_size)
    last_page = -(-len(instants) // page_size)
    return walk + (tail_pages if walk < last_page else 0)


@dataclass(frozen=True)
class StreamCase:
    stream: str
    key: tuple[str, ...]
    replication_key: str
    # The keys (tuples) a complete sync must load, asked from the sandbox (API filters as
    # keywords).
    truth: Callable[..., list[tuple[Any, ...]]]
    api_path: str
    # information_schema `data_type` target-postgres 0.8.1 must produce for these columns.
    postgres_types: Mapping[str, str]
    # A counter that only grows as the sandbox clock advances.
    growing: str
    # Column -> type MeltanoLabs target-snowflake 0.20.4 creates (fakesnow's information_schema
    # names: TEXT, NUMBER, FLOAT, VARIANT, ...), with our meltano.yml settings.
    snowflake_types: Mapping[str, str] = field(default_factory=dict)
    # typed timestamp column -> column holding the same instant as the API sent it, for the
    # rows where that is naive `Y-m-d H:i:s` UTC text.
    raw_timestamps: Mapping[str, str] = field(default_factory=dict)
    # nested column -> the columns `flattening_max_depth: 1` replaces it with.
    flattened: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A stream-map `__filter__` expression and the sandbox filters that select the same rows.
    map_filter: tuple[str, Mapping[str, Any]] | None = None
    # Replication-key instants of the rows the API serves to the second run, from the sandbox
    # and the loaded rows (as dicts with aware instants under the replication key).
    served: Callable[[SandboxProcess, Sequence[dict[str, Any]], dt.datetime], list[Any]] = (
        lambda api, rows, cutoff: [row["_instant"] for row in rows]
    )
    # History streams keep every run's rows: their truth after a run is the union over runs.
    append_only: bool = False
    # Tap settings this stream needs in every run.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Pages of the oldest end an incremental run reads after its walk (rows without a date
    # sort there, so those rows are re-read every run).
    tail_pages: int = 0
    # The v5 family (V5_STREAMS) rides along this stream's two-run pipelines: one `meltano run`
    # loads both families, as users run it.
    carries_v5: bool = False

    def env(self, sandbox: SandboxProcess, **settings: Any) -> dict[str, Any]:
        """Tap settings for one run over this stream alone, as Meltano env vars."""
        return {
            "TAP_PINTEREST_ADS__SELECT": [f"{self.stream}.*"],
            "TAP_PINTEREST_ADS_API_URL": sandbox.url,
            "TAP_PINTEREST_ADS_LOOKBACK_DAYS": LOOKBACK_DAYS,
            "TAP_PINTEREST_ADS_PAGE_SIZE": PAGE_SIZE,
            **{
                f"TAP_PINTEREST_ADS_{name.upper()}": value
                for name, value in {**self.settings, **settings}.items()
            },
        }

    def api_requests(self, sandbox: SandboxProcess) -> list[dict[str, Any]]:
        return [r for r in sandbox.requests() if r["path"] == self.api_path]


STREAMS = [
    StreamCase(
        stream="pinterest_ads",
        key=("id",),
        replication_key="datefound",
        truth=lambda sandbox, **filters: [(id_,) for id_ in sandbox.truth(**filters)],
        api_path="/api/v1/pinterest-ads",
        postgres_types={
            "id": "text",
            "datefound": "timestamp without time zone",
            "lastseen": "timestamp without time zone",
            "started": "date",
            "shopify_productprice": "numeric",
            "likes": "bigint",
            "shares": "bigint",
            "adscount": "bigint",
            "saved": "boolean",
            "shopify_currency": "jsonb",
            "technologies": "ARRAY",
        },
        snowflake_types={
            "ID": "TEXT",
            "DATEFOUND": "TIMESTAMP_TZ",
            "STARTED": "DATE",
            "SHOPIFY_PRODUCTPRICE": "FLOAT",
            "LIKES": "NUMBER",
            "SAVED": "BOOLEAN",
            "SHOPIFY_CURRENCY": "VARIANT",
            "TECHNOLOGIES": "VARIANT",
        },
        raw_timestamps={"datefound": "datefound_raw"},
        growing="likes",
        flattened={
            "shopify_currency": (
                "shopify_currency__code",
                "shopify_currency__rate",
                "shopify_currency__active",
            )
        },
        map_filter=("likes > 20", {"minlikes": 21}),
        tail_pages=SETTINGS.to_dict()["properties"]["undated_tail_pages"]["default"],
        carries_v5=True,
    ),
]


def universe_at(api: SandboxProcess) -> list[dict[str, Any]]:
    """The sandbox's rows at its current clock, rebuilt in-process from the same seed."""
    universe = AdUniverse(SANDBOX_OPTIONS["seed"], SANDBOX_OPTIONS["ads"])
    now = dt.datetime.fromisoformat(api.state()["now"].replace("Z", "+00:00"))
    universe.advance(days=(now - universe.now).total_seconds() / 86400)
    return universe.ads()


def snapshot_keys(api: SandboxProcess, **filters: Any) -> list[tuple[Any, ...]]:
    assert not filters, "the snapshot case declares no filtered scenario"
    return [
        (str(row["id"]), seen.date())
        for row in universe_at(api)
        if (seen := parse_instant(row["lastseen"])) is not None
    ]


def snapshot_served(
    api: SandboxProcess, rows: Sequence[dict[str, Any]], cutoff: dt.datetime
) -> list[Any]:
    """The API filters on `fromlastseen` (a day) before the walk's own cutoff (an instant)."""
    latest: dict[str, dt.datetime] = {}
    for row in rows:
        latest[row["id"]] = max(row["_instant"], latest.get(row["id"], row["_instant"]))
    ids = api.truth(sorting="lastseen", fromlastseen=cutoff.date().isoformat())
    return [latest[ad_id] for ad_id in ids]


STREAMS.append(
    StreamCase(
        stream="pinterest_ad_snapshots",
        key=("id", "snapshot_date"),
        replication_key="lastseen",
        truth=snapshot_keys,
        api_path="/api/v1/pinterest-ads",
        postgres_types={
            "id": "text",
            "snapshot_date": "date",
            "lastseen": "timestamp without time zone",
            "saves": "bigint",
            "repins": "bigint",
            "daysrunning": "bigint",
        },
        snowflake_types={
            "ID": "TEXT",
            "SNAPSHOT_DATE": "DATE",
            "LASTSEEN": "TIMESTAMP_TZ",
            "SAVES": "NUMBER",
            "REPINS": "NUMBER",
        },
        growing="saves",
        served=snapshot_served,
        append_only=True,
        # A cap above the universe (300 ads), so every run reads all it should and the
        # expectations stay exact; the cap itself is tested in tests/ad_library/test_snapshots.py.
        settings={"snapshot_pages_per_search": 200},
    )
)


# -- The Pinterest API v5 family ----------------------------------------------------------------
# One ad account keeps each run short (keywords, the daily analytics): the sandbox's first, owned
# by the token user and holding both catalog types (RETAIL, HOTEL).
V5_ACCOUNT = 0
Row = dict[str, Any]


@dataclass(frozen=True)
class V5Case:
    stream: str
    # information_schema `data_type` target-postgres 0.8.1 must produce for these columns.
    postgres_types: Mapping[str, str]
    # Column -> type target-snowflake 0.20.4 creates (fakesnow's names), as for StreamCase.
    snowflake_types: Mapping[str, str]
    key: tuple[str, ...] = ("id",)
    replication_key: str | None = None  # None: full table, every run rewrites every row
    # Columns whose loaded values must equal what the API serves after each run.
    tracked: tuple[str, ...] = ()
    # The sandbox's day between the runs changes or adds some of these rows.
    changes_daily: bool = False
    # Rows a complete read gives (as served), from the sandbox; default: its v5 truth route.
    truth: Callable[[SandboxProcess, str], list[Row]] | None = None

    def served(self, sandbox: SandboxProcess, account: str) -> dict[tuple[Any, ...], Row]:
        rows = (
            self.truth(sandbox, account)
            if self.truth
            else sandbox.v5_truth(self.stream, ad_account_id=account)
        )
        return {tuple(row[k] for k in self.key): row for row in rows}


def v5_account(sandbox: SandboxProcess) -> str:
    return str(sandbox.v5_state()["ad_accounts"][V5_ACCOUNT])


def with_v5(env: Mapping[str, Any], sandbox: SandboxProcess, token_store: str) -> dict[str, Any]:
    """A run's Meltano env vars plus the v5 family: its streams, the sandbox's credentials and a
    token store (the refresh token rotates: a second run needs the first one's token)."""
    return {
        **env,
        "TAP_PINTEREST_ADS__SELECT": [
            *env["TAP_PINTEREST_ADS__SELECT"],
            *(f"{case.stream}.*" for case in V5_STREAMS),
        ],
        "TAP_PINTEREST_ADS_V5_API_URL": sandbox.v5_url,
        "TAP_PINTEREST_ADS_CLIENT_ID": CLIENT_ID,
        "TAP_PINTEREST_ADS_CLIENT_SECRET": CLIENT_SECRET,
        "TAP_PINTEREST_ADS_REFRESH_TOKEN": FIRST_REFRESH_TOKEN,
        "TAP_PINTEREST_ADS_TOKEN_STORE_PATH": token_store,
        "TAP_PINTEREST_ADS_AD_ACCOUNT_IDS": [v5_account(sandbox)],
    }


def analytics_truth(level: str) -> Callable[[SandboxProcess, str], list[Row]]:
    """Daily rows of every object of the level, from the first run's earliest day (the API
    keeps SYNC_DAYS_BACK days of sync analytics; the tests start the sandbox at DEFAULT_START)
    to the sandbox's day now, as its analytics truth route computes them."""

    def rows(sandbox: SandboxProcess, account: str) -> list[Row]:
        first = DEFAULT_START.date() - dt.timedelta(days=SYNC_DAYS_BACK)
        return analytics_rows(sandbox, level, account, first, ("SPEND_IN_MICRO_DOLLAR",))

    return rows


def sandbox_day(sandbox: SandboxProcess) -> dt.date:
    return dt.date.fromisoformat(sandbox.v5_state()["now"][:10])


def analytics_rows(
    sandbox: SandboxProcess, level: str, account: str, first: dt.date, columns: Sequence[str]
) -> list[Row]:
    """Daily rows of every object of the level from `first` to the sandbox's day now, as its
    analytics truth route computes them (DATE as a date)."""
    params = {
        "ad_account_id": account,
        "start_date": first.isoformat(),
        "end_date": sandbox_day(sandbox).isoformat(),
        "columns": ",".join(columns),
        "granularity": "DAY",
    }
    response = requests.get(
        f"{sandbox.url}/_sandbox/v5/analytics/{level}", params=params, timeout=60
    )
    response.raise_for_status()
    return [{**row, "DATE": dt.date.fromisoformat(row["DATE"])} for row in response.json()["rows"]]


ENTITY_TYPES = {
    "id": "text",
    "ad_account_id": "text",
    "status": "text",
    "created_time": "bigint",
    "updated_time": "bigint",
    "tracking_urls": "jsonb",
}
ENTITY_SNOWFLAKE = {"ID": "TEXT", "UPDATED_TIME": "NUMBER", "TRACKING_URLS": "VARIANT"}
PIN_TYPES = {
    "id": "text",
    "board_id": "text",
    "created_at": "timestamp without time zone",
    "media": "jsonb",
    "is_owner": "boolean",
}
PIN_SNOWFLAKE = {"ID": "TEXT", "CREATED_AT": "TIMESTAMP_TZ", "MEDIA": "VARIANT"}

# target-postgres keeps the API's upper-case column names: SQL must quote them ("DATE").
ANALYTICS_TYPES = {
    "AD_ACCOUNT_ID": "text",
    "DATE": "date",
    "SPEND_IN_MICRO_DOLLAR": "bigint",
    "CTR": "numeric",
}
ANALYTICS_SNOWFLAKE = {"DATE": "DATE", "SPEND_IN_MICRO_DOLLAR": "NUMBER", "CTR": "FLOAT"}

V5_STREAMS = [
    V5Case(
        "ad_accounts",
        postgres_types={"id": "text", "owner": "jsonb", "permissions": "ARRAY"},
        snowflake_types={"ID": "TEXT", "OWNER": "VARIANT", "PERMISSIONS": "VARIANT"},
        tracked=("name", "currency"),
    ),
    V5Case(
        "campaigns",
        changes_daily=True,
        postgres_types={**ENTITY_TYPES, "lifetime_spend_cap": "bigint", "bid_options": "jsonb"},
        snowflake_types=ENTITY_SNOWFLAKE,
        replication_key="updated_time",
        tracked=("status", "updated_time"),
    ),
    V5Case(
        "ad_groups",
        changes_daily=True,
        postgres_types={
            **ENTITY_TYPES,
            "bid_multiplier": "numeric",
            "targeting_spec": "jsonb",
            "auto_targeting_enabled": "boolean",
        },
        snowflake_types={
            **ENTITY_SNOWFLAKE,
            "BID_MULTIPLIER": "FLOAT",
            "TARGETING_SPEC": "VARIANT",
        },
        replication_key="updated_time",
        tracked=("status", "updated_time"),
    ),
    V5Case(
        "ads",
        changes_daily=True,
        postgres_types={**ENTITY_TYPES, "carousel_destination_urls": "ARRAY"},
        snowflake_types={**ENTITY_SNOWFLAKE, "CAROUSEL_DESTINATION_URLS": "VARIANT"},
        replication_key="updated_time",
        tracked=("status", "updated_time"),
    ),
    V5Case(
        "audiences",
        postgres_types={
            "id": "text",
            "size": "bigint",
            "rule": "jsonb",
            "updated_timestamp": "bigint",
        },
        snowflake_types={"ID": "TEXT", "SIZE": "NUMBER", "RULE": "VARIANT"},
        replication_key="updated_timestamp",
        tracked=("updated_timestamp",),
    ),
    V5Case(
        "customer_lists",
        postgres_types={"id": "text", "updated_time": "numeric", "exceptions": "jsonb"},
        snowflake_types={"ID": "TEXT", "UPDATED_TIME": "FLOAT", "EXCEPTIONS": "VARIANT"},
        replication_key="updated_time",
        tracked=("status", "updated_time"),
    ),
    V5Case(
        "keywords",
        postgres_types={"id": "text", "parent_id": "text", "bid": "bigint", "archived": "boolean"},
        snowflake_types={"ID": "TEXT", "BID": "NUMBER", "ARCHIVED": "BOOLEAN"},
        tracked=("parent_id", "value"),
    ),
    V5Case(
        "conversion_tags",
        postgres_types={"id": "text", "configs": "jsonb", "last_fired_time_ms": "numeric"},
        snowflake_types={"ID": "TEXT", "CONFIGS": "VARIANT", "LAST_FIRED_TIME_MS": "FLOAT"},
        tracked=("status",),
    ),
    V5Case(
        "catalogs",
        postgres_types={"id": "text", "updated_at": "timestamp without time zone"},
        snowflake_types={"ID": "TEXT", "UPDATED_AT": "TIMESTAMP_TZ"},
        tracked=("catalog_type", "name"),
    ),
    V5Case(
        "catalogs_feeds",
        postgres_types={"id": "text", "preferred_processing_schedule": "jsonb"},
        snowflake_types={"ID": "TEXT", "PREFERRED_PROCESSING_SCHEDULE": "VARIANT"},
        tracked=("catalog_type", "status"),
    ),
    V5Case(
        "catalogs_product_groups",
        postgres_types={"id": "text", "filters": "jsonb", "updated_at": "bigint"},
        snowflake_types={"ID": "TEXT", "FILTERS": "VARIANT", "UPDATED_AT": "NUMBER"},
        tracked=("catalog_id", "updated_at"),
    ),
    V5Case(
        "boards",
        changes_daily=True,
        postgres_types={"id": "text", "pin_count": "bigint", "owner": "jsonb"},
        snowflake_types={"ID": "TEXT", "PIN_COUNT": "NUMBER", "OWNER": "VARIANT"},
        tracked=("pin_count", "privacy"),
    ),
    V5Case(
        "board_sections",
        postgres_types={"id": "text", "board_id": "text", "name": "text"},
        snowflake_types={"ID": "TEXT", "BOARD_ID": "TEXT"},
        tracked=("board_id", "name"),
    ),
    V5Case(
        "board_pins",
        changes_daily=True,
        postgres_types=PIN_TYPES,
        snowflake_types=PIN_SNOWFLAKE,
        tracked=("board_id", "board_section_id"),
    ),
    V5Case(
        "board_section_pins",
        postgres_types=PIN_TYPES,
        snowflake_types=PIN_SNOWFLAKE,
        tracked=("board_id", "board_section_id"),
    ),
    # Daily analytics: two levels stand for the four (one code path; ad groups and ads are
    # thousands of rows a day, which the demo loads).
    V5Case(
        "ad_account_analytics",
        postgres_types=ANALYTICS_TYPES,
        snowflake_types=ANALYTICS_SNOWFLAKE,
        key=("AD_ACCOUNT_ID", "DATE"),
        replication_key="DATE",
        tracked=("SPEND_IN_MICRO_DOLLAR",),
        changes_daily=True,
        truth=analytics_truth("AD_ACCOUNT"),
    ),
    V5Case(
        "campaign_analytics",
        postgres_types={**ANALYTICS_TYPES, "CAMPAIGN_ID": "text"},
        snowflake_types={**ANALYTICS_SNOWFLAKE, "CAMPAIGN_ID": "TEXT"},
        key=("CAMPAIGN_ID", "DATE"),
        replication_key="DATE",
        tracked=("SPEND_IN_MICRO_DOLLAR",),
        changes_daily=True,
        truth=analytics_truth("CAMPAIGN"),
    ),
]


# -- v5 analytics and report streams through three reruns ---------------------------------------
# A sized v5 universe keeps three `meltano run`s of every analytics and report stream to seconds:
# three owned ad accounts in USD, GBP and EUR, each with 10 campaigns and 20 ads at the start.
V5_SIZE = Size(accounts=3, campaigns=10, ads=20)
SIZED_V5: dict[str, Any] = {
    "v5_accounts": V5_SIZE.accounts,
    "v5_campaigns": V5_SIZE.campaigns,
    "v5_ads": V5_SIZE.ads,
}
# Report jobs FINISHED at their first poll: the lifecycle is tested in tests/marketing.
# Seed 11: conversions in the last 30 days at every level, so reruns see late ones arrive.
ANALYTICS_SANDBOX: dict[str, Any] = {
    **SANDBOX_OPTIONS,
    **SIZED_V5,
    "seed": 11,
    "v5_report_polls": 0,
}
# start_date this many days before the first run: older than the sync endpoints keep (90 days),
# so the daily streams take their oldest days from reports.
HISTORY_DAYS = 120
# Days the sandbox clock moves before each run: conversions keep arriving for past days.
CLOCK_STEPS = (0, 1, 3)
# Money: integer micro-units of the account's currency (CPC_IN_MICRO_DOLLAR is a ratio).
MONEY = (
    "SPEND_IN_MICRO_DOLLAR",
    "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR",
    "TOTAL_CLICK_CHECKOUT_VALUE_IN_MICRO_DOLLAR",
)
ANALYTICS_COLUMNS = (
    *MONEY,
    "PAID_IMPRESSION",
    "TOTAL_CLICKTHROUGH",
    "TOTAL_CHECKOUT",
    "CTR",
    "CPC_IN_MICRO_DOLLAR",
)
TARGETING_TYPES = ("GENDER",)
CUSTOM_REPORT: dict[str, Any] = {
    "name": "Weekly ad groups",
    "level": "AD_GROUP_TARGETING",
    "granularity": "WEEK",
    "columns": ["SPEND_IN_MICRO_DOLLAR", "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"],
    "targeting_types": ["APPTYPE"],
    "click_window_days": 7,
}


class V5Replica:
    """The sandbox's sized v5 universe rebuilt in this process from the same seed, size and clock
    steps, for what no control route serves: report files and organic numbers over any range,
    computed by the sandbox's own functions."""

    def __init__(self) -> None:
        self.seed: int = ANALYTICS_SANDBOX["seed"]
        self.universe = V5Universe(self.seed, int(DEFAULT_START.timestamp()), V5_SIZE)

    def follow(self, sandbox: SandboxProcess) -> None:
        """To the sandbox's clock, in one step as its own advance (call after each advance)."""
        now = parse_instant(sandbox.v5_state()["now"])
        assert now is not None
        self.universe.advance(int(now.timestamp()))

    @property
    def today(self) -> dt.date:
        return dt.date.fromordinal(sandbox_metrics.day_of(self.universe.now))

    @property
    def accounts(self) -> list[Row]:
        return [account.row for account in self.universe.accounts]

    def report(self, account: Row, spec: Mapping[str, Any], first: dt.date) -> list[Row]:
        """The rows of a report job (`spec`: level, granularity, columns, targeting_types,
        windows) from `first` to today, ids as strings, DATE as a date."""
        tree = sandbox_analytics.Tree.build(self.seed, account, self.universe.tables[account["id"]])
        body = {"start_date": first.isoformat(), "end_date": self.today.isoformat(), **spec}
        request = sandbox_reports.parse(body, self.today.toordinal(), "date_and_hour")
        switches = {"report_targeting_columns": "upper", "report_id_types": "string"}
        return [
            {**row, "DATE": dt.date.fromisoformat(row["DATE"])}
            for entity in sandbox_reports.entities(tree, request)
            for row in sandbox_reports.report_rows(request, entity, switches)
        ]

    def organic(self, first: dt.date) -> list[Row]:
        """`GET /user_account/analytics` as of today for every day from `first` (unlike the
        endpoint, any distance back): yesterday's numbers are PROCESSING, older ones READY."""
        today = self.today.toordinal()
        metrics = (*sandbox_analytics.ORGANIC_METRICS, *sandbox_analytics.ORGANIC_RATES)
        return [
            {
                "DATE": dt.date.fromordinal(day),
                "DATA_STATUS": "READY" if day < today - 1 else "PROCESSING",
                **sandbox_analytics.organic_metrics(
                    sandbox_analytics.organic_day(self.seed, day), metrics
                ),
            }
            for day in range(first.toordinal(), today)
        ]


@dataclass(frozen=True)
class Synced:
    """What the runs cover: start_date, and the sandbox's day at the first run."""

    start: dt.date
    first_run: dt.date


def of_account(rows: Sequence[Row], account: Row) -> list[Row]:
    """Ads analytics rows as the tap emits them: the ad account and its currency beside."""
    extra = {"AD_ACCOUNT_ID": account["id"], "CURRENCY": account["currency"]}
    return [{**row, **extra} for row in rows]


@dataclass(frozen=True)
class AnalyticsCase:
    stream: str
    key: tuple[str, ...]
    # Every row the table must hold after a run, for every ad account, from the sandbox.
    truth: Callable[[SandboxProcess, V5Replica, Synced], list[Row]]
    # The sync endpoint's level of a daily ads stream (its oldest days come from reports).
    level: str | None = None
    late: bool = True  # late conversions change past days' rows


def daily_case(stream: str, level: str, id_column: str) -> AnalyticsCase:
    def truth(sandbox: SandboxProcess, replica: V5Replica, synced: Synced) -> list[Row]:
        return [
            row
            for account in replica.accounts
            for row in of_account(
                analytics_rows(sandbox, level, account["id"], synced.start, ANALYTICS_COLUMNS),
                account,
            )
        ]

    return AnalyticsCase(stream, (id_column, "DATE"), truth, level=level)


def report_case(
    stream: str, spec: Mapping[str, Any], id_column: str, first: Callable[[dt.date], dt.date]
) -> AnalyticsCase:
    """`first`: the first day the report streams ask for, from start_date."""
    targeting = ("TARGETING_TYPE", "TARGETING_VALUE") if "targeting_types" in spec else ()

    def truth(sandbox: SandboxProcess, replica: V5Replica, synced: Synced) -> list[Row]:
        return [
            row
            for account in replica.accounts
            for row in of_account(replica.report(account, spec, first(synced.start)), account)
        ]

    return AnalyticsCase(stream, ("AD_ACCOUNT_ID", id_column, "DATE", *targeting), truth)


def organic_truth(sandbox: SandboxProcess, replica: V5Replica, synced: Synced) -> list[Row]:
    """From the first run's oldest day (90 days back at most, no reports) to yesterday."""
    (user,) = sandbox.v5_truth("user_account")
    first = synced.first_run - dt.timedelta(days=SYNC_DAYS_BACK)
    return [{**row, "USER_ACCOUNT_ID": user["id"]} for row in replica.organic(first)]


def whole_weeks(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# A plain report at two levels (one keyed by keyword), a targeting one (keyed by the targeting
# type and value too) and a custom one: each report stream costs a report job per account and
# run, and all share one code path. The product_* reports would be empty (the sandbox's
# catalogs deliver nothing). Stream: (level, the id column of its key).
REPORTS = {
    "campaign_analytics_report": ("CAMPAIGN", "CAMPAIGN_ID"),
    "keyword_report": ("KEYWORD", "KEYWORD_ID"),
    "pin_promotion_targeting_report": ("PIN_PROMOTION_TARGETING", "PIN_PROMOTION_ID"),
}


def report_spec(level: str) -> dict[str, Any]:
    spec = {"level": level, "granularity": "DAY", "columns": list(ANALYTICS_COLUMNS)}
    return spec | ({"targeting_types": list(TARGETING_TYPES)} if "TARGETING" in level else {})


ANALYTICS_CASES = [
    daily_case("ad_account_analytics", "AD_ACCOUNT", "AD_ACCOUNT_ID"),
    daily_case("campaign_analytics", "CAMPAIGN", "CAMPAIGN_ID"),
    daily_case("ad_group_analytics", "AD_GROUP", "AD_GROUP_ID"),
    daily_case("ad_analytics", "AD", "AD_ID"),
    AnalyticsCase("user_account_analytics", ("USER_ACCOUNT_ID", "DATE"), organic_truth, late=False),
    *(
        report_case(stream, report_spec(level), id_column, lambda day: day)
        for stream, (level, id_column) in REPORTS.items()
    ),
    report_case(
        "custom_weekly_ad_groups",
        {k: v for k, v in CUSTOM_REPORT.items() if k != "name"},
        "AD_GROUP_ID",
        whole_weeks,  # the tap asks for whole weeks: a cut week would be a partial row
    ),
]
