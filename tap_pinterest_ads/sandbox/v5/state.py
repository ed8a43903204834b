"""Mutable v5 state: the universe (built on first use), tokens, the rate window, switches and
the request log. Shares the lock, clock, fault queue and fault dice of the ad-library Sandbox."""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .. import quirks as quirk_rules
from ..state import LOG_SIZE, WINDOW_SECONDS, Outcome, Sandbox, iso
from .analytics import Tree, Trees
from .auth import AUTH_FAILED, Tokens
from .data import Size, V5Universe
from .reports import Reports

QUIRKS: dict[str, tuple[Any, ...]] = {
    "ratelimit_headers": (True, False),
    "refused_grant_status": (400, 401),
    "default_order": ("ASCENDING", "DESCENDING"),
    "product_group_time": ("s", "ms"),
    "report_id_types": ("mixed", "string"),
    "report_targeting_columns": ("upper", "lower"),
    "hour_date": ("date_and_hour", "datetime"),
    # `ad_group_ids` on keywords is BETA, "not available to all users"; how the API answers
    # such a user is not documented (ASSUMPTION): a 400, or the filter silently ignored.
    "keyword_ad_group_ids": ("served", "refused", "ignored"),
}
DEFAULTS = {name: values[0] for name, values in QUIRKS.items()}
TUNABLE: dict[str, type[int] | type[float]] = {
    "rate_limit_per_minute": int,
    "token_ttl_seconds": float,
    "analytics_rate_limit_per_minute": int,
    "report_polls": int,
    "report_fail_rate": float,
    "report_url_ttl_seconds": float,
    "report_ttl_seconds": float,
}
RATE_LIMITED = {
    "code": 8,
    "message": "This request exceeded a rate limit. This can happen if the client exceeds one\n"
    "of the published rate limits within a short time window.",
}
SECRET_PARAMS = ("access_token", "refresh_token", "client_secret", "code")


@dataclass
class V5Config:
    rate_limit_per_minute: int = 1000  # org_read's standard limit; ads_read allows more
    token_ttl_seconds: float = 3600
    # The ads_analytics category's own window (Standard access: 300 a minute); 0: none, only
    # the window above applies.
    analytics_rate_limit_per_minute: int = 0
    report_polls: int = 2  # polls that see IN_PROGRESS before a report is FINISHED or FAILED
    report_fail_rate: float = 0  # share of report jobs that end FAILED (deterministic per job)
    report_url_ttl_seconds: float = 300  # "the link is valid for five minutes"
    report_ttl_seconds: float = 3600  # "and the report is valid for one hour"
    quirks: dict[str, Any] | None = None  # switches that differ from the defaults
    size: Size | None = None  # accounts, campaigns and ads for benchmarks; None: the default mix


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class V5State:
    def __init__(self, sandbox: Sandbox, config: V5Config) -> None:
        self.sandbox = sandbox
        startup_quirks = quirk_rules.validate(config.quirks or {}, QUIRKS)
        self.startup = replace(config, quirks={**DEFAULTS, **startup_quirks})
        self.config = replace(self.startup)
        self.quirks: dict[str, Any] = dict(self.startup.quirks or {})
        self.tokens = Tokens(sandbox.config.seed)
        self.window: deque[float] = deque()
        self.analytics_window: deque[float] = deque()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.seq = 0
        self._universe: V5Universe | None = None
        self.trees = Trees()
        self.reports = Reports(sandbox.config.seed)
        self.clock_steps: list[int] = []  # every advance since the start, replayed on first use
        self.changes = {"v5_updated": 0, "v5_added": 0}
        self.tokens.reset(sandbox.epoch, self.config.token_ttl_seconds)
        if self.config.size is not None:
            self.universe  # noqa: B018  a benchmark universe takes seconds: build it before serving

    @property
    def universe(self) -> V5Universe:
        """Built at the start clock on first use (the sandbox starts fast), then advanced."""
        if self._universe is None:
            start = int(self.sandbox.startup.start.timestamp())
            self._universe = V5Universe(self.sandbox.config.seed, start, self.config.size)
            for step in self.clock_steps:
                self._universe.advance(step)
        return self._universe

    def tree(self, account_id: str) -> Tree:
        return self.trees.get(self.sandbox.config.seed, self.universe, account_id)

    def reset(self) -> None:
        self._universe = None
        self.reports.reset()
        self.clock_steps.clear()
        self.changes = dict.fromkeys(self.changes, 0)
        self.quirks = dict(self.startup.quirks or {})
        self.tokens.reset(self.sandbox.epoch, self.config.token_ttl_seconds)
        self.window.clear()
        self.analytics_window.clear()
        self.log.clear()
        self.seq = 0

    def advance(self, now: datetime) -> None:
        step = int(now.timestamp())
        self.clock_steps.append(step)
        if self._universe is not None:
            for name, count in self._universe.advance(step).items():
                self.changes[name] += count

    def set_quirks(self, switches: dict[str, Any]) -> dict[str, Any]:
        self.quirks.update(quirk_rules.validate(switches, QUIRKS))
        return dict(self.quirks)

    def state(self) -> dict[str, Any]:
        universe = self.universe
        return {
            "now": iso(self.sandbox.universe.now),
            "ad_accounts": [a.row["id"] for a in universe.accounts],
            "owned_ad_accounts": [a.row["id"] for a in universe.accounts if a.owned],
            "forbidden_ad_accounts": [a.row["id"] for a in universe.accounts if not a.readable],
            "no_catalog_ad_accounts": [
                account_id
                for account_id, owned in universe.catalogs.items()
                if not owned["catalogs"]
            ],
            "counts": universe.counts(),
            **self.changes,
            "rate_limit_per_minute": self.config.rate_limit_per_minute,
            "token_ttl_seconds": self.config.token_ttl_seconds,
            "reports": self.reports.created,
        }

    # -- metering ------------------------------------------------------------------------
    def _windows(self, analytics: bool) -> list[tuple[deque[float], int]]:
        """The per-minute windows a request counts in, with their limits."""
        windows = [(self.window, self.config.rate_limit_per_minute)]
        if analytics and self.config.analytics_rate_limit_per_minute:
            windows.append((self.analytics_window, self.config.analytics_rate_limit_per_minute))
        return windows

    def admit(self, bearer: str | None, analytics: bool = False) -> Outcome | None:
        """Bearer check, then the per-minute windows (the token user's; rejected calls count):
        every request's, and the ads_analytics category's for analytics and reports."""
        if not self.tokens.valid(bearer):
            return Outcome(401, dict(AUTH_FAILED))
        now = time.monotonic()
        over = False
        for window, limit in self._windows(analytics):
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            window.append(now)
            over = over or len(window) > limit
        return Outcome(429, dict(RATE_LIMITED)) if over else None

    def rate_headers(self, outcome: Outcome, analytics: bool = False) -> None:
        """The IETF-draft style headers seen on real v5 answers (the spec defines none), for
        the tightest window the request counts in; a fault's own values stay."""
        if not self.quirks["ratelimit_headers"]:
            return
        window, limit = min(self._windows(analytics), key=lambda w: w[1] - len(w[0]))
        now = time.monotonic()
        reset = math.ceil(window[0] + WINDOW_SECONDS - now) if window else 60
        for name, value in (
            ("x-ratelimit-limit", f"{limit}, {limit};w=60"),
            ("x-ratelimit-remaining", str(max(0, limit - len(window)))),
            ("x-ratelimit-reset", str(max(1, reset))),
        ):
            outcome.headers.setdefault(name, value)

    def injected(
        self, fault: dict[str, Any] | None, path: str, query: str, secret: str
    ) -> Outcome | None:
        """A fault's canned answer in the v5 error shape (timeout, drop, pass: none)."""
        kind = fault["kind"] if fault else None
        if fault and kind == "429":
            reset = str(max(1, fault["retry_after"]))
            headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
            return Outcome(429, dict(RATE_LIMITED), headers=headers)
        if kind in ("500", "503"):
            message = "Internal server error" if kind == "500" else "Service unavailable"
            return Outcome(int(kind), {"code": int(kind), "message": message})
        if fault and kind == "redirect":
            location = fault["to"] + path + (f"?{query}" if query else "")
            return Outcome(302, {}, headers={"Location": location})
        if kind == "echo_key":
            return Outcome(
                401, {"code": 2, "message": f"Authentication failed for token '{secret}'"}
            )
        return None

    def record(
        self,
        request: dict[str, Any],
        outcome: Outcome,
        fault: dict[str, Any] | None,
    ) -> None:
        self.seq += 1
        self.log.append(
            {
                "seq": self.seq,
                "at": iso(datetime.now(self.sandbox.universe.now.tzinfo)),
                **request,
                "status": outcome.status,
                "rows": outcome.rows,
                "fault": fault["kind"] if fault else None,
            }
        )


def loggable(params: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: ["[redacted]"] if k in SECRET_PARAMS else v for k, v in params.items()}
