"""Pacing to Pinterest's `x-ratelimit-*` headers when it sends them (the spec defines none, so
nothing depends on them): with no quota left, the next request waits for the reset."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from tap_pinterest_ads.resources import Pacer
from tap_pinterest_ads.retries import reset_seconds

# Pinterest's own limit for the ads_read/org_read categories is far above this; the
# catalogs_read limit (100/min) and daily trial quotas are met by the headers and 429 retries.
V5_REQUESTS_PER_MINUTE = 1000


class HeaderPacer(Pacer):
    def __init__(self, requests_per_minute: int = V5_REQUESTS_PER_MINUTE) -> None:
        super().__init__(requests_per_minute)
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests' response hook: note when the quota the headers announce is spent."""
        remaining = response.headers.get("x-ratelimit-remaining")
        spent = remaining is not None and remaining.split(",")[0].strip() in {"0", "0.0"}
        if not spent and response.status_code != 429:
            return
        seconds = reset_seconds(response.headers.get("x-ratelimit-reset"))
        if seconds:
            with self._lock:
                self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def wait(self) -> None:
        with self._lock:
            delay = self._hold_until - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        super().wait()
