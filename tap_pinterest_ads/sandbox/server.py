"""Local imitation of the two APIs the tap reads, for developing and testing it: WinningHunter's
Pinterest ad library (``/api/v1``, router in ad_library.py) and Pinterest API v5 (``/v5``,
package v5/), served by one process with one clock, one fault queue and these control routes.

Run: ``tap-pinterest-ads-sandbox --port 8765 --seed 42`` (or ``python -m
tap_pinterest_ads.sandbox.server``). Any key starting with ``wh_`` works; ``wh_basic_plan``,
``wh_free_plan``, ``wh_upgrade`` and ``wh_no_credits`` trigger the plan and credit errors.
Flags: ``--seed --ads --rate-limit --credits --scroll-ttl --latency-ms --fault-rate --fault-seed``,
``--start`` (the clock at startup: an ISO date or time, UTC, or ``today`` for today's UTC midnight;
default 2026-09-01) and ``--quirk NAME=VALUE`` (repeatable; VALUE is read as JSON, else a string);
for v5 ``--v5-rate-limit`` (per minute, default 1000), ``--v5-token-ttl`` (seconds, default 3600),
``--v5-quirk NAME=VALUE``; ``--v5-accounts A --v5-campaigns C --v5-ads N`` (together: A ad
accounts, all owned and readable, no forbidden one, each with C campaigns and exactly N ads at the
start; default: the mix described below), ``--v5-analytics-rate-limit`` (the ads_analytics calls a
minute, default 0: none beyond ``--v5-rate-limit``), ``--v5-report-polls`` (polls that see
IN_PROGRESS, default 2), ``--v5-report-fail-rate`` (0..1, default 0) and ``--v5-report-url-ttl``
(seconds, default 300). The v5 part is described after the ad-library part below.

API (metered, auth via ``X-API-Key``, ``Authorization: Bearer`` or ``?api_key=``, looked at in
that order):
    GET  /api/v1/pinterest-ads      search, paged with ``page`` or the ``scroll`` token
    GET  /api/v1/credits            credit balance (costs 1 credit, like the real one)

Control routes (no auth, no credits, no rate limit):
    POST   /_sandbox/advance        {"days": 1} or {"hours": 6}: move the clock, find new ads
    GET    /_sandbox/state          clock, seed, ad count, rate limit, scroll generation,
                                    hostile row count
    GET    /_sandbox/truth?...      {"ids", "total", "idless"}: every id a complete walk of these
                                    filters should return, in order; id-less rows only counted
    GET    /_sandbox/requests       request log; DELETE clears it. Never holds a key: each entry
                                    has key_id (a hash), key_in_query (an ``api_key`` parameter
                                    was sent, used or not) and auth_via ("x-api-key", "bearer",
                                    "query" or null: the credential the server used)
    GET    /_sandbox/credits        credits used per key id
    POST   /_sandbox/expire-scrolls invalidate every outstanding scroll token
    POST   /_sandbox/faults         {"faults": [{"kind": K, ...}]}: queued, one per admitted API
                                    request, ahead of random faults; GET lists, DELETE clears.
                                    Optional "family" ("ad_library" or "v5") and "path" (a
                                    path prefix, e.g. "/v5/oauth/token"): the fault waits for
                                    the first request that matches; the others pass it by.
                                    K: "429" (+"retry_after", default 1), "500", "503" (neither
                                    charged), "timeout" (+"seconds", default 3: a late but
                                    normal answer), "drop" (half a body, then the socket
                                    closes), "expire_scroll" (the scroll error), "redirect"
                                    (+"to": an http(s) origin; 302 with ``Location: <to><path>
                                    ?<query as received>``, no charge), "echo_key" (400
                                    ``Invalid API key '<key exactly as received>' for this
                                    endpoint``, no charge: an API that echoes what it got),
                                    "pass" (a normal answer: puts the next fault later)
    POST   /_sandbox/config         change rate_limit_per_minute, latency_ms, scroll_ttl_seconds,
                                    monthly_credits, fault_rate (0..1) or fault_seed; returns
                                    them all. With fault_rate > 0 each admitted API request
                                    draws from a RNG seeded by fault_seed (reseeded when either
                                    is set, and on reset) and gets, with that probability, one
                                    of 429 (retry_after 1) / 500 / 503 / timeout (2 s) / drop,
                                    or expire_scroll when it carries a scroll
    GET    /_sandbox/quirks         the quirk switches below; POST {"name": value, ...} sets
                                    some and returns all; 400 naming an unknown switch or value
    POST   /_sandbox/hostile        {"kind": K, "count": n} (1..60): n new ads with one defect
                                    each, found at distinct instants after every ad found so far
                                    and within the hour before the clock (about a minute apart;
                                    at least 60 fit per clock unless an ad was found in its last
                                    minute, else 409: advance the clock an hour), newest last;
                                    returns {"added": [id, or null for an id-less row]}.
                                    Deterministic from the seed and the call order. They are
                                    sorted and filtered by their true datefound, so they are the
                                    newest rows, and their engagement grows like any ad's.
                                    K: "future" (datefound "2099-01-01 00:00:00",
                                    and the server sorts by it too), "compact" (served as the
                                    string "YYYYMMDD" of its day), "compact_int" (the integer
                                    YYYYMMDD), "null_id" ("id": null), "missing_id" (no "id"
                                    key), "undated" (datefound null, sorted per undated_sort)
    POST   /_sandbox/reset          initial clock; empty log, credits and faults; no hostile
                                    rows; quirks, fault_rate and fault_seed as at startup (other
                                    config values stay as set)

Quirk switches, default first. Where the API docs are silent the default is an ASSUMPTION and
the other values serve the other plausible behaviours:
    date_fields         "present": every row carries ``datefound`` and ``lastseen``. ASSUMPTION:
                        the API page's own example row has neither. "absent": rows carry
                        neither key (the server still sorts and filters by them, so the order
                        for sorting=datefound is unchanged); "camel": spelled ``dateFound`` and
                        ``lastSeen``.
    undated_sort        "last": a datefound that does not parse sorts as the oldest. ASSUMPTION.
                        "first": as the newest.
    retry_after_header  true: every rate-limit 429 (real, queued or random) carries
                        ``Retry-After`` and a ``retry_after`` body field. ASSUMPTION: our notes
                        could not confirm either. false: neither.
    honour_page         true: the documented 0-based ``page`` offsets a request without
                        ``scroll``. ASSUMPTION: documented, never observed. false: ignored.
    scroll_error_status 400: both scroll errors ("Invalid or expired scroll token", "Scroll token
                        does not match current query filters") and the expire_scroll fault.
                        ASSUMPTION: the messages are documented, the status is not. 422: the
                        same bodies; 200: ``{"success": false, "error": <message>}``, no data.
                        Scroll errors keep their credit whatever the status.
    total_format        "number": ``total`` is a number, as the docs' example. "comma": a human
                        string such as "1,234".
    count_format        "number": likes/shares/comments are numbers, as the docs' example.
                        "human": strings on every row: "987" below 1000; from 1000 "1.2k" or
                        "12k" (truncated) on rows with an even id, "1,234" on odd ones.
                        Filters still compare the numbers.

Other assumptions the sandbox makes without a switch: the scroll token is bound to the filters
and expires (documented messages; TTL unknown, 300 s here); 1 credit per metered request,
errors with a JSON body keep their charge, 5xx and auth errors are free; ``total`` is capped at
10000; ``limit`` is honoured on the first request only.

Pinterest API v5 (``v5_api_url=http://127.0.0.1:N/v5``). Shapes, parameters and error bodies
follow the official spec 5.23.0 (tests/marketing/test_sandbox_v5_spec.py and
test_sandbox_v5_analytics_spec.py validate every answer against it).
Credentials: client id ``sandbox-client``, secret ``sandbox-secret``, first refresh token
``sandbox-refresh-0``; ``sandbox-access-0`` is a live access token from startup (for configs
that preset one). Reset restores all four.
    POST /v5/oauth/token            form body, HTTP Basic client credentials,
                                    grant_type=refresh_token, refresh_token=..., (continuous_refresh
                                    =true). 200 OauthAccessTokenResponseRefresh with a NEW access
                                    token (expires_in = token TTL) and a NEW refresh token (60-day
                                    window); the old refresh token dies. A dead or unknown refresh
                                    token: 400 {"code": 283, "message": "The authorization grant
                                    is invalid"}; bad client credentials: 401 {"code": 2, ...};
                                    another grant_type: 400 code 1. Not rate limited.
    GET /v5/ad_accounts             include_shared_accounts (default true), bookmark, page_size
    GET /v5/ad_accounts/{id}
    GET /v5/ad_accounts/{id}/campaigns     campaign_ids, entity_statuses, order, bookmark, page_size
    GET /v5/ad_accounts/{id}/ad_groups     + ad_group_ids (one id filter per request, else 400)
    GET /v5/ad_accounts/{id}/ads           + ad_ids
    GET /v5/ad_accounts/{id}/audiences     ownership_type (OWNED default; RECEIVED: none), order
    GET /v5/ad_accounts/{id}/customer_lists
    GET /v5/ad_accounts/{id}/keywords      campaign_id, ad_group_id, ad_group_ids, match_types;
                                    unfiltered: only keywords whose parent is the ad account
                                    (the spec's gotcha), so read them per ad group
    GET /v5/ad_accounts/{id}/conversion_tags   filter_deleted; not paginated ({"items"} only)
    GET /v5/catalogs, /v5/catalogs/feeds (catalog_id), /v5/catalogs/product_groups (catalog_id,
                                    feed_id, id): ad_account_id picks that account's catalogs,
                                    else the token user's (the first account's). Feeds carry
                                    ``credentials`` (username/password) as the real API does.
                                    Product groups of an account without a catalog: 409
                                    {"code": 4182, "message": "Can't access this feature without
                                    an existing catalog."}; feeds and catalogs: an empty page.
    GET /v5/boards                  privacy (ALL, PUBLIC, PROTECTED, SECRET, PUBLIC_AND_SECRET)
    GET /v5/boards/{id}/sections, /v5/boards/{id}/pins (creative_types),
        /v5/boards/{id}/sections/{sid}/pins: 404 {"code": 404, "message": "Board not found."}
                                    (or "Board or section not found.") for an unknown id
    GET /v5/user_account
    GET /v5/ad_accounts/{id}/analytics, …/campaigns/analytics (campaign_ids), …/ad_groups/analytics
        (ad_group_ids), …/ads/analytics (ad_ids, or campaign_ids with pin_ids): start_date,
        end_date, columns (comma-joined, from the spec's 175 sync columns), granularity (TOTAL,
        DAY, WEEK, MONTH, HOUR: start at most 8 days back, end at most 3 days after it; each
        day's delivery shared out exactly over its 24 UTC hours, no conversion metrics, as the
        spec says; dated per hour_date), click/engagement/view_window_days (0, 1, 7, 14, 30, 60),
        conversion_report_time, aggregate_report_rows (campaigns, ad groups), reporting_timezone
        (accepted, ignored). A bare list of rows: the id column (a string), DATE unless TOTAL
        (WEEK: its Monday; MONTH: its first day), the requested columns the sandbox models.
        Missing parameter, more than 250 ids (pin_ids: 100), a bad column or value: 400 code 1;
        start_date more than 90 days back: 400 {"code": 400, "message": "You can only get data
        from the last 90 days."}; end_date more than 90 days after start_date or before it: 400
        code 400. Rate window ads_analytics when --v5-analytics-rate-limit is set.
    GET /v5/ad_accounts/{id}/targeting_analytics, …/campaigns/targeting_analytics (campaign_ids),
        …/ad_groups/targeting_analytics (ad_group_ids), …/ads/targeting_analytics (ad_ids): the
        sync parameters plus targeting_types (required) and attribution_types. {"data":
        [{"targeting_type", "targeting_value", "metrics": {<id column>, DATE, columns}}]}; the
        id is a number, as in the spec's example (report_id_types "string": a string); each
        type's values share out the entity's counts exactly.
    GET /v5/resources/metrics_ready_state?date=  {"conversion_metrics_ready": the day is more
        than 30 days before the clock's, "non_conversion_metrics_ready": it is over}.
    GET /v5/user_account/analytics  start_date, end_date (same 90-day rules), metric_types,
        split_field (NO_SPLIT: "all"; APP_TYPE, OWNED_CONTENT, SOURCE, PIN_FORMAT: a key per
        value, summing exactly to "all"), app_types, from_claimed_content, source, pin_format
        (one exact share; ADS_* formats: 0), ad_account_id. The token user's organic numbers.
    POST /v5/ad_accounts/{id}/reports  JSON body per AdsAnalyticsCreateAsyncRequest: required
        start_date, end_date, granularity, level, columns (the 613 async columns); start at most
        914 days back, end - start at most 185 days (PRODUCT_ITEM: 92 and 30; HOUR: 8 and 3,
        start_hour/end_hour trim the first and last day); targeting_types
        (at most 5) only with a *_TARGETING level; id filters (at most 500), status filters (at
        most 6), objective types, the windows, conversion_report_time, attribution_types,
        report_format (JSON, CSV), primary_sort, metrics_filters, start/end_hour. Else 400 (code
        1, or 400 for a date rule). 200 {"token", "report_status": "IN_PROGRESS", "message":
        null}.
    GET /v5/ad_accounts/{id}/reports?token=  IN_PROGRESS for the first report_polls polls and
        until the file is built (a background pass sizes it), then FINISHED {"url", "size"}
        (a fresh URL on each poll, valid report_url_ttl_seconds) for report_ttl_seconds, then
        EXPIRED; FAILED for the deterministic share report_fail_rate of jobs (by job order);
        an unknown token or another account's: DOES_NOT_EXIST.
    GET /v5/_s3/pinterest-analytics-reports/{token}/{key}/report.json|csv?X-Amz-...  the file,
        as S3 serves it: no bearer (one sent: 400 XML InvalidArgument "Only one auth mechanism
        allowed"), no rate window, no faults; an expired URL: 403 XML AccessDenied "Request has
        expired". Generated again and streamed on each download. JSON: {"<entity id>": [rows]}
        (keys in id order, rows in date order), rows with DATE (unless TOTAL), the level's id
        column (ADVERTISER_ID, CAMPAIGN_ID, AD_GROUP_ID, PIN_PROMOTION_ID), TARGETING_TYPE and
        TARGETING_VALUE for targeting levels, the requested columns; a metric the entity lacks
        is left out (no zero-fill). CSV: a header row (DATE, id column, targeting columns, the
        requested ones), zero-filled; BY_DATE sorts rows by date. Both leave out all-zero rows.
        KEYWORD: a row set per keyword of an ad group (not negative ones), keyed and marked by
        KEYWORD_ID (ASSUMPTION: the spec has no such column), each keyword an exact share of its
        ad group's counts, the rest left to browse traffic. PRODUCT_GROUP and PRODUCT_ITEM
        levels: the sandbox promotes no product groups, so their files are empty.
Lists answer {"items": [...], "bookmark": str|null}; page_size 1..250, default 25, beyond: 400
{"code": 1, "message": "Parameter 'page_size' ..."} (keywords: the spec gives no maximum, so
more is served as 250). The bookmark holds the last id served, so a walk neither skips nor
repeats a row when objects change or arrive between pages; a garbled one: 400 code 1. Array
parameters are taken repeated (the spec's form style) or comma-joined. ``entity_statuses``
(ACTIVE, PAUSED, ARCHIVED, DRAFT, DELETED_DRAFT) defaults to ACTIVE and PAUSED, as the spec says.
Objects: 4 ad accounts (2 owned by the token user, 2 shared: include_shared_accounts=false hides
them); the last has permissions ["FINANCE_VIEW"] and every request under it (or naming it in
ad_account_id) answers 403 {"code": 29, "message": "You are not permitted to access that
resource."}; an unknown one 404 {"code": 2, "message": "AdAccount not found."}, a malformed one
400 {"code": 400, "message": "Invalid ad account id"}. About 350 campaigns, 700 ad groups, 2,700
ads (every status; archiving cascades), 1,300 keywords, audiences (``updated_timestamp``),
customer lists, conversion tags; catalogs with feeds and product groups on the first two
accounts (RETAIL ones and a HOTEL one, each with its type's fields), none on the other two; 12
boards with sections and about 250 pins. Entity times are unix seconds (``updated_time``),
catalog/board/pin times ISO 8601 with Z.
Every v5 request but the token call needs ``Authorization: Bearer <live access token>``: else 401
{"code": 2, "message": "Authentication failed."}. Then a sliding one-minute window of the token
user's requests (rejected ones count): past the limit, 429 {"code": 8, "message": "This request
exceeded a rate limit..."}. Then the shared fault queue and fault dice (each v5 request draws
like an ad-library one, the token call included; "family"/"path" aim a queued fault): 429 is
the code-8 answer with x-ratelimit-remaining 0 and x-ratelimit-reset = retry_after; 500/503
answer {"code": 500|503, "message": ...}; timeout, drop, redirect as for the ad library;
echo_key answers 401 with the bearer token (the token call: the refresh token) in its message;
expire_scroll and pass answer normally.
v5 control routes (under /_sandbox/v5):
    GET    /state                   account ids (all, owned, forbidden, without catalogs), counts
                                    per entity, updated/added by advances, rate limit, token TTL
    GET    /truth/{stream}          {"ids", "items"}: every row of that tap stream (ad_accounts,
                                    campaigns, ad_groups, ads, audiences, customer_lists,
                                    keywords, conversion_tags, catalogs, catalogs_feeds,
                                    catalogs_product_groups, boards, board_sections (+board_id),
                                    board_pins, board_section_pins, user_account) in id order as
                                    served; ad_account_id (repeatable; default every readable
                                    account), entity_statuses (default all five)
    GET    /tokens                  live refresh tokens, live access tokens, refreshes, refused
                                    grants, bad client calls, refreshes without continuous_refresh
    POST   /expire-tokens           every access token expires now (the next call gets 401)
    POST   /revoke-tokens           every refresh token dies (the next refresh gets 283)
    GET    /requests                v5 request log (token_id hash, form field names; no token);
                                    DELETE clears it
    POST   /config                  rate_limit_per_minute, token_ttl_seconds,
                                    analytics_rate_limit_per_minute (0: none), report_polls,
                                    report_fail_rate (0..1), report_url_ttl_seconds,
                                    report_ttl_seconds; returns them all
    GET    /analytics/{level}       {"rows"}: what the sync endpoint of that level (ad_account,
                                    campaign, ad_group, ad) answers, for any range and without
                                    the 250-id rule or auth: ad_account_id (required),
                                    start_date, end_date, columns, granularity, the windows,
                                    conversion_report_time, ids (default: every object)
    GET    /quirks                  the v5 switches below; POST sets some, returns all
/_sandbox/advance moves the v5 objects too: per day about 3% of campaigns and ad groups, 2% of
ads and 5% of audiences get a new update time (ACTIVE and PAUSED ones swap status), each
account gets 1.5 new campaigns (with ad groups, ads and keywords) and the boards 3 new pins.
/_sandbox/reset restores the v5 universe, tokens, log, windows, report jobs and switches too
(config stays).
Metrics: every ad has a daily vector of counts (impressions, clicks, outbound clicks, saves,
engagements, spend in micro-currency, web sessions; video views and quartiles for VIDEO ads;
checkouts, signups, leads, add-to-carts, page visits by click, engagement and view, with
checkout and signup values, for campaigns whose objective is WEB_CONVERSION, CATALOG_SALES or
CONSIDERATION), a hash of (seed, ad id, day) computed on demand. An ad group, campaign or ad
account is the exact sum of its ads; ratios (CTR, CPC, CPM, ROAS, rates) and *_IN_DOLLAR
amounts are derived from the sums; *_MICRO_DOLLAR values are integers in the account currency.
A metric an entity lacks (video, conversions) or the sandbox does not model is left out, not 0.
An ad delivers from its campaign's start (or its creation) to the campaign's end or yesterday
(the clock's day is not reported yet); drafts and ads not APPROVED never do. Campaigns at the
start were created over the last 915 days. Conversions are attributed to the day of the ad
action (TIME_OF_AD_ACTION) and keep arriving for their window: 55% on the day, the rest by
sqrt(lag/window), so a past day grows as /_sandbox/advance moves the clock; with
TIME_OF_CONVERSION they land on the day they happen and a past day never changes. Windows scale
conversions (click/engagement 30 days = 1, view 1 day = 1).
v5 quirk switches, default first (ASSUMPTION where the spec and our notes are silent):
    ratelimit_headers     true: every v5 answer but the token call's and a redirect carries
                          x-ratelimit-limit ("L, L;w=60"), -remaining and -reset (seconds), the
                          style seen on real answers (the spec defines none). false: none.
    refused_grant_status  400: the code-283 refusal's status. ASSUMPTION (a third party saw
                          400 or 401); 401.
    default_order         "ASCENDING": by id when a list is asked without ``order`` (and always for
                          lists without that parameter). ASSUMPTION; "DESCENDING".
    product_group_time    "s": product groups' created_at/updated_at in seconds, as described.
                          ASSUMPTION (the spec's example looks like ms); "ms".
    report_id_types       "mixed": in report files CAMPAIGN_ID, ADVERTISER_ID, PIN_ID and
                          PIN_PROMOTION_ID are numbers, AD_ACCOUNT_ID, AD_GROUP_ID and AD_ID
                          strings, as Airbyte's report schemas type them. ASSUMPTION (the spec
                          does not describe the file); "string": every id a string.
    hour_date             "date_and_hour": an hourly row (sync, targeting, report) has DATE
                          (YYYY-MM-DD, as the spec's format says) and HOUR (0..23).
                          ASSUMPTION (the spec shows no hourly row); "datetime": DATE is
                          "YYYY-MM-DD HH:00:00" and there is no HOUR.
    report_targeting_columns "upper": targeting report rows carry TARGETING_TYPE and
                          TARGETING_VALUE. ASSUMPTION (not documented); "lower": targeting_type
                          and targeting_value, the keys of the sync targeting_analytics answer.
Other v5 assumptions: summary_status follows the clock (RUNNING, NOT_STARTED, COMPLETED) without
moving updated_time, being derived; conversion tags' filter_deleted drops ARCHIVED ones; boards
without ``privacy`` list all three kinds; keywords are never archived in a list (archiving
deletes one); pin_metrics is always null; the bookmark is not bound to the filters; the codes
and messages of bad client credentials, an unknown or malformed ad account, a bad parameter and
500/503 (the spec gives their shape, {"code", "message"}, not always their values); for
analytics and reports: the codes and messages of their 400s other than the 90-day one (from
Pinterest's and Airbyte's material), DOES_NOT_EXIST for an unknown token, the report file's
layout beyond "keyed by entity id" (see the switches), the targeting values, the default
breakdown of a targeting report sent without targeting_types (APPTYPE, GENDER, AGE_BUCKET,
COUNTRY), WEEK rows dated by their Monday.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, time

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from . import ad_library, hostile, quirks
from .data import UTC
from .http import ClockDate, HideDrops, checked, json_body, non_negative, parse_fault
from .state import TUNABLE, Sandbox, SandboxConfig, iso
from .v5 import controls as v5_controls
from .v5 import routes as v5_routes
from .v5.data import Size
from .v5.state import QUIRKS as V5_QUIRKS
from .v5.state import V5Config, V5State

__all__ = ["SandboxConfig", "V5Config", "create_app", "main", "run_in_thread", "serve"]


def create_app(config: SandboxConfig, v5_config: V5Config | None = None) -> Starlette:
    sandbox = Sandbox(config)
    with sandbox.lock:
        sandbox.universe.ads()  # build the initial universe before the first request
    v5 = V5State(sandbox, v5_config or V5Config())  # its universe is built on first use

    async def advance(request: Request) -> Response:
        data = await json_body(request)
        days = non_negative(data, "days", 0 if "hours" in data else 1)
        hours = non_negative(data, "hours", 0)
        with sandbox.lock:
            added = sandbox.advance(days, hours)
            v5.advance(sandbox.universe.now)
            return JSONResponse(
                {"now": iso(sandbox.universe.now), "ads": sandbox.universe.count(), "added": added}
            )

    async def state(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse(sandbox.state())

    async def truth(request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if k != "api_key"}
        with sandbox.lock:
            outcome = sandbox.truth(params)
            return JSONResponse(outcome.body, outcome.status)

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
        data = await json_body(request) if request.method == "POST" else {}
        queued = data.get("faults", [])
        if not isinstance(queued, list):
            raise HTTPException(400, "'faults' must be a list")
        parsed = [parse_fault(f) for f in queued]
        with sandbox.lock:
            if request.method == "DELETE":
                sandbox.faults.clear()
            sandbox.faults.extend(parsed)
            return JSONResponse({"faults": list(sandbox.faults)})

    async def configure(request: Request) -> Response:
        data = await json_body(request)
        unknown = sorted(set(data) - set(TUNABLE))
        if unknown:
            raise HTTPException(400, f"Unknown config keys {unknown}; allowed: {list(TUNABLE)}")
        values = {name: TUNABLE[name](non_negative(data, name, 0)) for name in data}
        if values.get("fault_rate", 0) > 1:
            raise HTTPException(400, "'fault_rate' must be between 0 and 1")
        with sandbox.lock:
            for name, value in values.items():
                setattr(sandbox.config, name, value)
            if {"fault_rate", "fault_seed"} & set(values):
                sandbox.reseed()
            return JSONResponse({name: getattr(sandbox.config, name) for name in TUNABLE})

    async def quirk_switches(request: Request) -> Response:
        data = await json_body(request) if request.method == "POST" else {}
        with sandbox.lock:
            return JSONResponse(checked(lambda: sandbox.set_quirks(data)))

    async def add_hostile(request: Request) -> Response:
        data = await json_body(request)
        kind, count = data.get("kind"), data.get("count", 1)
        if kind not in hostile.KINDS:
            raise HTTPException(400, f"'kind' must be one of {list(hostile.KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= hostile.SLOTS:
            raise HTTPException(400, f"'count' must be an integer from 1 to {hostile.SLOTS}")
        with sandbox.lock:
            added = checked(lambda: sandbox.add_hostile(kind, count), 409)
            return JSONResponse({"added": added})

    async def reset(request: Request) -> Response:
        with sandbox.lock:
            sandbox.reset()
            v5.reset()
            return JSONResponse(sandbox.state())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith(v5_routes.PREFIX + "/"):  # the v5 error shape
            body = {"code": exc.status_code, "message": exc.detail}
            return JSONResponse(body, exc.status_code)
        return JSONResponse({"success": False, "error": exc.detail}, exc.status_code)

    return Starlette(
        routes=[
            Mount(ad_library.PREFIX, routes=ad_library.routes(sandbox)),
            Mount(v5_routes.PREFIX, routes=v5_routes.routes(sandbox, v5)),
            Mount("/_sandbox/v5", routes=v5_controls.routes(sandbox, v5)),
            Route("/_sandbox/advance", advance, methods=["POST"]),
            Route("/_sandbox/state", state),
            Route("/_sandbox/truth", truth),
            Route("/_sandbox/requests", requests_log, methods=["GET", "DELETE"]),
            Route("/_sandbox/credits", credit_table),
            Route("/_sandbox/expire-scrolls", expire_scrolls, methods=["POST"]),
            Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/config", configure, methods=["POST"]),
            Route("/_sandbox/quirks", quirk_switches, methods=["GET", "POST"]),
            Route("/_sandbox/hostile", add_hostile, methods=["POST"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
        middleware=[Middleware(ClockDate, clock=lambda: sandbox.universe.now)],
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


def _server(
    config: SandboxConfig, on_ready: Callable[[], None], v5_config: V5Config | None = None
) -> _Server:
    uv_config = uvicorn.Config(
        create_app(config, v5_config),
        log_level="warning",
        access_log=False,
        lifespan="off",
        date_header=False,  # ClockDate sets it from the sandbox's clock
    )
    logging.getLogger("uvicorn.error").addFilter(HideDrops())
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


def _clock_start(value: str) -> datetime:
    if value == "today":
        return datetime.combine(datetime.now(UTC).date(), time(), UTC)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))  # 3.10 rejects "Z"
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate)
    parser.add_argument("--fault-seed", type=int, default=defaults.fault_seed)
    parser.add_argument(
        "--start",
        type=_clock_start,
        default=defaults.start,
        help="the clock at startup: ISO date or time (UTC), or 'today' (its UTC midnight)",
    )
    parser.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a quirk switch, e.g. date_fields=absent (repeatable)",
    )
    v5_defaults = V5Config()
    parser.add_argument("--v5-rate-limit", type=int, default=v5_defaults.rate_limit_per_minute)
    parser.add_argument("--v5-token-ttl", type=float, default=v5_defaults.token_ttl_seconds)
    parser.add_argument("--v5-accounts", type=int, help="sized universe: ad accounts (all owned)")
    parser.add_argument("--v5-campaigns", type=int, help="sized universe: campaigns per account")
    parser.add_argument("--v5-ads", type=int, help="sized universe: ads per account")
    parser.add_argument(
        "--v5-analytics-rate-limit",
        type=int,
        default=v5_defaults.analytics_rate_limit_per_minute,
        help="ads_analytics calls a minute (0: only --v5-rate-limit applies)",
    )
    parser.add_argument("--v5-report-polls", type=int, default=v5_defaults.report_polls)
    parser.add_argument("--v5-report-fail-rate", type=float, default=v5_defaults.report_fail_rate)
    parser.add_argument(
        "--v5-report-url-ttl", type=float, default=v5_defaults.report_url_ttl_seconds
    )
    parser.add_argument(
        "--v5-quirk",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a v5 quirk switch, e.g. default_order=DESCENDING (repeatable)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    try:
        switches = quirks.validate(dict(quirks.parse_flag(flag) for flag in args.quirk))
        v5_switches = quirks.validate(
            dict(quirks.parse_flag(flag) for flag in args.v5_quirk), V5_QUIRKS
        )
    except ValueError as exc:
        parser.error(str(exc))
    sized = (args.v5_accounts, args.v5_campaigns, args.v5_ads)
    if any(n is not None for n in sized) and not all(n is not None and n > 0 for n in sized):
        parser.error("--v5-accounts, --v5-campaigns and --v5-ads go together, each above 0")
    if not 0 <= args.v5_report_fail_rate <= 1:
        parser.error("--v5-report-fail-rate must be between 0 and 1")
    v5_config = V5Config(
        rate_limit_per_minute=args.v5_rate_limit,
        token_ttl_seconds=args.v5_token_ttl,
        analytics_rate_limit_per_minute=args.v5_analytics_rate_limit,
        report_polls=args.v5_report_polls,
        report_fail_rate=args.v5_report_fail_rate,
        report_url_ttl_seconds=args.v5_report_url_ttl,
        quirks=v5_switches,
        size=Size(*sized) if args.v5_accounts is not None else None,
    )
    config = SandboxConfig(
        seed=args.seed,
        ads=args.ads,
        rate_limit_per_minute=args.rate_limit,
        monthly_credits=args.credits,
        scroll_ttl_seconds=args.scroll_ttl,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        quirks=switches,
        start=args.start,
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
        _server(config, announce, v5_config).run(sockets=[sock])


if __name__ == "__main__":
    main()
