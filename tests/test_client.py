"""Pieces of the shared HTTP client that need no server."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
import requests

from tap_pinterest_ads.client import MAX_RETRY_AFTER_SECONDS, retry_after_seconds


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
