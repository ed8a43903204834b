"""tap-pinterest-ads: the tap, its settings, and the run-level bookkeeping."""

from __future__ import annotations

import sys
from functools import cached_property
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import FatalAPIError

from tap_pinterest_ads import redaction
from tap_pinterest_ads.ad_library import PinterestAdSnapshotsStream, PinterestAdsStream
from tap_pinterest_ads.pacing import ApiResources, Pacer, RequestBudget
from tap_pinterest_ads.settings import DEFAULT_API_URL, FILTERS, check_api_url, parse_searches

_search_filter = th.CustomType({"type": ["string", "number", "array", "null"]})

SETTINGS = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="Ad-library API key, sent only as the X-API-Key header. Required for "
        "pinterest_ads. The bundled sandbox accepts any key starting with `wh_`.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        description="Ad-library API origin; requests go to {api_url}/api/v1/pinterest-ads. "
        "https only, except a loopback host (the sandbox).",
    ),
    th.Property(
        "searches",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True),
                *(th.Property(name, _search_filter) for name in FILTERS),
                additional_properties=True,  # unknown keys get a precise error from settings.py
            )
        ),
        description="Named searches, each its own state partition: `name` (unique) plus any "
        "documented filter. With none, one unfiltered search named `all` runs.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Ignore ads found (datefound) before this instant on a first sync.",
    ),
    th.Property(
        "lookback_days",
        th.NumberType(minimum=0),
        default=1,
        description="How far behind the bookmark an incremental sync re-reads (inclusive).",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=50),
        default=50,
        description="Rows per request (`limit`, max 50). One credit per request whatever the size.",
    ),
    th.Property(
        "max_requests_per_run",
        th.IntegerType(minimum=1),
        description="Credit budget for one run; the tap stops cleanly when it is spent.",
    ),
    th.Property(
        "requests_per_minute",
        th.IntegerType(minimum=1),
        default=60,
        description="Pace requests to the API's rolling per-minute limit.",
    ),
    th.Property(
        "snapshot_pages_per_search",
        th.IntegerType(minimum=1),
        default=2,
        description="pinterest_ad_snapshots (opt-in) reads at most this many pages per search "
        "per run, most recently seen ads first: its whole credit cost.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=60,
        description="Seconds to wait for a response before retrying.",
    ),
)


class TapPinterestAds(Tap):
    """Pinterest ads data: the ad library (other advertisers) and, next, your own accounts."""

    message_writer_class = MsgSpecWriter  # faster Singer output than the default simplejson

    name = "tap-pinterest-ads"
    package_name = "tap-pinterest-ads"
    config_jsonschema = SETTINGS.to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        redaction.install(self.secrets)

    @property
    def secrets(self) -> list[str]:
        secret_settings = [
            name
            for name, spec in self.config_jsonschema["properties"].items()
            if spec.get("secret")
        ]
        return [str(self.config[name]) for name in secret_settings if self.config.get(name)]

    @cached_property
    def ad_library(self) -> ApiResources:
        return ApiResources(
            base_url=check_api_url("api_url", str(self.config.get("api_url", DEFAULT_API_URL))),
            pacer=Pacer(int(self.config.get("requests_per_minute", 60))),
            budget=RequestBudget(limit=self.config.get("max_requests_per_run")),
        )

    def discover_streams(self) -> list[Stream]:
        searches = parse_searches(self.config.get("searches"))
        return [
            stream_class(self, resources=self.ad_library, searches=searches)
            for stream_class in (PinterestAdsStream, PinterestAdSnapshotsStream)
        ]

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        # A refused key or plan is an answer, not a crash: say it plainly and exit non-zero.
        try:
            super().invoke(*args, **kwargs)
        except FatalAPIError as error:
            cls.logger.error("%s", error)
            sys.exit(1)


if __name__ == "__main__":
    TapPinterestAds.cli()
