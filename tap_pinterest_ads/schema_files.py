"""The streams' JSON schemas: one file per stream in the top-level `schemas/` folder."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any


def load_schema(stream_name: str) -> dict[str, Any]:
    """From the wheel (`tap_pinterest_ads/schemas`) or, in a source checkout, `schemas/`."""
    packaged = resources.files("tap_pinterest_ads") / "schemas" / f"{stream_name}.json"
    if packaged.is_file():
        return dict(json.loads(packaged.read_text()))
    source = Path(__file__).resolve().parent.parent / "schemas" / f"{stream_name}.json"
    return dict(json.loads(source.read_text()))
