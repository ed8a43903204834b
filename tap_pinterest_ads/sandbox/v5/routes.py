"""The v5 family's routes (mounted at ``/v5``): OAuth and every list the tap's streams read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..http import respond
from ..state import Outcome, Sandbox
from . import analytics, pages, reports
from .data import Account, Row
from .pages import ApiError, Params, invalid, one, paginate
from .state import V5State, loggable, token_id

PREFIX = "/v5"
FAMILY = "v5"
FORBIDDEN = "You are not permitted to access that resource."
NO_CATALOG = "Can't access this feature without an existing catalog."
PRIVACY = {
    "ALL": ("PUBLIC", "PROTECTED", "SECRET"),
    "PUBLIC": ("PUBLIC",),
    "PROTECTED": ("PROTECTED",),
    "SECRET": ("SECRET",),
    "PUBLIC_AND_SECRET": ("PUBLIC", "SECRET"),
}

Handler = Callable[[Params, dict[str, str]], Any]  # a JSON object, or a list for analytics


class Api:
    """The handlers: each turns (query, path parameters) into a body or raises ApiError."""

    def __init__(self, v5: V5State) -> None:
        self.v5 = v5

    def _page(self, rows: Iterable[Row], params: Params, **options: Any) -> dict[str, Any]:
        return paginate(rows, params, self.v5.quirks["default_order"], **options)

    def _account(self, account_id: str | None) -> Account:
        if account_id is None or not pages.DIGITS.match(account_id):
            raise ApiError(400, 400, "Invalid ad account id")
        account = self.v5.universe.account(account_id)
        if account is None:
            raise ApiError(404, 2, "AdAccount not found.")
        if not account.readable:
            raise ApiError(403, 29, FORBIDDEN)
        return account

    def _table(self, path: dict[str, str], kind: str) -> list[Row]:
        account = self._account(path["ad_account_id"])
        return self.v5.universe.tables[account.row["id"]][kind]

    def ad_accounts(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        shared = pages.boolean(params, "include_shared_accounts", True)
        rows = [a.row for a in self.v5.universe.accounts if a.owned or shared]
        return self._page(rows, params, ordered=False)

    def ad_account(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._account(path["ad_account_id"]).row

    def _entities(
        self, params: Params, path: dict[str, str], kind: str, filters: dict[str, str]
    ) -> dict[str, Any]:
        """`filters`: each id-list parameter this list takes and the row field it matches."""
        rows = self._table(path, kind)
        wanted = pages.statuses(params)
        sent = {name: pages.id_filter(params, name) for name in filters}
        given = {name: ids for name, ids in sent.items() if ids is not None}
        if len(given) > 1:
            raise invalid(f"Provide only one of {list(filters)}, not {sorted(given)}")
        for name, ids in given.items():
            rows = [r for r in rows if r[filters[name]] in ids]
        return self._page([r for r in rows if r["status"] in wanted], params)

    def campaigns(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._entities(params, path, "campaigns", {"campaign_ids": "id"})

    def ad_groups(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        filters = {"campaign_ids": "campaign_id", "ad_group_ids": "id"}
        return self._entities(params, path, "ad_groups", filters)

    def ads(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        filters = {"campaign_ids": "campaign_id", "ad_group_ids": "ad_group_id", "ad_ids": "id"}
        return self._entities(params, path, "ads", filters)

    def audiences(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        rows = self._table(path, "audiences")
        ownership = pages.enum_values(params, "ownership_type", ("OWNED", "RECEIVED")) or ["OWNED"]
        return self._page(rows if ownership[-1] == "OWNED" else [], params)

    def customer_lists(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._page(self._table(path, "customer_lists"), params)

    def keywords(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        account_id = path["ad_account_id"]
        rows = self._table(path, "keywords")
        groups = self.v5.universe.tables[account_id]["ad_groups"]
        campaign_id = pages.single_id(params, "campaign_id")
        group_id = pages.single_id(params, "ad_group_id")
        group_ids = pages.id_filter(params, "ad_group_ids")
        beta = self.v5.quirks["keyword_ad_group_ids"]
        if group_ids is not None and beta == "refused":
            raise pages.invalid("Parameter 'ad_group_ids' is not available for this user")
        if beta == "ignored":
            group_ids = None
        if campaign_id is not None:
            parents = {g["id"] for g in groups if g["campaign_id"] == campaign_id}
        elif group_id is not None or group_ids is not None:
            parents = {group_id} if group_id is not None else set(group_ids or ())
        else:
            parents = {account_id}  # unfiltered: only keywords set on the ad account itself
        rows = [r for r in rows if r["parent_id"] in parents]
        match = pages.enum_values(
            params, "match_types", ("BROAD", "PHRASE", "EXACT", "EXACT_NEGATIVE", "PHRASE_NEGATIVE")
        )
        if match is not None:
            rows = [r for r in rows if r["match_type"] in match]
        return self._page(rows, params, maximum=None, ordered=False)

    def conversion_tags(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        rows = self._table(path, "conversion_tags")
        if pages.boolean(params, "filter_deleted", False):
            rows = [r for r in rows if r["status"] != "ARCHIVED"]
        return {"items": rows}  # not paginated

    def _catalogs(self, params: Params, kind: str) -> list[Row]:
        """The catalogs side of the ad account named (Business Access), else the user's own."""
        account_id = one(params, "ad_account_id")
        if account_id is None:
            account_id = self.v5.universe.accounts[0].row["id"]
        owned = self.v5.universe.catalogs[self._account(account_id).row["id"]]
        if kind == "product_groups" and not owned["catalogs"]:
            raise ApiError(409, 4182, NO_CATALOG)
        return owned[kind]

    def catalogs(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._page(self._catalogs(params, "catalogs"), params, ordered=False)

    def feeds(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        rows = self._catalogs(params, "feeds")
        catalog_id = pages.single_id(params, "catalog_id")
        if catalog_id is not None:
            rows = [r for r in rows if self.v5.universe.feed_catalog[r["id"]] == catalog_id]
        return self._page(rows, params, ordered=False)

    def product_groups(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        rows = self._catalogs(params, "product_groups")
        ids = pages.id_filter(params, "id", 1000)
        for name, value in (
            ("catalog_id", pages.single_id(params, "catalog_id")),
            ("feed_id", pages.single_id(params, "feed_id")),
        ):
            rows = [r for r in rows if value is None or r.get(name) == value]
        rows = [r for r in rows if ids is None or r["id"] in ids]
        body = self._page(rows, params, ordered=False)
        if self.v5.quirks["product_group_time"] == "ms":
            stamps = ("created_at", "updated_at")
            body["items"] = [{**r, **{k: r[k] * 1000 for k in stamps}} for r in body["items"]]
        return body

    def _business(self, params: Params) -> None:
        account_id = one(params, "ad_account_id")
        if account_id is not None:
            self._account(account_id)

    def boards(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        self._business(params)
        privacy = pages.enum_values(params, "privacy", tuple(PRIVACY)) or ["ALL"]
        shown = PRIVACY[privacy[-1]]
        rows = [b for b in self.v5.universe.boards if b["privacy"] in shown]
        return self._page(rows, params, ordered=False)

    def _board(self, board_id: str, message: str) -> Row:
        board = next((b for b in self.v5.universe.boards if b["id"] == board_id), None)
        if board is None:
            raise ApiError(404, 404, message)
        return board

    def sections(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        self._business(params)
        board = self._board(path["board_id"], "Board not found.")
        return self._page(self.v5.universe.sections[board["id"]], params, ordered=False)

    def board_pins(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        self._business(params)
        board = self._board(path["board_id"], "Board not found.")
        rows = [p for p in self.v5.universe.pins if p["board_id"] == board["id"]]
        kinds = pages.listed(params, "creative_types")
        rows = [p for p in rows if not kinds or p["creative_type"] in kinds]
        return self._page(rows, params, ordered=False)

    def section_pins(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        self._business(params)
        board = self._board(path["board_id"], "Board or section not found.")
        section_ids = {s["id"] for s in self.v5.universe.sections[board["id"]]}
        if path["section_id"] not in section_ids:
            raise ApiError(404, 404, "Board or section not found.")
        rows = [p for p in self.v5.universe.pins if p["board_section_id"] == path["section_id"]]
        return self._page(rows, params, ordered=False)

    def user_account(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        self._business(params)
        return self.v5.universe.user_account()

    # -- analytics ---------------------------------------------------------------------------
    def _analytics(self, params: Params, path: dict[str, str], level: str) -> list[dict[str, Any]]:
        account = self._account(path["ad_account_id"])
        tree = self.v5.tree(account.row["id"])
        universe, hours = self.v5.universe, self.v5.quirks["hour_date"]
        return analytics.sync_analytics(params, tree, level, universe, hours)

    def account_analytics(self, params: Params, path: dict[str, str]) -> list[dict[str, Any]]:
        return self._analytics(params, path, "AD_ACCOUNT")

    def campaign_analytics(self, params: Params, path: dict[str, str]) -> list[dict[str, Any]]:
        return self._analytics(params, path, "CAMPAIGN")

    def ad_group_analytics(self, params: Params, path: dict[str, str]) -> list[dict[str, Any]]:
        return self._analytics(params, path, "AD_GROUP")

    def ad_analytics(self, params: Params, path: dict[str, str]) -> list[dict[str, Any]]:
        return self._analytics(params, path, "AD")

    def _targeting(self, params: Params, path: dict[str, str], level: str) -> dict[str, Any]:
        account = self._account(path["ad_account_id"])
        tree = self.v5.tree(account.row["id"])
        today = analytics.today_of(self.v5.universe)
        return reports.targeting_analytics(params, tree, level, today, self.v5.quirks)

    def account_targeting(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._targeting(params, path, "AD_ACCOUNT")

    def campaign_targeting(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._targeting(params, path, "CAMPAIGN")

    def ad_group_targeting(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._targeting(params, path, "AD_GROUP")

    def ad_targeting(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return self._targeting(params, path, "AD")

    def metrics_ready(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        return analytics.metrics_ready(params, self.v5.universe)

    def get_report(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        account = self._account(path["ad_account_id"])
        token = one(params, "token")
        if not token:
            raise invalid("Missing required parameter 'token'")
        config = self.v5.config
        return self.v5.reports.status(
            account.row["id"],
            token,
            config.report_polls,
            config.report_ttl_seconds,
            config.report_url_ttl_seconds,
            path["downloads"],
        )

    def create_report(self, body: Any, path: dict[str, str]) -> dict[str, Any]:
        account = self._account(path["ad_account_id"])
        account_id = account.row["id"]
        return self.v5.reports.create(
            account_id,
            self.v5.tree(account_id),
            body,
            analytics.today_of(self.v5.universe),
            self.v5.config.report_fail_rate,
            self.v5.quirks,
        )

    def user_analytics(self, params: Params, path: dict[str, str]) -> dict[str, Any]:
        self._business(params)
        return analytics.user_account_analytics(
            params, self.v5.sandbox.config.seed, self.v5.universe
        )


def _params(request: Request) -> Params:
    params: Params = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def routes(sandbox: Sandbox, v5: V5State) -> list[Route]:
    api = Api(v5)

    async def serve(
        request: Request,
        answer: Callable[[Params], Outcome],
        token_call: dict[str, Any] | None = None,
    ) -> Response:
        """Bearer check and rate window (not for the token call), fault, answer, log.
        `token_call`: what the log keeps of a token call (never a value), and the refresh
        token an echo_key fault echoes."""
        params = _params(request)
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        secret = token_call.pop("secret") if token_call else bearer
        epoch = sandbox.epoch
        path = request.url.path
        analytics_call = path.endswith(("/reports", "_analytics", "/metrics_ready_state")) or (
            path.endswith("/analytics") and not path.endswith("/user_account/analytics")
        )
        if sandbox.config.latency_ms:
            await asyncio.sleep(sandbox.config.latency_ms / 1000)
        with sandbox.lock:
            outcome = v5.admit(bearer, analytics_call) if token_call is None else None
            fault = sandbox.next_fault(FAMILY, request.url.path) if outcome is None else None
        if outcome is None:
            if fault and fault["kind"] == "timeout":
                await asyncio.sleep(fault["seconds"])
            with sandbox.lock:
                query = request.url.query
                outcome = v5.injected(fault, path, query, secret or "") or answer(params)
        with sandbox.lock:
            if token_call is None and outcome.status != 302:
                v5.rate_headers(outcome, analytics_call)
            if sandbox.epoch == epoch:
                entry = {
                    "method": request.method,
                    "path": request.url.path,
                    "params": loggable(params),
                    "token_id": token_id(bearer) if bearer else None,
                    **(token_call or {}),
                }
                v5.record(entry, outcome, fault)
        return respond(outcome, fault)

    def downloads(request: Request) -> str:
        return str(request.base_url).rstrip("/") + PREFIX + reports.DOWNLOADS

    def endpoint(handler: Handler) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            def answer(params: Params) -> Outcome:
                try:
                    path = {**request.path_params, "downloads": downloads(request)}
                    body = handler(params, path)
                except ApiError as exc:
                    return Outcome(exc.status, exc.body)
                rows = len(body) if isinstance(body, list) else len(body.get("items", [body]))
                return Outcome(200, body, rows=rows)

            return await serve(request, answer)

        return run

    async def token(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        auth = request.headers.get("authorization", "")
        seen = {
            "form_fields": sorted(form),
            "basic_auth": auth[:6].lower() == "basic ",
            "continuous_refresh": form.get("continuous_refresh"),
            "secret": form.get("refresh_token", ""),
        }

        def answer(params: Params) -> Outcome:
            return v5.tokens.grant(
                auth, form, v5.config.token_ttl_seconds, v5.quirks["refused_grant_status"]
            )

        return await serve(request, answer, seen)

    async def create_report(request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None  # answered as a body that is not a JSON object

        def answer(params: Params) -> Outcome:  # the spec: no query parameters, so none read
            try:
                return Outcome(200, api.create_report(body, dict(request.path_params)))
            except ApiError as exc:
                return Outcome(exc.status, exc.body)

        return await serve(request, answer)

    async def download(request: Request) -> Response:
        """The report file at its pre-signed URL: no bearer (S3 refuses a second auth), no
        rate window, no faults; 403 once the URL has expired."""
        has_auth = "authorization" in request.headers
        with sandbox.lock:
            status, found = v5.reports.download(
                request.path_params["token"], request.path_params["key"], has_auth
            )
            switches = dict(v5.quirks)
            entry: dict[str, Any] = {"method": "GET", "path": request.url.path, "params": {}}
            v5.record({**entry, "authorization_sent": has_auth}, Outcome(status, {}), None)
        if isinstance(found, str):
            return Response(found, status, media_type="application/xml")
        media = "text/csv" if found.request.csv else "application/json"
        return StreamingResponse(reports.render(found, switches), media_type=media)

    account = "/ad_accounts/{ad_account_id}"
    board = "/boards/{board_id}"
    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/ad_accounts", endpoint(api.ad_accounts)),
        Route(account, endpoint(api.ad_account)),
        Route(f"{account}/analytics", endpoint(api.account_analytics)),
        Route(f"{account}/campaigns/analytics", endpoint(api.campaign_analytics)),
        Route(f"{account}/ad_groups/analytics", endpoint(api.ad_group_analytics)),
        Route(f"{account}/ads/analytics", endpoint(api.ad_analytics)),
        Route(f"{account}/targeting_analytics", endpoint(api.account_targeting)),
        Route(f"{account}/campaigns/targeting_analytics", endpoint(api.campaign_targeting)),
        Route(f"{account}/ad_groups/targeting_analytics", endpoint(api.ad_group_targeting)),
        Route(f"{account}/ads/targeting_analytics", endpoint(api.ad_targeting)),
        Route("/resources/metrics_ready_state", endpoint(api.metrics_ready)),
        Route(f"{account}/reports", endpoint(api.get_report)),
        Route(f"{account}/reports", create_report, methods=["POST"]),
        Route(reports.DOWNLOADS + "/{token}/{key}/{name}", download),
        Route(f"{account}/campaigns", endpoint(api.campaigns)),
        Route(f"{account}/ad_groups", endpoint(api.ad_groups)),
        Route(f"{account}/ads", endpoint(api.ads)),
        Route(f"{account}/audiences", endpoint(api.audiences)),
        Route(f"{account}/customer_lists", endpoint(api.customer_lists)),
        Route(f"{account}/keywords", endpoint(api.keywords)),
        Route(f"{account}/conversion_tags", endpoint(api.conversion_tags)),
        Route("/catalogs", endpoint(api.catalogs)),
        Route("/catalogs/feeds", endpoint(api.feeds)),
        Route("/catalogs/product_groups", endpoint(api.product_groups)),
        Route("/boards", endpoint(api.boards)),
        Route(f"{board}/sections", endpoint(api.sections)),
        Route(f"{board}/pins", endpoint(api.board_pins)),
        Route(f"{board}/sections/{{section_id}}/pins", endpoint(api.section_pins)),
        Route("/user_account", endpoint(api.user_account)),
        Route("/user_account/analytics", endpoint(api.user_analytics)),
    ]
