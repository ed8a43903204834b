"""The Meltano project: settings as declared, discovery, and state per search partition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.tap import SETTINGS
from tests.meltano_harness import ROOT, Meltano, state_id
from tests.stream_cases import EXTRACTOR, STREAMS, fresh_sandbox

pytest_plugins = ["tests.conftest_meltano"]

# SDK built-ins worth configuring from Meltano; the rest stay undeclared on purpose.
SDK_SETTINGS = {"flattening_enabled", "flattening_max_depth", "stream_maps"}
KINDS = {"string": {"string"}, "integer": {"integer"}, "number": {"integer", "decimal"}}
KINDS |= {"array": {"array"}, "object": {"object"}, "boolean": {"boolean"}}


def declared_settings() -> dict[str, dict[str, Any]]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = (p for p in project["plugins"]["extractors"] if p["name"] == EXTRACTOR)
    return {setting["name"]: setting for setting in tap["settings"]}


def expected_kinds(spec: dict[str, Any]) -> set[str]:
    if spec.get("format") == "date-time":
        return {"date_iso8601"}
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    (json_type,) = (t for t in types if t != "null")
    return KINDS[json_type]


def test_meltano_yml_declares_every_tap_setting() -> None:
    declared = declared_settings()
    # SETTINGS, not the Tap class: instantiating a tap appends the SDK's built-ins to the class.
    own = SETTINGS.to_dict()["properties"]
    assert declared.keys() == own.keys() | SDK_SETTINGS
    for name, spec in own.items():
        setting = declared[name]
        assert setting.get("label") and setting.get("description"), name
        assert setting["kind"] in expected_kinds(spec), name
        assert setting.get("sensitive", False) == spec.get("secret", False), name
        assert setting.get("value") == spec.get("default"), name


@pytest.mark.meltano
def test_config_list_shows_every_setting_and_redacts_the_key(meltano: Meltano) -> None:
    secret = "wh_never_print_me_6c1f"
    listing = meltano(
        "config", "list", EXTRACTOR, "--all", env={"TAP_PINTEREST_ADS_API_KEY": secret}
    )
    for name in declared_settings():
        assert f"{name} [env: TAP_PINTEREST_ADS_{name.upper()}]" in listing
    (api_key,) = (line for line in listing.splitlines() if line.startswith("api_key "))
    assert "(redacted)" in api_key
    assert secret not in listing


@pytest.mark.meltano
def test_discover_lists_every_stream_with_its_key(installed: Any) -> None:
    catalog = json.loads(installed()("invoke", EXTRACTOR, "--discover"))
    streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    for case in STREAMS:
        assert streams[case.stream]["key_properties"] == list(case.key)
        assert streams[case.stream]["replication_key"] == case.replication_key


@pytest.mark.meltano
def test_state_holds_a_bookmark_per_search(installed: Any, tmp_path: Path) -> None:
    """Each search is a state partition whose bookmark is the newest datefound it loaded."""
    case, loader = STREAMS[0], "target-duckdb"
    meltano = installed(loader)
    database = tmp_path / "partitions.duckdb"
    searches = [{"name": "videos", "mediatype": "video"}, {"name": "images", "mediatype": "image"}]
    with fresh_sandbox() as api:
        env = case.env(api, searches=searches) | {
            "TARGET_DUCKDB_FILEPATH": str(database),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": "ads",
        }
        meltano.run(EXTRACTOR, loader, state_suffix="partitions", env=env)
    state = meltano.state(state_id(EXTRACTOR, loader, "partitions"))
    partitions = state["bookmarks"][case.stream]["partitions"]
    with duckdb.connect(str(database), read_only=True) as db:
        newest = dict(
            db.execute(
                f"SELECT search_name, max({case.replication_key}) FROM ads.{case.stream}"  # noqa: S608
                " GROUP BY search_name"
            ).fetchall()
        )
    assert {p["context"]["search_name"] for p in partitions} == {s["name"] for s in searches}
    for partition in partitions:
        bookmark = parse_instant(partition["replication_key_value"])
        assert partition["replication_key"] == case.replication_key
        assert bookmark == parse_instant(newest[partition["context"]["search_name"]])
