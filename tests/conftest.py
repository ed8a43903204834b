from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tap_pinterest_ads.sandbox.control import SandboxProcess

# A small universe keeps full walks cheap: ~12 pages of 50.
SEED = 7
ADS = 600
API_KEY = "wh_test_4c1d_SECRET_7f3a"


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=SEED, ads=ADS, rate_limit=100_000) as process:
        yield process


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess) -> SandboxProcess:
    sandbox_process.reset()
    return sandbox_process


@pytest.fixture
def config(sandbox: SandboxProcess) -> dict[str, Any]:
    return {
        "api_key": API_KEY,
        "api_url": sandbox.url,
        "requests_per_minute": 100_000,
        "request_timeout": 5,
    }
