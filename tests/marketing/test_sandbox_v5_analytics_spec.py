"""Faithfulness of the analytics and report answers: every body validates against the official
spec's schema for its operation and status (the Spec helper of test_sandbox_v5_spec), and every
query parameter the spec declares for them is accepted."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.auth import FIRST_ACCESS_TOKEN

from . import test_sandbox_v5_spec as base
from .test_sandbox_v5_spec import Spec, _resolve, _sample

spec = base.spec  # its module-scoped fixture

ANALYTICS = (
    ("get", "/ad_accounts/{ad_account_id}/analytics"),
    ("get", "/ad_accounts/{ad_account_id}/campaigns/analytics"),
    ("get", "/ad_accounts/{ad_account_id}/ad_groups/analytics"),
    ("get", "/ad_accounts/{ad_account_id}/ads/analytics"),
    ("get", "/user_account/analytics"),
)
TARGETING = (
    ("get", "/ad_accounts/{ad_account_id}/targeting_analytics"),
    ("get", "/ad_accounts/{ad_account_id}/campaigns/targeting_analytics"),
    ("get", "/ad_accounts/{ad_account_id}/ad_groups/targeting_analytics"),
    ("get", "/ad_accounts/{ad_account_id}/ads/targeting_analytics"),
    ("get", "/resources/metrics_ready_state"),
)
REPORTS = (
    ("post", "/ad_accounts/{ad_account_id}/reports"),
    ("get", "/ad_accounts/{ad_account_id}/reports"),
)
COLUMNS = "SPEND_IN_MICRO_DOLLAR,TOTAL_IMPRESSION,CTR,TOTAL_CHECKOUT,TOTAL_VIDEO_3SEC_VIEWS"


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=29, ads=60, v5_rate_limit=100_000, v5_report_polls=1) as proc:
        yield proc


def call(
    sb: SandboxProcess, method: str, path: str, token: str = FIRST_ACCESS_TOKEN, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{sb.v5_url}{path}", headers=headers, timeout=60, **kwargs)


def days(sb: SandboxProcess, back: int, span: int) -> dict[str, str]:
    today = date.fromisoformat(sb.v5_state()["now"][:10])
    start = today - timedelta(days=back)
    return {"start_date": start.isoformat(), "end_date": (start + timedelta(days=span)).isoformat()}


def ids(sb: SandboxProcess, account: str) -> dict[str, str]:
    """Ids of ads in running campaigns and their parents, comma-joined as the spec's
    explode=false arrays want."""
    running = {
        c["id"]
        for c in sb.v5_truth("campaigns", ad_account_id=account)
        if c["summary_status"] == "RUNNING"
    }
    ad = [a for a in sb.v5_truth("ads", ad_account_id=account) if a["campaign_id"] in running][:60]
    return {
        "campaign_ids": ",".join(sorted({a["campaign_id"] for a in ad})),
        "ad_group_ids": ",".join(sorted({a["ad_group_id"] for a in ad})),
        "ad_ids": ",".join(a["id"] for a in ad),
        "pin_ids": ",".join(a["pin_id"] for a in ad),
    }


def test_every_analytics_and_report_answer_validates(spec: Spec, sb: SandboxProcess) -> None:
    sb.reset()
    state = sb.v5_state()
    account = state["owned_ad_accounts"][0]
    forbidden = state["forbidden_ad_accounts"][0]
    chosen = ids(sb, account)
    base = {**days(sb, 60, 40), "columns": COLUMNS}
    for grain in ("DAY", "TOTAL", "WEEK", "MONTH"):
        for _, template in ANALYTICS[:4]:
            path = template.replace("{ad_account_id}", account)
            params = {**base, "granularity": grain, **chosen}
            resp = call(sb, "get", path, params=params)
            assert resp.status_code == 200, resp.text
            assert resp.json(), template  # rows were served, so their schema was exercised
            spec.check("get", template, resp)
    for _, template in ANALYTICS[:4]:  # hourly: the last 8 days, 3 at most
        path = template.replace("{ad_account_id}", account)
        params = {**base, **days(sb, 7, 2), "granularity": "HOUR", **chosen}
        resp = call(sb, "get", path, params=params)
        assert resp.status_code == 200 and resp.json(), resp.text
        spec.check("get", template, resp)
    for _, template in TARGETING[:4]:
        path = template.replace("{ad_account_id}", account)
        params = {**base, "granularity": "DAY", **chosen, "targeting_types": "APPTYPE,GENDER"}
        resp = call(sb, "get", path, params=params)
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"], template
        spec.check("get", template, resp)
    for back in (0, 5, 40):
        ready = call(sb, "get", TARGETING[4][1], params={"date": days(sb, back, 0)["start_date"]})
        spec.check("get", TARGETING[4][1], ready)
    for split in ("NO_SPLIT", "APP_TYPE", "OWNED_CONTENT", "SOURCE", "PIN_FORMAT"):
        resp = call(
            sb, "get", "/user_account/analytics", params={**days(sb, 30, 20), "split_field": split}
        )
        spec.check("get", "/user_account/analytics", resp)

    reports = f"/ad_accounts/{account}/reports"
    body = {
        **days(sb, 600, 30),
        "granularity": "DAY",
        "level": "CAMPAIGN_TARGETING",
        "columns": ["SPEND_IN_MICRO_DOLLAR", "TOTAL_CLICKTHROUGH"],
    }
    created = call(sb, "post", reports, json=body)
    spec.check("post", "/ad_accounts/{ad_account_id}/reports", created)
    token = created.json()["token"]
    statuses = []
    for _ in range(200):
        polled = call(sb, "get", reports, params={"token": token})
        spec.check("get", "/ad_accounts/{ad_account_id}/reports", polled)
        statuses.append(polled.json()["report_status"])
        if statuses[-1] != "IN_PROGRESS":
            break
        time.sleep(0.05)
    assert statuses[0] == "IN_PROGRESS" and statuses[-1] == "FINISHED", statuses
    spec.check(
        "get",
        "/ad_accounts/{ad_account_id}/reports",
        call(sb, "get", reports, params={"token": "nope"}),
    )
    sb.v5_configure(report_fail_rate=1)
    failed = call(sb, "post", reports, json=body).json()["token"]
    for _ in range(3):
        last = call(sb, "get", reports, params={"token": failed})
        spec.check("get", "/ad_accounts/{ad_account_id}/reports", last)
    assert last.json()["report_status"] == "FAILED"
    sb.v5_configure(report_fail_rate=0)

    # Errors, each in the shape the spec gives its status.
    errors: list[tuple[str, str, dict[str, Any]]] = [
        ("get", ANALYTICS[1][1], {**base, "granularity": "DAY"}),  # no campaign_ids
        (
            "get",
            ANALYTICS[1][1],
            {**base, "granularity": "DAY", "campaign_ids": ",".join(["1"] * 251)},
        ),
        ("get", ANALYTICS[0][1], {**days(sb, 91, 10), "columns": COLUMNS, "granularity": "DAY"}),
        ("get", ANALYTICS[0][1], {**days(sb, 80, 91), "columns": COLUMNS, "granularity": "DAY"}),
        ("get", ANALYTICS[0][1], {**base, "columns": "NOT_A_COLUMN", "granularity": "DAY"}),
        ("get", ANALYTICS[3][1], {**base, "granularity": "DAY"}),  # neither ad_ids nor pins
        ("get", ANALYTICS[4][1], days(sb, 100, 5)),
        ("get", REPORTS[1][1], {}),  # no token
        ("get", TARGETING[1][1], {**base, "granularity": "DAY", **chosen}),  # no targeting_types
    ]
    for method, template, params in errors:
        resp = call(sb, method, template.replace("{ad_account_id}", account), params=params)
        assert resp.status_code == 400, (template, resp.text)
        spec.check(method, template, resp)
    for bad in (
        {**body, "level": "NOPE"},
        {**body, **days(sb, 700, 200)},
        {**body, **days(sb, 950, 5)},
    ):
        resp = call(sb, "post", reports, json=bad)
        assert resp.status_code == 400, resp.text
        spec.check("post", REPORTS[0][1], resp)
    for method, template in (*ANALYTICS, *TARGETING, *REPORTS):
        path = template.replace("{ad_account_id}", account)
        query = {**base, "granularity": "DAY", **chosen, "token": token, "date": base["start_date"]}
        kwargs: dict[str, Any] = (
            {"json": body}
            if method == "post"
            else {"params": {**query, "targeting_types": "GENDER"}}
        )
        spec.check(
            method, template, call(sb, method, path, token="pina_not_a_token", **kwargs)
        )  # 401
        sb.add_faults({"kind": "429", "family": "v5"}, {"kind": "500"}, {"kind": "503"})
        for _ in range(3):
            spec.check(method, template, call(sb, method, path, **kwargs))
        if "{ad_account_id}" in template:
            for other in (forbidden, "1"):  # 403, 404
                spec.check(
                    method,
                    template,
                    call(sb, method, template.replace("{ad_account_id}", other), **kwargs),
                )

    statuses_seen = Counter(code for _, _, code in spec.seen)
    served = {(m, t) for m, t, _ in spec.seen}
    assert served == set(ANALYTICS) | set(TARGETING) | set(REPORTS)
    for code in (200, 400, 401, 403, 404, 429, 500, 503):
        assert statuses_seen[code], code
    print(
        json.dumps(
            {"responses_validated": sum(spec.seen.values()), "by_status": dict(statuses_seen)}
        )
    )


def test_every_analytics_parameter_the_spec_declares_is_accepted(
    spec: Spec, sb: SandboxProcess
) -> None:
    """Each declared query parameter, with a value the spec allows, beside the required ones."""
    sb.reset()
    account = sb.v5_state()["owned_ad_accounts"][0]
    chosen = ids(sb, account)
    sent = 0
    for method, template in (*ANALYTICS, *TARGETING):
        item = spec.document["paths"][template]
        declared = [_resolve(spec.document, p) for p in item.get("parameters", [])]
        declared += [_resolve(spec.document, p) for p in item[method].get("parameters", [])]
        required: dict[str, Any] = {**days(sb, 30, 10)}
        if template == "/resources/metrics_ready_state":
            required = {"date": required["start_date"]}
        elif "targeting" in template:
            required |= {"columns": COLUMNS, "granularity": "DAY", "targeting_types": "GENDER"}
            required |= {
                "campaigns": {"campaign_ids": chosen["campaign_ids"]},
                "ad_groups": {"ad_group_ids": chosen["ad_group_ids"]},
                "ads": {"ad_ids": chosen["ad_ids"]},
            }.get(template.split("/")[-2], {})
        elif template != "/user_account/analytics":
            required |= {"columns": COLUMNS, "granularity": "DAY"}
            required |= {
                "campaigns": {"campaign_ids": chosen["campaign_ids"]},
                "ad_groups": {"ad_group_ids": chosen["ad_group_ids"]},
                "ads": {"ad_ids": chosen["ad_ids"]},
            }.get(template.split("/")[-2], {})
        path = template.replace("{ad_account_id}", account)
        for param in declared:
            if param["in"] != "query" or param["name"] in ("start_date", "end_date", "date"):
                continue
            value = _sample(
                spec.document, param["name"], param["schema"], {**chosen, "ad_account_id": account}
            )
            params = {**required, param["name"]: value}
            if param["name"] == "pin_ids":  # the spec: ad_ids, or campaign_ids with pin_ids
                params = {k: v for k, v in params.items() if k != "ad_ids"}
                params |= {"campaign_ids": chosen["campaign_ids"], "pin_ids": chosen["pin_ids"]}
            resp = call(sb, method, path, params=params)
            assert resp.status_code == 200, (template, param["name"], value, resp.text)
            spec.check(method, template, resp)
            sent += 1
    assert sent >= 40
    print(json.dumps({"declared_parameters_sent": sent}))
