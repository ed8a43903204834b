"""What the analytics and report streams share: the stream base (keys, DATE bookmark per ad
account with a lookback, the row shape), their run-wide state, and date windows.

Rows are keyed by entity id and `DATE` (and breakdowns), incremental on `DATE` per ad account,
and each sync re-reads `analytics_lookback_days` behind its bookmark: conversions are attributed
late, and a re-read day carries the same key, so it updates the row in place.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import msgspec
import requests
from singer_sdk.exceptions import FatalAPIError

from tap_pinterest_ads.client import PinterestHTTPStream, json_body
from tap_pinterest_ads.conform import SelfConformed
from tap_pinterest_ads.dates import UTC, parse_day
from tap_pinterest_ads.marketing.client import V5Family, V5Stream
from tap_pinterest_ads.marketing.columns import column_schema, is_integer
from tap_pinterest_ads.marketing.settings import AnalyticsSettings
from tap_pinterest_ads.resources import Pacer
from tap_pinterest_ads.schema_files import load_schema

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

SYNC_DAYS_BACK = 89  # the API allows 90 days back in UTC; a day of slack for clock skew
TEST_DAYS = 7  # what a dry run (`--test`) asks for
SYNC_WINDOW_DAYS = 90  # days per sync analytics call
MAX_IDS = 250  # ids per sync analytics call (the spec's maxItems)
# Pinterest's ads_analytics limit (analytics and reports): 300 requests a minute per user.
ANALYTICS_PER_MINUTE = 300
# What every ads analytics row carries besides its metrics: the ad account (the state
# partition) and the currency its *_MICRO_DOLLAR amounts are in.
ACCOUNT_FIELDS = {"AD_ACCOUNT_ID": {"type": ["string"]}, "CURRENCY": {"type": ["string", "null"]}}
# An analytics answer (up to 250 ids x 90 days: 22,500 rows, about 20 MB of JSON) is received
# whole before any of its rows is handed over, so that a broken transfer is retried as any
# request is; but it is kept in a temporary file past SPOOL_IN_MEMORY, and its rows are parsed
# a chunk at a time from there: a call in flight holds a chunk and a page of rows, not its answer.
SPOOL_IN_MEMORY = 1 << 18
ANSWER_CHUNK = 1 << 16  # about 70 rows of the default columns
_BLANK = b" \t\r\n"


def api_day(response: requests.Response) -> dt.date | None:
    """The API's own UTC date, from its `Date` header: its clock, not the machine's, decides
    which days the 90-day window still holds."""
    try:
        return email.utils.parsedate_to_datetime(response.headers["Date"]).astimezone(UTC).date()
    except (KeyError, TypeError, ValueError):
        return None


def array_pages(chunks: Iterable[bytes]) -> Iterator[list[Any]]:
    """The elements of a JSON array arriving in chunks, a list of them per chunk, decoded by
    msgspec as the whole would be. Each chunk is cut after its last `}`: a cut that does not
    end a top-level element (a `}` in a string or a nested object) leaves a string or an object
    open, so the decode fails, and that chunk waits for the next. Raises ValueError when the
    text is not a JSON array (msgspec.DecodeError, a ValueError, when it breaks off)."""
    decode = msgspec.json.decode
    rest = b""
    opened = False
    for chunk in chunks:
        data = rest + chunk if rest else chunk
        if not opened:
            data = data.lstrip(_BLANK)
            if not data:
                continue
            if data[:1] != b"[":
                raise ValueError(f"not a JSON array: {data[:20]!r}")
            data, opened = data[1:], True
        cut = data.rfind(b"}")
        if cut < 0:
            rest = data
            continue
        try:
            page = decode(b"[" + data[: cut + 1].lstrip(_BLANK + b",") + b"]")
        except msgspec.DecodeError:
            rest = data
            continue
        rest = data[cut + 1 :]
        if page:
            yield page
    if not opened:
        raise ValueError("not a JSON array: an empty answer")
    page = decode(b"[" + rest.lstrip(_BLANK + b","))  # the rest closes the array: "]"
    if page:
        yield page


def windows(start: dt.date, end: dt.date, days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive inclusive [first, last] windows of at most `days` days covering start..end."""
    while start <= end:
        last = min(start + dt.timedelta(days=days - 1), end)
        yield start, last
        start = last + dt.timedelta(days=1)


def record_schema(
    keys: Sequence[str], extras: dict[str, Any], columns: Iterable[str]
) -> dict[str, Any]:
    """Keys (never null), the fields every row carries, and one property per column."""
    properties = {column: column_schema(column) for column in columns}
    properties.update(extras)
    for key in keys:
        properties[key] = {"type": ["string"], **({"format": "date"} if key == "DATE" else {})}
    return {"type": "object", "properties": dict(sorted(properties.items()))}


def narrowed(schema: dict[str, Any], keep: Iterable[str]) -> dict[str, Any]:
    """A stream's schema file holds every column it can have: keep the configured ones."""
    wanted = set(keep)
    properties = {k: v for k, v in schema["properties"].items() if k in wanted}
    return {**schema, "properties": properties}


class AnalyticsShared:
    """What the analytics and report streams of one run share: their settings and the
    ads_analytics pace."""

    def __init__(self, family: V5Family, settings: AnalyticsSettings) -> None:
        self.family = family
        self.settings = settings
        self.pacer = Pacer(ANALYTICS_PER_MINUTE)
        self.clamped: set[str] = set()
        self.today: dt.date | None = None  # the API's date, from its last answer

    def api_today(self, stream: AnalyticsStream, context: Context | None) -> dt.date:
        """Today in the API's clock: from the last answer, else from one cheap request."""
        if self.today is None:
            account = (context or {}).get("ad_account_id")
            path = f"/ad_accounts/{account}" if account else "/user_account"
            stream.call(context, path, {}, paced=False)
        return self.today or dt.datetime.now(UTC).date()

    def currency(self, account: str) -> str | None:
        found = next((a for a in self.family.accounts() if str(a["id"]) == account), None)
        return found.get("currency") if found else None


class AnalyticsStream(SelfConformed, V5Stream):
    """Rows keyed by `key_fields`, incremental on DATE per ad account."""

    replication_key = "DATE"
    primary_keys: tuple[str, ...] = ()  # type: ignore[assignment]  # key_fields, set when built
    key_fields: tuple[str, ...] = ("DATE",)
    extras: dict[str, Any] = ACCOUNT_FIELDS
    # A lookback re-reads days behind the bookmark: rows arrive out of DATE order.
    is_sorted = False
    # `shape` gives every field its schema type; the account is AD_ACCOUNT_ID, as the API's.
    partition_copies = ("ad_account_id",)
    # `span` reads the partition's STATE, which the SDK writes in the main thread: partitions
    # are read there in turn (a daily stream reads its requests ahead within one).
    concurrent_partitions = False

    def __init__(
        self,
        tap: Tap,
        *,
        family: V5Family,
        shared: AnalyticsShared,
        schema: dict[str, Any] | None = None,
    ) -> None:
        # Not V5Stream.__init__: the schema is narrowed to the configured columns (or, for a
        # custom report, built from them), where V5Stream loads the file as it is.
        self.shared = shared
        schema = schema or narrowed(
            load_schema(self.name), (*self.key_fields, *self.extras, *self.columns)
        )
        PinterestHTTPStream.__init__(self, tap, resources=family.resources, schema=schema)
        self.family = family
        family.names.add(self.name)
        self.primary_keys = self.key_fields
        self.fields = tuple(self.schema["properties"])
        self.integers = {f for f in self.fields if is_integer(f)}
        self.ids = {f for f in self.fields if f.endswith("_ID") or f == "TARGETING_VALUE"}

    @property
    def columns(self) -> tuple[str, ...]:
        return self.shared.settings.columns

    def call(
        self, context: Context | None, path: str, params: dict[str, Any], *, paced: bool = True
    ) -> Any:
        """One GET through the SDK's retries and the stream's error handling; the JSON body."""
        return self.send(context, "GET", path, params=params, paced=paced)

    def send(
        self,
        context: Context | None,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        paced: bool = True,
    ) -> Any:
        if paced:
            self.shared.pacer.wait()  # ads_analytics: analytics, report creation and polls
        prepared = self.build_prepared_request(
            method=method,
            url=f"{self.url_base}{path}",
            params=params or {},
            json=body,
            headers=self.http_headers,
        )
        response = self.request_decorator(self._request)(prepared, context)
        self.shared.today = api_day(response) or self.shared.today
        return json_body(response)

    def call_pages(
        self, context: Context | None, path: str, params: dict[str, Any]
    ) -> Iterator[list[Any]]:
        """One paced GET whose answer is a JSON array (an analytics call): its rows a chunk at
        a time (array_pages) once the whole answer is in (spooled, not held: SPOOL_IN_MEMORY).
        Any other answer is checked and handed over whole, as `call` does."""
        self.shared.pacer.wait()
        prepared = self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{path}",
            params=params,
            json=None,
            headers=self.http_headers,
        )
        spool, body = self.request_decorator(self._spooled)(prepared, context)
        if spool is None:
            if body:
                yield body
            return
        with spool:
            try:
                yield from array_pages(iter(lambda: spool.read(ANSWER_CHUNK), b""))
            except ValueError as error:  # complete, yet not JSON: retrying would not mend it
                raise FatalAPIError(
                    f"{self.name}: {path} answered invalid JSON ({error})"
                ) from None

    def _spooled(
        self, prepared: requests.PreparedRequest, context: Context | None
    ) -> tuple[IO[bytes] | None, Any]:
        """One try of `call_pages`' request (V5Stream._request and the SDK's, with the body
        streamed to a spool): (the spool, None) for a JSON array, else (None, the body)."""
        with self.family.slots:
            request = self.authenticator(prepared)
            response = self.requests_session.send(
                request, timeout=self.timeout, allow_redirects=self.allow_redirects, stream=True
            )
            with response:
                self._write_request_duration_log(
                    endpoint=self.path, response=response, context=context, extra_tags=None
                )
                self.shared.today = api_day(response) or self.shared.today
                if not response.ok:
                    self.validate_response(response)  # reads the error body; raises
                spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 (returned open)
                try:
                    for chunk in response.iter_content(ANSWER_CHUNK):
                        spool.write(chunk)
                    spool.seek(0)
                    first = b""
                    while not first and (block := spool.read(4096)):
                        first = block.lstrip(_BLANK)[:1]
                    spool.seek(0)
                    if first == b"[":
                        return spool, None
                    response._content = spool.read()  # not an array: as `call` reads it
                except BaseException:
                    spool.close()
                    raise
                spool.close()
                self.validate_response(response)
                return None, json_body(response)

    def span(self, context: Context | None, days_back: int) -> tuple[dt.date, dt.date]:
        """The days to read: from the bookmark less the lookback (else `start_date`, else as
        far as the sync endpoints go) to today, never before what the API keeps."""
        settings = self.shared.settings
        today = self.shared.api_today(self, context)
        oldest = today - dt.timedelta(days=days_back)
        # The partition's own bookmark: the SDK's starting value falls back to `start_date`.
        bookmark = parse_day(self.get_context_state(context).get("replication_key_value"))
        if bookmark is not None:
            start = bookmark - dt.timedelta(days=settings.lookback_days)
        else:
            start = self.first_day() or today - dt.timedelta(days=SYNC_DAYS_BACK)
        if self.ABORT_AT_RECORD_COUNT is not None:
            # A dry run (`--test`) wants one record: the last days prove the stream, without
            # building a history of reports.
            start = max(start, today - dt.timedelta(days=TEST_DAYS))
        if start < oldest:
            if bookmark is None and self.name not in self.shared.clamped:
                self.shared.clamped.add(self.name)
                self.logger.info(
                    "%s: start_date %s is older than the API keeps (%d days); reading from %s",
                    self.name,
                    start,
                    days_back,
                    oldest,
                )
            start = oldest
        return start, today

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        return row  # days behind the bookmark are re-read on purpose (late conversions)

    def first_day(self) -> dt.date | None:
        return self.shared.settings.start_date

    def shape(self, row: dict[str, Any], account: str | None) -> dict[str, Any]:
        """The row as the schema says: every field present (a metric the API left out is
        null, never 0), ids as strings, whole numbers as integers (money stays exact)."""
        out: dict[str, Any] = dict.fromkeys(self.fields)
        for name, value in row.items():  # what the API sent: most fields, some left out
            if value is None or name not in out:
                continue
            if name in self.ids:
                value = str(value)
            elif name in self.integers and isinstance(value, float) and value.is_integer():
                value = int(value)
            out[name] = value
        if account is not None:
            out["AD_ACCOUNT_ID"] = account
            out["CURRENCY"] = self.shared.currency(account)
        return out
