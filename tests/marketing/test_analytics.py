"""The daily analytics streams end to end: the tap as a process against the sandbox's /v5."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.tapio import (
    TapRun,
    catalog_selecting,
    killed_after_first_record,
    run_tap,
    v5_settings,
    write_inputs,
)

CLIENT_SECRET = "sandbox-secret"  # the sandbox's documented test credentials
FIRST_REFRESH = "sandbox-refresh-0"
ACCESS = "sandbox-access-0"  # live from the sandbox's start: for reading its own answers
LOOKBACK = 3
STREAMS = {"ad_account_analytics", "campaign_analytics", "ad_group_analytics"}


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def config(sandbox: SandboxProcess, store: Path, **extra: Any) -> dict[str, Any]:
    return v5_settings(sandbox.v5_url, store, **{"request_timeout": 10, **extra})


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def analytics_calls(log: list[dict[str, Any]], level: str = "") -> list[dict[str, Any]]:
    return [
        e for e in log if e["path"].endswith(f"{level}/analytics") and "/ad_accounts/" in e["path"]
    ]


def days(entry: dict[str, Any]) -> int:
    first, last = (dt.date.fromisoformat(entry["params"][p][0]) for p in ("start_date", "end_date"))
    return (last - first).days + 1


def key(stream: str, row: dict[str, Any]) -> tuple[Any, ...]:
    level = {"ad_account_analytics": "AD_ACCOUNT_ID", "campaign_analytics": "CAMPAIGN_ID"}
    return row[level.get(stream, "AD_GROUP_ID")], row["DATE"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=11, ads=50, rate_limit=100_000) as process:
        process.v5_configure(rate_limit_per_minute=100_000)
        # The sandbox clock starts in the past; the tap dates its reads by the API's clock.
        behind = utc_today() - dt.date.fromisoformat(process.v5_state()["now"][:10])
        process.advance(days=behind.days)
        yield process


@pytest.fixture(scope="module")
def settings(
    sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict[str, Any]]:
    """Configs sharing one token store: each run rotates the refresh token the next needs."""
    store = tmp_path_factory.mktemp("tokens") / "tokens.json"
    return lambda **extra: config(sandbox, store, **extra)


@pytest.fixture(scope="module")
def account(sandbox: SandboxProcess) -> str:
    return str(sandbox.v5_state()["owned_ad_accounts"][0])


@pytest.fixture(scope="module")
def runs(
    sandbox: SandboxProcess,
    settings: Callable[..., dict[str, Any]],
    account: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Three runs of one ad account: a first sync of the last ten days, a rerun two sandbox
    days later (late conversions arrive) from its state, a third from the second's."""
    tmp = tmp_path_factory.mktemp("analytics")
    start = (utc_today() - dt.timedelta(days=10)).isoformat()
    chosen = settings(ad_account_ids=[account], start_date=start, analytics_lookback_days=LOOKBACK)
    catalog = catalog_selecting(tmp, chosen, STREAMS)
    sandbox.v5_clear_requests()
    first = ok(run_tap(tmp / "1", chosen, catalog=catalog))
    first_log = sandbox.v5_requests()
    groups = sandbox.v5_truth("ad_groups", ad_account_id=account)  # before the clock moves on
    sandbox.advance(days=2)
    sandbox.v5_clear_requests()
    second = ok(run_tap(tmp / "2", chosen, state=first.final_state, catalog=catalog))
    second_log = sandbox.v5_requests()
    third = ok(run_tap(tmp / "3", chosen, state=second.final_state, catalog=catalog))
    return {"runs": [first, second, third], "logs": [first_log, second_log], "groups": groups}


def test_an_old_start_date_is_clamped_not_refused(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    # First in the module: before `runs` moves the sandbox clock past the API's Date header
    # (the sandbox dates its answers by the machine's clock; the tap's 90 days by the header).
    chosen = settings(start_date="2015-01-01")
    catalog = catalog_selecting(tmp_path, chosen, {"user_account_analytics"})
    sandbox.v5_clear_requests()
    run = ok(run_tap(tmp_path, chosen, catalog=catalog))
    calls = [e for e in sandbox.v5_requests() if e["path"].endswith("/user_account/analytics")]
    oldest = utc_today() - dt.timedelta(days=90)
    assert calls and all(
        dt.date.fromisoformat(e["params"]["start_date"][0]) >= oldest for e in calls
    )
    assert "older than the API keeps" in run.stderr
    rows = run.records("user_account_analytics")
    assert rows and len({(r["USER_ACCOUNT_ID"], r["DATE"]) for r in rows}) == len(rows)


def test_rows_are_unique_per_key_in_every_run_and_reruns_update_them_in_place(
    runs: dict[str, Any],
) -> None:
    first, second, _ = runs["runs"]
    for stream in STREAMS:
        for run in runs["runs"]:
            keys = Counter(key(stream, row) for row in run.records(stream))
            assert keys and max(keys.values()) == 1, stream
    # The rerun read the lookback days again: same keys, later conversions.
    before = {key("campaign_analytics", r): r for r in first.records("campaign_analytics")}
    again = [
        r for r in second.records("campaign_analytics") if key("campaign_analytics", r) in before
    ]
    assert again, "the rerun did not read the lookback days again"
    changed = [
        r
        for r in again
        if r["TOTAL_CONVERSIONS"] != before[key("campaign_analytics", r)]["TOTAL_CONVERSIONS"]
    ]
    assert changed, "no late conversion reached a re-read day"


def test_reruns_start_the_lookback_before_the_bookmark(runs: dict[str, Any], account: str) -> None:
    first, _, _ = runs["runs"]
    bookmarks = {
        name: stream["partitions"][0]["replication_key_value"]
        for name, stream in first.final_state["bookmarks"].items()
        if name in STREAMS
    }
    for entry in analytics_calls(runs["logs"][1]):
        stream = {"": "ad_account_analytics", "/campaigns": "campaign_analytics"}.get(
            entry["path"].split(account, 1)[1].removesuffix("/analytics"), "ad_group_analytics"
        )
        expected = dt.date.fromisoformat(bookmarks[stream]) - dt.timedelta(days=LOOKBACK)
        assert entry["params"]["start_date"] == [expected.isoformat()]


def test_ids_go_250_at_a_time_and_no_call_spans_more_than_90_days(
    runs: dict[str, Any], sandbox: SandboxProcess, account: str
) -> None:
    log = runs["logs"][0]
    batches = [
        e["params"]["ad_group_ids"][0].split(",") for e in analytics_calls(log, "/ad_groups")
    ]
    groups = runs["groups"]
    assert len(groups) > 250  # more than one batch
    full, rest = divmod(len(groups), 250)
    sizes = sorted((len(b) for b in batches), reverse=True)  # answered several at a time
    assert sizes == [250] * full + ([rest] if rest else [])
    # Every ad group, whatever its status or update time: analytics do not hang on edits.
    assert sorted(i for b in batches for i in b) == sorted(g["id"] for g in groups)
    assert all(days(e) <= 90 for e in analytics_calls(log))


def test_money_is_exact_and_sums_across_levels_with_the_currency_beside_it(
    runs: dict[str, Any], sandbox: SandboxProcess, account: str
) -> None:
    run = runs["runs"][0]
    accounts = run.records("ad_account_analytics")
    currency = next(a["currency"] for a in sandbox.v5_truth("ad_accounts") if a["id"] == account)
    assert {r["CURRENCY"] for r in accounts} == {currency}
    spend: Counter[str] = Counter()
    for row in run.records("campaign_analytics"):
        assert isinstance(row["SPEND_IN_MICRO_DOLLAR"], int)
        spend[row["DATE"]] += row["SPEND_IN_MICRO_DOLLAR"]
    assert spend and all(spend[r["DATE"]] == r["SPEND_IN_MICRO_DOLLAR"] for r in accounts)
    # The sandbox's own answer now, read directly, against the latest run: nothing changed.
    latest = runs["runs"][2].records("ad_account_analytics")[0]
    day = latest["DATE"]
    truth = requests.get(
        f"{sandbox.v5_url}/ad_accounts/{account}/analytics",
        params={
            "start_date": day,
            "end_date": day,
            "granularity": "DAY",
            "columns": "SPEND_IN_MICRO_DOLLAR,TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR",
        },
        headers={"Authorization": f"Bearer {ACCESS}"},
        timeout=10,
    ).json()
    assert truth[0]["SPEND_IN_MICRO_DOLLAR"] == latest["SPEND_IN_MICRO_DOLLAR"]
    value = truth[0].get("TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR")
    assert value == latest["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"]


def test_a_metric_the_api_leaves_out_is_null_never_zero(runs: dict[str, Any]) -> None:
    rows = runs["runs"][0].records("campaign_analytics")
    assert all("TOTAL_VIDEO_MRC_VIEWS" in row for row in rows)  # in every row, as the schema says
    missing = [r for r in rows if r["TOTAL_VIDEO_MRC_VIEWS"] is None]
    assert missing, "every campaign has video: the sandbox should have some without"
    assert all(r["TOTAL_CHECKOUT"] is None or r["TOTAL_CHECKOUT"] >= 0 for r in rows)


def test_no_run_warns_of_fields_missing_from_the_schema(runs: dict[str, Any]) -> None:
    for run in runs["runs"]:
        warnings = [line for line in run.stderr.splitlines() if "| WARNING" in line]
        assert not [w for w in warnings if "not found in catalog schema" in w], warnings


def test_every_record_holds_exactly_the_fields_of_its_schema(runs: dict[str, Any]) -> None:
    # The SDK copies the partition's `ad_account_id` into each record; these rows carry the
    # account as AD_ACCOUNT_ID, and the SDK's type pass, which dropped the copy, is off.
    run = runs["runs"][0]
    fields = {
        m["stream"]: set(m["schema"]["properties"]) for m in run.messages if m["type"] == "SCHEMA"
    }
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} == set(STREAMS)
    for message in records:
        assert set(message["record"]) == fields[message["stream"]], message["stream"]


def test_no_secret_appears_in_any_output(runs: dict[str, Any], sandbox: SandboxProcess) -> None:
    live = sandbox.v5_tokens()["refresh_tokens"]
    for run in runs["runs"]:
        output = run.stdout + run.stderr
        for secret in (CLIENT_SECRET, FIRST_REFRESH, *live):
            assert secret not in output
        assert "pina_" not in output


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        (
            "analytics_columns",
            ["SPEND_IN_MICRO_DOLLAR", "SPEND_IN_MICRO_DOLARS"],
            "analytics_columns[1]",
        ),
        ("click_window_days", 5, "click_window_days"),
        (
            "custom_reports",
            [{"name": "x", "level": "CAMPAIGNS", "columns": ["SPEND_IN_DOLLAR"]}],
            "custom_reports[0].level",
        ),
        (
            "custom_reports",
            [{"name": "x", "level": "CAMPAIGN", "columns": ["NOPE"]}],
            "custom_reports[0].columns[0]",
        ),
        ("report_targeting_types", ["GENDER", "AGE"], "report_targeting_types[1]"),
    ],
)
def test_an_invalid_setting_fails_before_any_request_naming_it(
    sandbox: SandboxProcess,
    settings: Callable[..., dict[str, Any]],
    tmp_path: Path,
    setting: str,
    value: Any,
    named: str,
) -> None:
    sandbox.v5_clear_requests()
    run = run_tap(tmp_path, settings(**{setting: value}))
    assert run.returncode != 0
    assert named in run.stderr
    assert sandbox.v5_requests() == []


def test_the_catalog_holds_the_configured_columns_and_keys(
    settings: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    columns = ["SPEND_IN_MICRO_DOLLAR", "TOTAL_CLICKTHROUGH", "CTR"]
    catalog = catalog_selecting(tmp_path, settings(analytics_columns=columns), set())
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "campaign_analytics")
    schema = entry["schema"]["properties"]
    assert set(schema) == {"CAMPAIGN_ID", "DATE", "AD_ACCOUNT_ID", "CURRENCY", *columns}
    assert schema["SPEND_IN_MICRO_DOLLAR"]["type"][0] == "integer"
    assert schema["CTR"]["type"][0] == "number"
    top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
    assert top["table-key-properties"] == ["CAMPAIGN_ID", "DATE"]
    assert json.dumps(top).count("DATE") >= 2  # key and replication key


def without_times(run: TapRun) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in run.messages]


@pytest.fixture(scope="module")
def serial(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], tmp_path_factory: Any
) -> dict[str, Any]:
    """Every readable ad account, one request at a time: what a parallel run must emit too.
    Last in the module (nothing after it moves the sandbox clock)."""
    tmp = tmp_path_factory.mktemp("serial")
    start = (utc_today() - dt.timedelta(days=10)).isoformat()
    config = settings(start_date=start, analytics_lookback_days=LOOKBACK)
    catalog = catalog_selecting(tmp, config, STREAMS)
    run = ok(run_tap(tmp, {**config, "max_parallel_requests": 1}, catalog=catalog))
    accounts = list(dict.fromkeys(r["AD_ACCOUNT_ID"] for r in run.records("ad_group_analytics")))
    assert len(accounts) > 1
    return {"config": config, "catalog": catalog, "run": run, "accounts": accounts}


def test_parallel_calls_emit_the_records_and_state_of_one_call_at_a_time(
    sandbox: SandboxProcess, serial: dict[str, Any], tmp_path: Path
) -> None:
    # The first account's first ad-group call answers late: its other calls, and the next
    # account's, are answered meanwhile, yet come out after it, as from one call at a time.
    late = f"/v5/ad_accounts/{serial['accounts'][0]}/ad_groups/analytics"
    sandbox.v5_clear_requests()
    sandbox.add_faults({"kind": "timeout", "seconds": 2, "family": "v5", "path": late})
    run = ok(run_tap(tmp_path, serial["config"], catalog=serial["catalog"]))
    calls = [e for e in sandbox.v5_requests() if e["path"].endswith("/ad_groups/analytics")]
    assert calls[0]["fault"] is None, calls[0]  # answered before the late one
    assert without_times(run) == without_times(serial["run"])


def test_a_killed_parallel_run_resumes_from_its_state_without_losing_rows(
    sandbox: SandboxProcess, serial: dict[str, Any], tmp_path: Path
) -> None:
    # The second account's first ad-group call answers late: the run is killed while the
    # calls after it are read ahead and not yet emitted.
    late = f"/v5/ad_accounts/{serial['accounts'][1]}/ad_groups/analytics"
    sandbox.add_faults({"kind": "timeout", "seconds": 3, "family": "v5", "path": late})
    args = write_inputs(tmp_path / "killed", serial["config"], None, serial["catalog"])
    killed = killed_after_first_record(args, "ad_group_analytics")
    assert killed.returncode != 0 and killed.states
    expected = serial["run"]
    assert len(killed.records("ad_group_analytics")) < len(expected.records("ad_group_analytics"))
    resumed = ok(
        run_tap(tmp_path / "resumed", serial["config"], killed.states[-1], serial["catalog"])
    )
    for stream in STREAMS:
        got = {key(stream, r) for run in (killed, resumed) for r in run.records(stream)}
        assert got == {key(stream, r) for r in expected.records(stream)}, stream
    assert resumed.final_state == expected.final_state


def one_call(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], account: str
) -> tuple[Any, list[str], dt.date]:
    """The account's `ad_analytics` stream, in this process, with the ids of one call (its
    first 250 ads) and the sandbox's day (other tests move it)."""
    from tap_pinterest_ads.tap import TapPinterestAds

    tap = TapPinterestAds(config=settings(ad_account_ids=[account]), validate_config=True)
    ads = [row["id"] for row in sandbox.v5_truth("ads", ad_account_id=account)][:250]
    return tap.streams["ad_analytics"], ads, dt.date.fromisoformat(sandbox.v5_state()["now"][:10])


def test_an_analytics_answer_is_read_a_chunk_at_a_time_never_held_whole(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], account: str
) -> None:
    # One call of 250 ads x 90 days is megabytes of JSON (up to 22,500 rows). Held whole, its
    # bytes and its parsed rows cost about three times its size, and each call in flight held
    # one: the tap's peak memory grew with the data. Read from a spool a chunk at a time, the
    # rows cost a chunk and a page, whatever the answer's size.
    stream, ads, last = one_call(sandbox, settings, account)
    assert len(ads) == 250
    first = last - dt.timedelta(days=89)
    answer = requests.get(
        f"{sandbox.v5_url}/ad_accounts/{account}/ads/analytics",
        params={
            "ad_ids": ",".join(ads),
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "granularity": "DAY",
            "columns": ",".join(stream.columns),
        },
        headers={"Authorization": f"Bearer {ACCESS}"},
        timeout=60,
    )
    assert answer.ok, answer.text[:300]
    size, expected = len(answer.content), answer.json()
    del answer
    assert size > 4_000_000, size  # big enough that holding it whole shows
    context = {"ad_account_id": account}
    list(stream.analytics(context, ads[:1], first, first))  # the token and session made
    tracemalloc.start()
    try:
        rows = 0
        for page in stream.analytics(context, ads, first, last):
            assert page == expected[rows : rows + len(page)]
            rows += len(page)
            expected[rows - len(page) : rows] = [None] * len(page)  # compared: let go
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == len(expected)
    assert peak < size / 8, f"reading one answer of {size:,} bytes peaked at {peak:,} bytes"


@pytest.mark.parametrize(
    "text",
    [
        b"[]",
        b" \n[ ]\n",
        b'[{"AD_ID":"1","DATE":"2026-01-01","CTR":0.25,"SPEND_IN_MICRO_DOLLAR":120000000}]',
        b'[{"a":"}"},{"b":{"c":[1,{"d":"},{"}]}} , {"e":"x\\"}],{"}\n,{"f":null}]',
        b'[1,"}",{"a":[{}]},[{"b":2}],2.5e3]',
    ],
)
def test_array_pages_cut_anywhere_give_the_elements_of_the_whole(text: bytes) -> None:
    # Braces inside strings and nested objects: a cut there must wait, never split a row.
    from tap_pinterest_ads.marketing.metrics import array_pages

    whole = json.loads(text)
    for size in range(1, len(text) + 1):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert [e for page in array_pages(chunks) for e in page] == whole, size


@pytest.mark.parametrize("text", [b"", b"  ", b'{"a":1}', b'[{"a":1},', b'[{"a":1}', b"[1]x"])
def test_array_pages_refuse_what_is_not_one_whole_array(text: bytes) -> None:
    from tap_pinterest_ads.marketing.metrics import array_pages

    with pytest.raises(ValueError):
        list(array_pages([text]))


class _BrokenOnce(requests.adapters.HTTPAdapter):
    """The first answer breaks off halfway through its body (as a dropped connection does);
    the next ones arrive whole."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        self.sent += 1
        if self.sent == 1:
            import urllib3

            body = response.raw.read()
            half = body[: len(body) // 2]

            class Cut:
                def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
                    yield half
                    raise urllib3.exceptions.ProtocolError("Connection broken: reset by peer")

                def close(self) -> None:
                    pass

                def release_conn(self) -> None:
                    pass

            response.raw = Cut()
        return response


def test_an_analytics_answer_broken_off_is_asked_again_before_any_row_leaves(
    sandbox: SandboxProcess, settings: Callable[..., dict[str, Any]], account: str
) -> None:
    # Rows are handed over only once the whole answer is in: a transfer that breaks halfway is
    # retried as any request is, and no row of the broken one is emitted twice or lost.
    stream, ads, last = one_call(sandbox, settings, account)
    first = last - dt.timedelta(days=29)
    context = {"ad_account_id": account}
    expected = [row for page in stream.analytics(context, ads, first, last) for row in page]
    assert len(expected) > 1000
    broken = _BrokenOnce()
    stream.requests_session.mount(f"{sandbox.v5_url}/ad_accounts/{account}/ads/analytics", broken)
    got = [row for page in stream.analytics(context, ads, first, last) for row in page]
    assert broken.sent == 2
    assert got == expected
