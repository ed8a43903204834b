"""Quirk switches: where the API docs are silent, the sandbox serves either plausible answer.

The first value of each switch is the default; server.py's docstring says what each one means
and which defaults are assumptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .data import Row
from .hostile import ABSENT, SERVE

QUIRKS: dict[str, tuple[Any, ...]] = {
    "date_fields": ("present", "absent", "camel"),
    "undated_sort": ("last", "first"),
    "retry_after_header": (True, False),
    "honour_page": (True, False),
    "scroll_error_status": (400, 422, 200),
    "total_format": ("number", "comma"),
    "count_format": ("number", "human"),
}
DEFAULTS: dict[str, Any] = {name: values[0] for name, values in QUIRKS.items()}
CAMEL = {"datefound": "dateFound", "lastseen": "lastSeen"}
COUNTS = ("likes", "shares", "comments")


def validate(
    switches: Mapping[str, object], table: Mapping[str, tuple[Any, ...]] = QUIRKS
) -> dict[str, Any]:
    """The switches unchanged, or ValueError naming the first unknown switch or bad value."""
    for name, value in switches.items():
        allowed = table.get(name)
        if allowed is None:
            raise ValueError(f"Unknown quirk '{name}'; known: {list(table)}")
        # type() as well as ==, so that 1 is not taken for true nor 400.0 for 400
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise ValueError(
                f"Bad value {json.dumps(value)} for quirk '{name}'; "
                f"allowed: {json.dumps(list(allowed))}"
            )
    return dict(switches)


def parse_flag(text: str) -> tuple[str, Any]:
    """`--quirk NAME=VALUE`: VALUE is read as JSON (false, 422), else taken as a string."""
    name, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"--quirk wants NAME=VALUE, got '{text}'")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


def human_count(n: int, k_style: bool) -> str:
    """Counts as a dashboard shows them: '987', then '1.2k'/'12k' (truncated) or '1,234'."""
    if n < 1000 or not k_style:
        return f"{n:,}"
    return f"{n // 100 / 10:g}k" if n < 10_000 else f"{n // 1000}k"


def total(n: int, switches: Mapping[str, Any]) -> int | str:
    return f"{n:,}" if switches["total_format"] == "comma" else n


def present(row: Row, switches: Mapping[str, Any]) -> Row:
    """A row as served: its hostile overrides, then the date-field and count switches."""
    serve = row.get(SERVE)
    dates, counts = switches["date_fields"], switches["count_format"]
    if serve is None and dates == "present" and counts == "number":
        return row  # the common case serves the cached row itself
    out = {k: v for k, v in row.items() if k != SERVE}
    for name, value in (serve or {}).items():
        if value is ABSENT:
            del out[name]
        else:
            out[name] = value
    if counts == "human":
        k_style = int(row["id"]) % 2 == 0  # both human forms occur, fixed per ad
        for name in COUNTS:
            out[name] = human_count(out[name], k_style)
    if dates == "absent":
        for name in CAMEL:
            del out[name]
    elif dates == "camel":
        out = {CAMEL.get(k, k): v for k, v in out.items()}
    return out
