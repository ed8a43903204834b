"""The v5 stream base on the shared HTTP layer, and what all v5 streams of one run share."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._state import PROGRESS_MARKERS
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import JSONPathPaginator

from tap_pinterest_ads.client import PinterestHTTPStream, json_body, parse_json
from tap_pinterest_ads.config_checks import check_api_url
from tap_pinterest_ads.marketing.auth import PinterestOAuth, error_fields
from tap_pinterest_ads.marketing.pacing import HeaderPacer
from tap_pinterest_ads.marketing.parallel import BUFFER_ROWS, ReadAhead, Readers
from tap_pinterest_ads.marketing.settings import (
    DEFAULT_V5_API_URL,
    V5Settings,
    configured,
    parse_v5_settings,
)
from tap_pinterest_ads.marketing.specschema import Conformer
from tap_pinterest_ads.resources import ApiResources, RequestBudget
from tap_pinterest_ads.schema_files import load_schema

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

PAGE_SIZE = 250  # the spec's maximum; its default of 25 costs ten times the requests
PAGES_AHEAD = BUFFER_ROWS // PAGE_SIZE  # a context's pages read ahead at most
NO_CATALOG = 4182
SCOPES = "ads:read, catalogs:read, boards:read, pins:read, user_accounts:read"


class _UnsortedNotice(logging.Filter):
    # The SDK warns once per partition that an unsorted stream cannot resume mid-partition. For
    # v5 lists that is the design (no updated-since filter: every page is read, the bookmark
    # moves when a partition completes), so the warning would only alarm.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Stream is assumed to be unsorted")


logging.getLogger("singer_sdk").addFilter(_UnsortedNotice())


class _QuietSkips(logging.Filter):
    """Drops the SDK's 'Skipping deselected stream' line for each stream of a family that sits
    the run out: the family's own line says it, and why, once."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        skip = str(record.msg).startswith("Skipping deselected stream")
        return not (skip and isinstance(record.args, tuple) and record.args[0] in self.names)


class AccountForbiddenError(FatalAPIError):
    """403 for one ad account: that account is skipped, the run goes on."""


class NoCatalogError(FatalAPIError):
    """409 code 4182: the account has no catalog, which is an empty answer, not a failure."""


class NotFoundError(FatalAPIError):
    """404: the object (an ad account named in `ad_account_ids`) does not exist."""


class V5AuthError(FatalAPIError):
    """401 (or a 403 outside an ad account): no retry helps; the message says what to do."""


class V5Family:
    """What every v5 stream of one run shares: settings, pace, ONE authenticator (each refresh
    kills the refresh token the others would hold), the ad accounts and the skipped ones."""

    def __init__(self, tap: Tap) -> None:
        self.tap = tap
        self.logger = tap.logger
        self.pacer = HeaderPacer()
        self._announced = False
        self._accounts: list[dict[str, Any]] | None = None
        self.account_reader: Callable[[], Iterable[dict[str, Any]]] | None = None
        self.skipped: set[str] = set()
        self.ad_groups: dict[str, list[str]] = {}  # ad account -> every ad group id read
        self.boards: list[str] = []  # the boards read so far, in order
        self.sections: dict[str, list[str]] = {}  # board -> its section ids, once all read
        self.names: set[str] = set()  # the family's streams, filled in as they are built

    def enabled(self) -> bool:
        if configured(self.tap.config):
            return True
        if not self._announced:
            self._announced = True
            self.logger.addFilter(_QuietSkips(self.names))
            self.logger.info(
                "Pinterest API v5 streams skipped: no v5 credentials (`client_id`, "
                "`client_secret`, `refresh_token`) are set."
            )
        return False

    @cached_property
    def settings(self) -> V5Settings:
        return parse_v5_settings(self.tap.config)

    @cached_property
    def resources(self) -> ApiResources:
        # Only the URL is checked here (at discovery too); credentials when a v5 stream syncs.
        url = str(self.tap.config.get("v5_api_url") or DEFAULT_V5_API_URL)
        return ApiResources(
            base_url=check_api_url("v5_api_url", url),
            pacer=self.pacer,
            budget=RequestBudget(),
            label="Pinterest API v5",
            url_setting="v5_api_url",
        )

    @cached_property
    def authenticator(self) -> PinterestOAuth:
        return PinterestOAuth(self.settings, self.resources)

    @cached_property
    def readers(self) -> Readers:
        # Twice the requests allowed: a worker may wait on a full buffer (an ad account read
        # ahead) while others read; `slots` keeps the requests in flight to the setting.
        return Readers(2 * self.settings.max_parallel_requests)

    @cached_property
    def slots(self) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(self.settings.max_parallel_requests)

    def accounts(self) -> list[dict[str, Any]]:
        if self._accounts is None:
            assert self.account_reader is not None, "the ad_accounts stream registers itself"
            self._accounts = list(self.account_reader())
        return self._accounts

    def account_contexts(self) -> list[dict[str, Any]]:
        return [
            {"ad_account_id": str(account["id"])}
            for account in self.accounts()
            if str(account["id"]) not in self.skipped
        ]

    def skip_account(self, account_id: str, reason: str) -> None:
        if account_id not in self.skipped:
            self.skipped.add(account_id)
            self.logger.warning("Ad account %s skipped for this run: %s", account_id, reason)


def account_of(response: requests.Response) -> str | None:
    """The ad account a request concerned: in the path, or the `ad_account_id` parameter."""
    url = urlparse(str(response.request.url if response.request else response.url))
    parts = url.path.split("/")
    if "ad_accounts" in parts and parts.index("ad_accounts") + 1 < len(parts):
        return parts[parts.index("ad_accounts") + 1] or None
    values = parse_qs(url.query).get("ad_account_id")
    return values[0] if values else None


class BookmarkPaginator(JSONPathPaginator):
    def continue_if_empty(self, response: requests.Response) -> bool:
        # An empty page that still carries a bookmark is not the end of the list; the SDK
        # would stop there (and log that it did). Without a bookmark `advance` ends the walk.
        return True

    def get_next(self, response: requests.Response) -> str | None:
        # `$.bookmark` from the body the checks already parsed, not a parse of its own.
        body = json_body(response)
        return body.get("bookmark") if isinstance(body, dict) else None


class V5Stream(PinterestHTTPStream[str | None]):
    """A bookmark-paged v5 list. Subclasses give `name`, `path` and what differs."""

    records_jsonpath = "$.items[*]"
    primary_keys = ("id",)
    is_sorted = False  # lists sort by id, not by update time
    sends_statuses = False  # campaigns, ad groups and ads: ask for every entity status
    # Partitions read at once (parallel.py): `read` must not touch STATE, which the SDK keeps
    # in the main thread.
    concurrent_partitions = True
    conforms = False  # records conformed in `get_records` (the SDK's pass off)
    # `$.items[*]` pages parsed once, floats as Decimal, for the checks, the bookmark and the
    # records. Set by __init__: a subclass built otherwise (analytics) reads floats as floats.
    decimal_pages = False

    def __init__(self, tap: Tap, *, family: V5Family) -> None:
        super().__init__(tap, resources=family.resources, schema=load_schema(self.name))
        self.family = family
        self.bookmark: Any = None
        self.decimal_pages = True
        family.names.add(self.name)
        # `get_records` conforms (specschema.Conformer: the same records for a fraction of the
        # SDK's CPU). The SDK copies the partition's keys into records later, unconformed:
        # every v5 list partition is an ad account, and its records must carry that field.
        partition_keys = ("ad_account_id",) if self.state_partitioning_keys is None else ()
        if all(key in self.schema["properties"] for key in partition_keys):
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
            self.conforms = True

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return self.family.account_contexts() if self.family.enabled() else None

    @property
    def authenticator(self) -> PinterestOAuth:
        return self.family.authenticator

    @cached_property
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        session.hooks["response"] += [self.family.pacer.observe, self.authenticator.confirm]
        return session

    @property
    def selected(self) -> bool:
        # Without v5 credentials the family sits the run out (one log line), so a config for
        # the ad library alone never fails on these selected-by-default streams.
        return bool(PinterestHTTPStream.selected.fget(self)) and self.family.enabled()  # type: ignore[attr-defined]

    @selected.setter
    def selected(self, value: bool | None) -> None:
        PinterestHTTPStream.selected.fset(self, value)  # type: ignore[attr-defined]

    def _request(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        with self.family.slots:  # whichever thread asks: at most max_parallel_requests at once
            return super()._request(prepared_request, context)

    def get_new_paginator(self) -> BookmarkPaginator:
        return BookmarkPaginator("$.bookmark")

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": PAGE_SIZE, **self.query(context or {})}
        if self.sends_statuses:
            params["entity_statuses"] = list(self.family.settings.entity_statuses)
        if next_page_token:
            params["bookmark"] = next_page_token
        return params

    def query(self, context: Context) -> dict[str, Any]:
        """Hook: parameters of this list besides paging."""
        return {}

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        account = (context or {}).get("ad_account_id")
        # `selected` is not enough: a connection test (`--test`) syncs every stream.
        if not self.family.enabled() or account in self.family.skipped:
            return
        # An earlier run's bookmark for `post_process`: it moves only once the context is done.
        state = self.get_context_state(context) if self.replication_key else {}
        self.bookmark = state.get("replication_key_value")
        try:
            if self.conforms:
                yield from map(self.conform, self.rows_of(context))
            else:
                yield from self.rows_of(context)
        except AccountForbiddenError as error:
            self.family.skip_account(str(account), str(error))
        except NoCatalogError:
            self.logger.info("%s: ad account %s has no catalog", self.name, account)

    def rows_of(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The context's rows: read ahead with those the SDK asks for next, where it can."""
        if not (context and self.read_ahead()):
            return self.read(context)
        return itertools.chain.from_iterable(self.ahead.rows(context, self.upcoming()))

    def pages_of(self, context: Context) -> Iterator[list[dict[str, Any]]]:
        # Read ahead hands rows over in lists of a page: each handover through a worker's
        # buffer takes locks, and row by row they cost about a tenth of a v5 sync's CPU.
        rows = iter(self.read(context))
        while page := list(itertools.islice(rows, PAGE_SIZE)):
            yield page

    def read_ahead(self) -> bool:
        return self.concurrent_partitions and self.family.settings.max_parallel_requests > 1

    @cached_property
    def ahead(self) -> ReadAhead:
        self.requests_session  # noqa: B018 (made here, not by two workers at once)
        # The next contexts, as many as can be in flight besides the one being emitted.
        window = 2 * (self.family.settings.max_parallel_requests - 1)
        return ReadAhead(self.family.readers, self.pages_of, window, PAGES_AHEAD)

    def upcoming(self) -> list[dict[str, Any]]:
        """Hook: the contexts the SDK will ask for, in its order (those known so far)."""
        return self.partitions or []

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Hook: the rows of one context (in a worker thread when read ahead)."""
        return self.request_records(context)

    _progress: tuple[Any, dict[str, Any]] | None = None  # (a context, its state dict)

    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        # Lists are unsorted: for each record the SDK looks up the context's state (a scan of
        # every partition's) to keep the highest replication value seen. A record below the
        # highest already kept changes nothing there, and is let through without the lookup.
        progress, key = self._progress, self.replication_key
        if progress is not None and progress[0] is context and key:
            kept: Any = progress[1].get(PROGRESS_MARKERS, {}).get("replication_key_value")
            value: Any = latest_record.get(key)
            if type(value) is type(kept) and type(value) in (int, str) and value < kept:
                return
        super()._increment_stream_state(latest_record, context=context)
        if key and not self.is_sorted and self.check_sorted:
            self._progress = (context, self.get_context_state(context))

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        # No list has an updated-since filter: read every page, emit what changed since the
        # bookmark (inclusive: a row updated in the bookmark's second may be new). Only an
        # earlier run's bookmark filters, never `start_date`: an entity last edited before it
        # is still live, and its analytics rows need its name.
        key, bookmark = self.replication_key, self.bookmark
        if key and row.get(key) is not None and bookmark is not None:
            return None if float(row[key]) < float(bookmark) else row
        return row

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        if self.records_jsonpath != "$.items[*]":
            return super().parse_response(response)
        # What the SDK's `$.items[*]` gives, without evaluating the path for every page; its
        # parse (floats as Decimal, digits kept) is kept: the one the checks made.
        body = json_body(response) if self.decimal_pages else parse_json(response, decimals=True)
        items = body.get("items") if isinstance(body, dict) else None
        return items if isinstance(items, list) else super().parse_response(response)

    @cached_property
    def conform(self) -> Conformer:
        return Conformer(self.effective_schema, self.name, self.logger)  # the catalog's schema

    # Pinterest's error bodies: {"code": <int>, "message": "..."}.

    def api_message(self, response: requests.Response) -> str:
        code, message = error_fields(response)
        return f"code {code}: {message}" if code is not None else message

    def classify_error(self, response: requests.Response, *, retriable: bool) -> None:
        status = response.status_code
        code, _ = error_fields(response)
        account = account_of(response)
        where = f"{status} from {urlparse(response.url).path}" + (
            f" for ad account {account}" if account else ""
        )
        detail = f"({self.api_message(response)})"
        auth = self.authenticator
        if status == 401 and (auth.renewed_since(response) or auth.renew_refused()):
            raise RetriableAPIError(f"{where} {detail}: refreshing the access token", response)
        if status == 401:
            raise V5AuthError(
                f"{where} {detail}: Pinterest refused the v5 token. Check that the app was "
                f"authorised with the scopes {SCOPES}, then re-authorise and rerun."
            )
        if status == 403 and account:
            raise AccountForbiddenError(
                f"{where} {detail}: the token's user has no access to this ad account. Ask its "
                "owner for a role on it, or remove it from `ad_account_ids`."
            )
        if status == 403:
            raise V5AuthError(f"{where} {detail}: the token may not read this; check its scopes.")
        if status == 404:
            raise NotFoundError(f"{where} {detail}: not found")
        if status == 409 and code == NO_CATALOG:
            raise NoCatalogError(f"{where} {detail}")

    def check_success_body(self, response: requests.Response) -> None:
        items = self.records_jsonpath == "$.items[*]"  # else the SDK's parse makes the records
        body = json_body(response, decimals=self.decimal_pages and items)
        if not isinstance(body, (dict, list)):
            raise RetriableAPIError(f"{response.status_code} from {self.path}: not JSON", response)
