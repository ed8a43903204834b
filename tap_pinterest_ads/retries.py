"""How long to keep trying, by kind of trouble, and what to say when the tries run out.

A rate limit is a rolling minute: retries must outlast it, so a 429 without Retry-After waits
5+10+20+30+30 = 95 s in all. Server errors, timeouts and dropped connections are more often
over quickly or not at all: 1+2+4+8+16 = 31 s. A Retry-After header always wins (capped), and
on a 429 so does Pinterest's `x-ratelimit-reset`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Generator
from http import HTTPStatus
from typing import Any

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

RATE_LIMIT_WAITS = (5.0, 10.0, 20.0, 30.0, 30.0)
SERVER_ERROR_WAITS = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_TRIES = 1 + max(len(RATE_LIMIT_WAITS), len(SERVER_ERROR_WAITS))
# A Retry-After beyond this is more likely a misconfigured server than a wait worth making.
MAX_RETRY_AFTER_SECONDS = 300.0
_EPOCH_THRESHOLD = 1e9  # a reset this large is an instant, not a number of seconds

# What the SDK's request_decorator retries.
RETRIABLE: tuple[type[Exception], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class ApiUnavailableError(FatalAPIError):
    """Retries ran out: the API could not be reached or kept failing; the message says why."""


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


def reset_seconds(value: str | None) -> float | None:
    """Seconds until Pinterest's `x-ratelimit-reset` (seconds, or an epoch instant), else None."""
    if not value:
        return None
    try:
        seconds = float(value.split(",")[0].strip())
    except ValueError:
        return None
    if seconds > _EPOCH_THRESHOLD:
        seconds -= time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def server_wait(response: requests.Response | None) -> float | None:
    """What the server said to wait: Retry-After, else on a 429 the rate-limit window's reset
    (at least a second: a reset of 0 would retry at once into the same full window)."""
    told = retry_after_seconds(response)
    if told is None and response is not None and response.status_code == 429:
        reset = reset_seconds(response.headers.get("x-ratelimit-reset"))
        told = None if reset is None else max(reset, 1.0)
    return told


def _response(exception: BaseException | None) -> requests.Response | None:
    response = getattr(exception, "response", None)
    return response if isinstance(response, requests.Response) else None


def schedule_for(exception: BaseException | None) -> tuple[float, ...]:
    response = _response(exception)
    if response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        return RATE_LIMIT_WAITS
    return SERVER_ERROR_WAITS


def wait_generator() -> Generator[float, Any, None]:
    """backoff's wait generator: retry n waits the n-th step of the schedule of the trouble
    just seen, or what Retry-After says; it ends (backoff gives up) when that schedule does."""
    exception = yield 0.0  # backoff primes the generator and discards this
    retry = 0
    while retry < len(waits := schedule_for(exception)):
        told = server_wait(_response(exception))
        exception = yield waits[retry] if told is None else told
        retry += 1


def trouble(exception: BaseException, timeout: float) -> str:
    """What went wrong, in words, for the retry log and the give-up line."""
    response = _response(exception)
    if response is not None:
        reason = response.reason or HTTPStatus(response.status_code).phrase
        return f"HTTP {response.status_code} {reason}"
    if isinstance(exception, requests.exceptions.Timeout):
        return f"no answer within {timeout:g} s (`request_timeout`)"
    if isinstance(exception, requests.exceptions.ConnectionError):
        return "connection refused" if "refused" in str(exception).lower() else "no connection"
    return "connection dropped mid-answer"


def give_up_message(
    exception: BaseException,
    *,
    api: str,
    url: str,
    setting: str,
    tries: int,
    seconds: float,
    timeout: float,
) -> str:
    """One line: which API, which setting, what happened, what to do."""
    what = trouble(exception, timeout)
    spent = f"after {tries} tries over {seconds:.0f} s"
    response = _response(exception)
    if response is None:
        return (
            f"Could not reach the {api} at {url} (`{setting}`): {what} {spent}. "
            f"Check `{setting}` and your network, then rerun."
        )
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        return (
            f"The {api} at {url} (`{setting}`) kept answering {what} {spent}: another client may "
            "share this key's rate limit. Lower `requests_per_minute` or rerun later."
        )
    return (
        f"The {api} at {url} (`{setting}`) kept answering {what} {spent}: the service is in "
        "trouble, not your settings. Rerun later."
    )
