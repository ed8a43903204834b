"""MeltanoLabs target-snowflake: our schemas' type and identifier mapping offline, loads live.

target-snowflake pins singer-sdk 0.55, so it runs from the venv `meltano install` made for it;
fakesnow (with only its own pins) goes into a separate folder put on that venv's PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_pinterest_ads.tap import TapPinterestAds
from tests.meltano_harness import PLUGINS_LOCK, ROOT, UV, locked
from tests.stream_cases import (
    EXTRACTOR,
    STREAMS,
    V5_STREAMS,
    StreamCase,
    V5Case,
    fresh_sandbox,
    v5_account,
    with_v5,
)

pytest_plugins = ["tests.conftest_meltano"]
pytestmark = [pytest.mark.meltano]

LOADER = "target-snowflake"
PLUGIN_PYTHON = ROOT / ".meltano" / "loaders" / LOADER / "venv" / "bin" / "python"
PROBE = Path(__file__).with_name("snowflake_probe.py")
FAKESNOW = ("fakesnow==0.12.1", "duckdb~=2.0.0", "sqlglot~=30.22.0")
LIVE_SETTINGS = ("ACCOUNT", "USER", "PASSWORD", "DATABASE")
ALL_CASES: list[StreamCase | V5Case] = [*STREAMS, *V5_STREAMS]
MISSING_LIVE = [
    f"SNOWFLAKE_{name}" for name in LIVE_SETTINGS if not os.environ.get(f"SNOWFLAKE_{name}")
]


def probe(*args: str, stdin: str = "", **env_vars: str) -> Any:
    env = {**os.environ, **env_vars}
    with locked(PLUGINS_LOCK, shared=True):
        result = subprocess.run(
            [str(PLUGIN_PYTHON), str(PROBE), *args],
            input=stdin, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def stream_schema(case: StreamCase | V5Case) -> dict[str, Any]:
    stream = TapPinterestAds(config={}, validate_config=False).streams[case.stream]
    return {"schema": stream.schema, "key_properties": list(stream.primary_keys)}


def loader_config() -> dict[str, Any]:
    """target-snowflake's config in meltano.yml, so the check follows what users run."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (plugin,) = (p for p in project["plugins"]["loaders"] if p["name"] == LOADER)
    return dict(plugin.get("config", {}))


@pytest.fixture(scope="session")
def fakesnow(installed: Any) -> Path:
    installed(LOADER)
    folder = ROOT / ".meltano" / "test-tools" / FAKESNOW[0].replace("==", "-")
    with locked(folder.with_suffix(".lock")):
        if not (folder / "fakesnow").is_dir():
            subprocess.run(
                [str(UV), "pip", "install", "--quiet", "--no-deps", "--target", str(folder),
                 "--python", str(PLUGIN_PYTHON), *FAKESNOW],
                check=True, timeout=600,
            )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def tables(fakesnow: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Every stream's SCHEMA message through one target-snowflake process: table -> columns."""
    config = loader_config() | {
        "account": "fakesnow",
        "user": "fake",
        "password": "fake",
        "database": "DB1",
        "default_target_schema": "PINTEREST_ADS",
    }
    messages = [
        {"type": "SCHEMA", "stream": case.stream, **stream_schema(case)} for case in ALL_CASES
    ]
    # fakesnow leaves a stage folder behind in TMPDIR: keep it in pytest's tmp_path.
    created = probe(
        "ddl", json.dumps(config), stdin="\n".join(map(json.dumps, messages)),
        PYTHONPATH=str(fakesnow), TMPDIR=str(tmp_path_factory.mktemp("fakesnow")),
    )  # fmt: skip
    return dict(created)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.stream)
def test_schema_maps_to_snowflake_types_and_identifiers(
    case: StreamCase | V5Case, tables: dict[str, dict[str, str]]
) -> None:
    columns = tables[case.stream.upper()]
    properties = stream_schema(case)["schema"]["properties"]
    assert {name.upper() for name in properties} <= columns.keys()
    assert {column: columns.get(column) for column in case.snowflake_types} == dict(
        case.snowflake_types
    )


@pytest.mark.snowflake_live
@pytest.mark.skipif(
    bool(MISSING_LIVE), reason=f"live Snowflake load needs {', '.join(MISSING_LIVE)}"
)
@pytest.mark.parametrize("case", STREAMS, ids=lambda case: case.stream)
def test_live_load_matches_sandbox_truth(case: StreamCase, installed: Any, tmp_path: Path) -> None:
    """Row and key counts per table; the case carrying the v5 family checks its tables too."""
    meltano = installed(LOADER)
    schema = f"PINTEREST_ADS_TEST_{uuid.uuid4().hex[:8].upper()}"
    connection = {
        f"TARGET_SNOWFLAKE_{name}": os.environ[f"SNOWFLAKE_{name}"]
        for name in (*LIVE_SETTINGS, "WAREHOUSE", "ROLE")
        if os.environ.get(f"SNOWFLAKE_{name}")
    }
    riders = V5_STREAMS if case.carries_v5 else []
    try:
        with fresh_sandbox() as api:
            env = case.env(api)
            if riders:
                env = with_v5(env, api, str(tmp_path / "pinterest-refresh-token.json"))
            env |= connection | {"TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA": schema}
            meltano.run(EXTRACTOR, LOADER, state_suffix=schema.lower(), env=env)
            truth = {case.stream: len(case.truth(api))}
            truth |= {c.stream: len(c.served(api, v5_account(api))) for c in riders}
        counts = {
            c.stream: probe("count", schema, c.stream.upper(), ", ".join(k.upper() for k in c.key))
            for c in (case, *riders)
        }
    finally:
        probe("drop", schema)
    for stream, expected in truth.items():
        assert counts[stream]["rows"] == counts[stream]["distinct"] == expected, stream
