"""Date and number parsing, in UTC and in zones far from it (the CI machine runs in UTC)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_pinterest_ads.conform import Losses, converter, parse_count, parse_number
from tap_pinterest_ads.dates import UTC, parse_day, parse_instant, to_iso


@pytest.fixture(autouse=True, params=["UTC", "Asia/Kolkata", "America/Los_Angeles"])
def zone(request: pytest.FixtureRequest) -> Iterator[str]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


JUNE_1 = dt.datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-06-01", JUNE_1),
        ("2026-06-01 10:30:00", JUNE_1.replace(hour=10, minute=30)),
        ("2026-06-01T10:30:00Z", JUNE_1.replace(hour=10, minute=30)),
        ("2026-06-01T12:30:00+02:00", JUNE_1.replace(hour=10, minute=30)),
        ("2026/06/01", JUNE_1),
        ("20260601", JUNE_1),  # compact dates are days, never epoch seconds (1970-08-23)
        (20260601, JUNE_1),
        (int(JUNE_1.timestamp()), JUNE_1),
        (str(int(JUNE_1.timestamp())), JUNE_1),
        (int(JUNE_1.timestamp()) * 1000, JUNE_1),  # milliseconds
        (float(JUNE_1.timestamp()), JUNE_1),
    ],
)
def test_every_form_reads_as_the_same_utc_instant(raw, expected):
    assert parse_instant(raw) == expected
    assert parse_instant(raw).tzinfo is not None


@pytest.mark.parametrize(
    "raw",
    [None, "", "  ", "0000-00-00 00:00:00", "not a date", True, 0, -1, 1234, 20261399, "1.2k"],
)
def test_what_is_not_a_plausible_instant_is_none(raw):
    assert parse_instant(raw) is None


def test_to_iso_is_explicit_utc_whatever_the_local_zone():
    local = dt.datetime(2026, 6, 1, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert to_iso(local) == "2026-06-01T09:30:00+00:00"
    assert parse_day("2026-06-01 23:30:00") == dt.date(2026, 6, 1)


@given(st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2098, 12, 31)))
def test_iso_epoch_and_compact_forms_agree(naive):
    instant = naive.replace(tzinfo=UTC, microsecond=0)
    assert parse_instant(instant.strftime("%Y-%m-%d %H:%M:%S")) == instant
    assert parse_instant(int(instant.timestamp())) == instant
    assert parse_instant(instant.strftime("%Y%m%d")) == instant.replace(hour=0, minute=0, second=0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12),
        ("1,234", 1234),
        ("1.2k", 1200),
        ("12K", 12000),
        ("3.5M", 3_500_000),
        ("987", 987),
        (" 1 234 ", 1234),
        (12.0, 12),
        ("n/a", None),
        ("", None),
        (True, None),
        ({"x": 1}, None),
    ],
)
def test_human_counts(raw, expected):
    assert parse_count(raw) == expected


def test_numbers_keep_decimals():
    assert parse_number("$12.99") == 12.99
    assert parse_number("1,234.5") == 1234.5
    assert parse_number(float("nan")) is None


def test_converter_makes_any_row_valid_for_its_schema_and_counts_what_it_nulls():
    schema = {
        "type": "object",
        "properties": {
            "likes": {"type": ["integer", "null"]},
            "price": {"type": ["number", "null"]},
            "saved": {"type": ["boolean", "null"]},
            "page_id": {"type": ["string", "null"]},
            "started": {"type": ["string", "null"], "format": "date"},
            "countries": {"type": ["array", "null"], "items": {"type": "string"}},
            "series": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {"value": {"type": ["integer", "null"]}},
                },
            },
        },
    }
    losses = Losses()
    conform = converter(schema, losses)
    row = {
        "likes": "1.2k",
        "price": "a lot",
        "saved": 1,
        "page_id": 123,
        "started": 20260601,
        "countries": "US, CA",
        "series": [{"value": "2,000"}, "junk"],
    }
    record = conform(row)
    jsonschema.validate(record, schema)
    assert record == {
        "likes": 1200,
        "price": None,
        "saved": True,
        "page_id": "123",
        "started": "2026-06-01",
        "countries": ["US", "CA"],
        "series": [{"value": 2000}],
    }
    assert losses.count == 2  # the price and the junk item
