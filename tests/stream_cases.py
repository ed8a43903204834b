"""What the warehouse tests need to know about each stream; a new stream is one more entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.data import AdUniverse
from tap_pinterest_ads.tap import SETTINGS

EXTRACTOR = "tap-pinterest-ads"
# A small universe keeps each `meltano run` to a few seconds; the rate limit is not under test.
SANDBOX_OPTIONS: dict[str, Any] = {"seed": 7, "ads": 300, "rate_limit": 100_000}
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
