"""Mutable sandbox state: keys, credits, rate windows, faults, request log and the query cache."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from . import query
from .data import DEFAULT_START, AdUniverse

FAULT_KINDS = ("429", "500", "503", "timeout", "drop", "expire_scroll")
TUNABLE: dict[str, type[int] | type[float]] = {
    "rate_limit_per_minute": int,
    "latency_ms": float,
    "scroll_ttl_seconds": float,
    "monthly_credits": int,
}
RESULT_CACHE_SIZE = 64
LOG_SIZE = 50_000
WINDOW_SECONDS = 60.0

UNAUTHORIZED = {"success": False, "error": "Unauthorized"}
PLAN_GATES: dict[str, tuple[int, dict[str, Any]]] = {
    "wh_basic_plan": (
        403,
        {"success": False, "error": "WinningHunter Standard subscription required"},
    ),
    "wh_free_plan": (
        403,
        {"success": False, "error": "WinningHunter Basic plan or higher required"},
    ),
    "wh_upgrade": (
        200,
        {
            "upgrade": "standard_reach",
            "message": "Pinterest ads need the Standard plan. "
            "Upgrade at https://app.winninghunter.com/pricing",
        },
    ),
}
NO_CREDITS_KEY = "wh_no_credits"


@dataclass
class SandboxConfig:
    seed: int = 42
    ads: int = 1500
    rate_limit_per_minute: int = 60
    monthly_credits: int = 20_000
    scroll_ttl_seconds: float = 300
    latency_ms: float = 0
    key_prefix: str = "wh_"  # any key with this prefix that is not a special key is valid
    start: datetime = DEFAULT_START


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    charged: int = 0
    rows: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def key_id(key: str) -> str:
    """Stable short hash that stands in for a key in logs and credit tables."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = replace(config)  # /_sandbox/config edits this copy, not the caller's
        self.lock = threading.Lock()
        self.universe = AdUniverse(config.seed, config.ads, config.start)
        self.secret = query.scroll_secret(config.seed)
        self.generation = 0
        self.epoch = 0  # bumped by reset only
        self.faults: deque[dict[str, Any]] = deque()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.seq = 0
        self.used: dict[str, int] = {}
        self.windows: dict[str, deque[float]] = {}
        self._results: OrderedDict[tuple[datetime, str], query.Result] = OrderedDict()

    def reset(self) -> None:
        self.universe.reset()
        self.generation += 1  # tokens minted before the reset describe another timeline
        self.epoch += 1
        self.faults.clear()
        self.log.clear()
        self.seq = 0
        self.used.clear()
        self.windows.clear()
        self._results.clear()

    def advance(self, days: float, hours: float) -> int:
        added = self.universe.advance(days, hours)
        self._results.clear()  # only the new clock is served from now on
        self.universe.ads()
        return added

    def state(self) -> dict[str, Any]:
        return {
            "now": iso(self.universe.now),
            "seed": self.config.seed,
            "ads": self.universe.count(),
            "rate_limit_per_minute": self.config.rate_limit_per_minute,
            "scroll_generation": self.generation,
        }

    # -- metering ------------------------------------------------------------------------
    def admit(self, key: str | None) -> Outcome | None:
        """Auth, rate limit and credit checks, in the order the real gateway applies them."""
        if not key or not key.startswith(self.config.key_prefix):
            return Outcome(401, dict(UNAUTHORIZED))
        if key in PLAN_GATES:
            status, body = PLAN_GATES[key]
            return Outcome(status, dict(body))
        kid = key_id(key)
        now = time.monotonic()
        window = self.windows.setdefault(kid, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        window.append(now)  # rejected calls count too
        if len(window) > self.config.rate_limit_per_minute:
            wait = max(1, math.ceil(window[0] + WINDOW_SECONDS - now))
            return self.rate_limited(wait)
        limit = self.config.monthly_credits
        used = self.used.get(kid, 0)
        if key == NO_CREDITS_KEY or used >= limit:
            return Outcome(
                429,
                {
                    "success": False,
                    "error": "Monthly API credits exhausted",
                    "credits": {
                        "used": max(used, limit) if key == NO_CREDITS_KEY else used,
                        "limit": limit,
                        "remaining": 0,
                        "addon_remaining": 0,
                        "total_remaining": 0,
                    },
                    "purchase": {"url": "https://app.winninghunter.com/api#credits"},
                },
            )
        return None

    def rate_limited(self, retry_after: int) -> Outcome:
        limit = self.config.rate_limit_per_minute
        return Outcome(
            429,
            {
                "success": False,
                "error": f"Rate limit exceeded: {limit} requests per minute",
                "retry_after": retry_after,
            },
            headers={"Retry-After": str(retry_after)},
        )

    def next_fault(self) -> dict[str, Any] | None:
        return self.faults.popleft() if self.faults else None

    def injected(self, fault: dict[str, Any] | None) -> Outcome | None:
        """The canned answer of a queued 429/500/503 fault (5xx are refunded: no charge)."""
        kind = fault["kind"] if fault else None
        if fault and kind == "429":
            return self.rate_limited(fault["retry_after"])
        if kind == "500":
            return Outcome(500, {"success": False, "error": "Internal server error"})
        if kind == "503":
            return Outcome(503, {"success": False, "error": "Service unavailable"})
        return None

    def charge(self, key: str, outcome: Outcome) -> None:
        if outcome.charged:
            kid = key_id(key)
            self.used[kid] = self.used.get(kid, 0) + outcome.charged

    def record(
        self,
        path: str,
        params: dict[str, str],
        key: str | None,
        outcome: Outcome,
        fault: dict[str, Any] | None,
    ) -> None:
        self.seq += 1
        self.log.append(
            {
                "seq": self.seq,
                "at": iso(datetime.now(UTC)),
                "path": path,
                "params": {k: ("[redacted]" if key and v == key else v) for k, v in params.items()},
                "status": outcome.status,
                "credits_charged": outcome.charged,
                "rows": outcome.rows,
                "key_id": key_id(key) if key else None,
                "fault": fault["kind"] if fault else None,
            }
        )

    # -- API handlers --------------------------------------------------------------------
    def credits(self, key: str) -> Outcome:
        limit = self.config.monthly_credits
        used = self.used.get(key_id(key), 0) + 1  # the call pays for itself first
        remaining = max(0, limit - used)
        return Outcome(
            200,
            {
                "success": True,
                "credits": {
                    "used": used,
                    "limit": limit,
                    "remaining": remaining,
                    "addon_remaining": 0,
                    "total_remaining": remaining,
                },
            },
            charged=1,
        )

    def result(self, q: query.Query) -> query.Result:
        """Filtered and sorted rows for the current clock, cached so deep walks stay cheap."""
        cache_key = (self.universe.now, q.filter_hash)
        hit = self._results.get(cache_key)
        if hit is None:
            hit = query.run(self.universe.ads(), q)
            self._results[cache_key] = hit
            if len(self._results) > RESULT_CACHE_SIZE:
                self._results.popitem(last=False)
        else:
            self._results.move_to_end(cache_key)
        return hit

    def search(self, params: dict[str, str], fault: dict[str, Any] | None) -> Outcome:
        try:
            q = query.parse(params)
            if fault and fault["kind"] == "expire_scroll":
                raise query.invalid_scroll()
            result = self.result(q)
            if q.scroll:
                payload = query.decode_scroll(self.secret, q.scroll)
                after, size = query.check_scroll(
                    payload, q, time.time(), self.config.scroll_ttl_seconds, self.generation
                )
                page = query.page_after(result, after, size, q)
            else:
                page = query.first_page(result, q)
        except query.QueryError as exc:
            return Outcome(400, exc.body, charged=1)  # error JSON keeps the charge
        token = None
        if page.last_key is not None:
            payload = query.scroll_payload(q, page, time.time(), self.generation)
            token = query.encode_scroll(self.secret, payload)
        now_ts = int(self.universe.now.timestamp())
        matches = len(result.rows)
        body = {
            "success": True,
            "data": page.rows,
            "scroll": token,
            "total": min(matches, query.TOTAL_CAP),
            "total_relation": "gte" if matches > query.TOTAL_CAP else "eq",
            "limit": page.size,
            "nextscrapetime": (now_ts // 86400 + 1) * 86400,
        }
        return Outcome(200, body, charged=1, rows=len(page.rows))

    def truth(self, params: dict[str, str]) -> Outcome:
        try:
            result = self.result(query.parse(params))
        except query.QueryError as exc:
            return Outcome(400, exc.body)
        ids = [row["id"] for row in result.rows]
        return Outcome(200, {"ids": ids, "total": len(ids)})
