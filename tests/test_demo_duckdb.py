"""The demo's destination: target-duckdb 0.8.0 + duckdb 1.1.3 must not lose rows.

With duckdb >= 1.5 that target loses the first row of every batch (its CSV COPY lets the sniffer
take the row for a header); counting rows against distinct keys and the sandbox truth catches
any such regression of the pin in meltano.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.stream_cases import EXTRACTOR, STREAMS, StreamCase, fresh_sandbox

pytest_plugins = ["tests.conftest_meltano"]
pytestmark = [pytest.mark.meltano]

LOADER = "target-duckdb"


@pytest.mark.parametrize("case", STREAMS, ids=lambda case: case.stream)
def test_duckdb_load_matches_sandbox_truth(
    case: StreamCase, installed: Any, tmp_path: Path
) -> None:
    database = tmp_path / "warehouse.duckdb"
    meltano = installed(LOADER)
    with fresh_sandbox() as api:
        env = case.env(api) | {
            "TARGET_DUCKDB_FILEPATH": str(database),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": "demo",
        }
        meltano.run(EXTRACTOR, LOADER, state_suffix=f"duckdb_{case.stream}", env=env)
        truth = case.truth(api)
    keys = ", ".join(case.key)
    with duckdb.connect(str(database), read_only=True) as db:
        rows, distinct = db.execute(
            f"SELECT count(*), count(DISTINCT ({keys})) FROM demo.{case.stream}"  # noqa: S608
        ).fetchone()
        loaded = set(db.execute(f"SELECT {keys} FROM demo.{case.stream}").fetchall())  # noqa: S608
    assert rows == distinct == len(truth)
    # target-duckdb keeps `format: date` columns as text: compare keys as text.
    assert {tuple(map(str, key)) for key in loaded} == {tuple(map(str, key)) for key in truth}
