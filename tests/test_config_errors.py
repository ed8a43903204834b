"""A config mistake ends in one clear line naming what to fix, in every mode, before any request."""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_pinterest_ads.tap import TapPinterestAds
from tests.tapio import TAP, api_requests, catalog_selecting, run_tap, write_inputs


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def assert_one_clear_line(returncode: int, stderr: str, *needles: str) -> None:
    assert returncode != 0
    assert "Traceback" not in stderr
    assert "unhandled error" not in stderr
    assert "ResourceWarning" not in stderr
    (line,) = error_lines(stderr)
    for needle in needles:
        assert needle in line


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"start_date": "not-a-date"}, ["`start_date`", "'not-a-date'"]),
        ({"start_date": "2026-02-30"}, ["`start_date`"]),
        ({"lookback_days": 1e9}, ["lookback_days", "3650"]),
        ({"lookback_days": -1}, ["lookback_days", "0"]),
    ],
)
def test_bad_values_fail_before_any_request_naming_the_setting(
    sandbox, config, tmp_path, change, needles
):
    run = run_tap(tmp_path, {**config, **change})
    assert_one_clear_line(run.returncode, run.stderr, *needles)
    assert api_requests(sandbox.requests()) == []


def test_an_unknown_setting_is_named_with_its_likely_meaning(sandbox, config, tmp_path):
    run = run_tap(tmp_path, {**config, "start_dat": "2026-01-01", "page_size": 50})
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "start_dat`" in line]
    assert len(warnings) == 1
    assert "WARNING" in warnings[0]
    assert "`start_date`" in warnings[0]


def test_a_catalog_selecting_nothing_says_so(sandbox, config, tmp_path):
    catalog = catalog_selecting(tmp_path, config, set())
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert "nothing will be synced" in run.stderr
    assert '"selected": true' in run.stderr
    assert not run.records()
    assert api_requests(sandbox.requests()) == []


def test_a_catalog_selecting_a_stream_does_not_warn(sandbox, config, tmp_path):
    catalog = catalog_selecting(tmp_path, config, {"pinterest_ads"})
    run = run_tap(tmp_path, {**config, "max_requests_per_run": 1}, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert "nothing will be synced" not in run.stderr


@pytest.mark.parametrize("flag", ["config", "state", "catalog"])
@pytest.mark.parametrize("content", ['{"api_key": "wh_x",', "[1, 2]", "\x00\xff"])
def test_an_unusable_input_file_is_one_line_naming_file_and_flag(
    sandbox, config, tmp_path, flag, content
):
    args = write_inputs(tmp_path, config, {}, {"streams": []})
    broken = tmp_path / f"{flag}.json"
    broken.write_bytes(content.encode("latin-1"))
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert_one_clear_line(done.returncode, done.stderr, str(broken), f"--{flag}")
    assert api_requests(sandbox.requests()) == []


def test_a_missing_config_file_is_one_line(tmp_path):
    missing = tmp_path / "nowhere.json"
    done = subprocess.run(
        [*TAP, "--config", str(missing)], capture_output=True, text=True, timeout=60, check=False
    )
    assert_one_clear_line(done.returncode, done.stderr, str(missing), "--config")


MISTAKES: list[dict[str, Any]] = [
    {"searches": [{"name": "a", "mediatype": "gif"}]},
    {"api_url": "http://example.com"},
    {"start_date": "soon"},
    {"page_size": 80},
]


@pytest.mark.parametrize("mode", [["--discover"], ["--test"], ["--test=schema"], []])
@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_config_mistake_is_one_line_in_every_mode(sandbox, config, tmp_path, mode, mistake):
    # --state first: a failure while click still parses the flags must close the file it opened.
    args = write_inputs(tmp_path, {**config, **mistake}, {})
    env = {**os.environ, "PYTHONWARNINGS": "always::ResourceWarning"}
    done = subprocess.run(
        [*args, *mode], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    setting = next(iter(mistake))
    assert_one_clear_line(done.returncode, done.stderr, setting)
    assert api_requests(sandbox.requests()) == []


def test_about_with_a_malformed_config_file_is_one_line(tmp_path):
    broken = tmp_path / "config.json"
    broken.write_text("{")
    done = subprocess.run(
        [*TAP, "--about", "--config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_one_clear_line(done.returncode, done.stderr, str(broken), "--config")


@pytest.mark.parametrize(
    ("key", "api_says"),
    [("not-a-valid-key-0001", "Unauthorized"), ("wh_no_credits", "credits exhausted"), (None, "")],
)
def test_a_handled_refusal_is_not_called_unhandled(sandbox, config, tmp_path, key, api_says):
    cfg = {k: v for k, v in {**config, "api_key": key}.items() if v is not None}
    run = run_tap(tmp_path, cfg)
    assert_one_clear_line(run.returncode, run.stderr, api_says or "`api_key`")


@pytest.mark.parametrize(
    ("error", "claimed"),
    [
        (FatalAPIError("refused"), False),
        (ConfigValidationError("bad", errors=["bad"]), False),
        (KeyError("id"), True),
    ],
)
def test_only_real_crashes_are_announced_as_unhandled(caplog, error, claimed):
    stream = TapPinterestAds(config={"api_key": "wh_x_1234"}).streams["pinterest_ads"]
    with caplog.at_level(logging.ERROR):
        try:
            raise error
        except Exception:  # the SDK's sync() logs this from its own except clause
            stream.log("An unhandled error occurred while syncing '%s'", "x", level=logging.ERROR)
    assert ("unhandled error" in caplog.text) is claimed
