"""Hostile rows: new ads with one defect each, for testing the tap against data the docs allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .data import Row

KINDS = ("future", "compact", "compact_int", "null_id", "missing_id", "undated")
SERVE: Final = "_serve"  # private row key {field: served value or ABSENT}; present() strips it
ABSENT: Final = object()  # a served override that removes the key
FUTURE = "2099-01-01 00:00:00"
WINDOW = 3600  # hostile rows are found within the hour before the clock...
SLOTS = 60  # ...at most this many per clock, a minute apart when that hour is free


def spoil(kind: str, template: Row) -> None:
    """Give a fresh ad template its defect: what the server sorts by and what it serves."""
    true = template["datefound"]  # "YYYY-MM-DD HH:MM:SS", the instant the ad was found
    compact = true[:10].replace("-", "")
    internal: Any = {"future": FUTURE, "undated": None}.get(kind, true)
    served: dict[str, Any] = {
        "compact": {"datefound": compact},
        "compact_int": {"datefound": int(compact)},
        "null_id": {"id": None},
        "missing_id": {"id": ABSENT},
    }.get(kind, {})
    template["datefound"] = internal
    if served:
        template[SERVE] = served


def idless(row: Row) -> bool:
    return row.get(SERVE, {}).get("id", "") in (None, ABSENT)


@dataclass
class Slots:
    """Instants for the hostile rows of one clock, strictly after every ad found before."""

    now: int
    base: int  # max(newest found instant, now - WINDOW)
    used: int = 0

    @classmethod
    def at(cls, now: int, newest_found: int) -> Slots:
        return cls(now, max(newest_found, now - WINDOW))

    def take(self, count: int) -> list[int]:
        step = max(1, (self.now - self.base) // (SLOTS + 1))
        instants = [self.base + step * (self.used + i) for i in range(1, count + 1)]
        if instants and instants[-1] >= self.now:
            free = max(0, (self.now - self.base - 1) // step - self.used)
            raise ValueError(
                f"No room for {count} more hostile rows before the clock ({free} left); "
                "advance the clock"
            )
        self.used += count
        return instants
