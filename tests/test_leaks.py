"""The API key never shows: not in logs, errors, tracebacks or output, whatever form it takes."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tap_pinterest_ads.redaction import MASK, SecretRedactor
from tests.conftest import API_KEY
from tests.tapio import TapRun, api_requests, run_tap


def assert_no_key(run: TapRun, key: str = API_KEY) -> None:
    for text in (run.stdout, run.stderr):
        assert key.strip() not in text
        assert key.strip()[3:] not in text  # not even without its `wh_` prefix


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\t"])
def test_a_key_with_whitespace_is_refused_by_name_before_any_request(
    sandbox, config, tmp_path, suffix
):
    run = run_tap(tmp_path, {**config, "api_key": API_KEY + suffix})
    assert run.returncode != 0
    assert "`api_key`" in run.stderr
    assert "whitespace or control characters" in run.stderr
    assert "Traceback" not in run.stderr
    assert_no_key(run)
    assert api_requests(sandbox.requests()) == []


@pytest.mark.parametrize("value", [[API_KEY], {"key": API_KEY}, 12345678])
def test_a_key_of_the_wrong_type_is_refused_without_echoing_it(sandbox, config, tmp_path, value):
    run = run_tap(tmp_path, {**config, "api_key": value})
    assert run.returncode != 0
    assert "`api_key`" in run.stderr
    assert "must be a string" in run.stderr
    assert_no_key(run)
    assert "12345678" not in run.stderr
    assert api_requests(sandbox.requests()) == []


SECRET = "wh_live_0123456789abcdef"


@pytest.mark.parametrize("secret", [SECRET, SECRET + "\n", SECRET + "\r\n", f" {SECRET}\t"])
@pytest.mark.parametrize(
    "spell",
    [
        str,
        str.strip,
        repr,
        json.dumps,
        lambda s: repr(s.encode()),
        lambda s: f"Invalid header value {s.encode()!r}",
        lambda s: json.dumps({"error": f"bad key {s}"}),
        lambda s: f"{s!r} is not of type 'string'",
    ],
)
def test_every_spelling_of_a_secret_is_masked(secret, spell):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactor([secret]))
    logger = logging.getLogger("leak-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("before %s after", spell(secret))
        try:
            raise ValueError(spell(secret))
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text
    assert SECRET[3:] not in text
    assert "before " in text and " after" in text
    assert text.count(MASK) >= 2  # the message and the exception line
