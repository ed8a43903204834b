"""HTTP pieces both API families and the control routes share."""

from __future__ import annotations

import email.utils
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import FAMILIES, FAULT_KINDS, Outcome

DROP_MESSAGE = "ASGI callable returned without completing response."


class TruncatedResponse(Response):
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


class HideDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != DROP_MESSAGE


def respond(outcome: Outcome, fault: dict[str, Any] | None) -> Response:
    if fault and fault["kind"] == "drop":
        return TruncatedResponse(json.dumps(outcome.body).encode())
    return JSONResponse(outcome.body, outcome.status, headers=outcome.headers)


async def json_body(request: Request) -> dict[str, Any]:
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


def non_negative(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise HTTPException(400, f"'{name}' must be a non-negative number")
    return float(value)


def checked(action: Callable[[], Any], status: int = 400) -> Any:
    """The action's result, or its ValueError as an HTTP error with the same message."""
    try:
        return action()
    except ValueError as exc:
        raise HTTPException(status, str(exc)) from None


def parse_fault(spec: object) -> dict[str, Any]:
    if not isinstance(spec, dict) or spec.get("kind") not in FAULT_KINDS:
        raise HTTPException(400, f"Each fault needs a kind in {list(FAULT_KINDS)}")
    fault: dict[str, Any] = {"kind": spec["kind"]}
    if "family" in spec:
        if spec["family"] not in FAMILIES:
            raise HTTPException(400, f"A fault's 'family' must be one of {list(FAMILIES)}")
        fault["family"] = spec["family"]
    if "path" in spec:
        if not isinstance(spec["path"], str) or not spec["path"].startswith("/"):
            raise HTTPException(400, "A fault's 'path' must be a path prefix such as /v5/oauth")
        fault["path"] = spec["path"]
    if fault["kind"] == "429":
        fault["retry_after"] = int(non_negative(spec, "retry_after", 1))
    if fault["kind"] == "timeout":
        fault["seconds"] = non_negative(spec, "seconds", 3)
    if fault["kind"] == "redirect":
        to = spec.get("to")
        if not isinstance(to, str) or not to.startswith(("http://", "https://")):
            raise HTTPException(400, "A redirect fault needs 'to', an http(s) origin")
        fault["to"] = to.rstrip("/")
    return fault


class ClockDate:
    """Every answer's `Date` is the sandbox's clock, not the machine's, as a real API's is its
    own: clients that take "today" from the API (the v5 analytics windows) see the sandbox's
    day. uvicorn's own Date header is off (`date_header=False`)."""

    def __init__(self, app: ASGIApp, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = email.utils.format_datetime(self.clock(), usegmt=True).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, stamped)
