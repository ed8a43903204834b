"""Control routes for the v5 family, mounted at ``/_sandbox/v5`` (no auth, no rate limit)."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http import checked, json_body, non_negative
from ..state import Sandbox
from . import analytics
from .data import STATUSES, Row
from .pages import ApiError, listed
from .state import TUNABLE, V5State

# Truth per stream name (the tap's names): every row a complete read should give.
ENTITIES = (
    "ad_accounts",
    "campaigns",
    "ad_groups",
    "ads",
    "audiences",
    "customer_lists",
    "keywords",
    "conversion_tags",
    "catalogs",
    "catalogs_feeds",
    "catalogs_product_groups",
    "boards",
    "board_sections",
    "board_pins",
    "board_section_pins",
    "user_account",
)
CATALOG_TABLE = {
    "catalogs": "catalogs",
    "catalogs_feeds": "feeds",
    "catalogs_product_groups": "product_groups",
}


def truth(v5: V5State, entity: str, params: dict[str, list[str]]) -> list[Row]:
    universe = v5.universe
    wanted = listed(params, "ad_account_id")
    accounts = [
        a.row["id"] for a in universe.accounts if (a.row["id"] in wanted if wanted else a.readable)
    ]
    if entity == "ad_accounts":
        return [a.row for a in universe.accounts if a.row["id"] in accounts]
    if entity in CATALOG_TABLE:
        rows = [r for aid in accounts for r in universe.catalogs[aid][CATALOG_TABLE[entity]]]
        if entity == "catalogs_product_groups" and v5.quirks["product_group_time"] == "ms":
            rows = [
                {**r, "created_at": r["created_at"] * 1000, "updated_at": r["updated_at"] * 1000}
                for r in rows
            ]
        return rows
    if entity == "boards":
        return list(universe.boards)
    if entity == "board_sections":
        return [{**s, "board_id": b} for b, sections in universe.sections.items() for s in sections]
    if entity in ("board_pins", "board_section_pins"):
        section = entity == "board_section_pins"
        return [p for p in universe.pins if p["board_section_id"] or not section]
    if entity == "user_account":
        return [universe.user_account()]
    rows = [r for aid in accounts for r in universe.tables[aid][entity]]
    statuses = set(listed(params, "entity_statuses") or STATUSES)
    return [
        r
        for r in rows
        if r.get("status", "ACTIVE") in statuses or entity not in ("campaigns", "ad_groups", "ads")
    ]


def routes(sandbox: Sandbox, v5: V5State) -> list[Route]:
    async def state(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse(v5.state())

    async def entity_truth(request: Request) -> Response:
        entity = request.path_params["entity"]
        if entity not in ENTITIES:
            raise HTTPException(404, f"Unknown entity '{entity}'; known: {list(ENTITIES)}")
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        with sandbox.lock:
            rows = sorted(truth(v5, entity, params), key=lambda r: int(r["id"]))
            return JSONResponse({"ids": [r["id"] for r in rows], "items": rows})

    async def analytics_truth(request: Request) -> Response:
        """What the sync endpoint of that level would answer for any range (no 90-day or
        250-id rule, no auth); ids default to every object of the level in the account."""
        level = request.path_params["level"].upper()
        if level not in analytics.LEVELS:
            raise HTTPException(404, f"Unknown level '{level}'; known: {list(analytics.LEVELS)}")
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        with sandbox.lock:
            account_id = (params.get("ad_account_id") or [""])[-1]
            if v5.universe.account(account_id) is None:
                raise HTTPException(400, "'ad_account_id' must name an ad account of the sandbox")
            tree = v5.tree(account_id)
            try:
                hours = v5.quirks["hour_date"]
                rows = analytics.truth_rows(params, tree, level, v5.universe, hours)
            except ApiError as exc:
                raise HTTPException(exc.status, str(exc)) from None
            return JSONResponse({"rows": rows})

    async def tokens(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse(v5.tokens.state())

    async def expire_tokens(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse({"expired": v5.tokens.expire_access()})

    async def revoke_tokens(request: Request) -> Response:
        with sandbox.lock:
            v5.tokens.revoke_refresh()
            return JSONResponse(v5.tokens.state())

    async def requests_log(request: Request) -> Response:
        with sandbox.lock:
            if request.method == "DELETE":
                v5.log.clear()
            return JSONResponse({"requests": list(v5.log)})

    async def configure(request: Request) -> Response:
        data = await json_body(request)
        unknown = sorted(set(data) - set(TUNABLE))
        if unknown:
            raise HTTPException(400, f"Unknown config keys {unknown}; allowed: {list(TUNABLE)}")
        values: dict[str, Any] = {name: TUNABLE[name](non_negative(data, name, 0)) for name in data}
        if values.get("report_fail_rate", 0) > 1:
            raise HTTPException(400, "'report_fail_rate' must be between 0 and 1")
        with sandbox.lock:
            for name, value in values.items():
                setattr(v5.config, name, value)
            return JSONResponse({name: getattr(v5.config, name) for name in TUNABLE})

    async def quirk_switches(request: Request) -> Response:
        data = await json_body(request) if request.method == "POST" else {}
        with sandbox.lock:
            return JSONResponse(checked(lambda: v5.set_quirks(data)))

    return [
        Route("/state", state),
        Route("/truth/{entity}", entity_truth),
        Route("/analytics/{level}", analytics_truth),
        Route("/tokens", tokens),
        Route("/expire-tokens", expire_tokens, methods=["POST"]),
        Route("/revoke-tokens", revoke_tokens, methods=["POST"]),
        Route("/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/config", configure, methods=["POST"]),
        Route("/quirks", quirk_switches, methods=["GET", "POST"]),
    ]
