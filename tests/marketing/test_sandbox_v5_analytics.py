"""The sandbox's v5 analytics and reports over real HTTP: the 250-id and 90-day rules, sums
that agree across levels, absent metrics, late conversions as the clock moves, and the report
lifecycle (FINISHED, FAILED, EXPIRED, an expiring download that wants no bearer)."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.auth import FIRST_ACCESS_TOKEN

ADDITIVE = ("SPEND_IN_MICRO_DOLLAR", "TOTAL_IMPRESSION", "TOTAL_CLICKTHROUGH", "TOTAL_CHECKOUT")
COLUMNS = ",".join((*ADDITIVE, "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_VIDEO_3SEC_VIEWS"))
LEVEL_IDS = {"campaign": "campaign_ids", "ad_group": "ad_group_ids", "ad": "ad_ids"}
PATHS = {"ad_account": "analytics", **{k: f"{k}s/analytics" for k in LEVEL_IDS}}
KEY = {"campaign": "CAMPAIGN_ID", "ad_group": "AD_GROUP_ID", "ad": "AD_ID"}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=41, ads=60, v5_rate_limit=100_000, v5_report_polls=1) as proc:
        yield proc


@pytest.fixture
def sb(server: SandboxProcess) -> SandboxProcess:
    server.reset()
    server.v5_configure(report_fail_rate=0, report_url_ttl_seconds=300, report_ttl_seconds=3600)
    return server


def call(sb: SandboxProcess, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {FIRST_ACCESS_TOKEN}"}
    return requests.request(method, f"{sb.v5_url}{path}", headers=headers, timeout=120, **kwargs)


def today(sb: SandboxProcess) -> date:
    return date.fromisoformat(sb.v5_state()["now"][:10])


def window(sb: SandboxProcess, back: int, span: int) -> dict[str, Any]:
    start = today(sb) - timedelta(days=back)
    return {"start_date": start.isoformat(), "end_date": (start + timedelta(days=span)).isoformat()}


def account(sb: SandboxProcess) -> str:
    return str(sb.v5_state()["owned_ad_accounts"][0])


def analytics(
    sb: SandboxProcess, level: str, *, ids: list[str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every row of a level for `ids`, in calls of at most 250 ids."""
    path = f"/ad_accounts/{account(sb)}/{PATHS[level]}"
    query = {"columns": COLUMNS, "granularity": "DAY", **params}
    if ids is None:
        resp = call(sb, "get", path, params=query)
        assert resp.status_code == 200, resp.text
        return list(resp.json())
    rows: list[dict[str, Any]] = []
    for at in range(0, len(ids), 250):
        batch = {LEVEL_IDS[level]: ",".join(ids[at : at + 250])}
        resp = call(sb, "get", path, params={**query, **batch})
        assert resp.status_code == 200, resp.text
        rows += resp.json()
    return rows


def every_id(sb: SandboxProcess, level: str) -> list[str]:
    kind = {"campaign": "campaigns", "ad_group": "ad_groups", "ad": "ads"}[level]
    return [r["id"] for r in sb.v5_truth(kind, ad_account_id=account(sb))]


def per_day(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ADDITIVE, 0))
    for row in rows:
        for name in ADDITIVE:
            totals[row["DATE"]][name] += row.get(name, 0)
    return dict(totals)


# -- sync analytics --------------------------------------------------------------------------
def test_the_account_is_the_sum_of_its_campaigns_ad_groups_and_ads(sb: SandboxProcess) -> None:
    dates = window(sb, 30, 9)
    account_rows = analytics(sb, "ad_account", **dates)
    assert len(account_rows) == 10 and all(r["SPEND_IN_MICRO_DOLLAR"] > 0 for r in account_rows)
    expected = per_day(account_rows)
    for level in LEVEL_IDS:
        rows = analytics(sb, level, ids=every_id(sb, level), **dates)
        assert per_day(rows) == expected, level
        assert all(isinstance(r[KEY[level]], str) for r in rows)  # the spec: ids are strings
    total = analytics(sb, "ad_account", **dates, granularity="TOTAL")
    assert len(total) == 1 and "DATE" not in total[0]
    for name in ADDITIVE:
        assert total[0][name] == sum(day[name] for day in expected.values())


def test_a_metric_an_entity_does_not_have_is_absent(sb: SandboxProcess) -> None:
    rows = analytics(sb, "campaign", ids=every_id(sb, "campaign"), **window(sb, 40, 20))
    campaigns = {c["id"]: c for c in sb.v5_truth("campaigns", ad_account_id=account(sb))}
    video = {a["campaign_id"] for a in sb.v5_truth("ads") if a["creative_type"] == "VIDEO"}
    without_video = [r for r in rows if r["CAMPAIGN_ID"] not in video]
    awareness = [r for r in rows if campaigns[r["CAMPAIGN_ID"]]["objective_type"] == "AWARENESS"]
    assert without_video and awareness
    assert not any("TOTAL_VIDEO_3SEC_VIEWS" in r for r in without_video)
    assert not any("TOTAL_CHECKOUT" in r for r in awareness)
    assert any("TOTAL_VIDEO_3SEC_VIEWS" in r for r in rows)
    assert all(isinstance(r["SPEND_IN_MICRO_DOLLAR"], int) for r in rows)  # money stays exact


def test_the_250_id_and_90_day_rules(sb: SandboxProcess) -> None:
    ids = every_id(sb, "ad")
    assert len(ids) > 250
    path = f"/ad_accounts/{account(sb)}/ads/analytics"
    base = {"columns": COLUMNS, "granularity": "DAY", **window(sb, 10, 2)}
    assert call(sb, "get", path, params={**base, "ad_ids": ",".join(ids[:250])}).status_code == 200
    too_many = call(sb, "get", path, params={**base, "ad_ids": ",".join(ids[:251])})
    assert too_many.status_code == 400 and too_many.json()["code"] == 1
    account_path = f"/ad_accounts/{account(sb)}/analytics"
    base.pop("start_date"), base.pop("end_date")
    for dates, status in (
        (window(sb, 90, 5), 200),
        (window(sb, 91, 5), 400),
        (window(sb, 90, 90), 200),
        (window(sb, 90, 91), 400),
        (window(sb, 5, -1), 400),
    ):
        resp = call(sb, "get", account_path, params={**base, **dates})
        assert resp.status_code == status, (dates, resp.text)
    old = call(sb, "get", account_path, params={**base, **window(sb, 91, 5)}).json()
    assert old == {"code": 400, "message": "You can only get data from the last 90 days."}
    for params in ({"columns": "SPEND,NOT_A_COLUMN"}, {"granularity": "YEAR"}, {"columns": ""}):
        resp = call(sb, "get", account_path, params={**base, **window(sb, 5, 1), **params})
        assert resp.status_code == 400, params
    missing = call(sb, "get", f"/ad_accounts/{account(sb)}/campaigns/analytics", params=base)
    assert missing.status_code == 400


def test_late_conversions_grow_a_past_day_as_the_clock_moves(sb: SandboxProcess) -> None:
    """A day's conversions keep arriving for the click window; a day past it is final, and
    with TIME_OF_CONVERSION a past day never changes."""
    recent, settled = window(sb, 3, 0), window(sb, 80, 0)
    columns: dict[str, Any] = {
        "columns": "TOTAL_CHECKOUT,TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR,TOTAL_IMPRESSION"
    }
    at_conversion: dict[str, Any] = {"conversion_report_time": "TIME_OF_CONVERSION"}
    before = [analytics(sb, "ad_account", **d, **columns)[0] for d in (recent, settled)]
    by_conversion = analytics(sb, "ad_account", **recent, **columns, **at_conversion)[0]
    sb.advance(days=10)
    after = [analytics(sb, "ad_account", **d, **columns)[0] for d in (recent, settled)]
    assert after[0]["TOTAL_CHECKOUT"] > before[0]["TOTAL_CHECKOUT"]
    assert (
        after[0]["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"]
        > before[0]["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"]
    )
    assert after[0]["TOTAL_IMPRESSION"] == before[0]["TOTAL_IMPRESSION"]  # delivery is final
    assert after[1] == before[1]
    assert analytics(sb, "ad_account", **recent, **columns, **at_conversion)[0] == by_conversion


def test_attribution_windows_change_conversions_only(sb: SandboxProcess) -> None:
    dates = window(sb, 40, 10)
    default = per_day(analytics(sb, "ad_account", **dates))
    narrow = per_day(analytics(sb, "ad_account", **dates, click_window_days=1, view_window_days=0))
    for day, totals in default.items():
        assert narrow[day]["TOTAL_IMPRESSION"] == totals["TOTAL_IMPRESSION"]
    assert sum(d["TOTAL_CHECKOUT"] for d in narrow.values()) < sum(
        d["TOTAL_CHECKOUT"] for d in default.values()
    )
    bad = call(
        sb,
        "get",
        f"/ad_accounts/{account(sb)}/analytics",
        params={"columns": COLUMNS, "granularity": "DAY", **dates, "click_window_days": 3},
    )
    assert bad.status_code == 400


def test_the_analytics_window_limits_only_analytics(sb: SandboxProcess) -> None:
    sb.v5_configure(analytics_rate_limit_per_minute=2)
    try:
        path = f"/ad_accounts/{account(sb)}/analytics"
        params = {"columns": COLUMNS, "granularity": "TOTAL", **window(sb, 5, 1)}
        answers = [call(sb, "get", path, params=params) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["code"] == 8
        assert answers[1].headers["x-ratelimit-limit"].startswith("2,")
        assert call(sb, "get", "/ad_accounts").status_code == 200
    finally:
        sb.v5_configure(analytics_rate_limit_per_minute=0)


def test_the_truth_route_serves_any_range(sb: SandboxProcess) -> None:
    dates = window(sb, 30, 4)
    served = analytics(sb, "ad_account", **dates)
    truth = requests.get(
        f"{sb.url}/_sandbox/v5/analytics/ad_account",
        params={"ad_account_id": account(sb), "columns": COLUMNS, "granularity": "DAY", **dates},
        timeout=60,
    ).json()["rows"]
    assert truth == served
    old = requests.get(
        f"{sb.url}/_sandbox/v5/analytics/campaign",
        params={
            "ad_account_id": account(sb),
            "columns": COLUMNS,
            "granularity": "TOTAL",
            **window(sb, 700, 150),
        },
        timeout=60,
    )
    assert old.status_code == 200 and old.json()["rows"]


# -- reports ---------------------------------------------------------------------------------
def create(sb: SandboxProcess, **body: Any) -> str:
    payload = {"granularity": "DAY", "level": "CAMPAIGN", "columns": list(ADDITIVE), **body}
    resp = call(sb, "post", f"/ad_accounts/{account(sb)}/reports", json=payload)
    assert resp.status_code == 200, resp.text
    assert resp.json()["report_status"] == "IN_PROGRESS"
    return str(resp.json()["token"])


def poll(sb: SandboxProcess, token: str) -> list[dict[str, Any]]:
    """Every answer until the status is no longer IN_PROGRESS."""
    seen = []
    for _ in range(600):
        resp = call(sb, "get", f"/ad_accounts/{account(sb)}/reports", params={"token": token})
        assert resp.status_code == 200, resp.text
        seen.append(resp.json())
        if seen[-1]["report_status"] != "IN_PROGRESS":
            return seen
        time.sleep(0.05)
    raise AssertionError("the report never left IN_PROGRESS")


def test_a_report_finishes_and_downloads_without_the_bearer(sb: SandboxProcess) -> None:
    dates = window(sb, 400, 60)
    answers = poll(sb, create(sb, **dates))
    assert answers[0]["report_status"] == "IN_PROGRESS" and answers[0]["url"] is None
    done = answers[-1]
    assert done["report_status"] == "FINISHED"
    download = requests.get(done["url"], timeout=60)
    assert download.status_code == 200 and len(download.content) == done["size"]
    report = download.json()
    assert report and all(isinstance(rows, list) for rows in report.values())
    truth = requests.get(
        f"{sb.url}/_sandbox/v5/analytics/campaign",
        params={
            "ad_account_id": account(sb),
            "columns": ",".join(ADDITIVE),
            "granularity": "DAY",
            **dates,
        },
        timeout=60,
    ).json()["rows"]
    assert report == {
        cid: [
            {**{k: v for k, v in r.items() if k != "CAMPAIGN_ID"}, "CAMPAIGN_ID": int(cid)}
            for r in truth
            if r["CAMPAIGN_ID"] == cid
        ]
        for cid in {r["CAMPAIGN_ID"] for r in truth}
    }
    with_bearer = requests.get(
        done["url"], headers={"Authorization": f"Bearer {FIRST_ACCESS_TOKEN}"}, timeout=60
    )
    assert with_bearer.status_code == 400 and b"InvalidArgument" in with_bearer.content
    log = [e for e in sb.v5_requests() if "/_s3/" in e["path"]]
    assert [e["authorization_sent"] for e in log] == [False, True]


def test_a_download_url_expires_and_a_new_poll_gives_a_fresh_one(sb: SandboxProcess) -> None:
    sb.v5_configure(report_url_ttl_seconds=0.3)
    token = create(sb, **window(sb, 100, 10))
    url = poll(sb, token)[-1]["url"]
    time.sleep(0.5)
    expired = requests.get(url, timeout=30)
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    fresh = poll(sb, token)[-1]["url"]
    assert fresh != url and requests.get(fresh, timeout=30).status_code == 200


def test_a_report_expires_and_a_share_of_jobs_fail(sb: SandboxProcess) -> None:
    sb.v5_configure(report_ttl_seconds=0.3)
    token = create(sb, **window(sb, 100, 10))
    assert poll(sb, token)[-1]["report_status"] == "FINISHED"
    time.sleep(0.5)
    assert poll(sb, token)[-1]["report_status"] == "EXPIRED"
    sb.v5_configure(report_fail_rate=0.5)
    outcomes = [poll(sb, create(sb, **window(sb, 100, 3)))[-1]["report_status"] for _ in range(12)]
    assert set(outcomes) == {"FINISHED", "FAILED"}, outcomes
    sb.v5_configure(report_fail_rate=1)
    assert poll(sb, create(sb, **window(sb, 100, 3)))[-1]["report_status"] == "FAILED"
    unknown = call(sb, "get", f"/ad_accounts/{account(sb)}/reports", params={"token": "x"})
    assert unknown.json() == {"report_status": "DOES_NOT_EXIST", "url": None, "size": None}


def test_a_targeting_csv_report_splits_each_entity_exactly(sb: SandboxProcess) -> None:
    dates = window(sb, 300, 20)
    token = create(
        sb,
        **dates,
        level="AD_GROUP_TARGETING",
        targeting_types=["APPTYPE", "GENDER"],
        report_format="CSV",
    )
    text = requests.get(poll(sb, token)[-1]["url"], timeout=60).text
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert header[:4] == ["DATE", "AD_GROUP_ID", "TARGETING_TYPE", "TARGETING_VALUE"]
    assert {r["TARGETING_TYPE"] for r in rows} == {"APPTYPE", "GENDER"}
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in rows:
        sums[(row["AD_GROUP_ID"], row["DATE"], row["TARGETING_TYPE"])] += int(
            row["SPEND_IN_MICRO_DOLLAR"]
        )
    truth = requests.get(
        f"{sb.url}/_sandbox/v5/analytics/ad_group",
        params={
            "ad_account_id": account(sb),
            "columns": "SPEND_IN_MICRO_DOLLAR",
            "granularity": "DAY",
            **dates,
        },
        timeout=60,
    ).json()["rows"]
    for row in truth:
        for kind in ("APPTYPE", "GENDER"):
            assert sums[(row["AD_GROUP_ID"], row["DATE"], kind)] == row["SPEND_IN_MICRO_DOLLAR"]


def test_report_bodies_follow_the_spec_rules(sb: SandboxProcess) -> None:
    path = f"/ad_accounts/{account(sb)}/reports"
    good = {"granularity": "DAY", "level": "CAMPAIGN", "columns": ["SPEND_IN_MICRO_DOLLAR"]}
    for body in (
        {**good, **window(sb, 914, 185)},
        {
            **good,
            **window(sb, 100, 3),
            "targeting_types": ["GENDER"],
            "level": "AD_GROUP_TARGETING",
        },
        {**good, **window(sb, 100, 3), "report_format": "CSV", "click_window_days": 7},
    ):
        assert call(sb, "post", path, json=body).status_code == 200, body
    for body in (
        {**good, **window(sb, 915, 5)},
        {**good, **window(sb, 300, 186)},
        {**good, **window(sb, 100, 3), "targeting_types": ["GENDER"]},  # not a targeting level
        {**good, **window(sb, 100, 3), "columns": ["NOT_A_COLUMN"]},
        {**good, **window(sb, 100, 3), "view_window_days": 3},
        {**good, **window(sb, 100, 3), "level": "PRODUCT_ITEM", "ad_ids": ["1"]},
        {k: v for k, v in good.items() if k != "level"},
    ):
        resp = call(sb, "post", path, json=body)
        assert resp.status_code == 400 and set(resp.json()) == {"code", "message"}, body
    not_json = call(sb, "post", path, data="start_date=2026-01-01")
    assert not_json.status_code == 400


def test_the_size_flags_build_the_benchmark_universe() -> None:
    options: dict[str, Any] = {"v5_accounts": 2, "v5_campaigns": 7, "v5_ads": 40}
    with SandboxProcess(seed=3, ads=10, **options) as proc:
        state = proc.v5_state()
        assert len(state["ad_accounts"]) == 2 == len(state["owned_ad_accounts"])
        assert not state["forbidden_ad_accounts"]
        assert (state["counts"]["campaigns"], state["counts"]["ads"]) == (14, 80)


def test_targeting_analytics_split_each_campaign_exactly(sb: SandboxProcess) -> None:
    dates = window(sb, 20, 6)
    ids = every_id(sb, "campaign")[:250]
    path = f"/ad_accounts/{account(sb)}/campaigns/targeting_analytics"
    params = {
        "columns": "SPEND_IN_MICRO_DOLLAR",
        "granularity": "DAY",
        "campaign_ids": ",".join(ids),
        "targeting_types": "AGE_BUCKET,PLACEMENT",
        **dates,
    }
    data = call(sb, "get", path, params=params).json()["data"]
    sums: dict[tuple[int, str, str], int] = defaultdict(int)
    for item in data:
        metrics = item["metrics"]
        key = (metrics["CAMPAIGN_ID"], metrics["DATE"], item["targeting_type"])
        sums[key] += metrics["SPEND_IN_MICRO_DOLLAR"]
    rows = analytics(sb, "campaign", ids=ids, **dates, columns="SPEND_IN_MICRO_DOLLAR")
    assert rows
    for row in rows:
        for kind in ("AGE_BUCKET", "PLACEMENT"):
            key = (int(row["CAMPAIGN_ID"]), row["DATE"], kind)
            assert sums[key] == row["SPEND_IN_MICRO_DOLLAR"]


def test_a_keyword_report_shares_out_its_ad_groups(sb: SandboxProcess) -> None:
    dates = window(sb, 200, 30)
    columns = ["SPEND_IN_MICRO_DOLLAR", "AD_GROUP_ID"]
    report = requests.get(
        poll(sb, create(sb, **dates, level="KEYWORD", columns=columns))[-1]["url"], timeout=60
    ).json()
    keywords = {k["id"]: k for k in sb.v5_truth("keywords", ad_account_id=account(sb))}
    assert report and set(report) <= set(keywords)
    spend: dict[tuple[str, str], int] = defaultdict(int)
    for keyword_id, rows in report.items():
        assert "NEGATIVE" not in keywords[keyword_id]["match_type"]
        for row in rows:
            assert row["KEYWORD_ID"] == keyword_id
            assert row["AD_GROUP_ID"] == keywords[keyword_id]["parent_id"]
            spend[(row["AD_GROUP_ID"], row["DATE"])] += row["SPEND_IN_MICRO_DOLLAR"]
    truth = requests.get(
        f"{sb.url}/_sandbox/v5/analytics/ad_group",
        params={
            "ad_account_id": account(sb),
            "columns": "SPEND_IN_MICRO_DOLLAR",
            "granularity": "DAY",
            **dates,
        },
        timeout=60,
    ).json()["rows"]
    groups = {(r["AD_GROUP_ID"], r["DATE"]): r["SPEND_IN_MICRO_DOLLAR"] for r in truth}
    assert all(0 < total < groups[key] for key, total in spend.items())  # browse keeps a share


def test_metrics_ready_state_follows_the_clock(sb: SandboxProcess) -> None:
    def ready(back: int) -> dict[str, bool]:
        day = window(sb, back, 0)["start_date"]
        return dict(call(sb, "get", "/resources/metrics_ready_state", params={"date": day}).json())

    assert ready(0) == {"conversion_metrics_ready": False, "non_conversion_metrics_ready": False}
    assert ready(5) == {"conversion_metrics_ready": False, "non_conversion_metrics_ready": True}
    assert ready(31) == {"conversion_metrics_ready": True, "non_conversion_metrics_ready": True}


def test_hourly_rows_share_out_the_day_without_conversions(sb: SandboxProcess) -> None:
    dates = window(sb, 6, 2)
    hourly = analytics(sb, "ad_account", **dates, granularity="HOUR")
    daily = per_day(analytics(sb, "ad_account", **dates))
    assert {r["HOUR"] for r in hourly} == set(range(24))
    assert not any("TOTAL_CHECKOUT" in r for r in hourly)  # the spec: no conversions hourly
    for day, totals in daily.items():
        rows = [r for r in hourly if r["DATE"] == day]
        assert sum(r["SPEND_IN_MICRO_DOLLAR"] for r in rows) == totals["SPEND_IN_MICRO_DOLLAR"]
    path = f"/ad_accounts/{account(sb)}/analytics"
    base = {"columns": COLUMNS, "granularity": "HOUR"}
    for dates, status in (
        (window(sb, 8, 3), 200),
        (window(sb, 9, 1), 400),
        (window(sb, 7, 4), 400),
    ):
        assert call(sb, "get", path, params={**base, **dates}).status_code == status, dates
    token = create(sb, **window(sb, 5, 1), granularity="HOUR", start_hour=6, end_hour=20)
    report = requests.get(poll(sb, token)[-1]["url"], timeout=60).json()
    stamps = {(r["DATE"], r["HOUR"]) for rows in report.values() for r in rows}
    first, last = window(sb, 5, 1).values()
    assert min(h for d, h in stamps if d == first) == 6
    assert max(h for d, h in stamps if d == last) == 20
