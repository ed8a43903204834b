"""Mutable sandbox state: keys, credits, rate windows, faults, quirks, hostile rows, request log
and the query cache."""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import hostile, query, quirks
from .data import DEFAULT_START, UTC, AdUniverse

RANDOM_FAULTS = ("429", "500", "503", "timeout", "drop")  # plus expire_scroll on a scroll request
# "pass" is no fault: it places the next ones further down a walk.
FAULT_KINDS = (*RANDOM_FAULTS, "expire_scroll", "redirect", "echo_key", "pass")
RANDOM_TIMEOUT_SECONDS = 2.0
FAMILIES = ("ad_library", "v5")  # a queued fault may name the one it is for
TUNABLE: dict[str, type[int] | type[float]] = {
    "rate_limit_per_minute": int,
    "latency_ms": float,
    "scroll_ttl_seconds": float,
    "monthly_credits": int,
    "fault_rate": float,
    "fault_seed": int,
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
    fault_rate: float = 0  # share of admitted API requests that get a random fault
    fault_seed: int = 0
    quirks: dict[str, Any] = field(default_factory=dict)  # switches that differ from the defaults


@dataclass(frozen=True)
class Call:
    """One API request as the sandbox sees it. Only `key` and `raw_key` hold the secret."""

    path: str
    query: str  # raw query string, for redirects
    params: dict[str, str]  # without api_key
    key: str | None  # the credential in use, stripped
    raw_key: str | None  # the same exactly as received
    auth_via: str | None  # "x-api-key", "bearer" or "query"
    key_in_query: bool  # an api_key query parameter was sent, used or not

    @property
    def has_scroll(self) -> bool:
        return bool(self.params.get("scroll", "").strip())


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
        self.startup = replace(config, quirks={**quirks.DEFAULTS, **quirks.validate(config.quirks)})
        self.config = replace(self.startup)  # /_sandbox/config edits this copy, not the caller's
        self.quirks = dict(self.startup.quirks)
        self.reseed()
        self.slots: hostile.Slots | None = None
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
        self._results: OrderedDict[tuple[Any, ...], query.Result] = OrderedDict()

    def reset(self) -> None:
        """Back to the start: clock, hostile rows, quirks and random faults as at startup."""
        self.universe.reset()
        self.slots = None
        self.quirks = dict(self.startup.quirks)
        self.config.fault_rate = self.startup.fault_rate
        self.config.fault_seed = self.startup.fault_seed
        self.reseed()
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
            "hostile": self.universe.extra_count,
        }

    def reseed(self) -> None:
        self.dice = random.Random(self.config.fault_seed)

    def set_quirks(self, switches: dict[str, Any]) -> dict[str, Any]:
        self.quirks.update(quirks.validate(switches))
        return dict(self.quirks)

    def add_hostile(self, kind: str, count: int) -> list[str | None]:
        """`count` new ads with one defect each, found just before the clock (newest last)."""
        now = int(self.universe.now.timestamp())
        if self.slots is None or self.slots.now != now:
            self.slots = hostile.Slots.at(now, self.universe.newest_found())
        added: list[str | None] = []
        for found_ts in self.slots.take(count):
            template = self.universe.add_ad(found_ts)
            hostile.spoil(kind, template)
            added.append(None if hostile.idless(template) else template["id"])
        return added

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
        body = {"success": False, "error": f"Rate limit exceeded: {limit} requests per minute"}
        if not self.quirks["retry_after_header"]:
            return Outcome(429, body)
        return Outcome(
            429, {**body, "retry_after": retry_after}, headers={"Retry-After": str(retry_after)}
        )

    def next_fault(self, family: str, path: str, has_scroll: bool = False) -> dict[str, Any] | None:
        """The first queued fault for this request (one may name an API family and a path
        prefix), else with probability fault_rate a random one from the seeded dice."""
        for index, queued in enumerate(self.faults):
            if queued.get("family", family) == family and path.startswith(queued.get("path", "")):
                del self.faults[index]
                return queued
        if not self.config.fault_rate or self.dice.random() >= self.config.fault_rate:
            return None
        kind = self.dice.choice(RANDOM_FAULTS + ("expire_scroll",) * has_scroll)
        return {"kind": kind, "retry_after": 1, "seconds": RANDOM_TIMEOUT_SECONDS}

    def injected(self, fault: dict[str, Any] | None, call: Call) -> Outcome | None:
        """The canned answer of a fault that replaces the API's (none of them is charged)."""
        kind = fault["kind"] if fault else None
        if fault and kind == "429":
            return self.rate_limited(fault["retry_after"])
        if kind == "500":
            return Outcome(500, {"success": False, "error": "Internal server error"})
        if kind == "503":
            return Outcome(503, {"success": False, "error": "Service unavailable"})
        if fault and kind == "redirect":
            location = fault["to"] + call.path + (f"?{call.query}" if call.query else "")
            return Outcome(302, {}, headers={"Location": location})
        if kind == "echo_key":
            error = f"Invalid API key '{call.raw_key}' for this endpoint"
            return Outcome(400, {"success": False, "error": error})
        return None

    def charge(self, key: str, outcome: Outcome) -> None:
        if outcome.charged:
            kid = key_id(key)
            self.used[kid] = self.used.get(kid, 0) + outcome.charged

    def record(self, call: Call, outcome: Outcome, fault: dict[str, Any] | None) -> None:
        self.seq += 1
        key = call.key
        params = call.params
        self.log.append(
            {
                "seq": self.seq,
                "at": iso(datetime.now(UTC)),
                "path": call.path,
                "params": {k: ("[redacted]" if key and v == key else v) for k, v in params.items()},
                "status": outcome.status,
                "credits_charged": outcome.charged,
                "rows": outcome.rows,
                "key_id": key_id(key) if key else None,
                "key_in_query": call.key_in_query,
                "auth_via": call.auth_via,
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
        ads = self.universe.ads()
        undated_first = self.quirks["undated_sort"] == "first"
        cache_key = (self.universe.now, len(ads), undated_first, q.filter_hash)
        hit = self._results.get(cache_key)
        if hit is None:
            hit = query.run(ads, q, undated_first)
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
                page = query.first_page(result, q, self.quirks["honour_page"])
        except query.QueryError as exc:
            if not exc.scroll:
                return Outcome(400, exc.body, charged=1)  # error JSON keeps the charge
            status = self.quirks["scroll_error_status"]
            body = exc.body if status != 200 else {"success": False, "error": exc.body["error"]}
            return Outcome(status, body, charged=1)
        token = None
        if page.last_key is not None:
            payload = query.scroll_payload(q, page, time.time(), self.generation)
            token = query.encode_scroll(self.secret, payload)
        now_ts = int(self.universe.now.timestamp())
        matches = len(result.rows)
        body = {
            "success": True,
            "data": [quirks.present(row, self.quirks) for row in page.rows],
            "scroll": token,
            "total": quirks.total(min(matches, query.TOTAL_CAP), self.quirks),
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
        ids = [row["id"] for row in result.rows if not hostile.idless(row)]
        idless = len(result.rows) - len(ids)
        return Outcome(200, {"ids": ids, "total": len(ids), "idless": idless})
