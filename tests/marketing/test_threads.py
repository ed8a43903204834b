"""Worker threads read ahead; only the thread that emits records may touch the STATE.

The v5 streams read the next contexts (entity lists) and the next analytics calls in worker
threads, and the SDK's STATE is a plain dict kept by the stream: a worker that moved a bookmark
would make it claim rows not yet emitted, which a killed run would then never read. The SDK
writes STATE only at a stream's end, so the messages alone cannot show where it was touched:
this test watches the SDK's state and record methods during a real parallel sync.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.streams.core import Stream

from tap_pinterest_ads.sandbox.control import SandboxProcess
from tests.tapio import catalog_selecting, v5_settings

# The SDK's STATE methods, wherever a stream class defines (or overrides) them.
WATCHED = ("_increment_stream_state", "finalize_state_progress_markers", "_write_state_message")
ANALYTICS = {"ad_account_analytics", "campaign_analytics", "ad_group_analytics", "ad_analytics"}
# Entity streams read ahead: per ad account, and per parent (keywords per ad group).
ENTITIES = {"campaigns", "ad_groups", "ads", "keywords", "audiences", "customer_lists"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    # Today's clock: the tap dates its analytics by the API's, its start_date by the machine's.
    with SandboxProcess(seed=11, ads=50, rate_limit=100_000, start="today") as process:
        process.v5_configure(rate_limit_per_minute=100_000)
        yield process


def stream_classes() -> Iterator[type]:
    """Stream and every subclass the tap has defined (imported with the tap)."""
    import tap_pinterest_ads.marketing.analytics
    import tap_pinterest_ads.marketing.streams  # noqa: F401

    pending: list[type] = [Stream]
    while pending:
        cls = pending.pop()
        yield cls
        pending.extend(cls.__subclasses__())


def sandbox_today(sandbox: SandboxProcess) -> dt.date:
    return dt.date.fromisoformat(sandbox.v5_state()["now"][:10])


def test_only_the_emitting_thread_touches_state_or_writes_records(
    sandbox: SandboxProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tap_pinterest_ads.tap import SingerOutput, TapPinterestAds

    config = v5_settings(
        sandbox.v5_url,
        tmp_path / "tokens.json",
        start_date=(sandbox_today(sandbox) - dt.timedelta(days=20)).isoformat(),
        max_parallel_requests=4,
    )
    catalog = catalog_selecting(tmp_path, config, ANALYTICS | ENTITIES)
    emitting = threading.current_thread()
    calls: Counter[tuple[str, bool]] = Counter()

    def watch(cls: type, name: str) -> None:
        original = cls.__dict__[name]

        @functools.wraps(original)
        def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls[name, threading.current_thread() is emitting] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, watched)

    for cls in stream_classes():
        for name in WATCHED:
            if name in cls.__dict__:
                watch(cls, name)
    watch(SingerOutput, "write_message")  # every message the tap writes, RECORDs included
    tap = TapPinterestAds(config=config, catalog=catalog, state={})
    tap.sync_all()
    workers = {t.name for t in threading.enumerate() if t.name.startswith("v5-reader")}
    output = capfd.readouterr().out

    assert workers, "no reader thread ran: the sync was not parallel"
    assert calls["write_message", True] == output.count("\n") > 0
    assert {name for name, emitter in calls if not emitter} == set(), calls
    for name in WATCHED:
        assert calls[name, True] > 0, (name, calls)  # the watch saw the emitting thread work
