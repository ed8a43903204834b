"""`meltano run tap-pinterest-ads target-postgres` against the sandbox, checked with SQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.meltano_harness import Meltano, state_id
from tests.pg import PgDatabase
from tests.stream_cases import (
    EXTRACTOR,
    LOOKBACK_DAYS,
    PAGE_SIZE,
    STREAMS,
    StreamCase,
    fresh_sandbox,
    incremental_pages,
)

pytest_plugins = ["tests.conftest_pg", "tests.conftest_meltano"]
pytestmark = [pytest.mark.postgres, pytest.mark.meltano]

LOADER = "target-postgres"
Key = tuple[Any, ...]


@dataclass
class Snapshot:
    """A loaded table as SQL sees it; `rows` leave out the loader's `_sdc_*` columns."""

    count: int
    distinct_keys: int
    rows: dict[Key, dict[str, Any]]


class Pipeline:
    """One tap -> target-postgres pipeline: its own schema and state id."""

    def __init__(self, meltano: Meltano, postgres: PgDatabase, case: StreamCase, label: str):
        self.meltano, self.postgres, self.case = meltano, postgres, case
        self.schema = postgres.new_schema(f"{case.stream}_{label}")
        self.suffix = self.schema
        self.table = sql.Identifier(self.schema, case.stream)

    def env(self, sandbox: SandboxProcess, **settings: Any) -> dict[str, Any]:
        address = self.postgres.address
        return {
            **self.case.env(sandbox, **settings),
            "TARGET_POSTGRES_HOST": address.host,
            "TARGET_POSTGRES_PORT": address.port,
            "TARGET_POSTGRES_USER": address.user,
            # target-postgres wants a password even where the server trusts loopback.
            "TARGET_POSTGRES_PASSWORD": address.password or "unused-with-trust-auth",
            "TARGET_POSTGRES_DATABASE": address.database,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": self.schema,
        }

    def run(self, sandbox: SandboxProcess, **settings: Any) -> None:
        self.meltano.run(
            EXTRACTOR, LOADER, state_suffix=self.suffix, env=self.env(sandbox, **settings)
        )

    def query(self, query: sql.Composable, *params: Any) -> list[dict[str, Any]]:
        with self.postgres.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    def snapshot(self) -> Snapshot:
        keys = sql.SQL(", ").join(map(sql.Identifier, self.case.key))
        counts = self.query(
            sql.SQL("SELECT count(*) AS n, count(DISTINCT ({})) AS d FROM {}").format(
                keys, self.table
            )
        )[0]
        rows = {
            tuple(row[k] for k in self.case.key): {
                k: v for k, v in row.items() if not k.startswith("_sdc_")
            }
            for row in self.query(sql.SQL("SELECT * FROM {}").format(self.table))
        }
        return Snapshot(counts["n"], counts["d"], rows)

    def column_types(self) -> dict[str, str]:
        rows = self.query(
            sql.SQL(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s"
            ),
            self.schema,
            self.case.stream,
        )
        return {row["column_name"]: row["data_type"] for row in rows}

    def bookmark(self) -> dt.datetime:
        state = self.meltano.state(state_id(EXTRACTOR, LOADER, self.suffix))
        (partition,) = state["bookmarks"][self.case.stream]["partitions"]
        instant = parse_instant(partition["replication_key_value"])
        assert instant is not None
        return instant


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # target-postgres stores naive UTC (TIMESTAMP WITHOUT TIME ZONE, session pinned to UTC).
    return value.replace(tzinfo=dt.timezone.utc) if value else None


@dataclass
class TwoRuns:
    """The same pipeline before and after the sandbox clock moves one day."""

    pipeline: Pipeline
    truth: list[list[Key]]
    loaded: list[Snapshot]
    requests: list[list[dict[str, Any]]]
    bookmark: dt.datetime
    added: int
    served: list[Any]  # replication-key instants the API served to the second run

    @property
    def cutoff(self) -> dt.datetime:
        return self.bookmark - dt.timedelta(days=LOOKBACK_DAYS)

    def is_fresh(self, row: dict[str, Any]) -> bool:
        instant = self.instant(row)
        return instant is not None and instant >= self.cutoff

    def instant(self, row: dict[str, Any]) -> dt.datetime | None:
        return as_utc(row[self.pipeline.case.replication_key])


@pytest.fixture(scope="module", params=STREAMS, ids=lambda case: case.stream)
def case(request: pytest.FixtureRequest) -> StreamCase:
    return request.param


@pytest.fixture(scope="module")
def two_runs(case: StreamCase, installed: Any, postgres: PgDatabase) -> TwoRuns:
    """Shared by the scenarios that only read; each of the others runs its own pipeline."""
    pipeline = Pipeline(installed(LOADER), postgres, case, "incremental")
    truth, loaded, requests = [], [], []
    with fresh_sandbox() as api:
        for day in range(2):
            if day:
                added = api.advance(days=1)["added"]
            api.clear_requests()
            pipeline.run(api)
            keys = case.truth(api)
            truth.append(sorted({*truth[-1], *keys}) if truth and case.append_only else keys)
            loaded.append(pipeline.snapshot())
            requests.append(case.api_requests(api))
            if not day:
                bookmark = pipeline.bookmark()
        cutoff = bookmark - dt.timedelta(days=LOOKBACK_DAYS)
        rows = [
            {**row, "_instant": as_utc(row[case.replication_key])}
            for row in loaded[1].rows.values()
        ]
        served = case.served(api, rows, cutoff)
    return TwoRuns(pipeline, truth, loaded, requests, bookmark, added, served)


def test_first_run_loads_exactly_the_sandbox_truth(two_runs: TwoRuns) -> None:
    first = two_runs.loaded[0]
    assert first.count == first.distinct_keys == len(two_runs.truth[0])
    assert first.rows.keys() == set(two_runs.truth[0])


def test_column_types(case: StreamCase, two_runs: TwoRuns) -> None:
    types = two_runs.pipeline.column_types()
    assert {column: types.get(column) for column in case.postgres_types} == case.postgres_types
    primary_key = two_runs.pipeline.query(
        sql.SQL(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary"
        ),
        f'"{two_runs.pipeline.schema}"."{case.stream}"',
    )
    assert {row["attname"] for row in primary_key} == set(case.key)


def test_timestamps_keep_utc_wall_time(case: StreamCase, two_runs: TwoRuns) -> None:
    if not case.raw_timestamps:
        pytest.skip(f"{case.stream} carries no raw timestamp text to compare with")
    for typed, raw in case.raw_timestamps.items():
        checked = two_runs.pipeline.query(
            sql.SQL(
                "SELECT count(*) AS n, count(*) FILTER (WHERE to_char({typed},"
                " 'YYYY-MM-DD HH24:MI:SS') <> {raw}) AS shifted FROM {table}"
                " WHERE {raw} ~ '^\\d{{4}}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d$'"
            ).format(
                typed=sql.Identifier(typed), raw=sql.Identifier(raw), table=two_runs.pipeline.table
            )
        )[0]
        assert checked["n"] > 0
        assert checked["shifted"] == 0


def test_second_run_adds_new_rows_and_updates_in_place(case: StreamCase, two_runs: TwoRuns) -> None:
    first, second = two_runs.loaded
    assert second.count == second.distinct_keys == len(two_runs.truth[1])
    assert second.rows.keys() == set(two_runs.truth[1])
    assert two_runs.added > 0
    new_keys = second.rows.keys() - first.rows.keys()
    assert len(new_keys) == len(set(two_runs.truth[1]) - set(two_runs.truth[0])) > 0
    if case.append_only:
        # History: what a run wrote is never rewritten; the second day adds its own rows.
        assert all(second.rows[key] == row for key, row in first.rows.items())
        latest_before = {key[0]: row for key, row in sorted(first.rows.items())}
        grown = [(latest_before[k[0]], second.rows[k]) for k in new_keys if k[0] in latest_before]
        assert grown and all(b[case.growing] <= a[case.growing] for b, a in grown)
        assert any(b[case.growing] < a[case.growing] for b, a in grown)
        return

    # Rows at or after bookmark - lookback are read again, and rows without a date by the
    # undated tail read; older dated ones must not change at all.
    reread = [key for key, row in first.rows.items() if two_runs.is_fresh(row)]
    undated = {key for key, row in first.rows.items() if not two_runs.instant(row)}
    untouched = first.rows.keys() - set(reread) - (undated if case.tail_pages else set())
    assert reread and untouched
    assert all(second.rows[key] == first.rows[key] for key in untouched)
    before = [first.rows[key][case.growing] for key in reread]
    after = [second.rows[key][case.growing] for key in reread]
    assert all(b <= a for b, a in zip(before, after, strict=True))
    assert any(b < a for b, a in zip(before, after, strict=True))


def test_second_run_requests_only_the_pages_new_rows_need(
    case: StreamCase, two_runs: TwoRuns
) -> None:
    expected = incremental_pages(two_runs.served, two_runs.cutoff, PAGE_SIZE, case.tail_pages)
    assert len(two_runs.requests[1]) == expected
    if not case.append_only:  # a history stream re-reads every ad seen since the cutoff
        assert len(two_runs.requests[1]) < len(two_runs.requests[0])


def _tap_process(run: subprocess.Popen[str]) -> psutil.Process | None:
    """The extractor among the processes this `meltano run` started."""
    for child in psutil.Process(run.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(EXTRACTOR in part for part in child.cmdline()[:2]):
                return child
    return None


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_killed_run_then_rerun_equals_uninterrupted(
    case: StreamCase, two_runs: TwoRuns, installed: Any, postgres: PgDatabase
) -> None:
    pipeline = Pipeline(installed(LOADER), postgres, case, "killed")
    with fresh_sandbox() as api:
        pipeline.run(api)
        bookmark = pipeline.bookmark()
        api.advance(days=1)
        # Slow, small pages: the kill lands in the middle of the walk, not after it.
        api.configure(latency_ms=200)
        api.clear_requests()
        args = ("run", EXTRACTOR, LOADER, "--state-id-suffix", pipeline.suffix)
        with pipeline.meltano.started(*args, env=pipeline.env(api, page_size=5)) as run:
            _wait_for(lambda: len(case.api_requests(api)) >= 2)
            tap = _tap_process(run)
            assert tap is not None
            os.kill(tap.pid, signal.SIGKILL)
            assert run.wait(timeout=120) != 0
        paid_before_kill = len(case.api_requests(api))
        assert pipeline.bookmark() == bookmark  # a half-walked search must not move it

        api.configure(latency_ms=0)
        api.clear_requests()
        pipeline.run(api, page_size=5)
        assert paid_before_kill < len(case.api_requests(api))
    assert pipeline.snapshot().rows == two_runs.loaded[1].rows


def test_flattening_and_stream_maps(case: StreamCase, installed: Any, postgres: PgDatabase) -> None:
    if case.map_filter is None:
        pytest.skip(f"{case.stream} declares no stream-map filter")
    expression, filters = case.map_filter
    pipeline = Pipeline(installed(LOADER), postgres, case, "mapped")
    with fresh_sandbox() as api:
        pipeline.run(
            api,
            flattening_enabled=True,
            flattening_max_depth=1,
            stream_maps={case.stream: {"__filter__": expression}},
        )
        truth = case.truth(api, **filters)
    loaded = pipeline.snapshot()
    assert loaded.count == loaded.distinct_keys == len(truth) > 0
    assert loaded.rows.keys() == set(truth)
    types = pipeline.column_types()
    for nested, columns in case.flattened.items():
        assert nested not in types
        assert set(columns) <= types.keys()
        assert any(all(row[c] is not None for c in columns) for row in loaded.rows.values())


def test_search_matches_keep_every_search_that_found_an_ad(
    installed: Any, postgres: PgDatabase
) -> None:
    """Overlapping searches: pinterest_ads keeps one row per ad (the last search's name), the
    matches table every (search, ad) pair, at no extra request."""
    searches = [{"name": "all"}, {"name": "videos", "mediatype": "video"}]
    streams = ["pinterest_ads", "pinterest_ad_search_matches"]
    pipeline = Pipeline(installed(LOADER), postgres, STREAMS[0], "matches")
    with fresh_sandbox() as api:
        env = pipeline.env(api, searches=searches)
        env["TAP_PINTEREST_ADS__SELECT"] = [f"{stream}.*" for stream in streams]
        pipeline.meltano.run(EXTRACTOR, LOADER, state_suffix=pipeline.suffix, env=env)
        truth = {
            search["name"]: set(api.truth(**{k: v for k, v in search.items() if k != "name"}))
            for search in searches
        }
    assert truth["videos"] and truth["videos"] < truth["all"]
    rows = pipeline.query(
        sql.SQL("SELECT search_name, id FROM {}").format(
            sql.Identifier(pipeline.schema, "pinterest_ad_search_matches")
        )
    )
    pairs = {(row["search_name"], row["id"]) for row in rows}
    assert len(rows) == len(pairs)
    assert pairs == {(name, ad) for name, ads in truth.items() for ad in ads}
    assert pipeline.snapshot().rows.keys() == {(ad,) for ad in truth["all"]}
