"""The sync analytics endpoints (ad account, campaigns, ad groups, ads; the organic user account)
over the metrics of metrics.py, with the spec's parameter rules: required parameters, at most
250 ids, a range of at most 90 days starting at most 90 days back (HOUR: 3 days, 8 days back),
the column enum, the attribution windows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from . import pages
from .assets import Row
from .columns import SYNC_COLUMNS
from .data import V5Universe
from .metrics import (
    CONVERSION_SLICE,
    WINDOWS,
    Attribution,
    Profile,
    Vector,
    add,
    day_of,
    iso_day,
    metric_values,
    mix,
    profile,
    summed,
    unit,
)
from .pages import ApiError, Params, invalid, one

GRANULARITIES = ("TOTAL", "DAY", "HOUR", "WEEK", "MONTH")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SYNC_BACK_DAYS, SYNC_SPAN_DAYS = 90, 90
HOUR_BACK_DAYS, HOUR_SPAN_DAYS = 8, 3
LEVELS = ("AD_ACCOUNT", "CAMPAIGN", "AD_GROUP", "AD")
ID_COLUMN = {
    "AD_ACCOUNT": "AD_ACCOUNT_ID",
    "CAMPAIGN": "CAMPAIGN_ID",
    "AD_GROUP": "AD_GROUP_ID",
    "AD": "AD_ID",
}


def bad(message: str) -> ApiError:
    """An analytics rule broken: the spec's example answer for these is code 400."""
    return ApiError(400, 400, message)


@dataclass
class Entity:
    """An ad account, campaign, ad group or ad: the ads it sums and its own attributes."""

    level: str
    id: str
    profiles: list[Profile]
    dimensions: dict[str, Any]
    part: tuple[int, int] | None = None  # a keyword: its share (index, of how many) of them

    @property
    def video(self) -> bool:
        return any(p.video for p in self.profiles)

    @property
    def converts(self) -> bool:
        return any(p.converts for p in self.profiles)


@dataclass
class Tree:
    """One ad account's campaign tree as the metrics see it, rebuilt when objects change."""

    account: Row
    campaigns: dict[str, Row] = field(default_factory=dict)
    groups: dict[str, Row] = field(default_factory=dict)
    ads: dict[str, Row] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)  # parent id -> ad ids
    keywords: dict[str, list[Row]] = field(default_factory=dict)  # ad group id -> keywords
    profiles: dict[str, Profile] = field(default_factory=dict)  # delivering ads only

    @classmethod
    def build(cls, seed: int, account: Row, tables: dict[str, list[Row]]) -> Tree:
        tree = cls(account)
        tree.campaigns = {r["id"]: r for r in tables["campaigns"]}
        tree.groups = {r["id"]: r for r in tables["ad_groups"]}
        for ad in tables["ads"]:
            tree.ads[ad["id"]] = ad
            for parent in (ad["campaign_id"], ad["ad_group_id"], account["id"]):
                tree.children.setdefault(parent, []).append(ad["id"])
            group, campaign = tree.groups[ad["ad_group_id"]], tree.campaigns[ad["campaign_id"]]
            made = profile(seed, ad, group, campaign)
            if made is not None:
                tree.profiles[ad["id"]] = made
        for keyword in tables["keywords"]:
            if keyword["parent_type"] == "ad_group" and "NEGATIVE" not in keyword["match_type"]:
                tree.keywords.setdefault(keyword["parent_id"], []).append(keyword)
        return tree

    def _dimensions(self, level: str, row: Row) -> dict[str, Any]:
        account_id = self.account["id"]
        out: dict[str, Any] = {"AD_ACCOUNT_ID": account_id, "ADVERTISER_ID": account_id}
        campaign_id = row["id"] if level == "CAMPAIGN" else row.get("campaign_id")
        campaign = self.campaigns.get(campaign_id or "")
        if campaign is not None:
            out |= {
                "CAMPAIGN_ID": campaign["id"],
                "CAMPAIGN_NAME": campaign["name"],
                "CAMPAIGN_ENTITY_STATUS": campaign["status"],
                "CAMPAIGN_OBJECTIVE_TYPE": campaign["objective_type"],
                "CAMPAIGN_DAILY_SPEND_CAP": campaign["daily_spend_cap"],
                "CAMPAIGN_LIFETIME_SPEND_CAP": campaign["lifetime_spend_cap"],
            }
        group_id = row["id"] if level == "AD_GROUP" else row.get("ad_group_id")
        group = self.groups.get(group_id or "")
        if group is not None:
            out |= {
                "AD_GROUP_ID": group["id"],
                "AD_GROUP_NAME": group["name"],
                "AD_GROUP_ENTITY_STATUS": group["status"],
                "AD_GROUP_BUDGET_TYPE": group["budget_type"],
            }
        if level == "AD":
            out |= {
                "AD_ID": row["id"],
                "PIN_PROMOTION_ID": row["id"],
                "PIN_ID": row["pin_id"],
                "AD_NAME": row["name"],
                "PIN_PROMOTION_NAME": row["name"],
            }
        return {k: v for k, v in out.items() if v is not None}

    def keyword_entities(self) -> list[Entity]:
        """Keywords (not negative ones) of every ad group: each a share of its ad group's
        numbers; the shares leave some to browse traffic, so they sum to less."""
        out = []
        for group_id, keywords in self.keywords.items():
            group = self.entity("AD_GROUP", group_id)
            if group is None:
                continue
            for index, keyword in enumerate(keywords):
                dims = {**group.dimensions, "KEYWORD_ID": keyword["id"]}
                part = (index, len(keywords) + 1)
                out.append(Entity("KEYWORD", keyword["id"], group.profiles, dims, part))
        return out

    def entity(self, level: str, entity_id: str) -> Entity | None:
        table = {
            "AD_ACCOUNT": {self.account["id"]: self.account},
            "CAMPAIGN": self.campaigns,
            "AD_GROUP": self.groups,
            "AD": self.ads,
        }[level]
        row = table.get(entity_id)
        if row is None:
            return None
        ads = [entity_id] if level == "AD" else self.children.get(entity_id, [])
        profiles = [self.profiles[a] for a in ads if a in self.profiles]
        return Entity(level, entity_id, profiles, self._dimensions(level, row))

    def ids(self, level: str) -> list[str]:
        if level == "AD_ACCOUNT":
            return [self.account["id"]]
        return list({"CAMPAIGN": self.campaigns, "AD_GROUP": self.groups, "AD": self.ads}[level])


class Trees:
    """Each account's tree for the current universe and clock (advances add objects)."""

    def __init__(self) -> None:
        self._trees: dict[str, Tree] = {}
        self._built_for: tuple[V5Universe, int] | None = None

    def get(self, seed: int, universe: V5Universe, account_id: str) -> Tree:
        built_for = self._built_for
        if built_for is None or built_for[0] is not universe or built_for[1] != universe.now:
            self._trees.clear()
            self._built_for = (universe, universe.now)
        tree = self._trees.get(account_id)
        if tree is None:
            account = next(a.row for a in universe.accounts if a.row["id"] == account_id)
            tree = Tree.build(seed, account, universe.tables[account_id])
            self._trees[account_id] = tree
        return tree


# -- parameters ------------------------------------------------------------------------------
def parse_day(value: str | None, name: str) -> int:
    if value is None:
        raise invalid(f"Missing required parameter '{name}'")
    if not DATE_PATTERN.match(value):
        raise invalid(f"Parameter '{name}' must be a date in YYYY-MM-DD format (was {value})")
    try:
        return date.fromisoformat(value).toordinal()
    except ValueError:
        raise invalid(f"Parameter '{name}' is not a valid date (was {value})") from None


def date_range(start: int, end: int, today: int, granularity: str, back: int, span: int) -> range:
    """The days asked for, or the API's 400 for a range it does not serve."""
    if granularity == "HOUR":
        back, span = HOUR_BACK_DAYS, HOUR_SPAN_DAYS
    if end < start:
        raise bad("end_date must be on or after start_date.")
    if start < today - back:
        raise bad(f"You can only get data from the last {back} days.")
    if end - start > span:
        raise bad(f"The time range specified is too large, it must be at most {span} days.")
    return range(start, end + 1)


def window(params: Params, name: str, default: int) -> int:
    raw = one(params, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) not in WINDOWS:
        raise invalid(f"Parameter '{name}' must be one of {list(WINDOWS)} (was {raw})")
    return int(raw)


def attribution(params: Params) -> Attribution:
    report_time = pages.enum_values(
        params, "conversion_report_time", ("TIME_OF_AD_ACTION", "TIME_OF_CONVERSION")
    )
    return Attribution(
        click=window(params, "click_window_days", 30),
        engagement=window(params, "engagement_window_days", 30),
        view=window(params, "view_window_days", 1),
        at_conversion=(report_time or [""])[-1] == "TIME_OF_CONVERSION",
    )


def sync_columns(params: Params) -> list[str]:
    if "columns" not in params:
        raise invalid("Missing required parameter 'columns'")
    columns = list(dict.fromkeys(pages.listed(params, "columns")))
    unknown = [c for c in columns if c not in SYNC_COLUMNS]
    if not columns or unknown:
        raise invalid(f"Invalid columns {unknown}: each must be a sync reporting column")
    return columns


def granularity(params: Params) -> str:
    values = pages.enum_values(params, "granularity", GRANULARITIES)
    if not values:
        raise invalid("Missing required parameter 'granularity'")
    return values[-1]


def bucket(day: int, granularity: str) -> int | None:
    """The day a row of this granularity is dated (None: one row for the whole range)."""
    if granularity == "TOTAL":
        return None
    if granularity == "WEEK":
        return day - date.fromordinal(day).weekday()
    if granularity == "MONTH":
        return date.fromordinal(day).replace(day=1).toordinal()
    return day


# -- rows ------------------------------------------------------------------------------------
# Share of a day's delivery in each hour (UTC): quiet nights, evening peak.
DIURNAL = (2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4)


@dataclass(frozen=True)
class Query:
    days: range
    today: int
    granularity: str
    columns: Sequence[str]
    windows: Attribution
    hour_style: str = "date_and_hour"  # the hour_date quirk
    hours: tuple[int, int] = (0, 23)  # start_hour on the first day, end_hour on the last

    def date_columns(self) -> list[str]:
        if self.granularity == "TOTAL":
            return []
        hour = self.granularity == "HOUR" and self.hour_style == "date_and_hour"
        return ["DATE", "HOUR"] if hour else ["DATE"]

    def head(self, key: int | None) -> dict[str, Any]:
        """DATE (and HOUR) of a row keyed by bucket(): none for TOTAL."""
        if key is None:
            return {}
        if self.granularity != "HOUR":
            return {"DATE": iso_day(key)}
        day, hour = divmod(key, 24)
        if self.hour_style == "datetime":
            return {"DATE": f"{iso_day(day)} {hour:02d}:00:00"}
        return {"DATE": iso_day(day), "HOUR": hour}


def buckets(entity: Entity, query: Query) -> Iterator[tuple[int | None, Vector]]:
    """(row date or None, summed vector) per row of the entity, in date order."""
    rows: dict[int | None, Vector] = {}
    for day, whole in summed(entity.profiles, query.days, query.today, query.windows):
        vector = whole
        if entity.part is not None:  # the same split every day, seeded by the first profile
            index, count = entity.part
            seed = entity.profiles[0].key if entity.profiles else 0
            vector = split(whole, weights(seed, count))[index]
        if query.granularity == "HOUR":  # hourly numbers hold no conversions (the spec)
            vector = [*vector[: CONVERSION_SLICE.start], *([0] * len(vector[CONVERSION_SLICE]))]
            for hour, part in enumerate(split(vector, DIURNAL)):
                first = day == query.days.start and hour < query.hours[0]
                last = day == query.days.stop - 1 and hour > query.hours[1]
                if any(part) and not first and not last:
                    rows[day * 24 + hour] = part
            continue
        key = bucket(day, query.granularity)
        total = rows.get(key)
        if total is None:
            rows[key] = list(vector)
        else:
            add(total, vector)
    yield from rows.items()


def weights(seed: int, count: int) -> list[float]:
    return [0.2 + (mix(seed ^ k) & 0xFFFF) / 65536 for k in range(count)]


def split(vector: Sequence[int], shares: Sequence[float]) -> list[Vector]:
    """A vector shared out by weights, each count split exactly (largest remainder)."""
    parts = [[0] * len(vector) for _ in shares]
    scale = sum(shares)
    for i, total in enumerate(vector):
        if not total:
            continue
        raw = [total * w / scale for w in shares]
        counts = [int(r) for r in raw]
        order = sorted(range(len(shares)), key=lambda k: raw[k] - counts[k], reverse=True)
        for k in order[: total - sum(counts)]:
            counts[k] += 1
        for k, count in enumerate(counts):
            parts[k][i] = count
    return parts


def row_values(
    entity: Entity, vector: Vector, columns: Iterable[str], hourly: bool = False
) -> dict[str, Any]:
    out = metric_values(vector, columns, entity.video, entity.converts and not hourly)
    for name in columns:
        if name in entity.dimensions:
            out[name] = entity.dimensions[name]
    return out


def sync_rows(entities: Iterable[Entity], query: Query, aggregate: bool) -> list[dict[str, Any]]:
    """The answer of a sync analytics endpoint: one row per entity and date bucket (TOTAL: no
    DATE); `aggregate` (aggregate_report_rows): one row per date bucket, without the id."""
    out: list[dict[str, Any]] = []
    if aggregate:
        merged = Entity("", "", [p for e in entities for p in e.profiles], {})
        entities = [merged]
    for entity in entities:
        for day, vector in buckets(entity, query):
            row: dict[str, Any] = {}
            if not aggregate:
                row[ID_COLUMN[entity.level]] = entity.id
            row.update(query.head(day))
            row.update(row_values(entity, vector, query.columns, query.granularity == "HOUR"))
            out.append(row)
    return out


def sync_query(params: Params, today: int, hour_style: str) -> Query:
    start = parse_day(one(params, "start_date"), "start_date")
    end = parse_day(one(params, "end_date"), "end_date")
    columns = sync_columns(params)
    grain = granularity(params)
    pages.enum_values(params, "reporting_timezone", ("PINTEREST_TIME_ZONE", "AD_ACCOUNT_TIME_ZONE"))
    pages.enum_values(params, "attribution_types", ("INDIVIDUAL", "HOUSEHOLD"))
    days = date_range(start, end, today, grain, SYNC_BACK_DAYS, SYNC_SPAN_DAYS)
    return Query(days, today, grain, columns, attribution(params), hour_style)


def ids_for(params: Params, level: str, tree: Tree) -> list[str]:
    """The ids a campaign/ad group/ad analytics call names (required; at most 250; ads: ad_ids,
    or campaign_ids with pin_ids, at most 100)."""
    if level == "AD_ACCOUNT":
        return [tree.account["id"]]
    if level == "AD":
        ad_ids = pages.id_filter(params, "ad_ids")
        campaign_ids = pages.id_filter(params, "campaign_ids")
        pin_ids = pages.id_filter(params, "pin_ids", 100)
        if ad_ids is not None:
            chosen = [a for a in tree.ads if a in ad_ids]
        elif campaign_ids is not None and pin_ids is not None:
            chosen = [
                a
                for a, row in tree.ads.items()
                if row["campaign_id"] in campaign_ids and row["pin_id"] in pin_ids
            ]
        else:
            raise invalid("The request must contain either ad_ids or both campaign_ids and pin_ids")
        return chosen
    name = {"CAMPAIGN": "campaign_ids", "AD_GROUP": "ad_group_ids"}[level]
    wanted = pages.id_filter(params, name)
    if wanted is None:
        raise invalid(f"Missing required parameter '{name}'")
    return [i for i in tree.ids(level) if i in wanted]


def truth_rows(
    params: Params, tree: Tree, level: str, universe: V5Universe, hour_style: str
) -> list[dict[str, Any]]:
    """sync_analytics without its limits: any range, every object of the level by default."""
    today = today_of(universe)
    start = parse_day(one(params, "start_date"), "start_date")
    end = parse_day(one(params, "end_date"), "end_date")
    grain, columns = granularity(params), sync_columns(params)
    query = Query(range(start, end + 1), today, grain, columns, attribution(params), hour_style)
    wanted = pages.id_filter(params, "ids", 10**9)
    chosen = [i for i in tree.ids(level) if wanted is None or i in wanted]
    entities = [e for e in (tree.entity(level, i) for i in chosen) if e is not None]
    return sync_rows(entities, query, False)


def metrics_ready(params: Params, universe: V5Universe) -> dict[str, bool]:
    """``/resources/metrics_ready_state``: a day's delivery is final once it is over, its
    conversions once the default 30-day click window has passed."""
    day = parse_day(one(params, "date"), "date")
    today = today_of(universe)
    return {
        "conversion_metrics_ready": day < today - 30,
        "non_conversion_metrics_ready": day < today,
    }


def today_of(universe: V5Universe) -> int:
    return day_of(universe.now)


def sync_analytics(
    params: Params, tree: Tree, level: str, universe: V5Universe, hour_style: str
) -> list[dict[str, Any]]:
    query = sync_query(params, today_of(universe), hour_style)
    aggregate = pages.boolean(params, "aggregate_report_rows", False)
    if aggregate and level not in ("CAMPAIGN", "AD_GROUP"):
        aggregate = False  # only those two endpoints take the parameter
    ids = ids_for(params, level, tree)
    entities = [e for e in (tree.entity(level, i) for i in ids) if e is not None]
    return sync_rows(entities, query, aggregate)


# -- organic ---------------------------------------------------------------------------------
ORGANIC_METRICS = ("IMPRESSION", "ENGAGEMENT", "PIN_CLICK", "OUTBOUND_CLICK", "SAVE")
ORGANIC_RATES = {
    "ENGAGEMENT_RATE": "ENGAGEMENT",
    "PIN_CLICK_RATE": "PIN_CLICK",
    "OUTBOUND_CLICK_RATE": "OUTBOUND_CLICK",
    "SAVE_RATE": "SAVE",
}
SPLITS = {
    "NO_SPLIT": ("all",),
    "APP_TYPE": ("MOBILE", "TABLET", "WEB"),
    "OWNED_CONTENT": ("CLAIMED", "OTHER"),
    "SOURCE": ("YOUR_PINS", "OTHER_PINS"),
    "PIN_FORMAT": ("ORGANIC_IMAGE", "ORGANIC_PRODUCT", "ORGANIC_VIDEO"),
}
FILTERS = {  # parameter: the split it picks one share of, its values (the default first)
    "app_types": ("APP_TYPE", ("ALL", "MOBILE", "TABLET", "WEB")),
    "from_claimed_content": ("OWNED_CONTENT", ("BOTH", "CLAIMED", "OTHER")),
    "source": ("SOURCE", ("ALL", "YOUR_PINS", "OTHER_PINS")),
    "pin_format": (
        "PIN_FORMAT",
        (
            "ALL",
            "ORGANIC_IMAGE",
            "ORGANIC_PRODUCT",
            "ORGANIC_VIDEO",
            "ADS_STANDARD",
            "ADS_PRODUCT",
            "ADS_VIDEO",
            "ADS_IDEA",
        ),
    ),
}


def split_counts(total: int, key: int, parts: int) -> list[int]:
    """`total` split into `parts` shares that sum to it exactly (largest remainder)."""
    weights = [1 + 3 * unit(mix(key ^ part), 0) for part in range(parts)]
    scale = sum(weights)
    raw = [total * w / scale for w in weights]
    counts = [int(r) for r in raw]
    by_rest = sorted(range(parts), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_rest[: total - sum(counts)]:
        counts[i] += 1
    return counts


def share(day: int, dimension: str, metric: str, total: int, keep: str) -> int:
    """The `keep` part of a day's count split along `dimension` (the same split whatever else
    was filtered, so the parts always add up to what was asked)."""
    if not keep:
        return 0
    labels = SPLITS[dimension]
    key = mix(day * 1_000 + list(SPLITS).index(dimension) * 10 + ORGANIC_METRICS.index(metric))
    return split_counts(total, key, len(labels))[labels.index(keep)]


def organic_day(seed: int, day: int) -> dict[str, int]:
    h = mix(mix(seed * 7_919 ^ 0xC0FFEE) ^ day)
    impressions = int(8000 * (0.6 + 0.8 * unit(h, 0)) * (1 + (day % 7 in (5, 6)) * 0.15))
    clicks = int(impressions * (0.01 + 0.02 * unit(h, 1)))
    outbound = int(clicks * 0.4)
    saves = int(impressions * (0.005 + 0.01 * unit(h, 2)))
    engagement = clicks + saves + int(impressions * 0.01 * unit(h, 3))
    return {
        "IMPRESSION": impressions,
        "ENGAGEMENT": engagement,
        "PIN_CLICK": clicks,
        "OUTBOUND_CLICK": outbound,
        "SAVE": saves,
    }


def organic_metrics(counts: dict[str, int], wanted: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in wanted:
        if name in counts:
            out[name] = counts[name]
        elif name in ORGANIC_RATES and counts["IMPRESSION"]:
            out[name] = counts[ORGANIC_RATES[name]] / counts["IMPRESSION"]
    return out


def user_account_analytics(params: Params, seed: int, universe: V5Universe) -> dict[str, Any]:
    """`{split value: {daily_metrics, summary_metrics}}`: the token user's organic numbers, from
    the seed and the day; splits and filters take exact shares of each day's counts."""
    today = today_of(universe)
    start = parse_day(one(params, "start_date"), "start_date")
    end = parse_day(one(params, "end_date"), "end_date")
    days = date_range(start, end, today, "DAY", SYNC_BACK_DAYS, SYNC_SPAN_DAYS)
    every = (*ORGANIC_METRICS, *ORGANIC_RATES)
    wanted = pages.enum_values(params, "metric_types", every) or list(every)
    split = (pages.enum_values(params, "split_field", tuple(SPLITS)) or ["NO_SPLIT"])[-1]
    filters: list[tuple[str, str]] = []
    for param, (dimension, allowed) in FILTERS.items():
        value = (pages.enum_values(params, param, allowed) or [allowed[0]])[-1]
        if value != allowed[0]:  # a value with no organic share (ADS_* formats) keeps nothing
            filters.append((dimension, value if value in SPLITS[dimension] else ""))
    ad_account = one(params, "ad_account_id")
    if ad_account is not None and not pages.DIGITS.match(ad_account):
        raise invalid(f"'ad_account_id' value '{ad_account}' must match the pattern: ^\\d+$")
    groups: dict[str, dict[str, Any]] = {}
    for label in SPLITS[split]:
        daily: list[dict[str, Any]] = []
        summary = dict.fromkeys(ORGANIC_METRICS, 0)
        for day in (d for d in days if d < today):
            counts = organic_day(seed, day)
            for dimension, keep in [*filters, *([(split, label)] if label != "all" else [])]:
                counts = {name: share(day, dimension, name, n, keep) for name, n in counts.items()}
            for name, count in counts.items():
                summary[name] += count
            daily.append(
                {
                    "date": iso_day(day),
                    "data_status": "READY" if day < today - 1 else "PROCESSING",
                    "metrics": organic_metrics(counts, wanted),
                }
            )
        groups[label] = {
            "daily_metrics": daily,
            "summary_metrics": organic_metrics(summary, wanted),
        }
    return groups
