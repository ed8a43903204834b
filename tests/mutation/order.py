"""pytest plugin for the probe (`-p tests.mutation.order`): quickest test files first.

With `-x` a caught mutant costs only the tests up to the first failure, so files that take a
minute of waiting (pacing, retry schedules) go last. Whole files move, never single tests: the
files' own fixtures stay set up once. `MUTATION_DURATIONS` names a JSON file of seconds per file:
the first run (the probe's baseline) writes it, later runs read it.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

_seconds: defaultdict[str, float] = defaultdict(float)


def _durations() -> Path | None:
    name = os.environ.get("MUTATION_DURATIONS")
    return Path(name) if name else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    path = _durations()
    if path and path.exists():
        known = json.loads(path.read_text())
        items.sort(key=lambda item: known.get(item.location[0], 0.0))  # stable within a file


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.location[0]] += report.duration


def pytest_sessionfinish() -> None:
    path = _durations()
    if path and not path.exists():
        path.write_text(json.dumps(_seconds, indent=1))
