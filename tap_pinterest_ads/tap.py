"""tap-pinterest-ads: the tap, its settings, and the run-level bookkeeping."""

# ruff: noqa: E402 (the collector is paused before the imports below)
from __future__ import annotations

import gc

# The imports below build most of what a run ever holds (hundreds of thousands of objects,
# singer_sdk's mostly): the collector would walk them over and over while they load (about
# 0.1 s of CPU per run). It resumes once they are loaded, with them set aside for good.
_collecting = gc.isenabled()
gc.disable()

import logging
import sys
from functools import cached_property
from typing import IO, Any

import click
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import MaxRecordsLimitException
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding.simple import Message

from tap_pinterest_ads import redaction
from tap_pinterest_ads.ad_library.searches import DEFAULT_API_URL, FILTERS, parse_searches
from tap_pinterest_ads.ad_library.streams import (
    DEFAULT_PAGE_SIZE,
    PinterestAdSearchMatchesStream,
    PinterestAdSnapshotsStream,
    PinterestAdsStream,
)
from tap_pinterest_ads.cli import checked_json_input, one_line_failures, read_config_files
from tap_pinterest_ads.config_checks import (
    check_api_url,
    check_secrets,
    check_start_date,
    secret_values,
    warn_unknown_settings,
)
from tap_pinterest_ads.marketing.settings import V5_PROPERTIES, configured
from tap_pinterest_ads.resources import ApiResources, Pacer, RequestBudget

gc.freeze()
if _collecting:
    gc.enable()

MAX_LOOKBACK_DAYS = 3650  # ten years: beyond, a date overflows long before it means anything
_search_filter = th.CustomType({"type": ["string", "number", "array", "null"]})

SETTINGS = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="Ad-library API key, sent only as the X-API-Key header and only to the "
        "origin of `api_url`. Required for pinterest_ads; a string without whitespace. The "
        "bundled sandbox accepts any key starting with `wh_`.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        description="Ad-library API origin; requests go to {api_url}/api/v1/pinterest-ads. "
        "https only, except a loopback host (the sandbox). A redirect to another origin "
        "stops the run (the key is never sent there).",
    ),
    th.Property(
        "searches",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True),
                *(th.Property(name, _search_filter) for name in FILTERS),
                additional_properties=True,  # searches.py names unknown keys precisely
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
        th.NumberType(minimum=0, maximum=MAX_LOOKBACK_DAYS),
        default=1,
        description="How far behind the bookmark an incremental sync re-reads (inclusive), "
        f"0 to {MAX_LOOKBACK_DAYS} days.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=DEFAULT_PAGE_SIZE),
        default=DEFAULT_PAGE_SIZE,
        description="Rows per request (`limit`, max 50). One credit per request whatever the size.",
    ),
    th.Property(
        "max_requests_per_run",
        th.IntegerType(minimum=1),
        description="Credit budget for one run, in requests the API answered (a refused "
        "connection or a timeout is not counted); the tap stops cleanly when it is spent.",
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
        "undated_tail_pages",
        th.IntegerType(minimum=0, maximum=20),
        default=1,
        description="After an incremental walk, read this many pages of each search's oldest "
        "end, where ads without a parseable datefound sort, so new ones are not missed: this "
        "many credits per search per run; 0 turns it off.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=60,
        description="Seconds to wait for a response before retrying.",
    ),
    *V5_PROPERTIES,
)


class SingerOutput(MsgSpecWriter):
    """msgspec's Singer output (faster than the default simplejson), flushed at each message
    that is not a RECORD rather than after every record (a system call each). Records still
    leave in order before the STATE that follows them: a run killed mid-way loses only records
    that no STATE it wrote covers, and the rerun reads them again."""

    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


class _DryRunStops(logging.Filter):
    """A dry run (`--test`) ends each stream at its first record by raising an abort, which the
    SDK logs as "An unhandled error occurred" (ERROR) before catching it: not an error there."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]
        return not (
            error is not None
            and isinstance(error.__cause__, MaxRecordsLimitException)
            and str(record.msg).startswith("An unhandled error occurred while syncing")
        )


class TapPinterestAds(Tap):
    """Pinterest ads data: the ad library (other advertisers) and, next, your own accounts."""

    message_writer_class = SingerOutput

    name = "tap-pinterest-ads"
    package_name = "tap-pinterest-ads"
    config_jsonschema = SETTINGS.to_dict()
    # The streams are built from the config (searches, api_url): discovery validates it too, so
    # a mistake fails there in one line rather than passing with a bare warning.
    dynamic_catalog = True

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # The SDK's one step between merging the config (files, env) and checking it: mask the
        # secrets before anything can print them, and refuse a malformed one before the schema
        # check quotes it.
        redaction.install(secret_values(self.config, self.config_jsonschema))
        check_secrets(self.config, self.config_jsonschema)
        errors = super()._validate_config(raise_errors=raise_errors)
        check_start_date(self.config)
        warn_unknown_settings(self.config, self.config_jsonschema, self.logger)
        return errors

    @cached_property
    def ad_library(self) -> ApiResources:
        return ApiResources(
            base_url=check_api_url("api_url", str(self.config.get("api_url", DEFAULT_API_URL))),
            pacer=Pacer(int(self.config.get("requests_per_minute", 60))),
            budget=RequestBudget(limit=self.config.get("max_requests_per_run")),
            label="ad-library API",
        )

    def discover_streams(self) -> list[Stream]:
        searches = parse_searches(self.config.get("searches"))
        ads = PinterestAdsStream(self, resources=self.ad_library, searches=searches)
        streams: list[Stream] = [
            ads,
            PinterestAdSearchMatchesStream(self, source=ads),
            PinterestAdSnapshotsStream(self, resources=self.ad_library, searches=searches),
        ]
        if self._discovering or configured(self.config) or not self.config.get("api_key"):
            from tap_pinterest_ads.marketing.streams import v5_streams

            streams += v5_streams(self)
        else:
            # An ad-library sync: the v5 family could only sit out, and importing and building
            # its streams would be a sixth of the run's start-up.
            self.logger.info(
                "Pinterest API v5 streams skipped: no v5 credentials (`client_id`, "
                "`client_secret`, `refresh_token`) are set."
            )
        stops = _DryRunStops()
        for stream in streams:
            stream.logger.addFilter(stops)
        return streams

    _discovering = False

    def run_discovery(self) -> str:
        # The catalog lists every stream, whatever the config holds (discover_streams).
        self._discovering = True
        return super().run_discovery()

    _whole_process = False  # set by the command line: the run is all this process does

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._whole_process:
            # What the settings and catalog built lives as long as the run, like the imports:
            # out of the collector's full passes too (one mid-sync and one at exit here).
            gc.freeze()
        if configured(self.config) and not self.config.get("api_key"):
            # Each API family runs only with its credentials: a v5-only config must not fail on
            # the ad-library streams, selected by default (the v5 streams gate themselves).
            self.logger.info("Ad-library streams skipped: `api_key` is not set.")
            library = (
                PinterestAdsStream,
                PinterestAdSnapshotsStream,
                PinterestAdSearchMatchesStream,
            )
            for stream in self.streams.values():
                if isinstance(stream, library):
                    stream.selected = False
        if self.input_catalog is not None and not any(s.selected for s in self.streams.values()):
            self.logger.warning(
                "The catalog selects no stream: nothing will be synced. Select one with "
                '`"selected": true` in its top-level metadata (with Meltano: `meltano select '
                'tap-pinterest-ads pinterest_ads "*"`).'
            )

    # Every way in through the command line ends a handled refusal in one line (cli.py). The
    # callbacks run while click parses the arguments, outside the SDK's own error handling.

    @classmethod
    def invoke(
        cls, *, state: IO[str] | None = None, catalog: IO[str] | None = None, **kwargs: Any
    ) -> None:
        cls._whole_process = True
        try:
            with one_line_failures(cls.logger):
                super().invoke(
                    state=checked_json_input(state, "--state"),
                    catalog=checked_json_input(catalog, "--catalog"),
                    **kwargs,
                )
        finally:
            cls._whole_process = False  # an in-process caller (a test) goes on collecting

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        with one_line_failures(cls.logger, ctx):
            config = read_config_files(path for path in value if path != "ENV")
        # The SDK's input object with our parse: a pipe (`<(...)`, /dev/stdin) reads only once.
        parsed = super().cb_config(ctx, param, tuple(path for path in value if path == "ENV"))
        parsed.config = config
        return parsed

    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        with one_line_failures(cls.logger, ctx):
            super().cb_discover(ctx, param, value)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        with one_line_failures(cls.logger, ctx):
            super().cb_test(ctx, param, value)


if __name__ == "__main__":
    TapPinterestAds.cli()
