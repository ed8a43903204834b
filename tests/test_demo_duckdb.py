"""The demo's destination: target-duckdb 0.8.0 + duckdb 1.1.3 must not lose rows.

With duckdb >= 1.5 that target loses the first row of every batch (its CSV COPY lets the sniffer
take the row for a header), and with 1.1.3 it still does in a table of text columns only
(board_sections: one batch per board) unless the _sdc_* columns are on; counting rows against
distinct keys and the sandbox truth, for both families as the demo loads them, catches any
regression of the pins and settings in meltano.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.stream_cases import (
    EXTRACTOR,
    STREAMS,
    V5_STREAMS,
    StreamCase,
    fresh_sandbox,
    v5_account,
    with_v5,
)

pytest_plugins = ["tests.conftest_meltano"]
pytestmark = [pytest.mark.meltano]

LOADER = "target-duckdb"


@pytest.mark.parametrize("case", STREAMS, ids=lambda case: case.stream)
def test_duckdb_load_matches_sandbox_truth(
    case: StreamCase, installed: Any, tmp_path: Path
) -> None:
    database = tmp_path / "warehouse.duckdb"
    meltano = installed(LOADER)
    riders = V5_STREAMS if case.carries_v5 else []
    with fresh_sandbox() as api:
        env = case.env(api) | {
            "TARGET_DUCKDB_FILEPATH": str(database),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": "demo",
        }
        if riders:
            env = with_v5(env, api, str(tmp_path / "pinterest-refresh-token.json"))
        meltano.run(EXTRACTOR, LOADER, state_suffix=f"duckdb_{case.stream}", env=env)
        truth = {case.stream: (case.key, case.truth(api))}
        truth |= {c.stream: (c.key, list(c.served(api, v5_account(api)))) for c in riders}
    with duckdb.connect(str(database), read_only=True) as db:
        for stream, (key, keys_served) in truth.items():
            columns = ", ".join(key)
            rows, distinct = db.execute(
                f"SELECT count(*), count(DISTINCT ({columns})) FROM demo.{stream}"  # noqa: S608
            ).fetchone()
            loaded = set(db.execute(f"SELECT {columns} FROM demo.{stream}").fetchall())  # noqa: S608
            assert rows == distinct == len(keys_served), stream
            # target-duckdb keeps `format: date` columns as text: compare keys as text.
            assert {tuple(map(str, k)) for k in loaded} == {tuple(map(str, k)) for k in keys_served}
