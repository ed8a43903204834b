"""Config parsing and date normalisation, without HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_pinterest_ads.ad_library.searches import parse_searches
from tap_pinterest_ads.config_checks import check_api_url
from tap_pinterest_ads.dates import UTC, parse_instant, to_iso

instants = st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


@given(instants)
def test_every_documented_form_reads_as_the_same_instant(instant):
    forms = [
        instant.strftime("%Y-%m-%d %H:%M:%S"),
        instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
        instant.strftime("%Y-%m-%dT%H:%M:%S"),
        instant.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
        int(instant.timestamp()),
        str(int(instant.timestamp())),
    ]
    for form in forms:
        assert parse_instant(form) == instant, form
    assert parse_instant(instant.strftime("%Y-%m-%d")) == instant.replace(
        hour=0, minute=0, second=0
    )


@given(instants)
def test_emitted_form_sorts_like_the_instant(instant):
    later = instant + dt.timedelta(seconds=1)
    assert to_iso(instant) < to_iso(later)
    assert parse_instant(to_iso(instant)) == instant


@pytest.mark.parametrize(
    "junk", [None, "", "0000-00-00 00:00:00", "soon", 0, -5, True, "2026-13-45"]
)
def test_unparseable_values_are_none(junk):
    assert parse_instant(junk) is None


def test_no_searches_means_one_unfiltered_search_named_all():
    (search,) = parse_searches(None)
    assert search.name == "all"
    assert dict(search.filters) == {}


def test_filters_are_normalised_to_api_params():
    (search,) = parse_searches(
        [
            {
                "name": "s",
                "countries": ["us", " CA "],
                "niches": "CG, JY",
                "mediatype": "VIDEO",
                "searchkeyword": "all",
                "minlikes": 10.0,
                "maxprice": 19.5,
                "from": "2026-01-02T10:00:00Z",
                "keyword": "serum",
            }
        ]
    )
    assert dict(search.filters) == {
        "countries": "us,CA",
        "niches": "CG,JY",
        "mediatype": "video",
        "searchkeyword": "All",
        "minlikes": "10",
        "maxprice": "19.5",
        "from": "2026-01-02",
        "keyword": "serum",
    }


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:80", "https://x.example"]
)
def test_https_or_loopback_urls_pass(url):
    assert check_api_url("api_url", url) == url


@pytest.mark.parametrize("url", ["http://10.0.0.1", "ftp://x", "http://example.com", "nonsense"])
def test_other_urls_are_refused_naming_the_setting(url):
    with pytest.raises(ConfigValidationError, match="api_url"):
        check_api_url("api_url", url)


def test_redactor_masks_secrets_in_messages_args_and_tracebacks():
    import io
    import logging

    from tap_pinterest_ads.redaction import SecretRedactor

    secret = "wh_live_0123456789abcdef"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactor([secret, ""]))
    logger = logging.getLogger("redaction-test")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("key %s in args", secret)
    logger.warning(f"key {secret} in the message")
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logger.exception("boom")
    text = stream.getvalue()
    assert secret not in text
    assert text.count("***") == 3  # two messages and the exception line
