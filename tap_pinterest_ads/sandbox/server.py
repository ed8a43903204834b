"""Local imitation of WinningHunter's Pinterest ads API, for developing and testing the tap.

Run: ``tap-pinterest-ads-sandbox --port 8765 --seed 42`` (or ``python -m
tap_pinterest_ads.sandbox.server``). Any key starting with ``wh_`` works; ``wh_basic_plan``,
``wh_free_plan``, ``wh_upgrade`` and ``wh_no_credits`` trigger the plan and credit errors.

API (metered, auth via ``X-API-Key``, ``Authorization: Bearer`` or ``?api_key=``):
    GET  /api/v1/pinterest-ads      search, paged with ``page`` or the ``scroll`` token
    GET  /api/v1/credits            credit balance (costs 1 credit, like the real one)

Control routes (no auth, no credits, no rate limit):
    POST   /_sandbox/advance        {"days": 1} or {"hours": 6}: move the clock, find new ads
    GET    /_sandbox/state          clock, seed, ad count, rate limit, scroll generation
    GET    /_sandbox/truth?...      every id a complete walk of these filters should return
    GET    /_sandbox/requests       request log (never holds keys); DELETE clears it
    GET    /_sandbox/credits        credits used per key id
    POST   /_sandbox/expire-scrolls invalidate every outstanding scroll token
    POST   /_sandbox/faults         {"faults": [{"kind": "429"|"500"|"503"|"timeout"|"drop"|
                                    "expire_scroll", ...}]}: queued, one per API request;
                                    GET lists them, DELETE clears them
    POST   /_sandbox/config         change rate_limit_per_minute, latency_ms,
                                    scroll_ttl_seconds or monthly_credits
    POST   /_sandbox/reset          initial clock; empty log, credits and faults
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .state import FAULT_KINDS, TUNABLE, Outcome, Sandbox, SandboxConfig, iso

__all__ = ["SandboxConfig", "create_app", "main", "run_in_thread", "serve"]

_DROP_MESSAGE = "ASGI callable returned without completing response."


class _TruncatedResponse(Response):
    """Promises more bytes than it sends, then lets uvicorn close the socket mid-body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body) + 512).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )


class _HideDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    for candidate in (
        request.headers.get("x-api-key"),
        bearer,
        request.query_params.get("api_key"),
    ):
        if candidate and candidate.strip():
            return candidate.strip()
    return None


def _json(outcome: Outcome) -> JSONResponse:
    return JSONResponse(outcome.body, outcome.status, headers=outcome.headers)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise HTTPException(400, "Body must be JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "Body must be a JSON object")
    return data


def _non_negative(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise HTTPException(400, f"'{name}' must be a non-negative number")
    return float(value)


def _fault(spec: object) -> dict[str, Any]:
    if not isinstance(spec, dict) or spec.get("kind") not in FAULT_KINDS:
        raise HTTPException(400, f"Each fault needs a kind in {list(FAULT_KINDS)}")
    fault: dict[str, Any] = {"kind": spec["kind"]}
    if fault["kind"] == "429":
        fault["retry_after"] = int(_non_negative(spec, "retry_after", 1))
    if fault["kind"] == "timeout":
        fault["seconds"] = _non_negative(spec, "seconds", 3)
    return fault


Handler = Callable[[str, dict[str, str], dict[str, Any] | None], Outcome]


def create_app(config: SandboxConfig) -> Starlette:
    sandbox = Sandbox(config)
    with sandbox.lock:
        sandbox.universe.ads()  # build the initial universe before the first request

    async def metered(request: Request, handler: Handler) -> Response:
        key = _api_key(request)
        params = {k: v for k, v in request.query_params.items() if k != "api_key"}
        epoch = sandbox.epoch
        if sandbox.config.latency_ms:
            await asyncio.sleep(sandbox.config.latency_ms / 1000)
        with sandbox.lock:
            outcome = sandbox.admit(key)
            fault = sandbox.next_fault() if outcome is None else None
        if outcome is None and key:
            if fault and fault["kind"] == "timeout":
                await asyncio.sleep(fault["seconds"])
            with sandbox.lock:
                outcome = sandbox.injected(fault) or handler(key, params, fault)
                sandbox.charge(key, outcome)
        assert outcome is not None
        with sandbox.lock:
            # A slow request that straddles a reset belongs to the old timeline's log.
            if sandbox.epoch == epoch:
                sandbox.record(request.url.path, params, key, outcome, fault)
        if fault and fault["kind"] == "drop":
            return _TruncatedResponse(json.dumps(outcome.body).encode())
        return _json(outcome)

    async def pinterest_ads(request: Request) -> Response:
        return await metered(request, lambda key, params, fault: sandbox.search(params, fault))

    async def credit_balance(request: Request) -> Response:
        return await metered(request, lambda key, params, fault: sandbox.credits(key))

    async def advance(request: Request) -> Response:
        data = await _body(request)
        days = _non_negative(data, "days", 0 if "hours" in data else 1)
        hours = _non_negative(data, "hours", 0)
        with sandbox.lock:
            added = sandbox.advance(days, hours)
            return JSONResponse(
                {"now": iso(sandbox.universe.now), "ads": sandbox.universe.count(), "added": added}
            )

    async def state(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse(sandbox.state())

    async def truth(request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if k != "api_key"}
        with sandbox.lock:
            return _json(sandbox.truth(params))

    async def requests_log(request: Request) -> Response:
        with sandbox.lock:
            if request.method == "DELETE":
                sandbox.log.clear()
            return JSONResponse({"requests": list(sandbox.log)})

    async def credit_table(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse({"by_key": dict(sandbox.used)})

    async def expire_scrolls(request: Request) -> Response:
        with sandbox.lock:
            sandbox.generation += 1
            return JSONResponse({"scroll_generation": sandbox.generation})

    async def faults(request: Request) -> Response:
        data = await _body(request) if request.method == "POST" else {}
        queued = data.get("faults", [])
        if not isinstance(queued, list):
            raise HTTPException(400, "'faults' must be a list")
        parsed = [_fault(f) for f in queued]
        with sandbox.lock:
            if request.method == "DELETE":
                sandbox.faults.clear()
            sandbox.faults.extend(parsed)
            return JSONResponse({"faults": list(sandbox.faults)})

    async def configure(request: Request) -> Response:
        data = await _body(request)
        unknown = sorted(set(data) - set(TUNABLE))
        if unknown:
            raise HTTPException(400, f"Unknown config keys {unknown}; allowed: {list(TUNABLE)}")
        values = {name: TUNABLE[name](_non_negative(data, name, 0)) for name in data}
        with sandbox.lock:
            for name, value in values.items():
                setattr(sandbox.config, name, value)
            return JSONResponse({name: getattr(sandbox.config, name) for name in TUNABLE})

    async def reset(request: Request) -> Response:
        with sandbox.lock:
            sandbox.reset()
            return JSONResponse(sandbox.state())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"success": False, "error": exc.detail}, exc.status_code)

    return Starlette(
        routes=[
            Route("/api/v1/pinterest-ads", pinterest_ads),
            Route("/api/v1/credits", credit_balance),
            Route("/_sandbox/advance", advance, methods=["POST"]),
            Route("/_sandbox/state", state),
            Route("/_sandbox/truth", truth),
            Route("/_sandbox/requests", requests_log, methods=["GET", "DELETE"]),
            Route("/_sandbox/credits", credit_table),
            Route("/_sandbox/expire-scrolls", expire_scrolls, methods=["POST"]),
            Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/config", configure, methods=["POST"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
    )


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _server(config: SandboxConfig, on_ready: Callable[[], None]) -> _Server:
    uv_config = uvicorn.Config(
        create_app(config), log_level="warning", access_log=False, lifespan="off"
    )
    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    return _Server(uv_config, on_ready)


def run_in_thread(
    config: SandboxConfig, port: int = 0, host: str = "127.0.0.1"
) -> tuple[str, Callable[[], None]]:
    """Start the sandbox in a daemon thread; returns its base URL and a blocking stop function."""
    sock = _bind(host, port)
    ready = threading.Event()
    server = _server(config, ready.set)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True
    )
    thread.start()
    while not ready.wait(0.05):
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("sandbox server failed to start")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://{host}:{sock.getsockname()[1]}", stop


@contextmanager
def serve(config: SandboxConfig, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the sandbox for the duration of a with-block and yield its base URL."""
    base_url, stop = run_in_thread(config, port, host)
    try:
        yield base_url
    finally:
        stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tap-pinterest-ads-sandbox", description="Local WinningHunter Pinterest ads API."
    )
    defaults = SandboxConfig()
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--ads", type=int, default=defaults.ads, help="ads at the initial clock")
    parser.add_argument("--rate-limit", type=int, default=defaults.rate_limit_per_minute)
    parser.add_argument("--credits", type=int, default=defaults.monthly_credits)
    parser.add_argument("--scroll-ttl", type=float, default=defaults.scroll_ttl_seconds)
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
    args = parser.parse_args(argv)
    config = SandboxConfig(
        seed=args.seed,
        ads=args.ads,
        rate_limit_per_minute=args.rate_limit,
        monthly_credits=args.credits,
        scroll_ttl_seconds=args.scroll_ttl,
        latency_ms=args.latency_ms,
    )
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror}")
    port = sock.getsockname()[1]

    def announce() -> None:
        sys.stdout.write(f"sandbox listening on http://{args.host}:{port} (seed {args.seed})\n")
        sys.stdout.flush()

    with suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after shutting down cleanly
        _server(config, announce).run(sockets=[sock])


if __name__ == "__main__":
    main()
