"""The HTTP base every stream shares: pacing, retries (retries.py), timeouts, error text.

API families subclass `PinterestHTTPStream` and supply what differs: their `ApiResources` (base
URL, pace, budget), the authenticator and how their error bodies read (`check_success_body`,
`classify_error`).
"""

from __future__ import annotations

import copy
import decimal
import functools
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Generator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlparse

import backoff
import msgspec
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_pinterest_ads.cli import HANDLED
from tap_pinterest_ads.conform import DirectRecords
from tap_pinterest_ads.retries import (
    MAX_TRIES,
    RETRIABLE,
    ApiUnavailableError,
    give_up_message,
    schedule_for,
    trouble,
    wait_generator,
)
from tap_pinterest_ads.session import OriginBoundSession

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk import Tap

    from tap_pinterest_ads.resources import ApiResources

TToken = TypeVar("TToken")

_bodies: weakref.WeakKeyDictionary[requests.Response, Any] = weakref.WeakKeyDictionary()


_DECIMAL_FLOATS = msgspec.json.Decoder(float_hook=decimal.Decimal)


def parse_json(response: requests.Response, *, decimals: bool = False) -> Any:
    """The body parsed (raises ValueError when it is not JSON); with `decimals`, floats are
    read as the SDK reads them, as Decimal with their digits. msgspec reads a page in half the
    time; what it refuses (NaN, a BOM, another encoding, lone surrogates) the lenient decoder
    reads as before."""
    try:
        if decimals:
            return _DECIMAL_FLOATS.decode(response.content)
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.json(parse_float=decimal.Decimal) if decimals else response.json()


def json_body(response: requests.Response, *, decimals: bool = False) -> Any:
    """The parsed JSON body, parsed once per response (`decimals`: for its first parse); None
    when it is not JSON."""
    if response not in _bodies:
        try:
            _bodies[response] = parse_json(response, decimals=decimals)
        except ValueError:
            _bodies[response] = None
    return _bodies[response]


def _as_prepared(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


class PinterestHTTPStream(DirectRecords, RESTStream[TToken], Generic[TToken]):
    """Shared request machinery. One `ApiResources` per API: streams of an API share its pace."""

    _LOG_REQUEST_METRICS = False  # a METRIC line per request is noise; the record counts stay

    def __init__(self, tap: Tap, *, resources: ApiResources, **kwargs: Any) -> None:
        super().__init__(tap, **kwargs)
        self.resources = resources
        self.attempts = 0  # requests the API answered (what can cost credits), retries included
        # Requests sent, answered or not, per thread: v5 streams request from reader threads
        # too, and a give-up message counts the tries of its own call only.
        self._sent = threading.local()

    @property
    def url_base(self) -> str:
        return self.resources.base_url

    _schemas_written: dict[str, tuple[Any, ...]] | None = None

    def _write_schema_message(self) -> None:
        # The SDK writes a SCHEMA each time `sync` runs, and a child stream's runs once per
        # parent record (board_section_pins: once per section), each serialised by a deep
        # `asdict` of the schema. A target needs it again only when it changes: the message
        # is written when it differs from the last one this stream wrote under that name.
        written = self._schemas_written = self._schemas_written or {}
        for message in self._generate_schema_messages():
            shape = (message.schema, message.key_properties, message.bookmark_properties)
            if written.get(message.stream) != shape:
                written[message.stream] = copy.deepcopy(shape)
                self._tap.write_message(message)

    def build_prepared_request(self, *args: Any, **kwargs: Any) -> requests.PreparedRequest:
        # The SDK's, but the request is not authenticated here: `_request` authenticates each
        # try itself (with a renewed token, if one was), and doing both re-encodes the whole
        # query string twice a request (a keywords batch: 250 ad group ids, 2.6 ms each).
        # `_as_prepared` is an explicit no-op so that requests does not look in ~/.netrc.
        request = requests.Request(*args, **{"auth": _as_prepared, **kwargs})
        request.headers.setdefault("User-Agent", self.user_agent)
        return self.requests_session.prepare_request(request)

    @functools.cached_property
    def requests_session(self) -> requests.Session:
        session = OriginBoundSession(self.resources)
        session.hooks["response"].append(self._count_answer)
        return session

    def _count_answer(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Called when the headers of an answer arrive (a body cut short still counts): an
        # answer is what the API can charge for, so it is what `attempts` and the budget count.
        # A refused connection or a timeout costs nothing.
        self.attempts += 1
        self.resources.budget.spend()

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 60))

    @property
    def tries(self) -> int:
        """Requests this thread has sent, answered or not."""
        return getattr(self._sent, "tries", 0)

    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # The SDK's decorator, with the wait generator deciding when to give up (retries.py),
        # backoff's own logging off (backoff_handler logs each retry once), and one line that
        # says what to do once the tries run out instead of the last exception's chain.
        def paced(*args: Any, **kwargs: Any) -> Any:
            self.resources.pacer.wait()  # inside the retry loop: every try is in the window
            self._sent.tries = self.tries + 1
            return func(*args, **kwargs)

        retrying = backoff.on_exception(
            self.backoff_wait_generator,
            RETRIABLE,
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(paced)

        @functools.wraps(func)
        def explained(*args: Any, **kwargs: Any) -> Any:
            started, tries_before = time.monotonic(), self.tries
            try:
                return retrying(*args, **kwargs)
            except RETRIABLE as error:
                raise ApiUnavailableError(
                    give_up_message(
                        error,
                        api=self.resources.label,
                        url=self.url_base,
                        setting=self.resources.url_setting,
                        tries=self.tries - tries_before,
                        seconds=time.monotonic() - started,
                        timeout=self.timeout,
                    )
                ) from None

        return explained

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            self.check_success_body(response)
            return
        retriable = (
            status >= HTTPStatus.INTERNAL_SERVER_ERROR or status in self.extra_retry_statuses
        )
        self.classify_error(response, retriable=retriable)
        message = self.response_error_message(response)
        if retriable:
            raise RetriableAPIError(message, response)
        raise FatalAPIError(message)

    def check_success_body(self, response: requests.Response) -> None:
        """Hook: raise for a 2xx whose body is really an error."""

    def classify_error(self, response: requests.Response, *, retriable: bool) -> None:
        """Hook: raise a more precise error than the status alone implies."""

    def response_error_message(self, response: requests.Response) -> str:
        # Path only: no query string, no headers (the SDK default lists header names and the URL).
        reason = response.reason or HTTPStatus(response.status_code).phrase
        path = urlparse(response.url).path or self.path
        detail = self.api_message(response)
        return f"{response.status_code} {reason} for {path}" + (f": {detail}" if detail else "")

    def api_message(self, response: requests.Response) -> str:
        body = json_body(response)
        if isinstance(body, dict):
            for key in ("error", "message", "detail"):
                if body.get(key):
                    return str(body[key])
        return response.text[:300].strip()

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        return wait_generator()

    def backoff_max_tries(self) -> int:
        return MAX_TRIES  # only a bound: the wait generator ends each schedule

    def backoff_jitter(self, value: float) -> float:
        # One client per key: the server's Retry-After is exact, and jitter only slows tests.
        return value

    def backoff_handler(self, details: Details) -> None:
        exception = details.get("exception")
        self.logger.warning(
            "%s: %s on %s, retry %d of %d in %.1f s",
            self.name,
            trouble(exception, self.timeout) if exception else "failure",
            self.path,
            details.get("tries", 0),
            len(schedule_for(exception)),
            details.get("wait") or 0.0,
        )

    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        # sync() announces every exception leaving a stream as "An unhandled error occurred";
        # a refusal the tap explains in one line (cli.HANDLED) is handled: drop that claim.
        unhandled = level >= logging.ERROR and message.startswith("An unhandled error")
        if unhandled and isinstance(sys.exc_info()[1], HANDLED):
            return
        super().log(message, *args, level=level, **kwargs)
