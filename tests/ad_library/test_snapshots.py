"""pinterest_ad_snapshots: a bounded, append-only engagement history."""

from __future__ import annotations

import pytest

from tests.tapio import api_requests, catalog_selecting, run_tap

SNAPSHOTS = "pinterest_ad_snapshots"


@pytest.fixture
def snapshot_catalog(config, tmp_path):
    return catalog_selecting(tmp_path, config, {SNAPSHOTS})


def test_not_selected_by_default(sandbox, config, tmp_path):
    run = run_tap(tmp_path, config)
    assert run.records("pinterest_ads")
    assert not run.records(SNAPSHOTS)
    assert all(c["params"]["sorting"] == "datefound" for c in api_requests(sandbox.requests()))


def test_cost_is_capped_and_rows_are_keyed_by_ad_and_day(
    sandbox, config, tmp_path, snapshot_catalog
):
    cfg = {**config, "snapshot_pages_per_search": 3, "searches": [{"name": "a"}, {"name": "b"}]}
    run = run_tap(tmp_path, cfg, catalog=snapshot_catalog)
    assert run.returncode == 0, run.stderr
    calls = api_requests(sandbox.requests())
    assert len(calls) == 3 * 2
    assert {c["params"]["sorting"] for c in calls} == {"lastseen"}
    rows = run.records(SNAPSHOTS)
    assert len(rows) == 3 * 50 * 2
    keys = [(r["search_name"], r["id"], r["snapshot_date"]) for r in rows]
    assert len(keys) == len(set(keys))
    for row in rows:
        assert row["snapshot_date"] == row["lastseen"][:10]
        assert row["saves"] == row["likes"]
        assert row["repins"] == row["shares"]
    # Newest first: the sample is the most recently seen ads.
    seen = [r["lastseen"] for r in rows if r["search_name"] == "a"]
    assert seen == sorted(seen, reverse=True)


def test_next_day_appends_a_point_per_reseen_ad(sandbox, config, tmp_path, snapshot_catalog):
    cfg = {**config, "snapshot_pages_per_search": 20}
    first = run_tap(tmp_path / "1", cfg, catalog=snapshot_catalog)
    before = {r["id"]: r for r in first.records(SNAPSHOTS)}
    sandbox.advance(days=1)
    sandbox.clear_requests()
    second = run_tap(tmp_path / "2", cfg, state=first.final_state, catalog=snapshot_catalog)
    assert second.returncode == 0, second.stderr
    calls = api_requests(sandbox.requests())
    assert all("fromlastseen" in c["params"] for c in calls)
    after = second.records(SNAPSHOTS)
    new_day = max(r["snapshot_date"] for r in after)
    assert new_day > max(r["snapshot_date"] for r in before.values())
    grown = [r for r in after if r["snapshot_date"] == new_day and r["id"] in before]
    assert grown, "ads still running are seen again the next day"
    for row in grown:
        assert row["likes"] >= before[row["id"]]["likes"]
        assert row["daysrunning"] >= before[row["id"]]["daysrunning"]
    assert any(r["likes"] > before[r["id"]]["likes"] for r in grown)
