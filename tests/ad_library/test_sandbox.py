"""The sandbox API over real HTTP: a uvicorn server on 127.0.0.1, driven with requests."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from tap_pinterest_ads.sandbox.control import CaptureServer, SandboxProcess
from tap_pinterest_ads.sandbox.server import SandboxConfig, serve

KEY = "wh_test_key_5f2a"
API = "/api/v1/pinterest-ads"
UTC = timezone.utc
SEED = 7
ADS = 400
DEFAULTS = {
    "rate_limit_per_minute": 100_000,
    "latency_ms": 0,
    "scroll_ttl_seconds": 300,
    "monthly_credits": 20_000,
}


def config(**overrides: Any) -> SandboxConfig:
    return SandboxConfig(**{"seed": SEED, "ads": ADS, **DEFAULTS, **overrides})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(config()) as base:
        yield base


def fresh(server: str) -> str:
    requests.post(f"{server}/_sandbox/config", json=DEFAULTS, timeout=5).raise_for_status()
    requests.post(f"{server}/_sandbox/reset", timeout=5).raise_for_status()
    return server


@pytest.fixture
def base(server: str) -> str:
    return fresh(server)


def get(
    base: str, params: dict[str, Any] | None = None, key: str | None = KEY
) -> requests.Response:
    headers = {"X-API-Key": key} if key else {}
    return requests.get(f"{base}{API}", params=params or {}, headers=headers, timeout=10)


def walk(base: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a scroll walk, failing on duplicates or on more pages than expected."""
    rows: list[dict[str, Any]] = []
    body = get(base, {**params, "limit": 50}).json()
    while True:
        rows += body["data"]
        assert len(rows) <= 20_000
        if body["scroll"] is None:
            break
        body = get(base, {**params, "scroll": body["scroll"]}).json()
    ids = [r["id"] for r in rows if r.get("id") is not None]  # hostile rows may lack one
    assert len(ids) == len(set(ids)), "duplicate rows in a walk"
    return rows


def truth(base: str, params: dict[str, Any]) -> list[str]:
    body = requests.get(f"{base}/_sandbox/truth", params=params, timeout=10).json()
    assert body["total"] == len(body["ids"])
    return list(body["ids"])


def used(base: str) -> int:
    by_key = requests.get(f"{base}/_sandbox/credits", timeout=5).json()["by_key"]
    return int(by_key.get(hashlib.sha256(KEY.encode()).hexdigest()[:12], 0))


def advance(base: str, **amount: float) -> dict[str, Any]:
    resp = requests.post(f"{base}/_sandbox/advance", json=amount, timeout=30)
    resp.raise_for_status()
    return dict(resp.json())


def datefound_epoch(value: object) -> int:
    if isinstance(value, int):
        return value
    if value is None or str(value).startswith("0000"):
        return -1
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))  # 3.10 rejects "Z"
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


# -- process and envelope ---------------------------------------------------------------------


def test_cli_prints_one_ready_line_and_serves() -> None:
    cmd = [sys.executable, "-m", "tap_pinterest_ads.sandbox.server", "--port", "0"]
    proc = subprocess.Popen([*cmd, "--seed", "5", "--ads", "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:(\d+)) \(seed 5\)\n", line)
        assert match and match[2] != "0"
        state = requests.get(f"{match[1]}/_sandbox/state", timeout=5).json()
        assert state["seed"] == 5 and state["ads"] == 60
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_envelope(base: str) -> None:
    body = get(base).json()
    assert body["success"] is True and len(body["data"]) == 20 and body["limit"] == 20
    assert body["total"] == ADS and body["total_relation"] == "eq"
    assert body["scroll"].startswith("sa:")
    assert body["nextscrapetime"] == int(datetime(2026, 9, 2, tzinfo=UTC).timestamp())
    assert get(base, {"limit": 500}).json()["limit"] == 50
    beyond = get(base, {"page": 100}).json()
    assert beyond["data"] == [] and beyond["scroll"] is None


def test_page_param_matches_scroll_pages(base: str) -> None:
    first = get(base, {"limit": 30}).json()
    second = get(base, {"scroll": first["scroll"], "limit": 5}).json()  # later limits are ignored
    assert second["limit"] == 30
    assert get(base, {"limit": 30, "page": 1}).json()["data"] == second["data"]


# -- determinism --------------------------------------------------------------------------------


def page_bytes(base: str, params: dict[str, Any], pages: int = 3) -> list[bytes]:
    """Raw bodies of the first pages, with the tokens (they carry their issue time) masked."""
    out, query = [], {**params, "limit": 50}
    for _ in range(pages):
        resp = get(base, query)
        token = resp.json()["scroll"]
        out.append(resp.content.replace(token.encode(), b"TOKEN"))
        query = {**params, "scroll": token}
    return out


def test_same_seed_serves_byte_identical_pages(base: str) -> None:
    def pages(url: str) -> list[bytes]:
        return page_bytes(url, {"sorting": "likes"})

    with serve(config()) as twin, serve(config(seed=SEED + 1)) as other:
        assert pages(base) == pages(twin)
        assert pages(base) != pages(other)
        assert truth(base, {}) == truth(twin, {}) != truth(other, {})


# -- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "status", "body"),
    [
        (None, 401, {"success": False, "error": "Unauthorized"}),
        ("sk_live_nope", 401, {"success": False, "error": "Unauthorized"}),
        (
            "wh_basic_plan",
            403,
            {"success": False, "error": "WinningHunter Standard subscription required"},
        ),
        (
            "wh_free_plan",
            403,
            {"success": False, "error": "WinningHunter Basic plan or higher required"},
        ),
        (
            "wh_upgrade",
            200,
            {
                "upgrade": "standard_reach",
                "message": "Pinterest ads need the Standard plan. "
                "Upgrade at https://app.winninghunter.com/pricing",
            },
        ),
    ],
)
def test_auth_failures(base: str, key: str | None, status: int, body: dict[str, Any]) -> None:
    resp = get(base, key=key)
    assert (resp.status_code, resp.json()) == (status, body)
    assert requests.get(f"{base}/_sandbox/credits", timeout=5).json()["by_key"] == {}


def test_no_credits_key(base: str) -> None:
    resp = get(base, key="wh_no_credits")
    body = resp.json()
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    assert body["error"] == "Monthly API credits exhausted"
    assert body["credits"]["remaining"] == body["credits"]["total_remaining"] == 0
    assert body["purchase"] == {"url": "https://app.winninghunter.com/api#credits"}


def test_key_sources_and_precedence(base: str) -> None:
    url = f"{base}{API}"
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert requests.get(url, headers=bearer, timeout=5).status_code == 200
    assert requests.get(url, params={"api_key": KEY}, timeout=5).status_code == 200
    # X-API-Key is looked at first, so a bad one there wins over a good bearer token
    both = {**bearer, "X-API-Key": "nope"}
    assert requests.get(url, headers=both, timeout=5).status_code == 401
    empty_first = {**bearer, "X-API-Key": ""}
    assert requests.get(url, headers=empty_first, timeout=5).status_code == 200


def test_request_log_never_holds_the_key(base: str) -> None:
    get(base, {"sorting": "likes"})
    requests.get(f"{base}{API}", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    requests.get(f"{base}{API}", params={"api_key": KEY, "keyword": KEY}, timeout=5)
    get(base, {"mediatype": "nope"})
    raw = requests.get(f"{base}/_sandbox/requests", timeout=5).text
    assert KEY not in raw
    log = requests.get(f"{base}/_sandbox/requests", timeout=5).json()["requests"]
    assert [e["seq"] for e in log] == [1, 2, 3, 4]
    assert {e["key_id"] for e in log} == {hashlib.sha256(KEY.encode()).hexdigest()[:12]}
    assert all("api_key" not in e["params"] for e in log)
    assert log[0]["params"] == {"sorting": "likes"} and log[0]["rows"] == 20
    assert requests.delete(f"{base}/_sandbox/requests", timeout=5).json() == {"requests": []}


# -- validation -----------------------------------------------------------------------------------


def test_bad_enum(base: str) -> None:
    resp = get(base, {"mediatype": "gif"})
    assert resp.status_code == 400
    assert resp.json() == {
        "success": False,
        "error": "Invalid value 'gif' for 'mediatype'",
        "allowed_values": ["videos", "video", "images", "image"],
        "hint": "Use one of the allowed values, e.g. mediatype=video",
    }
    alias = get(base, {"trier": "newest"}).json()
    assert alias["error"] == "Invalid value 'newest' for 'trier'"
    assert "datefound" in alias["allowed_values"]


@pytest.mark.parametrize("value", ["2026-13-01", "31/01/2026", "2026-1-5"])
def test_bad_date(base: str, value: str) -> None:
    resp = get(base, {"from": value})
    assert resp.status_code == 400
    assert resp.json() == {
        "success": False,
        "error": f"Invalid date '{value}' for 'from'",
        "hint": "Dates use Y-m-d, e.g. 2026-01-31",
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": "0"}, "Invalid value '0' for 'limit'"),
        ({"limit": "ten"}, "Invalid value 'ten' for 'limit'"),
        ({"page": "-1"}, "Invalid value '-1' for 'page'"),
        ({"minlikes": "lots"}, "Invalid number 'lots' for 'minlikes'"),
    ],
)
def test_bad_numbers(base: str, params: dict[str, str], error: str) -> None:
    resp = get(base, params)
    assert resp.status_code == 400
    assert resp.json()["error"] == error and resp.json()["hint"]
    assert used(base) == 1  # a 400 keeps its credit


# -- filters, sorting, walks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def universe(server: str) -> list[dict[str, Any]]:
    """Every row at the initial clock (module-scoped, so set up before `base`)."""
    return walk(fresh(server), {})


KEYWORD_FIELDS = ["landing_url", "link", "domain", "shopify_shopifydomain", "page_name"]
KEYWORD_FIELDS += ["ad_text", "title", "description", "product_name"]


def text_of(row: dict[str, Any]) -> str:
    return " ".join(str(row[f]) for f in KEYWORD_FIELDS if row[f] is not None).lower()


FILTERS: list[tuple[dict[str, str], Callable[[dict[str, Any]], bool]]] = [
    ({"keyword": "serum,LAMP"}, lambda r: any(t in text_of(r) for t in ("serum", "lamp"))),
    (
        {"keyword": "glow", "searchkeyword": "pagename"},
        lambda r: "glow" in r["page_name"].lower(),
    ),
    (
        {"keyword": ".shop", "searchkeyword": "storeurl"},
        lambda r: ".shop" in r["domain"] + str(r["shopify_shopifydomain"]),
    ),
    ({"countries": "DE,fr"}, lambda r: bool({"DE", "FR"} & set(r["countries"]))),
    ({"niches": "BG,JY"}, lambda r: r["niche_v2"] in {"BG", "JY"}),
    ({"language": "en"}, lambda r: r["language"] == "en"),
    ({"gender": "female"}, lambda r: r["gender"] == "female"),
    ({"technologies": "klaviyo,wix"}, lambda r: bool({"klaviyo", "wix"} & set(r["technologies"]))),
    ({"mediatype": "videos"}, lambda r: r["media_type"] == "video"),
    ({"pagetype": "collections"}, lambda r: r["page_type"] == "collection"),
    ({"minlikes": "5", "maxlikes": "80"}, lambda r: 5 <= r["likes"] <= 80),
    ({"mincomments": "2"}, lambda r: r["comments"] >= 2),
    ({"maxshares": "30"}, lambda r: r["shares"] <= 30),
    ({"mintraffic": "20000"}, lambda r: (r["store_traffic"] or -1) >= 20000),
    (
        {"minprice": "20", "maxprice": "60.5"},
        lambda r: r["shopify_productprice"] is not None and 20 <= r["shopify_productprice"] <= 60.5,
    ),
    (
        {"from": "2026-05-01", "to": "2026-07-31"},
        lambda r: "2026-05-01" <= r["started"] <= "2026-07-31",
    ),
    ({"fromlastseen": "2026-08-20"}, lambda r: r["lastseen"] >= "2026-08-20"),
    ({"product_to": "2025-12-31"}, lambda r: (r["product_created"] or "9") <= "2025-12-31"),
    ({"mindays": "30", "maxdays": "90"}, lambda r: 30 <= r["daysrunning"] <= 90),
]


@pytest.mark.parametrize(("params", "check"), FILTERS, ids=[",".join(p) for p, _ in FILTERS])
def test_filter_narrows_consistently(
    base: str,
    universe: list[dict[str, Any]],
    params: dict[str, str],
    check: Callable[[dict[str, Any]], bool],
) -> None:
    rows = walk(base, params)
    expected = [r["id"] for r in universe if check(r)]
    assert 0 < len(rows) < len(universe)
    assert [r["id"] for r in rows] == truth(base, params)
    assert sorted(r["id"] for r in rows) == sorted(expected)


def test_id_filters(base: str, universe: list[dict[str, Any]]) -> None:
    page_id = universe[0]["page_id"]
    by_page = walk(base, {"pageidfromurl": page_id})
    assert by_page and all(r["page_id"] == page_id for r in by_page)
    assert len(by_page) == sum(r["page_id"] == page_id for r in universe)
    product = next(r["shopify_productid"] for r in universe if r["shopify_productid"])
    assert [r["shopify_productid"] for r in walk(base, {"product": product})] == [product]


def test_blank_and_all_values_do_not_filter(base: str) -> None:
    everything = truth(base, {})
    blanks = {"keyword": "", "countries": "All", "niches": "", "gender": "all", "scroll": ""}
    assert truth(base, blanks) == everything


def test_adscorefilter_caps_at_twenty(base: str, universe: list[dict[str, Any]]) -> None:
    body = get(base, {"adscore": "WINNING", "limit": 50}).json()
    assert body["scroll"] is None and 0 < len(body["data"]) <= 20
    assert all(r["adscore"] == "Winning" for r in body["data"])
    assert [r["id"] for r in body["data"]] == truth(base, {"adscorefilter": "winning"})


@pytest.mark.parametrize(
    "sorting", ["datefound", "comments", "likes", "shares", "reactions", "lastseen", "daysrunning"]
)
@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_sort_orders(base: str, sorting: str, direction: str) -> None:
    params = {"sorting": sorting, "sortdirection": direction}
    rows = walk(base, params)
    assert len(rows) == ADS and [r["id"] for r in rows] == truth(base, params)
    keys = [
        (datefound_epoch(r["datefound"]) if sorting == "datefound" else r[sorting], r["id"])
        for r in rows
    ]
    assert keys == sorted(keys, reverse=direction == "desc")


# -- scroll tokens -------------------------------------------------------------------------------


def test_scroll_is_bound_to_filters(base: str) -> None:
    token = get(base, {"mediatype": "videos", "limit": 5}).json()["scroll"]
    # aliases and spellings normalize to the same filter set
    same = get(base, {"mediatype": "video", "scroll": token})
    assert same.status_code == 200 and len(same.json()["data"]) == 5
    for params in ({"mediatype": "image"}, {"mediatype": "video", "sortdirection": "asc"}, {}):
        resp = get(base, {**params, "scroll": token})
        assert resp.status_code == 400
        assert resp.json()["error"] == "Scroll token does not match current query filters"
    assert used(base) == 5


def test_scroll_expiry(base: str) -> None:
    invalid = {
        "success": False,
        "error": "Invalid or expired scroll token",
        "hint": "Restart the search from the first page (omit scroll)",
    }
    token = get(base).json()["scroll"]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, "sa:garbage", "eyJwYWdlIjoxfQ=="):
        assert get(base, {"scroll": bad}).json() == invalid
    requests.post(f"{base}/_sandbox/config", json={"scroll_ttl_seconds": 0.2}, timeout=5)
    token = get(base).json()["scroll"]
    assert get(base, {"scroll": token}).status_code == 200
    time.sleep(0.3)
    assert get(base, {"scroll": token}).json() == invalid
    requests.post(f"{base}/_sandbox/config", json={"scroll_ttl_seconds": 300}, timeout=5)
    token = get(base).json()["scroll"]
    generation = requests.post(f"{base}/_sandbox/expire-scrolls", timeout=5).json()
    assert (
        generation["scroll_generation"]
        == requests.get(f"{base}/_sandbox/state", timeout=5).json()["scroll_generation"]
    )
    resp = get(base, {"scroll": token})
    assert (resp.status_code, resp.json()) == (400, invalid)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sorting": "datefound", "sortdirection": "asc"},
        {"countries": "US", "mediatype": "image"},
    ],
)
def test_search_after_survives_new_ads(base: str, params: dict[str, str]) -> None:
    expected = truth(base, params)
    body = get(base, {**params, "limit": 50}).json()
    seen = [r["id"] for r in body["data"]]
    added = advance(base, days=2)["added"]
    assert added >= 50
    while body["scroll"]:
        body = get(base, {**params, "scroll": body["scroll"]}).json()
        seen += [r["id"] for r in body["data"]]
    old = set(expected)
    assert [i for i in seen if i in old] == expected  # no gaps, no duplicates, same order
    assert len(truth(base, params)) > len(expected)


def test_total_is_capped_at_ten_thousand() -> None:
    with serve(config(ads=10_020)) as base:
        body = get(base, {"limit": 1}).json()
        assert (body["total"], body["total_relation"]) == (10_000, "gte")
        assert len(truth(base, {})) == 10_020
        narrow = get(base, {"mediatype": "video"}).json()
        assert narrow["total"] < 10_000 and narrow["total_relation"] == "eq"


# -- rate limit, credits, faults ------------------------------------------------------------------


def test_rate_limit(base: str) -> None:
    requests.post(f"{base}/_sandbox/config", json={"rate_limit_per_minute": 3}, timeout=5)
    assert [get(base).status_code for _ in range(3)] == [200, 200, 200]
    resp = get(base)
    assert resp.status_code == 429
    body = resp.json()
    assert body["error"] == "Rate limit exceeded: 3 requests per minute"
    assert 1 <= body["retry_after"] <= 60 and resp.headers["Retry-After"] == str(
        body["retry_after"]
    )
    assert "credits" not in body
    assert get(base, key="wh_other_key").status_code == 200  # windows are per key
    assert used(base) == 3
    state = requests.get(f"{base}/_sandbox/state", timeout=5).json()
    assert state["rate_limit_per_minute"] == 3


def test_credit_accounting(base: str) -> None:
    get(base)  # 200 with data: 1
    get(base, {"sorting": "bogus"})  # 400: 1
    get(base, key="wh_basic_plan")  # 403: free
    requests.post(f"{base}/_sandbox/faults", json={"faults": [{"kind": "500"}]}, timeout=5)
    assert get(base).status_code == 500  # refunded
    balance = requests.get(f"{base}/api/v1/credits", headers={"X-API-Key": KEY}, timeout=5)
    assert balance.json() == {
        "success": True,
        "credits": {
            "used": 3,
            "limit": 20_000,
            "remaining": 19_997,
            "addon_remaining": 0,
            "total_remaining": 19_997,
        },
    }
    log = requests.get(f"{base}/_sandbox/requests", timeout=5).json()["requests"]
    assert [e["credits_charged"] for e in log] == [1, 1, 0, 0, 1]
    assert [e["status"] for e in log] == [200, 400, 403, 500, 200]

    requests.post(f"{base}/_sandbox/config", json={"monthly_credits": 4}, timeout=5)
    assert get(base).status_code == 200
    exhausted = get(base)
    assert exhausted.status_code == 429 and "Retry-After" not in exhausted.headers
    assert exhausted.json()["credits"] == {
        "used": 4,
        "limit": 4,
        "remaining": 0,
        "addon_remaining": 0,
        "total_remaining": 0,
    }
    assert used(base) == 4


def test_faults(base: str) -> None:
    queue = [
        {"kind": "429", "retry_after": 2},
        {"kind": "500"},
        {"kind": "503"},
        {"kind": "timeout", "seconds": 0.3},
        {"kind": "drop"},
        {"kind": "expire_scroll"},
    ]
    resp = requests.post(f"{base}/_sandbox/faults", json={"faults": queue}, timeout=5)
    assert resp.json()["faults"] == queue
    assert get(base, key=None).status_code == 401  # unauthenticated calls leave faults queued
    limited = get(base)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert limited.json()["retry_after"] == 2
    assert get(base).status_code == 500
    assert get(base).status_code == 503
    started = time.monotonic()
    assert get(base).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.exceptions.RequestException):
        get(base).json()
    expired = get(base)
    assert (
        expired.status_code == 400 and expired.json()["error"] == "Invalid or expired scroll token"
    )
    assert get(base).status_code == 200
    assert requests.get(f"{base}/_sandbox/faults", timeout=5).json() == {"faults": []}
    requests.post(f"{base}/_sandbox/faults", json={"faults": [{"kind": "500"}]}, timeout=5)
    assert requests.delete(f"{base}/_sandbox/faults", timeout=5).json() == {"faults": []}
    bad = requests.post(f"{base}/_sandbox/faults", json={"faults": [{"kind": "fire"}]}, timeout=5)
    assert bad.status_code == 400


def test_latency_overlaps_concurrent_requests(base: str) -> None:
    requests.post(f"{base}/_sandbox/config", json={"latency_ms": 300}, timeout=5)
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(get(base).status_code)) for _ in range(4)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert statuses == [200] * 4 and 0.3 <= elapsed < 1.0


# -- time ----------------------------------------------------------------------------------------


def test_advance_grows_the_universe(base: str, universe: list[dict[str, Any]]) -> None:
    before = page_bytes(base, {"sorting": "shares"})
    assert advance(base, hours=6) == {"now": "2026-09-01T06:00:00Z", "ads": ADS, "added": 0}
    moved = advance(base, hours=18)
    assert moved["now"] == "2026-09-02T00:00:00Z" and 25 <= moved["added"] <= 60
    later = advance(base, days=3)
    assert later["ads"] == ADS + moved["added"] + later["added"]
    rows = {r["id"]: r for r in walk(base, {})}
    assert len(rows) == later["ads"] and set(rows) >= {r["id"] for r in universe}
    running = 0
    for old in universe:
        new = rows[old["id"]]
        for field in ("likes", "shares", "comments", "reactions", "lastseen", "daysrunning"):
            assert new[field] >= old[field], field
        assert new["repin_count"] == new["shares"] == new["repin_count_timeseries"][-1]["value"]
        series = new["repin_count_timeseries"]
        if new["lastseen"] == "2026-09-05 00:00:00":
            running += 1
            assert len(series) == min(30, len(old["repin_count_timeseries"]) + 4)
            assert series[-1]["date"] == "2026-09-05"
        elif new["lastseen"] == old["lastseen"]:  # stopped before: nothing new was observed
            assert new == old
    assert 0 < running < len(universe)
    now = "2026-09-05 00:00:00"
    for row in rows.values():
        assert datefound_epoch(row["datefound"]) <= datefound_epoch(now)
        assert row["lastseen"] <= now
    state = requests.get(f"{base}/_sandbox/state", timeout=5).json()
    assert state["now"] == "2026-09-05T00:00:00Z" and state["ads"] == later["ads"]
    requests.post(f"{base}/_sandbox/reset", timeout=5)
    assert truth(base, {}) == [r["id"] for r in universe]
    assert page_bytes(base, {"sorting": "shares"}) == before


# -- quirk switches, hostile rows, random faults (a sandbox process, driven through control.py) ---

INVALID = "Invalid or expired scroll token"
MISMATCH = "Scroll token does not match current query filters"
QUIRK_DEFAULTS = {
    "date_fields": "present",
    "undated_sort": "last",
    "retry_after_header": True,
    "honour_page": True,
    "scroll_error_status": 400,
    "total_format": "number",
    "count_format": "number",
}


@pytest.fixture(scope="module")
def process() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=SEED, ads=ADS, rate_limit=100_000) as proc:
        yield proc


@pytest.fixture
def sb(process: SandboxProcess) -> SandboxProcess:
    process.configure(**DEFAULTS)
    process.reset()
    return process


def ids_of(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def test_quirks_route_lists_sets_validates_and_resets(sb: SandboxProcess) -> None:
    assert sb.quirks() == QUIRK_DEFAULTS
    switched = sb.quirks(date_fields="camel", scroll_error_status=422)
    assert switched == {**QUIRK_DEFAULTS, "date_fields": "camel", "scroll_error_status": 422}
    assert sb.quirks() == switched
    url = f"{sb.url}/_sandbox/quirks"
    for bad, named in (
        ({"date_feilds": "absent"}, "'date_feilds'"),
        ({"honour_page": "no"}, "'honour_page'"),
        ({"honour_page": 0}, "'honour_page'"),
        ({"scroll_error_status": 500}, "'scroll_error_status'"),
    ):
        resp = requests.post(url, json=bad, timeout=5)
        assert resp.status_code == 400 and named in resp.json()["error"], bad
    assert sb.quirks() == switched  # a rejected request changes nothing
    sb.reset()
    assert sb.quirks() == QUIRK_DEFAULTS


def test_quirk_cli_flags() -> None:
    startup = {"date_fields": "absent", "honour_page": False, "scroll_error_status": 200}
    with SandboxProcess(seed=SEED, ads=60, quirks=startup) as proc:
        assert proc.quirks() == {**QUIRK_DEFAULTS, **startup}
        proc.quirks(honour_page=True)
        proc.reset()  # back to the switches the process started with
        assert proc.quirks() == {**QUIRK_DEFAULTS, **startup}
        assert "datefound" not in get(proc.url).json()["data"][0]
    cmd = [sys.executable, "-m", "tap_pinterest_ads.sandbox.server", "--port", "0"]
    for flag, named in (("undated_sort=middle", "'undated_sort'"), ("nope=1", "'nope'")):
        done = subprocess.run([*cmd, "--quirk", flag], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and named in done.stderr


def test_date_fields_switch(sb: SandboxProcess) -> None:
    params = {"sorting": "datefound"}
    present = walk(sb.url, params)
    assert all("datefound" in r and "lastseen" in r for r in present)
    recent = {"fromlastseen": "2026-08-25"}
    recent_ids = truth(sb.url, recent)
    sb.quirks(date_fields="absent")
    absent = walk(sb.url, params)
    assert ids_of(absent) == ids_of(present)  # still sorted by the dates it no longer serves
    assert all(not {"datefound", "lastseen", "dateFound", "lastSeen"} & set(r) for r in absent)
    assert ids_of(walk(sb.url, recent)) == recent_ids
    sb.quirks(date_fields="camel")
    camel = walk(sb.url, params)
    assert ids_of(camel) == ids_of(present)
    for old, new in zip(present, camel, strict=True):
        assert (new["dateFound"], new["lastSeen"]) == (old["datefound"], old["lastseen"])
        assert set(new) - {"dateFound", "lastSeen"} == set(old) - {"datefound", "lastseen"}


@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_undated_sort_switch(sb: SandboxProcess, direction: str) -> None:
    params = {"sorting": "datefound", "sortdirection": direction}
    last = walk(sb.url, params)
    undated = [r["id"] for r in last if datefound_epoch(r["datefound"]) < 0]
    dated = [r["id"] for r in last if datefound_epoch(r["datefound"]) >= 0]
    assert undated and dated
    oldest_first = direction == "asc"
    assert ids_of(last) == (undated + dated if oldest_first else dated + undated)
    sb.quirks(undated_sort="first")
    first = walk(sb.url, params)
    assert ids_of(first) == (dated + undated if oldest_first else undated + dated)
    assert ids_of(first) == truth(sb.url, params)


def test_honour_page_switch(sb: SandboxProcess) -> None:
    everything = truth(sb.url, {})
    page = {"limit": 10, "page": 3}
    assert ids_of(get(sb.url, page).json()["data"]) == everything[30:40]
    sb.quirks(honour_page=False)
    assert ids_of(get(sb.url, page).json()["data"]) == everything[:10]


@pytest.mark.parametrize("status", [422, 200])
def test_scroll_error_status_switch(sb: SandboxProcess, status: int) -> None:
    sb.quirks(scroll_error_status=status)
    video = {"mediatype": "video"}
    token = get(sb.url, {**video, "limit": 5}).json()["scroll"]

    def check(resp: requests.Response, error: str) -> None:
        body = resp.json()
        assert resp.status_code == status and body["success"] is False and body["error"] == error
        assert "data" not in body
        if status == 200:
            assert body == {"success": False, "error": error}

    check(get(sb.url, {"scroll": "sa:garbage"}), INVALID)
    check(get(sb.url, {"scroll": token}), MISMATCH)
    sb.add_faults({"kind": "expire_scroll"})
    check(get(sb.url, {**video, "scroll": token}), INVALID)
    assert len(get(sb.url, {**video, "scroll": token}).json()["data"]) == 5
    assert get(sb.url, {"mediatype": "gif"}).status_code == 400  # other errors keep their 400
    assert used(sb.url) == 6  # a scroll error keeps its charge whatever its status


def test_retry_after_switch(sb: SandboxProcess) -> None:
    sb.quirks(retry_after_header=False)
    sb.add_faults({"kind": "429", "retry_after": 2})
    sb.configure(rate_limit_per_minute=2)
    queued = get(sb.url)
    assert get(sb.url).status_code == 200
    limited = get(sb.url)
    for resp in (queued, limited):
        assert resp.status_code == 429 and "Retry-After" not in resp.headers
        assert resp.json() == {
            "success": False,
            "error": "Rate limit exceeded: 2 requests per minute",
        }


def test_request_log_says_how_the_key_came(sb: SandboxProcess) -> None:
    url, other = f"{sb.url}{API}", "wh_other_3e9b"
    calls: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"X-API-Key": KEY}, {}),
        ({"Authorization": f"Bearer {KEY}"}, {}),
        ({}, {"api_key": KEY}),
        ({"X-API-Key": KEY}, {"api_key": other}),  # sent in the query, not the one used
        ({}, {}),
        ({}, {"api_key": ""}),
    ]
    for headers, params in calls:
        requests.get(url, headers=headers, params=params, timeout=5)
    log = sb.requests()
    assert [(e["key_in_query"], e["auth_via"]) for e in log] == [
        (False, "x-api-key"),
        (False, "bearer"),
        (True, "query"),
        (True, "x-api-key"),
        (False, None),
        (True, None),
    ]
    raw = requests.get(f"{sb.url}/_sandbox/requests", timeout=5).text
    assert KEY not in raw and other not in raw


def test_hostile_rows(sb: SandboxProcess) -> None:
    before = truth(sb.url, {})
    old_newest = max(datefound_epoch(r["datefound"]) for r in walk(sb.url, {}))
    now = datefound_epoch(sb.state()["now"])
    order = ["compact", "compact_int", "null_id", "missing_id", "future", "undated"]
    added = {kind: sb.hostile(kind, 2) for kind in order}
    assert added["null_id"] == added["missing_id"] == [None, None]
    new_ids = [i for kind in order for i in added[kind] if i]
    assert len(set(new_ids)) == 8 and not set(new_ids) & set(before)
    assert sb.state()["hostile"] == 12

    rows = walk(sb.url, {})
    # Newest first: the future rows, then the others by the true instant they were found.
    head = rows[:10]
    assert sorted(ids_of(head[:2])) == sorted(added["future"])
    assert all(r["datefound"] == "2099-01-01 00:00:00" for r in head[:2])
    by_kind = dict(zip(order[3::-1], [head[2:4], head[4:6], head[6:8], head[8:10]], strict=True))
    assert all("id" not in r for r in by_kind["missing_id"])
    assert all("id" in r and r["id"] is None for r in by_kind["null_id"])
    instants = [datefound_epoch(r["datefound"]) for r in head[2:6]]  # served as found
    assert instants == sorted(instants, reverse=True) and len(set(instants)) == 4
    assert all(old_newest < t < now and now - t <= 3600 for t in instants)
    day = datetime.fromtimestamp(instants[0], UTC).strftime("%Y%m%d")
    assert ids_of(by_kind["compact"]) == added["compact"][::-1]
    assert [r["datefound"] for r in by_kind["compact"]] == [day, day]
    assert ids_of(by_kind["compact_int"]) == added["compact_int"][::-1]
    assert [r["datefound"] for r in by_kind["compact_int"]] == [int(day), int(day)]
    undated = [r for r in rows if r.get("id") in added["undated"]]
    assert len(undated) == 2 and all(r["datefound"] is None for r in undated)
    assert rows.index(undated[0]) > len(before)  # undated sorts as the oldest by default

    body = requests.get(f"{sb.url}/_sandbox/truth", timeout=5).json()
    assert body["ids"] == [r["id"] for r in rows if r.get("id")] and body["idless"] == 4
    assert sb.idless() == 4

    sb.reset()
    assert truth(sb.url, {}) == before and sb.state()["hostile"] == 0
    assert {kind: sb.hostile(kind, 2) for kind in order} == added  # same seed, same calls


def test_hostile_rejects_bad_requests(sb: SandboxProcess) -> None:
    url = f"{sb.url}/_sandbox/hostile"
    for bad in (
        {"kind": "weird"},
        {"kind": "future", "count": 0},
        {"kind": "future", "count": "2"},
    ):
        resp = requests.post(url, json=bad, timeout=5)
        assert resp.status_code == 400, bad
    sb.hostile("future", 60)  # at least 60 fit before each clock
    for _ in range(60):
        full = requests.post(url, json={"kind": "future"}, timeout=5)
        if full.status_code != 200:
            break
    assert full.status_code == 409 and "advance the clock" in full.json()["error"]
    sb.advance(hours=1)
    assert len(sb.hostile("future", 1)) == 1


def test_redirect_fault_and_capture_server(sb: SandboxProcess) -> None:
    params, headers = {"keyword": "lamp", "limit": "5"}, {"X-API-Key": KEY}
    url = f"{sb.url}{API}"
    with CaptureServer("127.0.0.2") as capture:
        assert capture.url.startswith("http://127.0.0.2:")
        sb.add_faults({"kind": "redirect", "to": capture.url + "/"})
        moved = requests.get(url, params=params, headers=headers, allow_redirects=False, timeout=5)
        assert moved.status_code == 302
        assert moved.headers["Location"] == f"{capture.url}{API}?keyword=lamp&limit=5"
        sb.add_faults({"kind": "redirect", "to": capture.url})
        bare = requests.get(url, headers=headers, allow_redirects=False, timeout=5)
        assert bare.headers["Location"] == f"{capture.url}{API}"
        assert capture.requests() == []
        # A client that follows it sends the foreign host what it sent us (requests keeps
        # X-API-Key; it drops only Authorization): what the tap must not do.
        sb.add_faults({"kind": "redirect", "to": capture.url})
        followed = requests.get(url, params={**params, "api_key": KEY}, headers=headers, timeout=5)
        assert followed.json() == {"data": [], "scroll": None}
        bearer = {"Authorization": f"Bearer {KEY}"}
        requests.post(f"{capture.url}/x", headers=bearer, json={"a": 1}, timeout=5)
        requests.get(f"{capture.url}/plain", timeout=5)
        seen = capture.requests()
    assert [(r["method"], r["path"], r["key_header"], r["key_in_query"]) for r in seen] == [
        ("GET", API, True, True),
        ("POST", "/x", True, False),
        ("GET", "/plain", False, False),
    ]
    assert seen[0]["query_names"] == ["api_key", "keyword", "limit"]
    assert "x-api-key" in seen[0]["header_names"] and "authorization" in seen[1]["header_names"]
    assert KEY not in json.dumps(seen)
    log = sb.requests()
    assert [(e["status"], e["fault"], e["credits_charged"]) for e in log] == [
        (302, "redirect", 0)
    ] * 3
    assert used(sb.url) == 0


def test_echo_key_fault(sb: SandboxProcess) -> None:
    sent = " wh_echo_7f1c "  # exactly as received: a query parameter keeps its spaces
    sb.add_faults({"kind": "echo_key"}, {"kind": "echo_key"})
    for resp, key in (
        (requests.get(f"{sb.url}{API}", params={"api_key": sent}, timeout=5), sent),
        (get(sb.url, key=KEY), KEY),
    ):
        assert resp.status_code == 400
        assert resp.json() == {
            "success": False,
            "error": f"Invalid API key '{key}' for this endpoint",
        }
    assert get(sb.url, key=KEY).status_code == 200
    raw = requests.get(f"{sb.url}/_sandbox/requests", timeout=5).text
    assert KEY not in raw and sent.strip() not in raw
    assert [e["credits_charged"] for e in sb.requests()] == [0, 0, 1]


def test_total_format_switch(sb: SandboxProcess) -> None:
    assert get(sb.url).json()["total"] == ADS
    sb.quirks(total_format="comma")
    assert get(sb.url).json()["total"] == str(ADS)
    with SandboxProcess(seed=SEED, ads=1234, quirks={"total_format": "comma"}) as big:
        assert get(big.url).json()["total"] == "1,234"


def test_count_format_switch(sb: SandboxProcess) -> None:
    sb.advance(days=60)  # engagement grows: some counts pass 1000
    params = {"sorting": "shares"}
    numbers = walk(sb.url, params)
    sb.quirks(count_format="human")
    human = walk(sb.url, params)
    assert ids_of(human) == ids_of(numbers)
    forms = set()
    for old, new in zip(numbers, human, strict=True):
        for name in ("likes", "shares", "comments"):
            n, text = old[name], new[name]
            assert isinstance(text, str)
            if n < 1000:
                assert text == str(n)
            elif text.endswith("k"):
                forms.add("k")
                assert 0 <= n - float(text[:-1]) * 1000 < (100 if n < 10_000 else 1000)
                assert re.fullmatch(r"\d(\.\d)?k" if n < 10_000 else r"\d+k", text)
            else:
                forms.add(",")
                assert text == f"{n:,}" and "," in text
        assert {k: v for k, v in new.items() if k not in ("likes", "shares", "comments")} == {
            k: v for k, v in old.items() if k not in ("likes", "shares", "comments")
        }
    assert forms == {"k", ","}
    assert ids_of(walk(sb.url, {"minshares": 1000})) == truth(sb.url, {"minshares": 1000})


def outcomes(base: str, count: int, params: dict[str, str] | None = None) -> list[object]:
    """Status code, "timeout" or "drop" per request, as a client sees them."""
    seen: list[object] = []
    for _ in range(count):
        try:
            resp = requests.get(
                f"{base}{API}",
                params={"limit": "1", **(params or {})},
                headers={"X-API-Key": KEY},
                timeout=0.5,
            )
            resp.json()
            seen.append(resp.status_code)
        except requests.exceptions.Timeout:
            seen.append("timeout")
        except requests.exceptions.RequestException:
            seen.append("drop")
    return seen


def test_random_faults_are_seeded_and_roughly_at_the_rate(sb: SandboxProcess) -> None:
    def run(seed: int, count: int = 200) -> list[object]:
        sb.reset()
        sb.configure(fault_rate=0.2, fault_seed=seed)
        return outcomes(sb.url, count)

    first = run(11)
    faults = [o for o in first if o != 200]
    assert 25 <= len(faults) <= 55, len(faults)
    assert set(faults) == {429, 500, 503, "timeout", "drop"}  # no scroll: no expire_scroll
    assert run(11) == first
    assert run(12, 60) != first[:60]
    sb.reset()  # back to the startup rate and seed
    current = requests.post(f"{sb.url}/_sandbox/config", json={}, timeout=5).json()
    assert (current["fault_rate"], current["fault_seed"]) == (0, 0)
    assert set(outcomes(sb.url, 20)) == {200}

    sb.configure(fault_rate=1)
    sb.add_faults({"kind": "echo_key"})
    assert get(sb.url).json()["error"].startswith("Invalid API key")  # queued goes first


def test_random_expire_scroll_only_on_scroll_requests(sb: SandboxProcess) -> None:
    token = get(sb.url).json()["scroll"]
    sb.configure(fault_rate=1, fault_seed=3)
    statuses = outcomes(sb.url, 40, {"scroll": token})
    assert 400 in statuses  # expire_scroll joins the draw
    time.sleep(2.2)  # let the timed-out requests finish and log
    kinds = {e["fault"] for e in sb.requests() if "scroll" in e["params"]}
    assert "expire_scroll" in kinds and None not in kinds


def test_fault_cli_flags_and_bounds() -> None:
    with SandboxProcess(seed=SEED, ads=60, fault_rate=0.5, fault_seed=9) as proc:
        current = requests.post(f"{proc.url}/_sandbox/config", json={}, timeout=5).json()
        assert (current["fault_rate"], current["fault_seed"]) == (0.5, 9)
        bad = requests.post(f"{proc.url}/_sandbox/config", json={"fault_rate": 1.5}, timeout=5)
        assert bad.status_code == 400 and "fault_rate" in bad.json()["error"]


def test_pass_fault_places_a_fault_later_in_a_walk(sb: SandboxProcess) -> None:
    sb.add_faults({"kind": "pass"}, {"kind": "pass"}, {"kind": "expire_scroll"})
    first = get(sb.url, {"limit": 5}).json()
    second = get(sb.url, {"scroll": first["scroll"]}).json()
    assert len(second["data"]) == 5
    assert get(sb.url, {"scroll": second["scroll"]}).json()["error"] == INVALID
    assert [e["fault"] for e in sb.requests()] == ["pass", "pass", "expire_scroll"]
