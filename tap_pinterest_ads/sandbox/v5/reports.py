"""Async reports: ``POST /ad_accounts/{id}/reports`` checks the JSON body as the spec describes
it and queues a job; ``GET …/reports?token=`` answers IN_PROGRESS until the job is built (a
background pass that sizes the file) and polled enough times, then FINISHED with a fresh
pre-signed-style URL (valid for ``report_url_ttl_seconds``, the report for
``report_ttl_seconds``), or FAILED for a deterministic share of jobs (``report_fail_rate``). The
file is generated again, streamed, on download: JSON ``{entity id: [rows]}`` (no zero-fill) or
CSV with a header row (zero-filled); rows whose every column is 0 are left out in both."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from . import pages
from .analytics import (
    DATE_PATTERN,
    GRANULARITIES,
    HOUR_BACK_DAYS,
    HOUR_SPAN_DAYS,
    ID_COLUMN,
    Entity,
    Query,
    Tree,
    bad,
    buckets,
    ids_for,
    row_values,
    split,
    sync_query,
    weights,
)
from .columns import ASYNC_COLUMNS
from .metrics import WINDOWS, Attribution, Vector, mix
from .pages import Params, invalid

LEVELS = {  # report level: the tree level it reads, or None (no such objects in the sandbox)
    "ADVERTISER": "AD_ACCOUNT",
    "CAMPAIGN": "CAMPAIGN",
    "AD_GROUP": "AD_GROUP",
    "PIN_PROMOTION": "AD",
    "KEYWORD": "KEYWORD",
    "PRODUCT_GROUP": None,
    "PRODUCT_ITEM": None,
}
LEVELS |= {f"{name}_TARGETING": tree for name, tree in LEVELS.items() if name != "KEYWORD"}
KEY_COLUMN = {
    "AD_ACCOUNT": "ADVERTISER_ID",
    "CAMPAIGN": "CAMPAIGN_ID",
    "AD_GROUP": "AD_GROUP_ID",
    "AD": "PIN_PROMOTION_ID",
    "KEYWORD": "KEYWORD_ID",  # ASSUMPTION: no such column in the spec's enum
}
NUMERIC_IDS = ("ADVERTISER_ID", "CAMPAIGN_ID", "PIN_ID", "PIN_PROMOTION_ID")  # "mixed" quirk
TARGETING_TYPES = (
    "KEYWORD",
    "APPTYPE",
    "GENDER",
    "LOCATION",
    "PLACEMENT",
    "COUNTRY",
    "TARGETED_INTEREST",
    "PINNER_INTEREST",
    "AUDIENCE_INCLUDE",
    "GEO",
    "AGE_BUCKET",
    "REGION",
    "MEDIA_TYPE",
    "AGE_BUCKET_AND_GENDER",
    "AUDIENCE_MULTIPLIER",
    "CREATIVE_ENHANCEMENTS",
    "LOCAL_ADS_STORE_CODE",
    "CREATIVE_TYPE",  # sync campaign targeting analytics only
)
TARGETING_VALUES: dict[str, tuple[str, ...]] = {
    "KEYWORD": ("home decor ideas", "summer outfits", "easy dinner recipes", "garden design"),
    "APPTYPE": ("iphone", "ipad", "web", "web_mobile", "android_mobile", "android_tablet"),
    "GENDER": ("female", "male", "unknown"),
    "LOCATION": ("500", "501", "803", "807"),
    "PLACEMENT": ("BROWSE", "SEARCH", "OTHER"),
    "COUNTRY": ("US", "GB", "DE", "FR", "CA"),
    "TARGETED_INTEREST": ("Home Decor", "Food and Drinks", "Women's Fashion", "Gardening"),
    "PINNER_INTEREST": ("Chocolate Cookies", "Living Room Ideas", "Street Style", "Houseplants"),
    "AUDIENCE_INCLUDE": ("2542620905473", "2542620905475"),
    "GEO": ("US:94102", "US:10001", "GB:SW1A"),
    "AGE_BUCKET": ("18-24", "25-34", "35-44", "45-49", "50-54", "55-64", "65+"),
    "REGION": ("US-CA", "US-NY", "US-TX", "GB-ENG"),
    "MEDIA_TYPE": ("IMAGE", "VIDEO"),
    "AGE_BUCKET_AND_GENDER": ("female_25-34", "male_25-34", "female_35-44", "male_35-44"),
    "AUDIENCE_MULTIPLIER": ("1", "2"),
    "CREATIVE_ENHANCEMENTS": ("NONE", "BACKGROUND"),
    "LOCAL_ADS_STORE_CODE": ("store-001", "store-002"),
    "CREATIVE_TYPE": ("REGULAR", "VIDEO", "CAROUSEL"),
}
# Without targeting_types a targeting report breaks down by these (ASSUMPTION: the docs are
# silent; Airbyte's targeting reports send none and get rows).
DEFAULT_TARGETING = ("APPTYPE", "GENDER", "AGE_BUCKET", "COUNTRY")
SUMMARY_STATUSES = {
    "campaign_statuses": (
        "RUNNING",
        "PAUSED",
        "NOT_STARTED",
        "COMPLETED",
        "ADVERTISER_DISABLED",
        "ARCHIVED",
        "DRAFT",
        "DELETED_DRAFT",
    ),
    "ad_group_statuses": (
        "RUNNING",
        "PAUSED",
        "NOT_STARTED",
        "COMPLETED",
        "ADVERTISER_DISABLED",
        "ARCHIVED",
        "DRAFT",
        "DELETED_DRAFT",
    ),
    "ad_statuses": (
        "APPROVED",
        "PAUSED",
        "PENDING",
        "REJECTED",
        "ADVERTISER_DISABLED",
        "ARCHIVED",
        "DRAFT",
        "DELETED_DRAFT",
    ),
    "product_group_statuses": ("RUNNING", "PAUSED", "EXCLUDED", "ARCHIVED"),
}
ID_FILTERS = ("campaign_ids", "ad_group_ids", "ad_ids", "product_group_ids", "product_item_ids")
OBJECTIVES = ("AWARENESS", "CONSIDERATION", "WEB_CONVERSION", "CATALOG_SALES", "VIDEO_COMPLETION")
BACK_DAYS, SPAN_DAYS = 914, 185  # "up to 914 days back", "must be less than 186 days"
ITEM_BACK_DAYS, ITEM_SPAN_DAYS = 92, 30
DOWNLOADS = "/_s3/pinterest-analytics-reports"  # under the /v5 mount, but no bearer: S3's role
S3_INVALID_AUTH = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)


@dataclass(frozen=True)
class Request:
    level: str
    query: Query
    targeting: tuple[str, ...]
    csv: bool
    by_date: bool
    metrics_filters: tuple[tuple[str, str, float], ...]
    filters: dict[str, frozenset[str]]


@dataclass
class Job:
    token: str
    account_id: str
    request: Request
    tree: Tree  # the account as it was when the job was made (entities are built on demand)
    fails: bool
    polls: int = 0
    size: int | None = None  # set by the background pass that builds the file
    finished_at: float | None = None
    urls: dict[str, float] = field(default_factory=dict)  # url key -> expiry (time.time())


# -- the request body ------------------------------------------------------------------------
def _listed(
    body: dict[str, Any], name: str, allowed: Iterable[str] | None, limit: int
) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        raise invalid(f"'{name}' must be a list of 1 to {limit} values")
    allowed_set = set(allowed) if allowed is not None else None
    for item in value:
        if not isinstance(item, str):
            raise invalid(f"'{name}' values must be strings")
        if allowed_set is not None and item not in allowed_set:
            raise invalid(f"'{name}' value '{item}' is not one of {sorted(allowed_set)}")
        if allowed_set is None and not item.isdigit():
            raise invalid(f"'{name}' value '{item}' must match the pattern: ^\\d+$")
    return list(value)


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise invalid(f"'{name}' must be one of {list(allowed)} (was {json.dumps(value)})")
    return str(value)


def _window(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or value not in WINDOWS:
        raise invalid(f"'{name}' must be one of {list(WINDOWS)} (was {json.dumps(value)})")
    return int(value)


def _day(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        raise invalid(f"'{name}' is required, a date in YYYY-MM-DD format")
    try:
        return date.fromisoformat(value).toordinal()
    except ValueError:
        raise invalid(f"'{name}' is not a valid date (was {value})") from None


def parse(body: Any, today: int, hour_style: str) -> Request:
    """The report a POST body asks for, or the API's 400."""
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object (this endpoint takes no query parameters)")
    for name in ("start_date", "end_date", "granularity", "level", "columns"):
        if name not in body:
            raise invalid(f"Missing required field '{name}'")
    start, end = _day(body, "start_date"), _day(body, "end_date")
    grain = _choice(body, "granularity", GRANULARITIES, "DAY")
    level = _choice(body, "level", tuple(LEVELS), "CAMPAIGN")
    columns = body["columns"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise invalid("'columns' must be a non-empty list of reporting columns")
    unknown = [c for c in columns if c not in ASYNC_COLUMNS]
    if unknown:
        raise invalid(f"Invalid columns {unknown}: each must be an async reporting column")
    item_level = level.startswith("PRODUCT_ITEM")
    back, span = (ITEM_BACK_DAYS, ITEM_SPAN_DAYS) if item_level else (BACK_DAYS, SPAN_DAYS)
    if grain == "HOUR":
        back, span = HOUR_BACK_DAYS, HOUR_SPAN_DAYS
    if end < start:
        raise bad("end_date must be on or after start_date.")
    if start < today - back:
        raise bad(f"You can only get data from the last {back} days.")
    if end - start > span:
        raise bad(f"The time range specified is too large, it must be less than {span + 1} days.")
    targeting = _listed(body, "targeting_types", TARGETING_TYPES[:-1], 5)
    if targeting and not level.endswith("_TARGETING"):
        raise bad("targeting_types needs a *_TARGETING level.")
    if level.endswith("_TARGETING") and not targeting:
        targeting = list(DEFAULT_TARGETING)
    filters = {name: frozenset(_listed(body, name, None, 500)) for name in ID_FILTERS}
    for name, allowed in SUMMARY_STATUSES.items():
        filters[name] = frozenset(_listed(body, name, allowed, 6))
    filters["campaign_objective_types"] = frozenset(
        _listed(body, "campaign_objective_types", OBJECTIVES, 7)
    )
    if item_level and (filters["ad_ids"] or filters["ad_statuses"]):
        raise bad("ad_ids and ad_statuses are not supported for PRODUCT_ITEM reports.")
    _listed(body, "attribution_types", ("INDIVIDUAL", "HOUSEHOLD"), 2)
    zones = ("PINTEREST_TIME_ZONE", "AD_ACCOUNT_TIME_ZONE")
    _choice(body, "reporting_timezone", zones, zones[0])
    hours = []
    for name, default in (("start_hour", 0), ("end_hour", 23)):
        hour = body.get(name, default)
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise invalid(f"'{name}' must be an integer from 0 to 23")
        hours.append(hour)
    metrics_filters = []
    for item in body.get("metrics_filters") or []:
        if not isinstance(item, dict):
            raise invalid("'metrics_filters' must be a list of {field, operator, values}")
        name = _choice(item, "field", ("SPEND_IN_DOLLAR", "TOTAL_IMPRESSION"), "")
        operator = _choice(item, "operator", ("LESS_THAN", "GREATER_THAN"), "")
        values = item.get("values")
        if not isinstance(values, list) or not values or not all(_number(v) for v in values):
            raise invalid("a metrics filter's 'values' must be a non-empty list of numbers")
        metrics_filters.append((name, operator, float(values[0])))
    query = Query(
        days=range(start, end + 1),
        today=today,
        granularity=grain,
        columns=list(dict.fromkeys(columns)),
        windows=Attribution(
            click=_window(body, "click_window_days", 30),
            engagement=_window(body, "engagement_window_days", 30),
            view=_window(body, "view_window_days", 1),
            at_conversion=_choice(
                body,
                "conversion_report_time",
                ("TIME_OF_AD_ACTION", "TIME_OF_CONVERSION"),
                "TIME_OF_AD_ACTION",
            )
            == "TIME_OF_CONVERSION",
        ),
        hour_style=hour_style,
        hours=(hours[0], hours[1]),
    )
    return Request(
        level=level,
        query=query,
        targeting=tuple(dict.fromkeys(targeting)),
        csv=_choice(body, "report_format", ("JSON", "CSV"), "JSON") == "CSV",
        by_date=_choice(body, "primary_sort", ("BY_ID", "BY_DATE"), "BY_ID") == "BY_DATE",
        metrics_filters=tuple(metrics_filters),
        filters=filters,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def entities(tree: Tree, request: Request) -> list[Entity]:
    """The objects of the report's level that pass its id, status and objective filters (an
    object passes when one of its ads does)."""
    level = LEVELS[request.level]
    if level is None:
        return []
    if level == "KEYWORD":
        found = tree.keyword_entities()
    else:
        found = [e for e in (tree.entity(level, i) for i in tree.ids(level)) if e is not None]
    out = []
    for entity in found:
        if level == "AD":
            ads = [entity.id]
        else:
            parent = entity.dimensions["AD_GROUP_ID"] if level == "KEYWORD" else entity.id
            ads = tree.children.get(parent, [])
        if level == "AD_ACCOUNT" or _matches(tree, [tree.ads[a] for a in ads], request.filters):
            out.append(entity)
    return out


def _matches(tree: Tree, ads: list[dict[str, Any]], f: dict[str, frozenset[str]]) -> bool:
    """An entity is in the report when one of its ads passes every filter."""
    for ad in ads:
        campaign, group = tree.campaigns[ad["campaign_id"]], tree.groups[ad["ad_group_id"]]
        checks = (
            ("campaign_ids", campaign["id"]),
            ("ad_group_ids", group["id"]),
            ("ad_ids", ad["id"]),
            ("campaign_statuses", campaign["summary_status"]),
            ("ad_group_statuses", group["summary_status"]),
            ("ad_statuses", ad["summary_status"]),
            ("campaign_objective_types", campaign["objective_type"]),
        )
        if all(not f[name] or value in f[name] for name, value in checks):
            return True
    return False


# -- sync targeting analytics ---------------------------------------------------------------
def targeting_analytics(
    params: Params, tree: Tree, level: str, today: int, switches: dict[str, Any]
) -> dict[str, Any]:
    """``…/targeting_analytics``: {"data": [{targeting_type, targeting_value, metrics}]}, the
    metrics holding the id (a number, as the spec's example, unless report_id_types is
    "string"), DATE unless TOTAL, and the columns; each type's values sum to the whole."""
    query = sync_query(params, today, switches["hour_date"])
    kinds = pages.enum_values(params, "targeting_types", TARGETING_TYPES)
    if not kinds:
        raise invalid("Missing required parameter 'targeting_types'")
    pages.enum_values(params, "attribution_types", ("INDIVIDUAL", "HOUSEHOLD"))
    if level == "AD" and "ad_ids" not in params:
        raise invalid("Missing required parameter 'ad_ids'")
    id_column = ID_COLUMN[level]
    data = []
    for entity_id in ids_for(params, level, tree):
        entity = tree.entity(level, entity_id)
        if entity is None:
            continue
        shown: int | str = entity_id if switches["report_id_types"] == "string" else int(entity_id)
        for day, vector in buckets(entity, query):
            head: dict[str, Any] = {id_column: shown, **query.head(day)}
            hourly = query.granularity == "HOUR"
            for kind, value, part in targeted(entity_id, vector, dict.fromkeys(kinds)):
                if any(part):
                    metrics = {**head, **row_values(entity, part, query.columns, hourly)}
                    data.append(
                        {"targeting_type": kind, "targeting_value": value, "metrics": metrics}
                    )
    return {"data": data}


# -- the file --------------------------------------------------------------------------------
def _weights(entity_id: str, targeting_type: str, count: int) -> list[float]:
    return weights(mix(int(entity_id) ^ TARGETING_TYPES.index(targeting_type) * 0x9E3779B9), count)


def targeted(
    entity_id: str, vector: Vector, kinds: Iterable[str]
) -> Iterator[tuple[str, str, Vector]]:
    """(targeting type, value, share of the vector) for each type: each type's shares add up
    to the whole exactly."""
    for kind in kinds:
        values = TARGETING_VALUES[kind]
        shares = split(vector, _weights(entity_id, kind, len(values)))
        yield from ((kind, value, part) for value, part in zip(values, shares, strict=True))


def report_rows(
    request: Request, entity: Entity, switches: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The entity's rows: DATE (unless TOTAL), its id, the targeting type and value for a
    targeting report, the requested columns; all-zero rows left out."""
    query = request.query
    key_column = KEY_COLUMN[entity.level]
    upper = switches["report_targeting_columns"] == "upper"
    type_key, value_key = (
        ("TARGETING_TYPE", "TARGETING_VALUE") if upper else ("targeting_type", "targeting_value")
    )
    numeric = switches["report_id_types"] == "mixed"
    dims = {
        k: (int(v) if numeric and k in NUMERIC_IDS else v) for k, v in entity.dimensions.items()
    }
    base_entity = Entity(entity.level, entity.id, entity.profiles, dims)
    for day, vector in buckets(entity, query):
        head = query.head(day)
        head[key_column] = dims.get(key_column, entity.id)
        parts: list[tuple[str | None, str | None, Vector]] = [(None, None, vector)]
        if request.targeting:
            parts = list(targeted(entity.id, vector, request.targeting))
        for targeting_type, targeting_value, part in parts:
            if not any(part):
                continue
            row = dict(head)
            if targeting_type is not None:
                row[type_key], row[value_key] = targeting_type, targeting_value
            row.update(row_values(base_entity, part, query.columns, query.granularity == "HOUR"))
            if _kept(row, request):
                yield row


def _kept(row: dict[str, Any], request: Request) -> bool:
    for name, operator, value in request.metrics_filters:
        actual = row.get(name, 0)
        if (operator == "LESS_THAN" and not actual < value) or (
            operator == "GREATER_THAN" and not actual > value
        ):
            return False
    return True


def render(job: Job, switches: dict[str, Any]) -> Iterator[bytes]:
    """The report file, entity by entity (memory stays flat however large it is)."""
    request = job.request
    if request.csv:
        yield from _csv(job, switches)
        return
    yield b"{"
    first = True
    for entity in entities(job.tree, request):
        rows = list(report_rows(request, entity, switches))
        if not rows:
            continue
        prefix = b"" if first else b","
        first = False
        yield prefix + json.dumps(entity.id).encode() + b":" + json.dumps(rows).encode()
    yield b"}"


def _csv(job: Job, switches: dict[str, Any]) -> Iterator[bytes]:
    request = job.request
    level = LEVELS[request.level]
    header = request.query.date_columns()
    header.append(KEY_COLUMN[level] if level else "ID")
    if request.targeting:
        upper = switches["report_targeting_columns"] == "upper"
        header += (
            ["TARGETING_TYPE", "TARGETING_VALUE"]
            if upper
            else ["targeting_type", "targeting_value"]
        )
    header += [c for c in request.query.columns if c not in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> bytes:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow(header)
    yield flush()
    every: Iterable[dict[str, Any]] = (
        row
        for entity in entities(job.tree, request)
        for row in report_rows(request, entity, switches)
    )
    if request.by_date:
        every = sorted(every, key=lambda r: (r.get("DATE", ""), r.get("HOUR", 0)))
    for row in every:
        writer.writerow([row.get(name, 0) for name in header])  # CSV zero-fills
        yield flush()


def measure(job: Job, switches: dict[str, Any]) -> int:
    return sum(len(chunk) for chunk in render(job, switches))


# -- the lifecycle ---------------------------------------------------------------------------
class Reports:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.jobs: dict[str, Job] = {}
        self.created = 0

    def reset(self) -> None:
        self.jobs.clear()
        self.created = 0

    def create(
        self,
        account_id: str,
        tree: Tree,
        body: Any,
        today: int,
        fail_rate: float,
        switches: dict[str, Any],
    ) -> dict[str, Any]:
        request = parse(body, today, switches["hour_date"])
        self.created += 1
        digest = hashlib.sha256(f"{self.seed}:{account_id}:{self.created}".encode()).hexdigest()
        token = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        fails = (mix(int(digest[:15], 16)) & 0xFFFF) / 65536 < fail_rate
        job = Job(token, account_id, request, tree, fails)
        self.jobs[token] = job
        if not fails:
            switches = dict(switches)
            threading.Thread(target=self._build, args=(job, switches), daemon=True).start()
        return {"token": token, "report_status": "IN_PROGRESS", "message": None}

    def _build(self, job: Job, switches: dict[str, Any]) -> None:
        try:
            job.size = measure(job, switches)
        except Exception:
            job.fails = True  # the job ends FAILED; the thread prints the sandbox's bug
            raise

    def status(
        self, account_id: str, token: str, polls: int, report_ttl: float, url_ttl: float, base: str
    ) -> dict[str, Any]:
        """`base`: where the sandbox serves downloads (the URL stands for S3's)."""
        job = self.jobs.get(token)
        if job is None or job.account_id != account_id:
            return {"report_status": "DOES_NOT_EXIST", "url": None, "size": None}
        job.polls += 1
        if job.polls <= polls or (not job.fails and job.size is None):
            return {"report_status": "IN_PROGRESS", "url": None, "size": None}
        if job.fails:
            return {"report_status": "FAILED", "url": None, "size": None}
        now = time.time()
        if job.finished_at is None:
            job.finished_at = now
        if now - job.finished_at > report_ttl:
            return {"report_status": "EXPIRED", "url": None, "size": None}
        key = secrets.token_hex(8)
        job.urls[key] = now + url_ttl
        ext = "csv" if job.request.csv else "json"
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        url = (
            f"{base}/{token}/{key}/report.{ext}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={stamp}&X-Amz-Expires={max(1, round(url_ttl))}"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={hashlib.sha256(key.encode()).hexdigest()}"
        )
        return {"report_status": "FINISHED", "url": url, "size": job.size}

    def download(self, token: str, key: str, has_auth: bool) -> tuple[int, Job | str]:
        """(200, job) to stream, else (status, S3-style XML error)."""
        if has_auth:
            return 400, s3_error("InvalidArgument", S3_INVALID_AUTH)
        job = self.jobs.get(token)
        expiry = job.urls.get(key) if job else None
        if job is None or expiry is None:
            return 403, s3_error("AccessDenied", "Access Denied")
        if time.time() > expiry:
            return 403, s3_error("AccessDenied", "Request has expired")
        return 200, job


def s3_error(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
