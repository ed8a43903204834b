"""Pieces of the shared HTTP client that need no server: Retry-After, the retry schedules."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import email.utils
import logging
import threading
from collections.abc import Callable

import backoff._sync
import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_pinterest_ads.client import json_body
from tap_pinterest_ads.retries import (
    MAX_RETRY_AFTER_SECONDS,
    RATE_LIMIT_WAITS,
    ApiUnavailableError,
    retry_after_seconds,
    trouble,
    wait_generator,
)
from tap_pinterest_ads.tap import TapPinterestAds


def response_with(retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("99999", MAX_RETRY_AFTER_SECONDS)]
)
def test_retry_after_seconds(header, seconds):
    assert retry_after_seconds(response_with(header)) == seconds


def test_retry_after_http_date():
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    waited = retry_after_seconds(response_with(email.utils.format_datetime(when, usegmt=True)))
    assert waited is not None and 25 <= waited <= 30


@pytest.mark.parametrize("header", [None, "soon", ""])
def test_no_usable_retry_after(header):
    assert retry_after_seconds(response_with(header)) is None


def failure(status: int | None, retry_after: str | None = None) -> Exception:
    if status is None:
        return requests.exceptions.ConnectionError("[Errno 111] Connection refused")
    response = response_with(retry_after)
    response.status_code = status
    return RetriableAPIError(f"{status}", response)


def waits_for(error: Exception) -> list[float]:
    generator = wait_generator()
    next(generator)  # backoff primes it
    waits = []
    with contextlib.suppress(StopIteration):
        while True:
            waits.append(generator.send(error))
    return waits


def test_a_rate_limit_without_retry_after_is_retried_past_the_rolling_minute():
    waits = waits_for(failure(429))
    assert sum(waits) >= 90
    assert waits == sorted(waits)


@pytest.mark.parametrize("error", [failure(500), failure(503), failure(None)])
def test_server_errors_and_lost_connections_keep_the_short_schedule(error):
    assert waits_for(error) == [1.0, 2.0, 4.0, 8.0, 16.0]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_wins_when_present(status):
    assert waits_for(failure(status, "7")) == [7.0] * 5


def with_reset(error: Exception, reset: str) -> Exception:
    error.response.headers["x-ratelimit-reset"] = reset  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "waits"),
    [
        (with_reset(failure(429), "3"), [3.0] * 5),  # Pinterest's reset, in seconds
        (with_reset(failure(429), "0"), [1.0] * 5),  # never a hot loop into the same window
        (with_reset(failure(429, "7"), "3"), [7.0] * 5),  # Retry-After first
        (with_reset(failure(503), "3"), [1.0, 2.0, 4.0, 8.0, 16.0]),  # only a 429 says when
        (with_reset(failure(429), "soon"), list(RATE_LIMIT_WAITS)),  # unreadable: the schedule
    ],
)
def test_a_rate_limit_waits_for_the_window_reset_the_api_announces(error, waits):
    assert waits_for(error) == waits


@pytest.fixture
def stream():
    tap = TapPinterestAds(config={"api_key": "wh_x_1234", "requests_per_minute": 100_000})
    return tap.streams["pinterest_ads"]


@pytest.mark.parametrize(
    ("error", "total", "says"),
    [
        (failure(429), sum(RATE_LIMIT_WAITS), "kept answering HTTP 429"),
        (failure(503), 31.0, "kept answering HTTP 503"),
        (failure(None), 31.0, "Could not reach"),
    ],
)
def test_the_request_decorator_gives_up_in_one_line_after_the_schedule(
    stream, monkeypatch, caplog, error, total, says
):
    slept: list[float] = []
    monkeypatch.setattr(backoff._sync.time, "sleep", slept.append)
    tries = 0

    def send() -> None:
        nonlocal tries
        tries += 1
        raise error

    with caplog.at_level(logging.INFO), pytest.raises(ApiUnavailableError) as failed:
        stream.request_decorator(send)()
    assert sum(slept) == total
    assert tries == len(slept) + 1
    assert says in str(failed.value)
    assert "`api_url`" in str(failed.value)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == len(slept), "each retry is logged once"
    assert "Backing off" not in caplog.text


def test_a_give_up_counts_the_tries_of_its_own_call_when_threads_share_a_stream(
    stream, monkeypatch
):
    # v5 streams request from reader threads too. Thread a's first try hangs while thread b
    # runs its whole schedule on the same stream: each message counts its own call's tries.
    monkeypatch.setattr(backoff._sync.time, "sleep", lambda seconds: None)
    a_tried, b_done = threading.Event(), threading.Event()
    messages: dict[str, str] = {}

    def send_a() -> None:
        if not a_tried.is_set():
            a_tried.set()
            b_done.wait(10)
        raise failure(503)

    def send_b() -> None:
        raise failure(503)

    def call(name: str, send: Callable[[], None]) -> None:
        try:
            stream.request_decorator(send)()
        except ApiUnavailableError as error:
            messages[name] = str(error)
        finally:
            if name == "b":
                b_done.set()

    a = threading.Thread(target=call, args=("a", send_a))
    a.start()
    assert a_tried.wait(10)
    call("b", send_b)
    a.join(10)
    assert "after 6 tries" in messages["a"], messages["a"]
    assert "after 6 tries" in messages["b"], messages["b"]


def test_trouble_names_each_kind_of_failure():
    timeout = requests.exceptions.ReadTimeout()
    assert trouble(timeout, 5) == "no answer within 5 s (`request_timeout`)"
    assert trouble(failure(None), 5) == "connection refused"
    assert trouble(failure(503), 5) == "HTTP 503 Service Unavailable"
    assert trouble(ConnectionResetError(), 5) == "connection dropped mid-answer"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"data": [{"id": 1}], "scroll": "a"}', {"data": [{"id": 1}], "scroll": "a"}),
        (b'{"total": 1e400}', {"total": float("inf")}),  # beyond a double: msgspec refuses
        (b"\xef\xbb\xbf" + b'{"data": []}', {"data": []}),  # a byte-order mark
        ('{"title": "caf\u00e9"}'.encode("utf-16"), {"title": "caf\u00e9"}),  # not UTF-8
        (b"<html>502</html>", None),
        (b"", None),
    ],
)
def test_a_body_is_read_as_the_lenient_decoder_reads_it_or_is_none(content, expected):
    response = requests.Response()
    response.status_code = 200
    response._content = content
    assert json_body(response) == expected


@pytest.mark.parametrize(
    "content",
    [
        b'{"items": [{"bid": 1.10, "cap": 2.5e-3, "n": 7, "big": 123456789012345678901}]}',
        b"\xef\xbb\xbf" + b'{"items": [{"bid": 1.10}]}',  # msgspec refuses: the lenient decoder
        b'{"items": [{"bid": 1.10, "nan": NaN}]}',  # neither reads it with Decimal floats
    ],
)
def test_a_page_read_with_decimals_is_what_the_sdks_parse_gives(content):
    # v5 lists parse a page once with floats as Decimal (their digits kept), as the SDK's
    # `response.json(parse_float=Decimal)` does: the checks, bookmark and records share it.
    response = requests.Response()
    response.status_code = 200
    response._content = content
    body = json_body(response, decimals=True)
    try:
        expected = response.json(parse_float=decimal.Decimal)
    except ValueError:
        expected = None  # not JSON to the SDK either: the check retries it as such
    assert repr(body) == repr(expected)
    assert json_body(response) is body  # parsed once
