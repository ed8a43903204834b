"""The SDK's standard tap tests, run against a real sandbox process."""

from __future__ import annotations

import atexit
import datetime as dt
import tempfile
from pathlib import Path

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_pinterest_ads.dates import parse_instant
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.tap import TapPinterestAds
from tests.conftest import ADS, API_KEY, SEED
from tests.tapio import v5_settings

# The SDK builds its test class at import time, so the API it talks to must exist by then.
_sandbox = SandboxProcess(
    seed=SEED, ads=ADS, rate_limit=100_000, v5_rate_limit=100_000, v5_report_polls=0
).__enter__()
atexit.register(_sandbox.__exit__, None, None, None)
# Two weeks behind the sandbox's clock: every stream has rows, the analytics and report streams
# few days to read (the suite syncs everything twice; their own tests cover long ranges).
_START = parse_instant(_sandbox.state()["now"])
assert _START is not None
_START -= dt.timedelta(days=14)
# The sandbox promotes no product groups or items: their reports are empty there, not broken.
_EMPTY_IN_SANDBOX = [
    "product_group_report",
    "product_group_targeting_report",
    "product_item_report",
]

# Both families: the v5 streams run only with v5 credentials (the sandbox's own).
CONFIG = v5_settings(
    _sandbox.v5_url,
    Path(tempfile.mkdtemp()) / "pinterest-token.json",
    api_key=API_KEY,
    api_url=_sandbox.url,
    requests_per_minute=100_000,
    start_date=_START.isoformat(),
    searches=[{"name": "all"}, {"name": "video", "mediatype": "video"}],
)

# Every stream selected, the opt-in snapshots included, so the suite covers them all.
_catalog = TapPinterestAds(config=CONFIG).catalog_dict
for _entry in _catalog["streams"]:
    for _item in _entry["metadata"]:
        if _item["breadcrumb"] == []:
            _item["metadata"]["selected"] = True

TestTapPinterestAds = get_tap_test_class(
    TapPinterestAds,
    config=CONFIG,
    catalog=_catalog,
    suite_config=SuiteConfig(
        max_records_limit=120, ignore_no_records_for_streams=_EMPTY_IN_SANDBOX
    ),
)
