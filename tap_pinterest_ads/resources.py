"""Request pacing and the per-run request budget, shared by every stream of one API."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from pyrate_limiter import Duration, Limiter, Rate

# It announces its default bucket at INFO on every run; only its warnings concern a user.
logging.getLogger("pyrate_limiter").setLevel(logging.WARNING)

# Slack past the window's edge: the API times requests on arrival, so without it network
# jitter could land request N+1 inside the window the first N opened (seen: 38 ms to spare).
WINDOW_SLACK_MS = 1000


class Pacer:
    """Blocks until a request fits the API's rolling per-minute window.

    Bursts are allowed (the limit is per rolling minute, not per second): a short walk finishes
    in seconds, and only the request past the limit waits for the window to move.
    """

    def __init__(self, requests_per_minute: int) -> None:
        self.requests_per_minute = requests_per_minute
        self._limiter = Limiter(
            Rate(requests_per_minute, Duration.MINUTE), buffer_ms=WINDOW_SLACK_MS
        )

    def wait(self) -> None:
        self._limiter.try_acquire("requests")


@dataclass
class RequestBudget:
    """Counts requests one API answered in this run (what costs credits); None means no cap."""

    limit: int | None = None
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spend(self) -> None:
        with self._lock:
            self.used += 1

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


@dataclass
class ApiResources:
    """What the streams of one API share within a run."""

    base_url: str
    pacer: Pacer
    budget: RequestBudget
    label: str = "API"  # how messages name it: "Could not reach the ad-library API at ..."
    url_setting: str = "api_url"  # the setting base_url comes from, named in messages
