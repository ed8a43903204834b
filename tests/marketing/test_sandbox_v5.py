"""The sandbox's v5 family over real HTTP: OAuth rotation, pagination, status filters, access
errors, rate limits, faults, time travel and the control routes the tap's tests rely on."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.auth import (
    CLIENT_ID,
    CLIENT_SECRET,
    FIRST_ACCESS_TOKEN,
    FIRST_REFRESH_TOKEN,
)
from tap_pinterest_ads.sandbox.v5.data import STATUSES

SEED = 31
UTC = dt.timezone.utc
EVERY: dict[str, Any] = {"entity_statuses": list(STATUSES)}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=SEED, ads=60) as proc:
        yield proc


@pytest.fixture
def sb(server: SandboxProcess) -> SandboxProcess:
    # Configured before the reset, which gives the first access token the configured life: a
    # test's short one (1 s) would otherwise carry over and expire mid-test on a loaded machine.
    server.v5_configure(rate_limit_per_minute=100_000, token_ttl_seconds=3600)
    server.reset()
    server.configure(fault_rate=0)
    requests.delete(f"{server.url}/_sandbox/faults", timeout=5).raise_for_status()
    return server


def refresh(sb: SandboxProcess, token: str, **form: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, "continuous_refresh": "true"}
    return requests.post(
        f"{sb.v5_url}/oauth/token",
        data={**data, **form},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )


def get(
    sb: SandboxProcess, path: str, token: str = FIRST_ACCESS_TOKEN, **params: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{sb.v5_url}{path}", params=params, headers=headers, timeout=30)


def walk(sb: SandboxProcess, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a bookmark walk and the number of pages, failing on a repeated row."""
    rows: list[dict[str, Any]] = []
    pages, bookmark = 0, params.pop("bookmark", None)  # a walk may resume from a bookmark
    while True:
        resp = get(sb, path, **params, **({"bookmark": bookmark} if bookmark else {}))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows += body["items"]
        pages += 1
        bookmark = body["bookmark"]
        if bookmark is None:
            ids = [r["id"] for r in rows]
            assert len(ids) == len(set(ids)), "a row came twice"
            return rows, pages


def account(sb: SandboxProcess, n: int = 0) -> str:
    return str(sb.v5_state()["owned_ad_accounts"][n])


# -- OAuth -----------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_dies(sb: SandboxProcess) -> None:
    first = refresh(sb, FIRST_REFRESH_TOKEN)
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] != FIRST_REFRESH_TOKEN
    assert sb.v5_tokens()["refresh_tokens"] == [body["refresh_token"]]
    again = refresh(sb, FIRST_REFRESH_TOKEN)
    assert again.status_code == 400
    assert again.json() == {"code": 283, "message": "The authorization grant is invalid"}
    second = refresh(sb, body["refresh_token"]).json()  # a chain: second run, third run
    third = refresh(sb, second["refresh_token"]).json()
    assert len({body["access_token"], second["access_token"], third["access_token"]}) == 3
    assert get(sb, "/ad_accounts", third["access_token"]).status_code == 200
    tokens = sb.v5_tokens()
    assert tokens["refresh_tokens"] == [third["refresh_token"]]
    assert (tokens["refreshes"], tokens["refused_grants"]) == (3, 1)
    sb.reset()  # back to the documented first credentials
    assert refresh(sb, FIRST_REFRESH_TOKEN).status_code == 200
    assert refresh(sb, third["refresh_token"]).status_code == 400


def test_client_credentials_and_grant_checks(sb: SandboxProcess) -> None:
    url = f"{sb.v5_url}/oauth/token"
    form = {"grant_type": "refresh_token", "refresh_token": FIRST_REFRESH_TOKEN}
    wrong = requests.post(url, data=form, auth=(CLIENT_ID, "nope"), timeout=10)
    missing = requests.post(url, data=form, timeout=10)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert wrong.json() == {"code": 2, "message": "Authentication failed."}
    assert sb.v5_tokens()["refresh_tokens"] == [
        FIRST_REFRESH_TOKEN
    ]  # a refused call spends nothing
    other = refresh(sb, FIRST_REFRESH_TOKEN, grant_type="client_credentials")
    assert other.status_code == 400 and other.json()["code"] == 1
    sb.v5_quirks(refused_grant_status=401)
    assert refresh(sb, "pinr_unknown").status_code == 401
    refresh(sb, FIRST_REFRESH_TOKEN, continuous_refresh="false")
    assert sb.v5_tokens()["without_continuous_refresh"] == 1
    log = sb.v5_requests()
    assert all(e["form_fields"] for e in log if e["path"].endswith("/oauth/token"))
    raw = requests.get(f"{sb.url}/_sandbox/v5/requests", timeout=5).text
    assert FIRST_REFRESH_TOKEN not in raw and CLIENT_SECRET not in raw


def test_access_tokens_expire(sb: SandboxProcess) -> None:
    assert get(sb, "/user_account").status_code == 200
    assert sb.v5_expire_tokens() == 1
    expired = get(sb, "/user_account")
    assert expired.status_code == 401
    assert expired.json() == {"code": 2, "message": "Authentication failed."}
    sb.v5_configure(token_ttl_seconds=1)
    fresh = refresh(sb, FIRST_REFRESH_TOKEN).json()
    assert fresh["expires_in"] == 1
    assert get(sb, "/user_account", fresh["access_token"]).status_code == 200
    time.sleep(1.2)
    assert get(sb, "/user_account", fresh["access_token"]).status_code == 401
    sb.v5_revoke_tokens()
    assert refresh(sb, fresh["refresh_token"]).json()["code"] == 283


# -- lists -----------------------------------------------------------------------------------


def test_a_walk_at_any_page_size_returns_the_truth(sb: SandboxProcess) -> None:
    aid = account(sb)
    truth = [r["id"] for r in sb.v5_truth("ads", ad_account_id=aid)]
    assert len(truth) > 1000  # thousands of ads over the accounts
    rows, pages = walk(sb, f"/ad_accounts/{aid}/ads", page_size=250, **EVERY)
    assert [r["id"] for r in rows] == truth and pages == -(-len(truth) // 250)
    first = get(sb, f"/ad_accounts/{aid}/ads", **EVERY).json()
    assert len(first["items"]) == 25 and first["bookmark"]  # the spec's default page size
    down, _ = walk(sb, f"/ad_accounts/{aid}/ads", page_size=200, order="DESCENDING", **EVERY)
    assert [r["id"] for r in down] == truth[::-1]
    for size, word in (("251", "between 1 and 250"), ("0", "between"), ("3e", "not numeric")):
        resp = get(sb, f"/ad_accounts/{aid}/ads", page_size=size)
        assert resp.status_code == 400 and word in resp.json()["message"], size
    garbled = get(sb, f"/ad_accounts/{aid}/ads", bookmark="not a bookmark")
    assert garbled.status_code == 400 and garbled.json()["code"] == 1


def test_entity_statuses_default_and_every_status(sb: SandboxProcess) -> None:
    aid = account(sb)
    for kind in ("campaigns", "ad_groups", "ads"):
        truth = sb.v5_truth(kind, ad_account_id=aid)
        assert {r["status"] for r in truth} == set(STATUSES), kind
        default, _ = walk(sb, f"/ad_accounts/{aid}/{kind}", page_size=250)
        assert {r["id"] for r in default} == {
            r["id"] for r in truth if r["status"] in ("ACTIVE", "PAUSED")
        }
        repeated, _ = walk(sb, f"/ad_accounts/{aid}/{kind}", page_size=250, **EVERY)
        joined, _ = walk(
            sb, f"/ad_accounts/{aid}/{kind}", page_size=250, entity_statuses=",".join(STATUSES)
        )
        assert [r["id"] for r in repeated] == [r["id"] for r in joined] == [r["id"] for r in truth]
    archived = [r for r in sb.v5_truth("campaigns", ad_account_id=aid) if r["status"] == "ARCHIVED"]
    children = sb.v5_truth("ads", ad_account_id=aid)
    assert all(
        a["status"] == "ARCHIVED"
        for a in children
        if a["campaign_id"] in {c["id"] for c in archived}
    )  # archiving cascades
    bad = get(sb, f"/ad_accounts/{aid}/campaigns", entity_statuses="DELETED")
    assert bad.status_code == 400


def test_id_filters(sb: SandboxProcess) -> None:
    aid = account(sb)
    campaign = sb.v5_truth("campaigns", ad_account_id=aid)[3]
    groups, _ = walk(sb, f"/ad_accounts/{aid}/ad_groups", campaign_ids=campaign["id"], **EVERY)
    assert groups and {g["campaign_id"] for g in groups} == {campaign["id"]}
    ads, _ = walk(sb, f"/ad_accounts/{aid}/ads", ad_group_ids=groups[0]["id"], **EVERY)
    assert ads and {a["ad_group_id"] for a in ads} == {groups[0]["id"]}
    both = get(sb, f"/ad_accounts/{aid}/ad_groups", campaign_ids="1", ad_group_ids="2")
    assert both.status_code == 400


def test_keywords_are_read_per_ad_group(sb: SandboxProcess) -> None:
    aid = account(sb)
    truth = sb.v5_truth("keywords", ad_account_id=aid)
    unfiltered, _ = walk(sb, f"/ad_accounts/{aid}/keywords")
    assert {k["parent_id"] for k in unfiltered} == {aid}  # only the account's own keywords
    per_group = [
        k
        for g in sb.v5_truth("ad_groups", ad_account_id=aid)
        for k in walk(sb, f"/ad_accounts/{aid}/keywords", ad_group_id=g["id"], page_size=250)[0]
    ]
    assert len(per_group) > 100
    assert sorted(k["id"] for k in per_group + unfiltered) == sorted(k["id"] for k in truth)
    groups = [g["id"] for g in sb.v5_truth("ad_groups", ad_account_id=aid)]
    batched = [
        k
        for start in range(0, len(groups), 250)
        for k in walk(sb, f"/ad_accounts/{aid}/keywords", ad_group_ids=groups[start : start + 250])[
            0
        ]
    ]
    assert sorted(k["id"] for k in batched) == sorted(k["id"] for k in per_group)
    assert get(sb, f"/ad_accounts/{aid}/keywords", ad_group_ids=["1"] * 251).status_code == 400


def test_keywords_ad_group_ids_beta_refused_or_ignored(sb: SandboxProcess) -> None:
    aid = account(sb)
    group = sb.v5_truth("ad_groups", ad_account_id=aid)[0]["id"]
    own = walk(sb, f"/ad_accounts/{aid}/keywords")[0]
    sb.v5_quirks(keyword_ad_group_ids="refused")
    refused = get(sb, f"/ad_accounts/{aid}/keywords", ad_group_ids=[group])
    assert refused.status_code == 400 and refused.json()["code"] == 1
    sb.v5_quirks(keyword_ad_group_ids="ignored")
    assert walk(sb, f"/ad_accounts/{aid}/keywords", ad_group_ids=[group])[0] == own
    assert walk(sb, f"/ad_accounts/{aid}/keywords", ad_group_id=group)[0]  # still served


def test_catalogs_feeds_and_the_no_catalog_answer(sb: SandboxProcess) -> None:
    state = sb.v5_state()
    feeds, _ = walk(sb, "/catalogs/feeds", ad_account_id=account(sb))
    assert any(f["credentials"] and f["credentials"]["password"] for f in feeds)
    bare = next(
        a for a in state["no_catalog_ad_accounts"] if a not in state["forbidden_ad_accounts"]
    )
    conflict = get(sb, "/catalogs/product_groups", ad_account_id=bare)
    assert conflict.status_code == 409 and conflict.json()["code"] == 4182
    assert walk(sb, "/catalogs", ad_account_id=bare)[0] == []
    catalog = walk(sb, "/catalogs")[0][0]
    groups, _ = walk(sb, "/catalogs/product_groups", catalog_id=catalog["id"])
    assert groups and {g["catalog_id"] for g in groups} == {catalog["id"]}
    seconds = groups[0]["created_at"]
    sb.v5_quirks(product_group_time="ms")
    assert (
        walk(sb, "/catalogs/product_groups", catalog_id=catalog["id"])[0][0]["created_at"]
        == seconds * 1000
    )


def test_a_forbidden_ad_account(sb: SandboxProcess) -> None:
    state = sb.v5_state()
    [forbidden] = state["forbidden_ad_accounts"]
    listed, pages = walk(sb, "/ad_accounts", page_size=1)
    assert [a["id"] for a in listed] == state["ad_accounts"] and pages == len(listed)
    owned, _ = walk(sb, "/ad_accounts", include_shared_accounts="false")
    assert [a["id"] for a in owned] == state["owned_ad_accounts"]
    for suffix in ("", "/campaigns", "/ads", "/keywords", "/audiences", "/conversion_tags"):
        resp = get(sb, f"/ad_accounts/{forbidden}{suffix}")
        assert resp.status_code == 403, suffix
        assert resp.json() == {
            "code": 29,
            "message": "You are not permitted to access that resource.",
        }
    assert get(sb, "/catalogs", ad_account_id=forbidden).status_code == 403
    assert get(sb, "/ad_accounts/123/campaigns").status_code == 404


def test_organic_boards_sections_and_pins(sb: SandboxProcess) -> None:
    boards, _ = walk(sb, "/boards", page_size=5)
    assert [b["id"] for b in boards] == [b["id"] for b in sb.v5_truth("boards")]
    secret, _ = walk(sb, "/boards", privacy="SECRET")
    assert {b["privacy"] for b in secret} <= {"SECRET"}
    pins = [p for b in boards for p in walk(sb, f"/boards/{b['id']}/pins", page_size=7)[0]]
    assert sorted(p["id"] for p in pins) == sorted(p["id"] for p in sb.v5_truth("board_pins"))
    sectioned = [
        p
        for s in sb.v5_truth("board_sections")
        for p in walk(sb, f"/boards/{s['board_id']}/sections/{s['id']}/pins")[0]
    ]
    assert sorted(p["id"] for p in sectioned) == [
        p["id"] for p in sb.v5_truth("board_section_pins")
    ]
    assert get(sb, "/boards/1/pins").json() == {"code": 404, "message": "Board not found."}
    user = get(sb, "/user_account").json()
    assert user["board_count"] == len(boards) and user["pin_count"] == len(pins)


# -- limits, faults, time --------------------------------------------------------------------


def test_rate_limit_window_and_headers(sb: SandboxProcess) -> None:
    sb.v5_configure(rate_limit_per_minute=3)
    answers = [get(sb, "/user_account") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["code"] == 8
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "3, 3;w=60"
    assert 1 <= int(answers[3].headers["x-ratelimit-reset"]) <= 60
    sb.v5_quirks(ratelimit_headers=False)
    assert not any(h.startswith("x-ratelimit") for h in get(sb, "/user_account").headers)


def test_faults_apply_to_v5_and_can_name_their_family(sb: SandboxProcess) -> None:
    sb.add_faults({"kind": "pass", "family": "ad_library"}, {"kind": "429", "retry_after": 7})
    limited = get(sb, "/user_account")
    assert limited.status_code == 429 and limited.json()["code"] == 8
    assert limited.headers["x-ratelimit-reset"] == "7"
    assert requests.get(f"{sb.url}/_sandbox/faults", timeout=5).json()["faults"] == [
        {"kind": "pass", "family": "ad_library"}  # waits for an ad-library request
    ]
    requests.delete(f"{sb.url}/_sandbox/faults", timeout=5)
    sb.add_faults(
        {"kind": "500"}, {"kind": "503"}, {"kind": "drop"}, {"kind": "timeout", "seconds": 2}
    )
    assert get(sb, "/user_account").status_code == 500
    assert get(sb, "/user_account").status_code == 503
    with pytest.raises(requests.exceptions.RequestException):
        get(sb, "/user_account").json()
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(
            f"{sb.v5_url}/user_account",
            headers={"Authorization": f"Bearer {FIRST_ACCESS_TOKEN}"},
            timeout=0.5,
        )
    sb.add_faults({"kind": "500", "path": "/v5/oauth/token"})
    assert get(sb, "/user_account").status_code == 200  # the fault waits for the token call
    assert refresh(sb, FIRST_REFRESH_TOKEN).status_code == 500
    assert sb.v5_tokens()["refresh_tokens"] == [FIRST_REFRESH_TOKEN]  # nothing was spent
    sb.add_faults({"kind": "echo_key"}, {"kind": "echo_key"})
    echoed = get(sb, "/user_account")
    assert echoed.status_code == 401 and FIRST_ACCESS_TOKEN in echoed.json()["message"]
    echoed = refresh(sb, FIRST_REFRESH_TOKEN)
    assert echoed.status_code == 401 and FIRST_REFRESH_TOKEN in echoed.json()["message"]
    time.sleep(2)  # the timed-out request finishes and logs
    kinds = [e["fault"] for e in sb.v5_requests()]
    assert kinds.count("500") == 2 and "timeout" in kinds and "drop" in kinds
    assert FIRST_ACCESS_TOKEN not in requests.get(f"{sb.url}/_sandbox/v5/requests", timeout=5).text


def test_random_faults_reach_v5(sb: SandboxProcess) -> None:
    sb.configure(fault_rate=0.5, fault_seed=4)
    statuses = []
    for _ in range(30):
        try:
            statuses.append(get(sb, "/user_account").status_code)
        except requests.exceptions.RequestException:
            statuses.append(0)
    assert 200 in statuses and {429, 500, 503} & set(statuses)


def test_advance_moves_and_adds_objects_deterministically(sb: SandboxProcess) -> None:
    aid = account(sb)
    before = {r["id"]: r for r in sb.v5_truth("campaigns", ad_account_id=aid)}
    clock = max(r["updated_time"] for r in before.values())
    rows, _ = walk(sb, f"/ad_accounts/{aid}/campaigns", page_size=100, **EVERY)
    sb.advance(days=2)
    after = {r["id"]: r for r in sb.v5_truth("campaigns", ad_account_id=aid)}
    added = set(after) - set(before)
    moved = {i for i in before if after[i]["updated_time"] != before[i]["updated_time"]}
    assert added and moved
    assert min(int(i) for i in added) > max(int(i) for i in before)  # new ids are higher
    assert all(after[i]["updated_time"] > clock for i in moved | added)
    audiences = sb.v5_truth("audiences", ad_account_id=aid)
    assert all("updated_timestamp" in a and "updated_time" not in a for a in audiences)
    state = sb.v5_state()
    assert state["v5_updated"] >= len(moved) and state["v5_added"] >= len(added)
    with SandboxProcess(seed=SEED, ads=60) as twin:
        twin.advance(days=2)  # built lazily after the advance: the same universe
        assert twin.v5_truth("campaigns", ad_account_id=aid) == list(after.values())
    sb.reset()
    assert [r["id"] for r in sb.v5_truth("campaigns", ad_account_id=aid)] == [r["id"] for r in rows]


def test_a_walk_across_an_advance_misses_nothing(sb: SandboxProcess) -> None:
    aid = account(sb)
    first = get(sb, f"/ad_accounts/{aid}/campaigns", page_size=40, **EVERY).json()
    sb.advance(days=3)
    rest, _ = walk(
        sb, f"/ad_accounts/{aid}/campaigns", page_size=40, bookmark=first["bookmark"], **EVERY
    )
    ids = [r["id"] for r in first["items"] + rest]
    assert ids == [r["id"] for r in sb.v5_truth("campaigns", ad_account_id=aid)]
    newest = get(sb, f"/ad_accounts/{aid}/campaigns", order="DESCENDING", **EVERY).json()
    sb.advance(days=3)  # new campaigns sort first now: the walk goes on where it stopped
    older, _ = walk(
        sb,
        f"/ad_accounts/{aid}/campaigns",
        order="DESCENDING",
        bookmark=newest["bookmark"],
        **EVERY,
    )
    assert [r["id"] for r in newest["items"] + older] == ids[::-1]


def test_startup_is_quick_and_the_universe_is_built_on_first_use() -> None:
    started = time.monotonic()
    with SandboxProcess(seed=SEED, ads=60) as proc:
        ready = time.monotonic() - started
        first = time.monotonic()
        assert get(proc, "/user_account").status_code == 200
        built = time.monotonic() - first
    assert ready < 3 and built < 2, (ready, built)


def test_v5_cli_flags() -> None:
    options = {"v5_rate_limit": 2, "v5_token_ttl": 5}
    quirks = {"default_order": "DESCENDING", "refused_grant_status": 401}
    with SandboxProcess(seed=SEED, ads=60, v5_quirks=quirks, **options) as proc:
        state = proc.v5_state()
        assert (state["rate_limit_per_minute"], state["token_ttl_seconds"]) == (2, 5)
        assert proc.v5_quirks() == {
            "ratelimit_headers": True,
            "product_group_time": "s",
            "report_id_types": "mixed",
            "report_targeting_columns": "upper",
            "hour_date": "date_and_hour",
            "keyword_ad_group_ids": "served",
            **quirks,
        }
        assert refresh(proc, FIRST_REFRESH_TOKEN).json()["expires_in"] == 5
        ids = [a["id"] for a in get(proc, "/ad_accounts").json()["items"]]
        assert ids == sorted(ids, key=int, reverse=True)
        assert [get(proc, "/user_account").status_code for _ in range(2)] == [200, 429]
    with pytest.raises(RuntimeError, match="did not start"):
        SandboxProcess(seed=SEED, v5_quirks={"default_order": "SIDEWAYS"}).__enter__()


def test_the_clock_starts_where_start_says() -> None:
    """`--start` moves both APIs' clock (the Date header, what "yesterday" is for analytics)."""
    with SandboxProcess(seed=SEED, ads=60, start="2026-11-30") as proc:
        assert parse_instant(proc.state()["now"]) == dt.datetime(2026, 11, 30, tzinfo=UTC)
        (date,) = get(proc, "/ad_accounts").raw.headers.getlist("date")
        assert email.utils.parsedate_to_datetime(date) == dt.datetime(2026, 11, 30, tzinfo=UTC)
    with SandboxProcess(seed=SEED, ads=60, start="today") as proc:
        midnight = dt.datetime.combine(dt.datetime.now(UTC).date(), dt.time(), UTC)
        assert parse_instant(proc.state()["now"]) == midnight
    with pytest.raises(RuntimeError, match="did not start"):
        SandboxProcess(seed=SEED, start="the first of May").__enter__()


def test_a_redirect_fault_points_elsewhere_with_the_query(sb: SandboxProcess) -> None:
    sb.add_faults({"kind": "redirect", "to": "http://127.0.0.2:9", "family": "v5"})
    headers = {"Authorization": f"Bearer {FIRST_ACCESS_TOKEN}"}
    resp = requests.get(
        f"{sb.v5_url}/boards",
        params={"page_size": 5},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 302
    assert resp.headers["location"] == "http://127.0.0.2:9/v5/boards?page_size=5"
    assert not any(h.startswith("x-ratelimit") for h in resp.headers)


def test_every_answer_is_dated_by_the_sandbox_clock(sb: SandboxProcess) -> None:
    def dates(resp: requests.Response) -> list[dt.datetime]:
        return [email.utils.parsedate_to_datetime(d) for d in resp.raw.headers.getlist("date")]

    start = parse_instant(sb.state()["now"])
    assert dates(get(sb, "/ad_accounts")) == [start]  # one Date, the clock's, not the machine's
    moved = parse_instant(sb.advance(days=3)["now"])
    assert moved - start == dt.timedelta(days=3)
    assert dates(get(sb, "/ad_accounts")) == [moved]
    assert dates(get(sb, "/nowhere")) == [moved]  # errors too
