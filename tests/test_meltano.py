"""The Meltano project: settings as declared, discovery, and state per search partition."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.marketing.pacing import V5_REQUESTS_PER_MINUTE
from tests.meltano_harness import ROOT, Meltano, log_lines, state_id
from tests.stream_cases import EXTRACTOR, STREAMS, fresh_sandbox

pytest_plugins = ["tests.conftest_meltano"]

TAP = Path(sys.executable).with_name("tap-pinterest-ads")

KINDS = {"string": {"string"}, "integer": {"integer"}, "number": {"integer", "decimal"}}
KINDS |= {"array": {"array"}, "object": {"object"}, "boolean": {"boolean"}}


@pytest.fixture(scope="module")
def about() -> dict[str, Any]:
    """What the tap says about itself: its settings (with the SDK's own) and capabilities."""
    out = subprocess.run(
        [str(TAP), "--about", "--format", "json"], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def declared_plugin() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = (p for p in project["plugins"]["extractors"] if p["name"] == EXTRACTOR)
    return dict(tap)


def declared_settings() -> dict[str, dict[str, Any]]:
    return {setting["name"]: setting for setting in declared_plugin()["settings"]}


def expected_kinds(spec: dict[str, Any]) -> set[str]:
    if spec.get("format") == "date-time":
        return {"date_iso8601"}
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    (json_type,) = (t for t in types if t != "null")
    # Meltano checks an `options` setting against an env var's text: a number choice stays
    # `integer` (its options still listed), or TAP_PINTEREST_ADS_..._DAYS=7 would be refused.
    if "enum" in spec and json_type == "string":
        return {"options"}
    return KINDS[json_type]


def about_spec(about: dict[str, Any], dotted: str) -> dict[str, Any]:
    """`batch_config.encoding.format` -> that property's schema in --about."""
    spec: dict[str, Any] = {"properties": about["settings"]["properties"]}
    for part in dotted.split("."):
        spec = spec["properties"][part]
    return spec


def test_meltano_yml_declares_every_tap_setting(about: dict[str, Any]) -> None:
    """Every setting --about lists, the SDK's own included, with its kind, title and choices."""
    declared = declared_settings()
    advertised = about["settings"]["properties"]
    assert {name.split(".")[0] for name in declared} == advertised.keys()
    for name, setting in declared.items():
        spec = about_spec(about, name)
        assert setting.get("label") and setting.get("description"), name
        assert setting["kind"] in expected_kinds(spec), name
        if "title" in spec:  # the SDK's own settings: the same words as the Hub shows
            assert setting["label"] == spec["title"], name
        assert setting.get("sensitive", False) == spec.get("secret", False), name
        assert setting.get("value") == spec.get("default"), name
        options = [option["value"] for option in setting.get("options", [])]
        assert options == spec.get("enum", []), name


def test_meltano_yml_declares_what_the_tap_can_do(about: dict[str, Any]) -> None:
    plugin = declared_plugin()
    # Without structured-logging Meltano shows every line of the tap as [info].
    assert set(plugin["capabilities"]) == set(about["capabilities"])
    # Each group is one way to configure a family of streams; the ad library needs its key.
    groups = plugin["settings_group_validation"]
    assert ["api_key"] in groups
    for group in groups:
        assert set(group) <= about["settings"]["properties"].keys(), group
        assert set(about["settings"].get("required") or []) <= set(group), group


@pytest.mark.meltano
def test_config_list_shows_every_setting_and_redacts_the_key(meltano: Meltano) -> None:
    secret = "wh_never_print_me_6c1f"
    listing = meltano(
        "config", "list", EXTRACTOR, "--all", env={"TAP_PINTEREST_ADS_API_KEY": secret}
    )
    for name in declared_settings():
        variable = "TAP_PINTEREST_ADS_" + name.upper().replace(".", "_")
        # Settings of a validation group read `name (required by group N) [env: ...]`.
        assert re.search(
            rf"^{re.escape(name)} (\(required by group \d+\) )?\[env: {variable}\]", listing, re.M
        ), name
    # settings_group_validation: the listing opens with what is required.
    assert re.search(r"^(Required settings|  Group \d+): api_key$", listing, re.M)
    (api_key,) = (line for line in listing.splitlines() if line.startswith("api_key "))
    assert "(redacted)" in api_key
    assert secret not in listing


@pytest.mark.meltano
def test_a_number_choice_set_by_env_var_reaches_the_tap_as_a_number(meltano: Meltano) -> None:
    printed = meltano(
        "config", "print", EXTRACTOR, env={"TAP_PINTEREST_ADS_CLICK_WINDOW_DAYS": "7"}
    )
    assert json.loads(printed)["click_window_days"] == 7


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


@pytest.fixture
def project_copy(tmp_path: Path) -> Meltano:
    """Meltano on a copy of meltano.yml: for commands that write to it."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "meltano.yml", project)
    return Meltano(tmp_path / "meltano", project=project)


@pytest.mark.meltano
def test_meltano_select_changes_only_the_select_line(project_copy: Meltano) -> None:
    """README's `meltano select` must not reflow the file or drop its comments."""
    before = (project_copy.project / "meltano.yml").read_text().splitlines()
    # As a person types it: no environment (the harness sets MELTANO_ENVIRONMENT=dev).
    project_copy("--no-environment", "select", EXTRACTOR, "pinterest_ad_snapshots", "*")
    after = (project_copy.project / "meltano.yml").read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=False) if old != new]
    assert len(after) == len(before)
    ((old, new),) = changed
    assert old.startswith("    select: [") and new == old[:-1] + ", pinterest_ad_snapshots.*]"


@pytest.mark.meltano
def test_config_set_batch_config_stores_an_object_the_tap_runs_with(
    project_copy: Meltano, installed: Any, tmp_path: Path
) -> None:
    installed()  # the tap's venv, shared with the copy
    batches = tmp_path / "batches"
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": batches.as_uri()},
    }
    project_copy(
        "--no-environment", "config", "set", EXTRACTOR, "batch_config", json.dumps(batch_config)
    )
    stored = declared_config(project_copy.project)["batch_config"]
    assert stored == batch_config
    with fresh_sandbox() as api:
        out = project_copy("invoke", EXTRACTOR, env=STREAMS[0].env(api))
    messages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    manifests = [m for m in messages if m["type"] == "BATCH"]
    assert manifests and not [m for m in messages if m["type"] == "RECORD"]
    assert list(batches.glob("*.json.gz"))


def declared_config(project: Path) -> dict[str, Any]:
    meltano_yml = yaml.safe_load((project / "meltano.yml").read_text())
    (tap,) = (p for p in meltano_yml["plugins"]["extractors"] if p["name"] == EXTRACTOR)
    return dict(tap["config"])


@pytest.mark.meltano
def test_the_taps_warnings_show_as_warnings(installed: Any, tmp_path: Path) -> None:
    """structured-logging: a retried 500 is a warning in Meltano's log, not [info]."""
    meltano = installed("target-duckdb")
    with fresh_sandbox() as api:
        api.add_faults({"kind": "500"})
        env = STREAMS[0].env(api) | {"TARGET_DUCKDB_FILEPATH": str(tmp_path / "levels.duckdb")}
        result = meltano.attempt("run", EXTRACTOR, "target-duckdb", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    tap_lines = [line for line in log_lines(result.stderr) if line.source == EXTRACTOR]
    retried = [line for line in tap_lines if "500" in line.message and "METRIC" not in line.message]
    assert retried and {line.level for line in retried} == {"warning"}, retried
    assert {"info", "warning"} <= {line.level for line in tap_lines}


@pytest.mark.meltano
def test_config_test_without_a_key_names_the_setting(installed: Any) -> None:
    """Outside `dev` nothing sets api_key: `meltano config test` must say so, in words."""
    meltano = installed()
    result = meltano.attempt("--no-environment", "config", "test", EXTRACTOR)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).splitlines()
    header = next(i for i, line in enumerate(lines) if "Plugin configuration is invalid" in line)
    detail = lines[header + 1]  # Meltano shows the tap's last line here
    # Meltano 4.4.1 prints the tap's last line raw: with structured-logging a JSON log record.
    assert "Invalid setting `api_key`" in detail, detail


def test_dev_paces_at_the_rate_make_sandbox_enforces() -> None:
    """Back-to-back dev runs against `make sandbox` must never meet a 429."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (dev,) = (env for env in project["environments"] if env["name"] == "dev")
    (tap,) = (p for p in dev["config"]["plugins"]["extractors"] if p["name"] == EXTRACTOR)
    makefile = (ROOT / "Makefile").read_text()
    (block,) = re.findall(r"^sandbox:.*\n((?:\t.*\n)+)", makefile, re.M)
    (recipe,) = (line for line in block.splitlines() if "tap-pinterest-ads-sandbox" in line)
    assert f"--rate-limit {tap['config']['requests_per_minute']}" in recipe
    assert tap["config"]["api_url"].endswith(":" + recipe.split("--port ")[1].split()[0])
    # v5 paces itself (no setting): the sandbox must hold two runs' worth in its one minute.
    v5_limit = int(recipe.split("--v5-rate-limit ")[1].split()[0])
    assert v5_limit >= 2 * V5_REQUESTS_PER_MINUTE
    assert tap["config"]["v5_api_url"] == tap["config"]["api_url"] + "/v5"
