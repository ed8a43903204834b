"""`meltano run tap-pinterest-ads target-postgres` against the sandbox, checked with SQL."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.marketing.metrics import SYNC_DAYS_BACK
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.meltano_harness import Meltano, state_id
from tests.pg import PgDatabase
from tests.stream_cases import (
    ANALYTICS_CASES,
    ANALYTICS_COLUMNS,
    ANALYTICS_SANDBOX,
    CLOCK_STEPS,
    CUSTOM_REPORT,
    EXTRACTOR,
    HISTORY_DAYS,
    LOOKBACK_DAYS,
    MONEY,
    PAGE_SIZE,
    STREAMS,
    TARGETING_TYPES,
    V5_STREAMS,
    AnalyticsCase,
    Row,
    StreamCase,
    Synced,
    V5Case,
    V5Replica,
    analytics_rows,
    fresh_sandbox,
    incremental_pages,
    report_spec,
    sandbox_day,
    v5_account,
    with_v5,
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
    extracted: dict[Key, dt.datetime]  # _sdc_extracted_at: when the row was last written


class Pipeline:
    """One tap -> target-postgres pipeline: its own schema and state id."""

    def __init__(
        self,
        meltano: Meltano,
        postgres: PgDatabase,
        case: StreamCase,
        label: str,
        token_store: Path | None = None,
    ):
        self.meltano, self.postgres, self.case = meltano, postgres, case
        self.schema = postgres.new_schema(f"{case.stream}_{label}")
        self.suffix = self.schema
        self.table = sql.Identifier(self.schema, case.stream)
        self.token_store = token_store  # set: the v5 family rides along

    def env(self, sandbox: SandboxProcess, **settings: Any) -> dict[str, Any]:
        address = self.postgres.address
        tap = self.case.env(sandbox, **settings)
        if self.token_store:
            tap = with_v5(tap, sandbox, str(self.token_store))
        return {
            **tap,
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

    def snapshot(self, stream: str | None = None, key: tuple[str, ...] | None = None) -> Snapshot:
        """This pipeline's stream, or another stream the same runs load."""
        key = key or self.case.key
        table = sql.Identifier(self.schema, stream or self.case.stream)
        keys = sql.SQL(", ").join(map(sql.Identifier, key))
        counts = self.query(
            sql.SQL("SELECT count(*) AS n, count(DISTINCT ({})) AS d FROM {}").format(keys, table)
        )[0]
        loaded = self.query(sql.SQL("SELECT * FROM {}").format(table))
        rows = {
            tuple(row[k] for k in key): {k: v for k, v in row.items() if not k.startswith("_sdc_")}
            for row in loaded
        }
        extracted = {tuple(row[k] for k in key): row["_sdc_extracted_at"] for row in loaded}
        return Snapshot(counts["n"], counts["d"], rows, extracted)

    def column_types(self, stream: str | None = None) -> dict[str, str]:
        rows = self.query(
            sql.SQL(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s"
            ),
            self.schema,
            stream or self.case.stream,
        )
        return {row["column_name"]: row["data_type"] for row in rows}

    def primary_key(self, stream: str | None = None) -> set[str]:
        rows = self.query(
            sql.SQL(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
                " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                " WHERE i.indrelid = %s::regclass AND i.indisprimary"
            ),
            f'"{self.schema}"."{stream or self.case.stream}"',
        )
        return {row["attname"] for row in rows}

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
class V5Run:
    """After one run: each v5 stream's rows as the API serves them and as loaded."""

    truth: dict[str, dict[Key, dict[str, Any]]]
    loaded: dict[str, Snapshot]


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
    v5: list[V5Run]  # empty unless the case carries the v5 family

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


@pytest.fixture(scope="module", params=V5_STREAMS, ids=lambda case: case.stream)
def v5_case(request: pytest.FixtureRequest) -> V5Case:
    return request.param


def _two_runs(case: StreamCase, meltano: Meltano, postgres: PgDatabase, tmp: Path) -> TwoRuns:
    store = tmp / "pinterest-refresh-token.json" if case.carries_v5 else None
    pipeline = Pipeline(meltano, postgres, case, "incremental", token_store=store)
    truth: list[list[Key]] = []
    loaded: list[Snapshot] = []
    requests: list[list[dict[str, Any]]] = []
    v5: list[V5Run] = []
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
            if store:
                account = v5_account(api)
                v5.append(
                    V5Run(
                        {c.stream: c.served(api, account) for c in V5_STREAMS},
                        {c.stream: pipeline.snapshot(c.stream, c.key) for c in V5_STREAMS},
                    )
                )
        cutoff = bookmark - dt.timedelta(days=LOOKBACK_DAYS)
        rows = [
            {**row, "_instant": as_utc(row[case.replication_key])}
            for row in loaded[1].rows.values()
        ]
        served = case.served(api, rows, cutoff)
    return TwoRuns(pipeline, truth, loaded, requests, bookmark, added, served, v5)


@pytest.fixture(scope="module")
def runs(
    installed: Any, postgres: PgDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[StreamCase], TwoRuns]:
    """Each case's two runs, made once: the v5 tests read the runs that carried them."""
    made: dict[str, TwoRuns] = {}

    def get(case: StreamCase) -> TwoRuns:
        if case.stream not in made:
            tmp = tmp_path_factory.mktemp(case.stream)
            made[case.stream] = _two_runs(case, installed(LOADER), postgres, tmp)
        return made[case.stream]

    return get


@pytest.fixture(scope="module")
def two_runs(case: StreamCase, runs: Callable[[StreamCase], TwoRuns]) -> TwoRuns:
    """Shared by the scenarios that only read; each of the others runs its own pipeline."""
    return runs(case)


@pytest.fixture(scope="module")
def v5_runs(runs: Callable[[StreamCase], TwoRuns]) -> TwoRuns:
    (carrier,) = (case for case in STREAMS if case.carries_v5)
    return runs(carrier)


def test_first_run_loads_exactly_the_sandbox_truth(two_runs: TwoRuns) -> None:
    first = two_runs.loaded[0]
    assert first.count == first.distinct_keys == len(two_runs.truth[0])
    assert first.rows.keys() == set(two_runs.truth[0])


def test_column_types(case: StreamCase, two_runs: TwoRuns) -> None:
    types = two_runs.pipeline.column_types()
    assert {column: types.get(column) for column in case.postgres_types} == case.postgres_types
    assert two_runs.pipeline.primary_key() == set(case.key)


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


def loaded_as_served(case: V5Case, loaded: Snapshot, served: dict[Key, dict[str, Any]]) -> None:
    """Exactly the API's rows, once each, with the values it serves now."""
    assert loaded.count == loaded.distinct_keys == len(served) > 0
    assert loaded.rows.keys() == served.keys()
    for key, row in served.items():
        assert {c: loaded.rows[key][c] for c in case.tracked} == {c: row[c] for c in case.tracked}


def test_v5_first_run_loads_exactly_what_the_api_serves(v5_case: V5Case, v5_runs: TwoRuns) -> None:
    first = v5_runs.v5[0]
    loaded_as_served(v5_case, first.loaded[v5_case.stream], first.truth[v5_case.stream])


def test_v5_column_types_and_key(v5_case: V5Case, v5_runs: TwoRuns) -> None:
    types = v5_runs.pipeline.column_types(v5_case.stream)
    expected = v5_case.postgres_types
    assert {column: types.get(column) for column in expected} == expected
    assert v5_runs.pipeline.primary_key(v5_case.stream) == set(v5_case.key)


def test_v5_second_run_upserts_what_changed(v5_case: V5Case, v5_runs: TwoRuns) -> None:
    """After a day of changes: every change in place, nothing twice; an incremental stream
    rewrites only rows updated since its bookmark, a full-table one rewrites every row."""
    first, second = v5_runs.v5
    stream = v5_case.stream
    served = second.truth[stream]
    loaded_as_served(v5_case, second.loaded[stream], served)
    changed = {key for key, row in served.items() if first.truth[stream].get(key) != row}
    if v5_case.changes_daily:
        assert changed
    last_write = max(first.loaded[stream].extracted.values())
    rewritten = {key for key, at in second.loaded[stream].extracted.items() if at > last_write}
    assert changed <= rewritten
    if v5_case.replication_key:
        assert rewritten < served.keys()
    else:
        assert rewritten == served.keys()


# -- v5 analytics and report streams: three reruns with the lookback ----------------------------
@dataclass
class AnalyticsRun:
    """After one run: the sandbox's day, each table's rows as the sandbox holds them now (by the
    case's key) and as loaded, and the v5 requests the run made."""

    today: dt.date
    truth: dict[str, dict[Key, Row]]
    loaded: dict[str, Snapshot]
    requests: list[dict[str, Any]]


@dataclass
class AnalyticsRuns:
    pipeline: Pipeline
    synced: Synced
    runs: list[AnalyticsRun]


def analytics_env(
    pipeline: Pipeline, api: SandboxProcess, store: Path, start: dt.date
) -> dict[str, Any]:
    """Every analytics and report stream of the three accounts; the lookback is the default."""
    return {
        **with_v5(pipeline.env(api), api, str(store)),
        "TAP_PINTEREST_ADS__SELECT": [f"{case.stream}.*" for case in ANALYTICS_CASES],
        "TAP_PINTEREST_ADS_AD_ACCOUNT_IDS": api.v5_state()["ad_accounts"],
        "TAP_PINTEREST_ADS_START_DATE": start.isoformat(),
        "TAP_PINTEREST_ADS_ANALYTICS_COLUMNS": list(ANALYTICS_COLUMNS),
        "TAP_PINTEREST_ADS_REPORT_TARGETING_TYPES": list(TARGETING_TYPES),
        "TAP_PINTEREST_ADS_CUSTOM_REPORTS": [CUSTOM_REPORT],
    }


def assert_replica_is_the_sandbox(api: SandboxProcess, replica: V5Replica, start: dt.date) -> None:
    """The replica's ad account report equals the sandbox's own sync truth, day by day."""
    account = replica.accounts[0]
    report = replica.report(account, report_spec("ADVERTISER"), start)
    served = analytics_rows(api, "AD_ACCOUNT", account["id"], start, ANALYTICS_COLUMNS)
    assert report and [r.pop("ADVERTISER_ID") for r in report] == [
        r.pop("AD_ACCOUNT_ID") for r in served
    ]
    assert report == served


def analytics_run(
    pipeline: Pipeline, api: SandboxProcess, replica: V5Replica, synced: Synced, store: Path
) -> AnalyticsRun:
    api.v5_clear_requests()
    env = analytics_env(pipeline, api, store, synced.start)
    pipeline.meltano.run(EXTRACTOR, LOADER, state_suffix=pipeline.suffix, env=env)
    truth = {
        case.stream: {
            tuple(row[k] for k in case.key): row for row in case.truth(api, replica, synced)
        }
        for case in ANALYTICS_CASES
    }
    loaded = {case.stream: pipeline.snapshot(case.stream, case.key) for case in ANALYTICS_CASES}
    return AnalyticsRun(sandbox_day(api), truth, loaded, api.v5_requests())


@pytest.fixture(scope="module")
def analytics_runs(
    installed: Any, postgres: PgDatabase, tmp_path_factory: pytest.TempPathFactory
) -> AnalyticsRuns:
    """One pipeline, three runs: the sandbox clock moves CLOCK_STEPS days before each."""
    store = tmp_path_factory.mktemp("analytics") / "pinterest-refresh-token.json"
    pipeline = Pipeline(installed(LOADER), postgres, STREAMS[0], "analytics")
    replica = V5Replica()
    runs: list[AnalyticsRun] = []
    with SandboxProcess(**ANALYTICS_SANDBOX) as api:
        first_run = sandbox_day(api)
        synced = Synced(first_run - dt.timedelta(days=HISTORY_DAYS), first_run)
        for days in CLOCK_STEPS:
            if days:
                api.advance(days=days)
                replica.follow(api)
            assert_replica_is_the_sandbox(api, replica, synced.start)
            runs.append(analytics_run(pipeline, api, replica, synced, store))
    return AnalyticsRuns(pipeline, synced, runs)


@pytest.fixture(scope="module", params=ANALYTICS_CASES, ids=lambda case: case.stream)
def analytics_case(request: pytest.FixtureRequest) -> AnalyticsCase:
    return request.param


def mismatches(loaded: dict[Key, Row], truth: dict[Key, Row]) -> list[tuple[Any, ...]]:
    """(key, column, loaded, expected) where a loaded row differs from the sandbox's: whole
    numbers exactly, ratios to 12 digits; a column the sandbox leaves out must be null."""
    found = []
    for key, row in loaded.items():
        expected = truth.get(key, {})
        for column, value in row.items():
            want = expected.get(column)
            if isinstance(want, float) and value is not None:
                same = math.isclose(float(value), want, rel_tol=1e-12)
            else:
                same = value == want and type(value) is not float
            if not same:
                found.append((key, column, value, want))
    return found


def test_analytics_tables_are_keyed_and_keep_money_whole(
    analytics_case: AnalyticsCase, analytics_runs: AnalyticsRuns
) -> None:
    pipeline, stream = analytics_runs.pipeline, analytics_case.stream
    assert pipeline.primary_key(stream) == set(analytics_case.key)
    types = pipeline.column_types(stream)
    money = {column: types[column] for column in MONEY if column in types}
    if analytics_case.stream == "user_account_analytics":
        assert not money
        return
    assert money and set(money.values()) == {"bigint"}, money
    assert types["CURRENCY"] == "text"


def test_every_run_loads_exactly_the_sandbox_truth(
    analytics_case: AnalyticsCase, analytics_runs: AnalyticsRuns
) -> None:
    """After each of three runs (the clock moved 0, 1 and 3 days): one row per key, and the
    rows, money to the micro-unit and the account's currency beside it, are the sandbox's."""
    for number, run in enumerate(analytics_runs.runs, 1):
        loaded, truth = run.loaded[analytics_case.stream], run.truth[analytics_case.stream]
        assert loaded.count == loaded.distinct_keys == len(truth) > 0, f"run {number}"
        assert loaded.rows.keys() == truth.keys(), f"run {number}"
        wrong = mismatches(loaded.rows, truth)
        assert not wrong, f"run {number}: {len(wrong)} values differ, e.g. {wrong[:5]}"


@pytest.mark.parametrize(
    "late", [c for c in ANALYTICS_CASES if c.late], ids=lambda case: case.stream
)
def test_late_conversions_update_past_rows_in_place(
    late: AnalyticsCase, analytics_runs: AnalyticsRuns
) -> None:
    """Days before the previous run's yesterday changed between runs (conversions arrived late),
    and the table holds them once each (the test above: with the new values)."""
    stream = late.stream
    for before, after in itertools.pairwise(analytics_runs.runs):
        settled = before.today - dt.timedelta(days=1)
        changed = [
            key
            for key, row in after.truth[stream].items()
            if row["DATE"] < settled and before.truth[stream].get(key, row) != row
        ]
        assert changed, f"no past day of {stream} changed by {after.today}"
        assert all(key in after.loaded[stream].rows for key in changed)
        assert after.loaded[stream].count == after.loaded[stream].distinct_keys


@pytest.mark.parametrize(
    "daily", [c for c in ANALYTICS_CASES if c.level], ids=lambda case: case.stream
)
def test_history_from_reports_meets_the_sync_days_without_gap_or_overlap(
    daily: AnalyticsCase, analytics_runs: AnalyticsRuns
) -> None:
    """start_date is older than the sync endpoints keep: the first run reads the days up to the
    seam from reports and the rest from the sync endpoint; each day is in the table once."""
    first = analytics_runs.runs[0]
    seam = first.today - dt.timedelta(days=SYNC_DAYS_BACK)
    path = {
        "AD_ACCOUNT": "/analytics",
        "CAMPAIGN": "/campaigns/analytics",
        "AD_GROUP": "/ad_groups/analytics",
        "AD": "/ads/analytics",
    }[daily.level]
    starts = [
        day
        for entry in first.requests
        if re.search(rf"/ad_accounts/\d+{path}$", entry["path"])
        for day in entry["params"]["start_date"]
    ]
    assert starts and min(starts) == seam.isoformat()
    assert any(e["method"] == "POST" and e["path"].endswith("/reports") for e in first.requests)
    loaded = first.loaded[daily.stream]
    days = collections.Counter(key[daily.key.index("DATE")] for key in loaded.rows)
    start = analytics_runs.synced.start
    assert min(days) == start  # the oldest day, from a report
    assert days[seam - dt.timedelta(days=1)] and days[seam]
    if daily.level == "AD_ACCOUNT":  # one of the accounts delivers every day
        assert set(days) == {start + dt.timedelta(days=n) for n in range(HISTORY_DAYS)}
