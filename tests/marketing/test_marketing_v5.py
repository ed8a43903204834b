"""The Pinterest API v5 family end to end: the tap as a process against the sandbox's /v5."""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import math
import stat
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_pinterest_ads.marketing.specschema import Conformer
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.controls import ENTITIES
from tap_pinterest_ads.schema_files import load_schema
from tap_pinterest_ads.tap import TapPinterestAds
from tests.tapio import (
    TapRun,
    catalog_selecting,
    killed_after_first_record,
    run_tap,
    v5_settings,
    write_inputs,
)

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"  # the sandbox's documented test credential
FIRST_REFRESH = "sandbox-refresh-0"
V5_STREAMS = set(ENTITIES) - {"user_account"}  # the sandbox's truth per tap stream


@pytest.fixture(scope="module")
def v5_process() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=11, ads=50, rate_limit=100_000) as process:
        yield process


@pytest.fixture
def v5(v5_process: SandboxProcess) -> SandboxProcess:
    v5_process.reset()
    v5_process.v5_configure(rate_limit_per_minute=100_000)
    return v5_process


def v5_config(sandbox: SandboxProcess, tmp: Path, **extra: Any) -> dict[str, Any]:
    store = tmp / "tokens" / "pinterest.json"
    return v5_settings(sandbox.v5_url, store, **{"request_timeout": 5, **extra})


@pytest.fixture(scope="module")
def discovered(v5_process: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("catalog")
    return catalog_selecting(tmp, v5_config(v5_process, tmp), V5_STREAMS)


def selecting(catalog: Any, streams: set[str]) -> Any:
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


@pytest.fixture(scope="module")
def v5_catalog(discovered: Any) -> Any:
    """Every v5 stream but keywords: one request per ad group (~650 here) is its own test."""
    return selecting(discovered, V5_STREAMS - {"keywords"})


def v5_requests(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return sandbox.v5_requests()


def params(entry: dict[str, Any]) -> dict[str, list[str]]:
    return dict(entry["params"])


def counts(run: TapRun) -> Counter[str]:
    return Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")


def ids(run: TapRun, stream: str) -> set[str]:
    return {record["id"] for record in run.records(stream)}


def one_account(sandbox: SandboxProcess) -> str:
    """A readable ad account: a third of the requests of a sync of every account."""
    state = sandbox.v5_state()
    return [a for a in state["ad_accounts"] if a not in state["forbidden_ad_accounts"]][1]


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@dataclass
class FullRun:
    """One clean sync of every stream but keywords, and what the sandbox saw meanwhile: the
    read-only checks share it."""

    run: TapRun
    log: list[dict[str, Any]]
    live_tokens: list[str]


@pytest.fixture(scope="module")
def full(
    v5_process: SandboxProcess, v5_catalog: Any, tmp_path_factory: pytest.TempPathFactory
) -> FullRun:
    v5_process.reset()
    v5_process.v5_configure(rate_limit_per_minute=100_000)
    tmp = tmp_path_factory.mktemp("full")
    # A recent start_date hides no entity: one last edited before it is still live.
    recent = v5_process.state()["now"]
    config = v5_config(v5_process, tmp, start_date=recent)
    run = ok(run_tap(tmp, config, catalog=v5_catalog))
    return FullRun(run, v5_process.v5_requests(), v5_process.v5_tokens()["refresh_tokens"])


def test_rotated_refresh_token_survives_a_second_and_a_third_run(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path)
    store = Path(config["token_store_path"])
    catalog = selecting(v5_catalog, {"ad_accounts"})  # one refresh a run, whatever is selected
    seen = []
    for run_number in range(3):
        run = ok(run_tap(tmp_path / f"run{run_number}", config, catalog=catalog))
        assert run.records("ad_accounts")
        stored = json.loads(store.read_text())["refresh_token"]
        assert stored not in {FIRST_REFRESH, *seen}  # a new token each run, kept
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        seen.append(stored)
        # The live refresh token is the stored one: the old ones are dead.
        assert v5.v5_tokens()["refresh_tokens"] == [stored]
    assert config["refresh_token"] == FIRST_REFRESH  # config never rewritten


def test_every_entity_status_is_read_and_pages_are_followed(
    v5: SandboxProcess, full: FullRun
) -> None:
    run, log = full.run, full.log
    statuses = Counter(record["status"] for record in run.records("campaigns"))
    assert statuses["ARCHIVED"] and statuses["DRAFT"] and statuses["DELETED_DRAFT"]
    campaign_calls = [e for e in log if e["path"].endswith("/campaigns")]
    assert all(
        set(params(e)["entity_statuses"])
        == {"ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT"}
        for e in campaign_calls
    )
    assert all(params(e)["page_size"] == ["250"] for e in log if "page_size" in params(e))
    ad_pages = [e for e in log if e["path"].endswith("/ads")]
    assert any("bookmark" in params(e) for e in ad_pages), "no second page of ads was asked for"
    assert len(ids(run, "ads")) == len(run.records("ads")) > 250
    assert ids(run, "ads") == {row["id"] for row in v5.v5_truth("ads")}
    # Schemas from the spec hold every field the API sends: nothing dropped on the way.
    assert "not found in catalog schema" not in run.stderr


def test_incremental_runs_emit_what_changed_per_ad_account(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path)
    catalog = selecting(v5_catalog, {"campaigns", "conversion_tags"})
    first = ok(run_tap(tmp_path / "first", config, catalog=catalog))
    assert first.final_state is not None
    partitions = first.final_state["bookmarks"]["campaigns"]["partitions"]
    bookmarks = {
        p["context"]["ad_account_id"]: p["replication_key_value"]
        for p in partitions
        if "replication_key_value" in p
    }
    assert len(bookmarks) >= 2
    v5.advance(days=1)
    second = ok(run_tap(tmp_path / "second", config, first.final_state, catalog=catalog))
    full = ok(run_tap(tmp_path / "full", config, catalog=catalog))
    changed = {
        r["id"]
        for r in full.records("campaigns")
        if r["updated_time"] >= bookmarks[r["ad_account_id"]]
    }
    assert changed and ids(second, "campaigns") == changed
    assert len(changed) < len(first.records("campaigns"))
    # full-table streams: all of them again
    assert ids(second, "conversion_tags") == ids(full, "conversion_tags")


def test_keywords_are_read_per_ad_group_even_when_no_ad_group_changed(
    v5: SandboxProcess, discovered: Any, tmp_path: Path
) -> None:
    catalog = selecting(discovered, {"ad_groups", "keywords"})
    account = one_account(v5)
    config = v5_config(v5, tmp_path, ad_account_ids=[account])
    first = ok(run_tap(tmp_path / "first", config, catalog=catalog))
    truth = {row["id"] for row in v5.v5_truth("keywords", ad_account_id=account)}
    assert ids(first, "keywords") == truth
    groups = ids(first, "ad_groups")
    parents = {r["parent_id"] for r in first.records("keywords") if r["parent_type"] == "ad_group"}
    assert parents and parents <= groups
    batches = [
        params(e)["ad_group_ids"]
        for e in v5_requests(v5)
        if e["path"].endswith("/keywords") and "ad_group_ids" in params(e)
    ]
    asked = [group for batch in batches for group in batch]
    assert set(asked) == groups  # every ad group, whatever its status
    assert max(map(len, batches)) <= 250  # the spec's limit, and no ad group asked alone:
    assert len(batches) < len(groups) / 10 and all(
        "ad_group_id" not in params(e) for e in v5_requests(v5)
    )
    group_pages = [e for e in v5_requests(v5) if e["path"].endswith("/ad_groups")]
    assert len(group_pages) == len({e["path"] for e in group_pages}) + sum(
        "bookmark" in params(e) for e in group_pages
    )  # ad groups read once: keywords reuse what the ad_groups stream read
    # Nothing changed: ad_groups emits (almost) nothing, keywords still every ad group's.
    second = ok(run_tap(tmp_path / "second", config, first.final_state, catalog=catalog))
    assert len(second.records("ad_groups")) < len(groups)
    assert ids(second, "keywords") == truth


@pytest.mark.parametrize("beta", ["refused", "ignored"])
def test_keywords_are_read_per_ad_group_where_the_api_does_not_serve_ad_group_ids(
    v5: SandboxProcess, discovered: Any, tmp_path: Path, beta: str
) -> None:
    v5.v5_quirks(keyword_ad_group_ids=beta)
    catalog = selecting(discovered, {"keywords"})
    account = one_account(v5)
    run = ok(run_tap(tmp_path, v5_config(v5, tmp_path, ad_account_ids=[account]), catalog=catalog))
    assert ids(run, "keywords") == {
        row["id"] for row in v5.v5_truth("keywords", ad_account_id=account)
    }
    assert run.stderr.count("does not serve `ad_group_ids`") == 1
    asked = {
        params(e)["ad_group_id"][0]
        for e in v5_requests(v5)
        if e["path"].endswith("/keywords") and "ad_group_id" in params(e)
    }
    assert asked == {row["id"] for row in v5.v5_truth("ad_groups", ad_account_id=account)}


def test_feed_credentials_never_leave_the_tap(full: FullRun) -> None:
    run = full.run
    feeds = run.records("catalogs_feeds")
    assert feeds
    assert all("credentials" not in feed for feed in feeds)
    assert "password" not in run.stdout


def test_ad_account_ids_are_honoured(v5: SandboxProcess, v5_catalog: Any, tmp_path: Path) -> None:
    chosen = one_account(v5)
    config = v5_config(v5, tmp_path, ad_account_ids=[chosen])
    run = ok(run_tap(tmp_path, config, catalog=v5_catalog))
    assert ids(run, "ad_accounts") == {chosen}
    for stream in ("campaigns", "ad_groups", "ads", "audiences", "catalogs"):
        assert run.records(stream), stream
        assert {r["ad_account_id"] for r in run.records(stream)} == {chosen}
    others = set(v5.v5_state()["ad_accounts"]) - {chosen}
    touched = [
        e
        for e in v5_requests(v5)
        if others & {*e["path"].split("/"), *params(e).get("ad_account_id", [])}
    ]
    assert not touched
    assert not [e for e in v5_requests(v5) if e["path"] == "/v5/ad_accounts"]  # no listing


def test_an_unreadable_ad_account_is_skipped_with_a_warning(full: FullRun) -> None:
    run = full.run
    read = {r["ad_account_id"] for r in run.records("campaigns")}
    skipped = ids(run, "ad_accounts") - read
    assert len(skipped) == 1
    (account,) = skipped
    warnings = [line for line in run.stderr.splitlines() if f"Ad account {account} skipped" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert "403" in warnings[0] and "code" in warnings[0]


def test_a_refused_grant_fails_at_once_with_what_to_do(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path, refresh_token="pinr_revoked_or_stale_token")
    run = run_tap(tmp_path, config, catalog=v5_catalog)
    assert run.returncode == 1
    assert "code 283" in run.stderr
    assert "Re-authorise" in run.stderr and "`refresh_token` setting" in run.stderr
    assert "Traceback" not in run.stderr
    token_calls = [e for e in v5_requests(v5) if e["path"].endswith("/oauth/token")]
    assert len(token_calls) == 1  # no retry of a refused grant
    assert not run.records("ad_accounts")


def test_a_revoked_stored_token_names_the_store(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path)
    ok(run_tap(tmp_path / "first", config, catalog=v5_catalog))
    v5.reset()  # every refresh token the sandbox issued is dead; config's first one lives again
    run = run_tap(tmp_path / "second", config, catalog=v5_catalog)
    assert run.returncode == 1
    assert "code 283" in run.stderr and config["token_store_path"] in run.stderr


def test_no_secret_appears_in_any_output(full: FullRun) -> None:
    output = full.run.stdout + full.run.stderr
    assert full.live_tokens
    for secret in (CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH, *full.live_tokens):
        assert secret not in output
    assert "pina_" not in output  # no access token either (the sandbox mints pina_…)


def test_v5_only_config_skips_the_ad_library_and_exits_0(
    v5: SandboxProcess, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path, ad_account_ids=[one_account(v5)])
    run = ok(run_tap(tmp_path, config))  # no catalog: the default selection
    assert run.records("campaigns")
    assert not run.records("pinterest_ads")
    assert "api_key" in run.stderr


def test_ad_library_only_config_skips_v5_with_one_line(v5: SandboxProcess, tmp_path: Path) -> None:
    config = {"api_key": "wh_test_v5_gate_key", "api_url": v5.url, "request_timeout": 5}
    run = ok(run_tap(tmp_path, config))
    assert run.records("pinterest_ads")
    assert not any(counts(run)[stream] for stream in V5_STREAMS)
    assert run.stderr.count("Pinterest API v5 streams skipped") == 1
    assert not [s for s in V5_STREAMS if f"stream '{s}'" in run.stderr]  # one line, not 16
    assert not v5_requests(v5)


def test_faults_give_the_same_records_as_a_clean_run(
    v5: SandboxProcess, v5_catalog: Any, full: FullRun, tmp_path: Path
) -> None:
    clean = full.run
    v5.configure(fault_rate=0.2, fault_seed=5)
    faulty = ok(
        run_tap(tmp_path / "faulty", v5_config(v5, tmp_path / "faulty"), catalog=v5_catalog)
    )
    assert "retry" in faulty.stderr  # faults happened and were retried
    for stream in V5_STREAMS:
        assert ids(faulty, stream) == ids(clean, stream), stream
    assert sum(counts(clean).values()) > 1000


def test_rate_limited_answers_are_retried_and_the_sync_goes_on(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    catalog = selecting(v5_catalog, {"campaigns"})
    v5.add_faults(*[{"kind": "429", "family": "v5", "path": "/v5/ad_accounts/"}] * 3)
    run = ok(run_tap(tmp_path, v5_config(v5, tmp_path), catalog=catalog))
    assert [e["status"] for e in v5_requests(v5)].count(429) == 3
    assert ids(run, "campaigns") == {row["id"] for row in v5.v5_truth("campaigns")}


def test_a_refused_access_token_is_renewed_once_and_never_shown(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    catalog = selecting(v5_catalog, {"campaigns"})
    echo = {"kind": "echo_key", "family": "v5", "path": "/v5/ad_accounts/"}
    # One account: one request at a time, so the faults meet the requests in their order.
    account = one_account(v5)
    config = v5_config(v5, tmp_path, ad_account_ids=[account])
    # A 401 quoting the token, an answer, another 401: each refusal renews the token once.
    v5.add_faults(echo, {**echo, "kind": "pass"}, echo)
    run = ok(run_tap(tmp_path / "once", config, catalog=catalog))
    truth = {row["id"] for row in v5.v5_truth("campaigns", ad_account_id=account)}
    assert ids(run, "campaigns") == truth
    assert v5.v5_tokens()["refreshes"] == 3
    v5.add_faults(echo, echo)  # refused again after renewal: stop, saying why, token masked
    run = run_tap(tmp_path / "twice", config, catalog=catalog)
    assert run.returncode == 1
    assert "code 2: Authentication failed for token '***'" in run.stderr
    assert "pina_" not in run.stdout + run.stderr


def test_requests_in_flight_refused_together_renew_the_token_once(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    # Every account's campaigns are asked at once (slow answers: all in flight together), and
    # each first answer refuses the token they all carried: one refresh serves every retry.
    catalog = selecting(v5_catalog, {"campaigns"})
    accounts = sorted(set(v5.v5_state()["owned_ad_accounts"]))
    v5.add_faults(
        *(
            {"kind": "echo_key", "family": "v5", "path": f"/v5/ad_accounts/{a}/campaigns"}
            for a in accounts
        )
    )
    v5.configure(latency_ms=300)
    try:
        run = ok(run_tap(tmp_path, v5_config(v5, tmp_path), catalog=catalog))
    finally:
        v5.configure(latency_ms=0)
    assert ids(run, "campaigns") == {row["id"] for row in v5.v5_truth("campaigns")}
    refused = [e for e in v5_requests(v5) if e["status"] == 401]
    assert len(refused) == len(accounts) > 1
    assert v5.v5_tokens()["refreshes"] == 2  # the run's first token, and one renewal


def test_each_stream_writes_its_schema_once_before_its_records(full: FullRun) -> None:
    # The SDK writes a SCHEMA at each `sync`, and a child stream syncs once per parent record
    # (board_pins once per board): unchanged, it is written once.
    schemas = Counter(m["stream"] for m in full.run.messages if m["type"] == "SCHEMA")
    records = counts(full.run)
    assert {"board_pins", "board_sections", "board_section_pins"} <= set(records)
    assert set(schemas) >= set(records)
    assert set(schemas.values()) == {1}, schemas
    first = {}
    for index, message in enumerate(full.run.messages):
        first.setdefault((message["type"], message.get("stream")), index)
    assert all(first["SCHEMA", s] < first["RECORD", s] for s in records)


def test_each_ad_accounts_bookmark_is_the_highest_update_time_it_emitted(full: FullRun) -> None:
    # Lists come in id order, not update order: the bookmark is the highest value seen, not
    # the last (records below the highest kept skip the SDK's state lookup).
    assert full.run.final_state is not None
    bookmarks = full.run.final_state["bookmarks"]
    checked = 0
    for stream, key in (("campaigns", "updated_time"), ("ads", "updated_time")):
        by_account: dict[str, list[int]] = {}
        for record in full.run.records(stream):
            by_account.setdefault(record["ad_account_id"], []).append(record[key])
        assert any(values != sorted(values) for values in by_account.values())
        for partition in bookmarks[stream]["partitions"]:
            account = partition["context"]["ad_account_id"]
            if account in by_account:
                assert partition["replication_key_value"] == max(by_account[account]), stream
                checked += 1
    assert checked >= 4


def test_a_schema_is_written_again_when_it_changes(tmp_path: Path) -> None:
    config = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": "r"}
    tap = TapPinterestAds(config={**config, "v5_api_url": "http://127.0.0.1:9/v5"})
    written: list[dict[str, Any]] = []
    tap.write_message = lambda message: written.append(message.to_dict())  # type: ignore[method-assign]
    stream = tap.streams["board_pins"]
    stream._write_schema_message()
    stream._write_schema_message()
    assert len(written) == 1
    schema = stream.stream_maps[0].transformed_schema
    schema["properties"]["added_later"] = {"type": ["string", "null"]}
    stream._write_schema_message()
    stream._write_schema_message()
    assert len(written) == 2
    assert "added_later" in written[-1]["schema"]["properties"]
    assert "added_later" not in written[0]["schema"]["properties"]


def test_deselected_properties_stay_out_of_v5_records(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    # v5 records skip the SDK's per-record selection pass only when nothing is deselected.
    catalog = selecting(v5_catalog, {"campaigns", "boards"})
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if entry["tap_stream_id"] in {"campaigns", "boards"} and item["breadcrumb"] in (
                ["properties", "name"],
                ["properties", "owner"],
            ):
                item["metadata"]["selected"] = False
    run = ok(run_tap(tmp_path, v5_config(v5, tmp_path), catalog=catalog))
    for stream in ("campaigns", "boards"):
        assert run.records(stream)
        assert all("id" in r and "name" not in r and "owner" not in r for r in run.records(stream))
    assert any("status" in r for r in run.records("campaigns"))


def test_ad_accounts_are_read_at_once_and_emitted_one_after_the_other(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    catalog = selecting(v5_catalog, {"campaigns", "customer_lists"})
    serial_config = v5_config(v5, tmp_path, max_parallel_requests=1)
    serial = ok(run_tap(tmp_path / "serial", serial_config, catalog=catalog))
    order = list(dict.fromkeys(r["ad_account_id"] for r in serial.records("campaigns")))
    assert len(order) > 1
    # The first account's campaigns answer late; the others' are read meanwhile.
    late = f"/v5/ad_accounts/{order[0]}/campaigns"
    v5.v5_clear_requests()
    v5.add_faults({"kind": "timeout", "seconds": 2, "family": "v5", "path": late})
    run = ok(run_tap(tmp_path / "parallel", v5_config(v5, tmp_path), catalog=catalog))
    answered = [e["path"] for e in v5_requests(v5) if e["path"].endswith("/campaigns")]
    assert answered[-1] == late, answered  # the others were answered before it
    for stream in ("campaigns", "customer_lists"):  # the same records in the same order
        assert [r["id"] for r in run.records(stream)] == [r["id"] for r in serial.records(stream)]
    assert [m["type"] for m in run.messages] == [m["type"] for m in serial.messages]


def test_boards_children_are_read_ahead_and_emitted_board_after_board(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    organic = {"boards", "board_sections", "board_pins", "board_section_pins"}
    catalog = selecting(v5_catalog, organic)
    serial = ok(
        run_tap(
            tmp_path / "serial", v5_config(v5, tmp_path, max_parallel_requests=1), catalog=catalog
        )
    )
    first = serial.records("boards")[0]["id"]
    late = f"/v5/boards/{first}/pins"  # the first board's pins answer late
    v5.v5_clear_requests()
    v5.add_faults({"kind": "timeout", "seconds": 2, "family": "v5", "path": late})
    run = ok(run_tap(tmp_path / "parallel", v5_config(v5, tmp_path), catalog=catalog))
    answered = [e["path"] for e in v5_requests(v5)]
    assert answered.index(late) > answered.index(
        f"/v5/boards/{serial.records('boards')[1]['id']}/pins"
    )
    assert [(m["type"], m.get("stream"), m.get("record", {}).get("id")) for m in run.messages] == [
        (m["type"], m.get("stream"), m.get("record", {}).get("id")) for m in serial.messages
    ]
    assert all(run.records(stream) for stream in organic)


def test_max_parallel_requests_is_checked_before_any_request(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path, max_parallel_requests=0)
    run = run_tap(tmp_path, config, catalog=selecting(v5_catalog, {"campaigns"}))
    assert run.returncode == 1
    assert "0 is less than the minimum of 1 in config['max_parallel_requests']" in run.stderr
    assert not v5_requests(v5)


def test_the_tap_paces_to_the_rate_limit_headers(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    catalog = selecting(v5_catalog, {"campaigns", "audiences", "customer_lists"})
    v5.v5_configure(rate_limit_per_minute=8)  # the run needs about 14 requests
    run = ok(run_tap(tmp_path, v5_config(v5, tmp_path), catalog=catalog))
    statuses = [e["status"] for e in v5_requests(v5)]
    assert len(statuses) > 8
    assert 429 not in statuses  # it waited for the window instead of running into it
    assert ids(run, "customer_lists") == {row["id"] for row in v5.v5_truth("customer_lists")}


def test_a_killed_run_resumes_from_its_state_without_losing_records(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path)
    second_account = sorted(set(v5.v5_state()["owned_ad_accounts"]))[1]
    # The second account's campaigns answer late: the run is killed while it waits.
    v5.add_faults(
        {
            "kind": "timeout",
            "seconds": 3,
            "family": "v5",
            "path": f"/v5/ad_accounts/{second_account}/campaigns",
        }
    )
    args = write_inputs(tmp_path / "killed", config, None, v5_catalog)
    # Killed while the first account's campaigns arrive: the second is next.
    killed = killed_after_first_record(args, "campaigns")
    assert killed.returncode != 0  # it really was killed mid-run
    assert ids(killed, "campaigns") < {row["id"] for row in v5.v5_truth("campaigns")}
    assert killed.states
    resumed = ok(run_tap(tmp_path / "resumed", config, killed.states[-1], catalog=v5_catalog))
    for stream in ("ad_groups", "ads", "campaigns", "customer_lists", "catalogs"):
        truth = {row["id"] for row in v5.v5_truth(stream)}
        assert ids(killed, stream) | ids(resumed, stream) == truth, stream


def test_an_unwritable_token_store_fails_before_the_token_is_spent(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    store = tmp_path / "not-a-directory" / "pinterest.json"
    run = run_tap(
        tmp_path, v5_config(v5, tmp_path, token_store_path=str(store)), catalog=v5_catalog
    )
    assert run.returncode == 1
    assert "Invalid setting `token_store_path`: cannot write" in run.stderr
    assert v5.v5_tokens()["refresh_tokens"] == [FIRST_REFRESH]  # still alive: never sent
    assert not [e for e in v5_requests(v5) if e["path"].endswith("/oauth/token")]


def test_a_token_endpoint_echoing_the_refresh_token_shows_it_masked(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path
) -> None:
    config = v5_config(v5, tmp_path)
    catalog = selecting(v5_catalog, {"ad_accounts"})
    ok(run_tap(tmp_path / "first", config, catalog=catalog))
    (stored,) = v5.v5_tokens()["refresh_tokens"]  # the rotated one, known only to the store
    v5.add_faults({"kind": "echo_key", "family": "v5", "path": "/v5/oauth/token"})
    run = run_tap(tmp_path / "second", config, catalog=catalog)
    assert run.returncode == 1
    assert "code 2: Authentication failed for token '***'" in run.stderr
    assert stored not in run.stdout + run.stderr


class _Forwarding(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy that forwards each request it is asked for and notes its path."""

    seen: list[str]

    def _forward(self) -> None:
        target = urlsplit(self.path)  # a proxied request names the whole URL
        self.seen.append(target.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream = http.client.HTTPConnection(target.netloc, timeout=30)
        upstream.request(self.command, target.path + "?" + target.query, body, headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def log_message(self, *args: Any) -> None:
        pass


def test_proxy_environment_variables_are_honoured(
    v5: SandboxProcess, v5_catalog: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy environment is resolved once per origin, not per request: still honoured.
    seen: list[str] = []
    handler = type("Handler", (_Forwarding,), {"seen": seen})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        catalog = selecting(v5_catalog, {"campaigns", "audiences"})
        with monkeypatch.context() as env:  # the tap's environment, not the test's
            for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
                env.delenv(name, raising=False)
            env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
            run = ok(run_tap(tmp_path, v5_config(v5, tmp_path), catalog=catalog))
        proxy.shutdown()
    assert ids(run, "campaigns") == {row["id"] for row in v5.v5_truth("campaigns")}
    assert sorted(seen) == sorted(e["path"] for e in v5_requests(v5))


# Values a record may hold where its schema expects something else: the SDK's conformance
# turns some into null (a non-finite float), booleans (a number where only a boolean goes),
# or drops them (a property the schema lacks), and the tap's own pass must do the same.
ODD_VALUES: tuple[Any, ...] = (
    "text",
    7,
    2.5,
    float("nan"),
    float("inf"),
    True,
    0,
    None,
    [1, float("nan"), {"x": 1}],
    {"nested": float("-inf"), "flag": 1},
)


def odd_record(schema: dict[str, Any], seed: int, depth: int = 0, *, extra: bool = True) -> Any:
    """A value for `schema`: its own shape down to two levels, odd values in every field,
    and (with `extra`) a property no schema has at each level."""
    types = schema.get("type", [])
    if "object" in types and "properties" in schema and depth < 3:
        properties = sorted(schema["properties"].items())
        record = {
            name: odd_record(sub, seed + index, depth + 1, extra=extra)
            for index, (name, sub) in enumerate(properties)
        }
        return {**record, "not_in_the_schema": seed} if extra else record
    if "array" in types and depth < 3:
        items = schema.get("items", {})
        value = odd_record(items, seed, depth + 1, extra=extra)
        return [value, ODD_VALUES[seed % len(ODD_VALUES)]]
    return ODD_VALUES[seed % len(ODD_VALUES)]


@pytest.mark.parametrize("extra", [True, False], ids=["unknown-properties", "known-only"])
@pytest.mark.parametrize("stream", sorted(V5_STREAMS))
def test_the_taps_own_conformance_gives_what_the_sdks_gives(stream: str, extra: bool) -> None:
    # A unit check of a pure function against the SDK's own: every v5 entity schema, records
    # with a wrong type in every field. (The runs above check the real records end to end.)
    # Objects whose properties the schema all knows take the Conformer's quick path.
    schema = load_schema(stream)
    logger = logging.getLogger("conformance-check")
    ours = Conformer(schema, stream, logger)
    compared = 0
    for seed in range(len(ODD_VALUES)):
        record = odd_record(schema, seed, extra=extra)
        mine = ours(json.loads(json.dumps(record)))
        try:
            theirs = conform_record_data_types(
                stream, record, schema, TypeConformanceLevel.RECURSIVE, logger
            )
        except KeyError:  # the SDK's own pass fails on an object item of a free-form list
            continue
        # NaN != NaN: compare the JSON the target would read.
        assert json.dumps(mine) == json.dumps(theirs), (stream, seed)
        assert not any(isinstance(v, float) and not math.isfinite(v) for v in mine.values())
        compared += 1
    assert compared >= len(ODD_VALUES) // 2
