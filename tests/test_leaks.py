"""The API key never shows: not in logs, errors, tracebacks or output, whatever form it takes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from singer_sdk.logging import StructuredFormatter

from tap_pinterest_ads.redaction import MASK, SecretRedactor, spellings
from tap_pinterest_ads.sandbox.control import CaptureServer
from tests.conftest import API_KEY
from tests.tapio import TapRun, api_requests, run_tap, write_inputs


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


@pytest.mark.parametrize(
    "secret", [SECRET, SECRET + "\n", SECRET + "\r\n", f" {SECRET}\t", SECRET + "é"]
)
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
@pytest.mark.parametrize("formatter", [logging.Formatter, StructuredFormatter])
def test_every_spelling_of_a_secret_is_masked(secret, spell, formatter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
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


def test_a_key_the_api_echoes_is_masked_and_the_message_kept(sandbox, config, tmp_path):
    sandbox.add_faults({"kind": "echo_key"})
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert_no_key(run)
    (line,) = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert f"Invalid API key '{MASK}' for this endpoint" in line
    assert "`api_key`" in line, "the hint points at the key"
    assert "`searches`" not in line, "not at the search filters"


def test_a_redirect_to_another_origin_gets_no_request_and_a_clear_error(sandbox, config, tmp_path):
    with CaptureServer() as foreign:
        sandbox.add_faults({"kind": "redirect", "to": foreign.url})
        run = run_tap(tmp_path, config)
        assert foreign.requests() == [], "nothing, key or not, is sent to another origin"
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert f"redirect to {foreign.url}" in line
    assert "`api_url`" in line
    assert_no_key(run)


def test_a_redirect_within_the_origin_is_followed_with_the_key(sandbox, config, tmp_path):
    sandbox.add_faults({"kind": "redirect", "to": sandbox.url})
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert {r["id"] for r in run.records()} == set(sandbox.truth())
    first, again = api_requests(sandbox.requests())[:2]
    assert first["status"] == 302
    assert again["params"] == first["params"]
    assert again["auth_via"] == "x-api-key"


def test_structured_logging_as_meltano_sets_it_up_masks_the_key_too(sandbox, config, tmp_path):
    # Meltano's logging config for SDK taps: the structured (JSON) formatter renders messages
    # and exceptions itself.
    logging_config = tmp_path / "logging.json"
    logging_config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"f": {"()": "singer_sdk.logging.StructuredFormatter"}},
                "handlers": {
                    "console": {
                        "class": "logging.StreamHandler",
                        "formatter": "f",
                        "stream": "ext://sys.stderr",
                    }
                },
                "root": {"handlers": ["console"], "level": "INFO"},
            }
        )
    )
    sandbox.add_faults({"kind": "echo_key"})
    args = write_inputs(tmp_path, config, None)
    env = {**os.environ, "SINGER_SDK_LOG_CONFIG": str(logging_config)}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode != 0
    assert_no_key(TapRun(done.returncode, done.stdout, done.stderr))
    errors = [json.loads(line) for line in done.stderr.splitlines() if '"level":"error"' in line]
    assert any(f"Invalid API key '{MASK}'" in error["message"] for error in errors)


def test_a_crash_python_reports_itself_masks_the_secret():
    # Before any logging is configured (an import or startup failure): Python's own hook and
    # logging's last-resort handler would print the message as it is.
    crash = "from tap_pinterest_ads import redaction\n"
    crash += f"redaction.install([{API_KEY!r}])\nraise RuntimeError('refused {API_KEY}')"
    done = subprocess.run(
        [sys.executable, "-c", crash], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert API_KEY not in done.stderr
    assert f"RuntimeError: refused {MASK}" in done.stderr


def test_a_secret_is_masked_from_four_characters_up():
    # Shorter strings occur by chance: masking them would garble every message.
    assert spellings("abc") == set()
    assert "abcd" in spellings("abcd")
