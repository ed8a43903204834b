"""The HTTP base every stream shares: pacing, retries with Retry-After, timeouts, error text.

API families subclass `PinterestHTTPStream` and supply what differs: their `ApiResources` (base
URL, pace, budget), the authenticator and how their error bodies read (`check_success_body`,
`classify_error`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import weakref
from collections.abc import Callable, Generator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlparse

import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk import Tap

    from tap_pinterest_ads.pacing import ApiResources

TToken = TypeVar("TToken")

MAX_TRIES = 6
MAX_BACKOFF_SECONDS = 30.0
# A Retry-After beyond this is more likely a misconfigured server than a wait worth making.
MAX_RETRY_AFTER_SECONDS = 300.0

_bodies: weakref.WeakKeyDictionary[requests.Response, Any] = weakref.WeakKeyDictionary()


def json_body(response: requests.Response) -> Any:
    """The parsed JSON body, parsed once per response; None when it is not JSON."""
    if response not in _bodies:
        try:
            _bodies[response] = response.json()
        except ValueError:
            _bodies[response] = None
    return _bodies[response]


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), else None."""
    if response is None or not (header := response.headers.get("Retry-After")):
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class PinterestHTTPStream(RESTStream[TToken], Generic[TToken]):
    """Shared request machinery. One `ApiResources` per API: streams of an API share its pace."""

    def __init__(self, tap: Tap, *, resources: ApiResources, **kwargs: Any) -> None:
        super().__init__(tap, **kwargs)
        self.resources = resources
        self.attempts = 0  # HTTP requests sent by this stream, retries included

    @property
    def url_base(self) -> str:
        return self.resources.base_url

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 60))

    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Pace and count inside the retry loop: every attempt is a request the API sees.
        def paced(*args: Any, **kwargs: Any) -> Any:
            self.resources.pacer.wait()
            self.resources.budget.spend()
            self.attempts += 1
            return func(*args, **kwargs)

        return super().request_decorator(paced)

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
        # Retry-After when the API gives one, else 1, 2, 4 ... capped: a generator per request.
        exponential = (min(2.0**n, MAX_BACKOFF_SECONDS) for n in itertools.count())
        exception = yield  # type: ignore[misc]
        while True:
            response = getattr(exception, "response", None)
            waited = retry_after_seconds(response)
            exception = yield waited if waited is not None else next(exponential)

    def backoff_max_tries(self) -> int:
        return MAX_TRIES

    def backoff_jitter(self, value: float) -> float:
        # One client per key: the server's Retry-After is exact, and jitter only slows tests.
        return value

    def backoff_handler(self, details: Details) -> None:
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        cause = f"HTTP {response.status_code}" if response is not None else type(exception).__name__
        self.logger.warning(
            "%s: %s on %s, retry %d of %d in %.1f s",
            self.name,
            cause,
            self.path,
            details.get("tries", 0),
            MAX_TRIES - 1,
            details.get("wait") or 0.0,
        )
