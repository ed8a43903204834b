"""The ad-library family (WinningHunter's ``/api/v1``): metered by key, credits and rate window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .http import respond
from .state import Call, Outcome, Sandbox

PREFIX = "/api/v1"
FAMILY = "ad_library"


def _call(request: Request) -> Call:
    auth = request.headers.get("authorization", "")
    candidates = (
        ("x-api-key", request.headers.get("x-api-key")),
        ("bearer", auth[7:] if auth[:7].lower() == "bearer " else None),
        ("query", request.query_params.get("api_key")),
    )
    via, raw = next(((v, c) for v, c in candidates if c and c.strip()), (None, None))
    return Call(
        path=request.url.path,
        query=request.url.query,
        params={k: v for k, v in request.query_params.items() if k != "api_key"},
        key=raw.strip() if raw else None,
        raw_key=raw,
        auth_via=via,
        key_in_query="api_key" in request.query_params,
    )


Handler = Callable[[Call, dict[str, Any] | None], Outcome]


def routes(sandbox: Sandbox) -> list[Route]:
    async def metered(request: Request, handler: Handler) -> Response:
        call = _call(request)
        epoch = sandbox.epoch
        if sandbox.config.latency_ms:
            await asyncio.sleep(sandbox.config.latency_ms / 1000)
        with sandbox.lock:
            outcome = sandbox.admit(call.key)
            fault = (
                sandbox.next_fault(FAMILY, call.path, call.has_scroll) if outcome is None else None
            )
        if outcome is None and call.key:
            if fault and fault["kind"] == "timeout":
                await asyncio.sleep(fault["seconds"])
            with sandbox.lock:
                outcome = sandbox.injected(fault, call) or handler(call, fault)
                sandbox.charge(call.key, outcome)
        assert outcome is not None
        with sandbox.lock:
            # A slow request that straddles a reset belongs to the old timeline's log.
            if sandbox.epoch == epoch:
                sandbox.record(call, outcome, fault)
        return respond(outcome, fault)

    async def pinterest_ads(request: Request) -> Response:
        return await metered(request, lambda call, fault: sandbox.search(call.params, fault))

    async def credit_balance(request: Request) -> Response:
        return await metered(request, lambda call, fault: sandbox.credits(call.key or ""))

    return [Route("/pinterest-ads", pinterest_ads), Route("/credits", credit_balance)]
