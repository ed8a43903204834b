"""The SQL models in transform/, on a real Postgres load, against what the sandbox's data implies.

Three days of `meltano run` (both streams; the last one a full refresh, so pinterest_ads holds
every ad as of that day) and the expected rows computed independently, in Python, from the
sandbox's own deterministic universe at each day.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.marketing.metrics import SYNC_DAYS_BACK
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.data import DEFAULT_START, AdUniverse
from tests.meltano_harness import Meltano
from tests.pg import PgDatabase
from tests.stream_cases import (
    EXTRACTOR,
    LOOKBACK_DAYS,
    SANDBOX_OPTIONS,
    SIZED_V5,
    STREAMS,
    analytics_rows,
)
from tests.test_warehouse_postgres import LOADER, Pipeline

pytest_plugins = ["tests.conftest_pg", "tests.conftest_meltano"]
pytestmark = [pytest.mark.postgres, pytest.mark.meltano]

MODELS = Path(__file__).resolve().parents[1] / "transform" / "models.sql"
# The v5 campaign models ride along: campaigns (names) and campaign_analytics.
STREAMS_SELECTED = [
    "pinterest_ads.*",
    "pinterest_ad_snapshots.*",
    "campaigns.*",
    "campaign_analytics.*",
]
DAYS = 3
Row = dict[str, Any]
# The default analytics_columns the campaign models read.
COLUMNS = SPEND, IMPRESSIONS, CLICKS, VALUE = (
    "SPEND_IN_MICRO_DOLLAR",
    "PAID_IMPRESSION",
    "TOTAL_CLICKTHROUGH",
    "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR",
)
# The sandbox's campaign analytics of every ad account over the synced range, with the account's
# currency (CURRENCY), fetched before it stops.
CAMPAIGN_TRUTH: list[Row] = []


def universe_days() -> list[list[Row]]:
    universe = AdUniverse(SANDBOX_OPTIONS["seed"], SANDBOX_OPTIONS["ads"])
    days = [list(universe.ads())]
    for _ in range(DAYS - 1):
        universe.advance(days=1)
        days.append(list(universe.ads()))
    return days


def expected_snapshots(days: list[list[Row]]) -> dict[tuple[str, dt.date], Row]:
    """Run 1 reads every ad, run 2 those seen since bookmark - lookback, run 3 (full) all."""
    table: dict[tuple[str, dt.date], Row] = {}
    cutoff: dt.datetime | None = None
    for day, rows in enumerate(days):
        seen = [(row, parse_instant(row["lastseen"])) for row in rows]
        for row, instant in seen:
            if instant is not None and (day != 1 or cutoff is None or instant >= cutoff):
                table[(str(row["id"]), instant.date())] = row
        if day == 0:
            latest = max(instant for _, instant in seen if instant is not None)
            cutoff = latest - dt.timedelta(days=LOOKBACK_DAYS)
    return table


@pytest.fixture(scope="module")
def modelled(
    installed: Any, postgres: PgDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    store = tmp_path_factory.mktemp("models") / "pinterest-refresh-token.json"
    pipeline = Pipeline(installed(LOADER), postgres, STREAMS[0], "models", token_store=store)
    meltano: Meltano = pipeline.meltano
    # The same ad library; a small v5 universe whose three ad accounts are in USD, GBP and EUR.
    with SandboxProcess(**SANDBOX_OPTIONS, **SIZED_V5) as api:
        accounts = api.v5_truth("ad_accounts")
        assert len({account["currency"] for account in accounts}) == 3
        for day in range(DAYS):
            if day:
                api.advance(days=1)
            env = pipeline.env(api, snapshot_pages_per_search=20)
            env["TAP_PINTEREST_ADS__SELECT"] = STREAMS_SELECTED
            env["TAP_PINTEREST_ADS_AD_ACCOUNT_IDS"] = [account["id"] for account in accounts]
            full = ["--full-refresh"] if day == DAYS - 1 else []
            meltano("run", *full, EXTRACTOR, LOADER, "--state-id-suffix", pipeline.suffix, env=env)
        first = DEFAULT_START.date() - dt.timedelta(days=SYNC_DAYS_BACK)
        CAMPAIGN_TRUTH[:] = [
            {**row, "CURRENCY": account["currency"]}
            for account in accounts
            for row in analytics_rows(api, "CAMPAIGN", account["id"], first, COLUMNS)
        ]
    with postgres.connect() as conn:
        conn.execute(f'SET search_path TO "{pipeline.schema}"')
        conn.execute(MODELS.read_text())
        conn.commit()
    return pipeline


def view(pipeline: Pipeline, name: str) -> list[Row]:
    with pipeline.postgres.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f'SET search_path TO "{pipeline.schema}"')
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))
        return cur.fetchall()


@pytest.fixture(scope="module")
def days() -> list[list[Row]]:
    return universe_days()


def test_new_ads_per_day(modelled, days):
    expected = collections.Counter(
        ("all", instant.date())
        for row in days[-1]
        if (instant := parse_instant(row["datefound"])) is not None
    )
    got = {
        (r["search_name"], r["found_on"]): r["new_ads"] for r in view(modelled, "new_ads_per_day")
    }
    assert got == dict(expected)


def test_top_advertisers(modelled, days):
    pages: dict[str, list[Row]] = collections.defaultdict(list)
    for row in days[-1]:
        pages[row["page_id"]].append(row)
    stats = {
        page: (
            len(ads),
            sum(a["likes"] or 0 for a in ads),
            sum(a["shares"] or 0 for a in ads),
            max(a["daysrunning"] for a in ads if a["daysrunning"] is not None),
        )
        for page, ads in pages.items()
    }
    order = sorted(stats.values(), key=lambda s: (-s[0], -s[1]))
    rank = {
        page: 1 + sum(1 for o in order if (o[0], o[1]) > (s[0], s[1])) for page, s in stats.items()
    }
    got = {
        r["page_id"]: (
            r["ads"],
            r["saves"],
            r["repins"],
            r["longest_days_running"],
            r["rank_by_ads"],
        )
        for r in view(modelled, "top_advertisers")
    }
    assert got == {page: (*s, rank[page]) for page, s in stats.items()}


def test_days_running_distribution(modelled, days):
    edges = [(8, "0-7"), (31, "8-30"), (91, "31-90"), (181, "91-180")]
    expected = collections.Counter(
        next((label for edge, label in edges if r["daysrunning"] < edge), "181+")
        for r in days[-1]
        if r["daysrunning"] is not None
    )
    got = {r["days_running"]: r["ads"] for r in view(modelled, "days_running_distribution")}
    assert got == dict(expected)


def growth(days: list[list[Row]]) -> dict[str, tuple[Any, ...]]:
    by_ad: dict[str, dict[dt.date, Row]] = collections.defaultdict(dict)
    for (ad, day), row in expected_snapshots(days).items():
        by_ad[ad][day] = row
    result = {}
    for ad, points in by_ad.items():
        first_day, last_day = min(points), max(points)
        if last_day == first_day:
            continue
        first, last = points[first_day], points[last_day]
        gained = last["likes"] - first["likes"]
        per_day = (Decimal(gained) / (last_day - first_day).days).quantize(Decimal("0.01"))
        result[ad] = (first_day, last_day, len(points), gained, per_day, last["daysrunning"])
    return result


def test_engagement_growth(modelled, days):
    expected = growth(days)
    assert expected, "ads still running are observed on several days"
    got = {
        r["id"]: (
            r["first_day"],
            r["last_day"],
            r["snapshots"],
            r["saves_growth"],
            r["saves_per_day"],
            r["days_running"],
        )
        for r in view(modelled, "ad_engagement_growth")
    }
    assert got == expected


def test_winning_ads(modelled, days):
    expected = {ad for ad, g in growth(days).items() if g[5] >= 30 and g[3] > 0}
    rows = view(modelled, "winning_ads")
    assert expected and {r["id"] for r in rows} == expected
    per_day = [r["saves_per_day"] for r in rows]
    assert per_day == sorted(per_day, reverse=True)


def test_models_run_before_any_snapshot_is_loaded(modelled):
    """A default setup loads only pinterest_ads: README's psql command still succeeds, creates
    the views it can, and says which it skipped and why."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql not found (Debian: apt-get install postgresql-client)")
    postgres = modelled.postgres
    schema = postgres.new_schema("models_without_snapshots")
    with postgres.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {} AS SELECT * FROM {}").format(
                sql.Identifier(schema, "pinterest_ads"), modelled.table
            )
        )
    address = postgres.address
    result = subprocess.run(
        [psql, "-h", address.host, "-p", str(address.port), "-U", address.user,
         "-d", address.database, "-v", "ON_ERROR_STOP=1", "-f", str(MODELS)],
        env={**os.environ, "PGOPTIONS": f"-c search_path={schema}",
             "PGPASSWORD": address.password},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pinterest_ad_snapshots not loaded yet" in result.stderr
    with postgres.connect() as conn:
        views = conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = %s", [schema]
        ).fetchall()
    assert {name for (name,) in views} == {
        "new_ads_per_day",
        "top_advertisers",
        "days_running_distribution",
    }


def table(pipeline: Pipeline, name: str) -> list[Row]:
    return view(pipeline, name)


def ratios(spend: Decimal, impressions: Decimal, clicks: Decimal, value: Decimal) -> dict:
    return {
        "spend": spend,
        "impressions": impressions,
        "clicks": clicks,
        "conversion_value": value,
        "ctr": clicks / impressions if impressions else None,
        "cpc": spend / clicks if clicks else None,
        "cpm": spend / impressions * 1000 if impressions else None,
        "roas": value / spend if spend else None,
    }


def measures(row: Row) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (
        Decimal(row.get(SPEND) or 0) / 1_000_000,
        Decimal(row.get(IMPRESSIONS) or 0),
        Decimal(row.get(CLICKS) or 0),
        Decimal(row.get(VALUE) or 0) / 1_000_000,
    )


def assert_close(got: Row, expected: dict, where: Any) -> None:
    for name, value in expected.items():
        actual = got[name]
        if value is None:
            assert actual is None, (where, name, actual)
        else:
            assert actual is not None, (where, name)
            assert math.isclose(actual, value, rel_tol=1e-12, abs_tol=1e-15), (
                where,
                name,
                actual,
                value,
            )


def test_campaign_daily_performance(modelled):
    loaded = table(modelled, "campaign_analytics")
    names = {r["id"]: r["name"] for r in table(modelled, "campaigns")}
    rows = {(r["campaign_id"], r["day"]): r for r in view(modelled, "campaign_daily_performance")}
    assert loaded and set(rows) == {(r["CAMPAIGN_ID"], r["DATE"]) for r in loaded}
    assert any(r["impressions"] for r in rows.values()) and any(r["roas"] for r in rows.values())
    for raw in loaded:
        key = (raw["CAMPAIGN_ID"], raw["DATE"])
        got = rows[key]
        assert_close(got, ratios(*measures(raw)), key)
        if raw["CAMPAIGN_ID"] in names:
            assert got["campaign_name"] == names[raw["CAMPAIGN_ID"]] is not None


def test_campaign_performance_matches_the_sandbox(modelled):
    """Totals per campaign, in its account's currency, against the sandbox's own analytics truth
    for the synced range."""
    assert CAMPAIGN_TRUTH, "the sandbox has campaign analytics"
    sums: dict[str, list[Decimal]] = collections.defaultdict(lambda: [Decimal(0)] * 4)
    for row in CAMPAIGN_TRUTH:
        sums[row["CAMPAIGN_ID"]] = [
            a + b for a, b in zip(sums[row["CAMPAIGN_ID"]], measures(row), strict=True)
        ]
    currency = {row["CAMPAIGN_ID"]: row["CURRENCY"] for row in CAMPAIGN_TRUTH}
    names = {r["id"]: r["name"] for r in table(modelled, "campaigns")}
    got = {r["campaign_id"]: r for r in view(modelled, "campaign_performance")}
    assert set(got) == set(sums)
    for campaign, totals in sums.items():
        assert_close(got[campaign], ratios(*totals), campaign)
        assert got[campaign]["currency"] == currency[campaign]
        assert campaign in names, campaign
        assert got[campaign]["campaign_name"] == names[campaign] is not None


def test_daily_performance_never_sums_across_currencies(modelled):
    """One row per day and currency, its totals and ratios the sandbox's campaigns' in that
    currency: on days several currencies spent, each keeps its own."""
    sums: dict[Any, list[Decimal]] = collections.defaultdict(lambda: [Decimal(0)] * 4)
    for row in CAMPAIGN_TRUTH:
        key = (row["DATE"], row["CURRENCY"])
        sums[key] = [a + b for a, b in zip(sums[key], measures(row), strict=True)]
    currencies = collections.Counter(day for day, _ in sums)
    assert {currency for _, currency in sums} == {"USD", "GBP", "EUR"}
    assert max(currencies.values()) == 3, "no day on which all three currencies spent"
    got = {(r["day"], r["currency"]): r for r in view(modelled, "daily_performance")}
    assert set(got) == set(sums)
    for key, totals in sums.items():
        assert_close(got[key], ratios(*totals), key)
