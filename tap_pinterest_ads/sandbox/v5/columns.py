"""The analytics column enums of the official spec 5.23.0 (sync: the six ``…/analytics``
endpoints; async: ``ReportingColumnAsync`` of ``POST …/reports``), from the file the tap's
``marketing/columns.py`` writes from the spec (a test checks it still equals the spec)."""

from __future__ import annotations

import json
from pathlib import Path

_ENUMS = json.loads(
    (Path(__file__).resolve().parents[2] / "marketing" / "spec_enums.json").read_text()
)
SYNC_COLUMNS = frozenset(_ENUMS["sync_columns"])
ASYNC_COLUMNS = frozenset(_ENUMS["async_columns"])
