"""PostgreSQL fixtures; test modules load them with `pytest_plugins = ["tests.conftest_pg"]`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pg import PgAddress, PgCluster, PgDatabase, server_bindir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgDatabase]:
    """DATABASE_URL when set, else a private cluster (one per xdist worker, so `-n` is safe)."""
    if url := os.environ.get("DATABASE_URL"):
        database = PgDatabase(PgAddress.from_url(url))
        yield database
        database.drop_schemas()
        return
    bindir = server_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL "
            "or set DATABASE_URL"
        )
    # Not UTC on purpose: a loader that stores local wall time instead of UTC shows up.
    cluster = PgCluster(bindir, timezone="Asia/Kolkata")
    try:
        yield PgDatabase(cluster.start())
    finally:
        cluster.stop()
