"""The v5 settings (Meltano Hub's tap-pinterest uses the same credential names) and their
checks beyond what the JSON schema expresses."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from singer_sdk import typing as th

from tap_pinterest_ads.config_checks import check_api_url, invalid_setting
from tap_pinterest_ads.dates import parse_day
from tap_pinterest_ads.marketing.columns import enums

DEFAULT_V5_API_URL = "https://api.pinterest.com/v5"
ENTITY_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT")
CREDENTIALS = ("client_id", "client_secret", "refresh_token", "access_token")
DEFAULT_PARALLEL_REQUESTS = 4
MAX_PARALLEL_REQUESTS = 16
_ACCOUNT_ID = re.compile(r"^\d{1,18}$")

_ACCESS_PROPERTIES = (
    th.Property(
        "client_id",
        th.StringType,
        secret=True,
        description="Pinterest app id (developers.pinterest.com/apps). With `client_secret` and "
        "`refresh_token` it turns on the v5 streams.",
    ),
    th.Property("client_secret", th.StringType, secret=True, description="Pinterest app secret."),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description="The first refresh token of the app's OAuth grant. Pinterest rotates it on "
        "every refresh: set `token_store_path` so the new one survives the run.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        description="Optional access token used until it expires (then the refresh token is).",
    ),
    th.Property(
        "v5_api_url",
        th.StringType,
        default=DEFAULT_V5_API_URL,
        description="Pinterest API v5 base; tokens come from {v5_api_url}/oauth/token. https "
        "only, except a loopback host (the sandbox serves it under /v5).",
    ),
    th.Property(
        "ad_account_ids",
        th.ArrayType(th.StringType),
        description="Only these ad accounts (ids as strings). Default: every account the token "
        "can read.",
    ),
    th.Property(
        "token_store_path",
        th.StringType,
        description="File where the tap keeps the rotated refresh token (written atomically, "
        "mode 0600) and reads it first on the next run.",
    ),
    th.Property(
        "entity_statuses",
        th.ArrayType(th.StringType),
        default=list(ENTITY_STATUSES),
        description="Statuses of campaigns, ad groups and ads to read. The API's own default is "
        "ACTIVE and PAUSED only, which hides archived and draft objects.",
    ),
    th.Property(
        "max_parallel_requests",
        th.IntegerType(minimum=1, maximum=MAX_PARALLEL_REQUESTS),
        default=DEFAULT_PARALLEL_REQUESTS,
        description="v5 requests in flight at once: the ad accounts of a stream are read "
        "together, and the calls of a daily analytics stream (250 ids each) too; records and "
        "STATE still come out as from one request at a time, within the rate limits. 1 reads "
        "one request at a time.",
    ),
)


@dataclass(frozen=True)
class V5Settings:
    api_url: str
    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    access_token: str | None
    token_store_path: Path | None
    ad_account_ids: tuple[str, ...]
    entity_statuses: tuple[str, ...]
    max_parallel_requests: int


def configured(config: Mapping[str, Any]) -> bool:
    """Whether the user meant to run the v5 family at all."""
    return any(config.get(name) for name in CREDENTIALS)


def parse_v5_settings(config: Mapping[str, Any]) -> V5Settings:
    store = config.get("token_store_path")
    can_refresh = all(config.get(n) for n in ("client_id", "client_secret"))
    has_grant = config.get("refresh_token") or (store and Path(store).is_file())
    if not config.get("access_token") and not (can_refresh and has_grant):
        missing = [n for n in ("client_id", "client_secret") if not config.get(n)]
        raise invalid_setting(
            missing[0] if missing else "refresh_token",
            "the v5 streams need `client_id`, `client_secret` and `refresh_token` (or a token "
            "in `token_store_path`), or an `access_token`",
        )
    accounts = tuple(str(i).strip() for i in config.get("ad_account_ids") or ())
    for index, account in enumerate(accounts):
        if not _ACCOUNT_ID.match(account):
            raise invalid_setting(
                f"ad_account_ids[{index}]", f"{account!r} is not an ad account id (digits)"
            )
    statuses = tuple(str(s).upper() for s in config.get("entity_statuses") or ENTITY_STATUSES)
    for index, status in enumerate(statuses):
        if status not in ENTITY_STATUSES:
            allowed = ", ".join(ENTITY_STATUSES)
            problem = f"{status!r} is not one of {allowed}"
            raise invalid_setting(f"entity_statuses[{index}]", problem)
    parallel = _whole_number(
        config, "max_parallel_requests", DEFAULT_PARALLEL_REQUESTS, 1, MAX_PARALLEL_REQUESTS
    )
    return V5Settings(
        api_url=check_api_url("v5_api_url", str(config.get("v5_api_url") or DEFAULT_V5_API_URL)),
        client_id=config.get("client_id"),
        client_secret=config.get("client_secret"),
        refresh_token=config.get("refresh_token"),
        access_token=config.get("access_token"),
        token_store_path=Path(store).expanduser() if store else None,
        ad_account_ids=tuple(dict.fromkeys(accounts)),
        entity_statuses=statuses,
        max_parallel_requests=parallel,
    )


# -- analytics and reports (issue 9) --------------------------------------------------------

DEFAULT_LOOKBACK_DAYS = 30
MAX_LOOKBACK_DAYS = 365
DEFAULT_REPORTS_IN_FLIGHT = 4
MAX_REPORTS_IN_FLIGHT = 10
# Spend, delivery, clicks (pin clicks were closeups), saves, engagement, video, conversions and
# their values: what a performance dashboard asks for first. All in both column enums.
DEFAULT_COLUMNS = (
    "SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION", "TOTAL_IMPRESSION", "IMPRESSION_1",
    "IMPRESSION_2", "TOTAL_CLICKTHROUGH", "CLICKTHROUGH_1", "CLICKTHROUGH_2",
    "OUTBOUND_CLICK_1", "OUTBOUND_CLICK_2", "CTR", "CPC_IN_MICRO_DOLLAR", "CPM_IN_MICRO_DOLLAR",
    "REPIN_1", "REPIN_2", "REPIN_RATE", "TOTAL_ENGAGEMENT", "ENGAGEMENT_1", "ENGAGEMENT_2",
    "ENGAGEMENT_RATE", "TOTAL_VIDEO_3SEC_VIEWS", "TOTAL_VIDEO_MRC_VIEWS",
    "TOTAL_VIDEO_P25_COMBINED", "TOTAL_VIDEO_P50_COMBINED", "TOTAL_VIDEO_P75_COMBINED",
    "TOTAL_VIDEO_P100_COMPLETE", "TOTAL_VIDEO_AVG_WATCHTIME_IN_SECOND", "TOTAL_CONVERSIONS",
    "TOTAL_PAGE_VISIT", "TOTAL_SIGNUP", "TOTAL_SIGNUP_VALUE_IN_MICRO_DOLLAR", "TOTAL_LEAD",
    "TOTAL_CHECKOUT", "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_CUSTOM",
    "TOTAL_CUSTOM_VALUE_IN_MICRO_DOLLAR", "TOTAL_CLICK_CHECKOUT",
    "TOTAL_CLICK_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_VIEW_CHECKOUT",
    "TOTAL_VIEW_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_ENGAGEMENT_CHECKOUT",
    "TOTAL_ENGAGEMENT_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_WEB_SESSIONS", "CHECKOUT_ROAS",
)  # fmt: skip
DEFAULT_TARGETING_TYPES = ("APPTYPE", "COUNTRY", "GENDER", "AGE_BUCKET", "PLACEMENT")
MAX_TARGETING_TYPES = 5  # the spec's maxItems
REPORT_GRANULARITIES = ("DAY", "WEEK", "MONTH")  # TOTAL and HOUR rows carry no usable key
WINDOWS = {"click_window_days": 30, "engagement_window_days": 30, "view_window_days": 1}
_NAME = re.compile(r"[^0-9a-z]+")


def _spec(name: str) -> tuple[Any, ...]:
    return enums()[name]


def _window(name: str, default: int, what: str) -> th.Property[Any]:
    return th.Property(
        name,
        th.IntegerType,
        default=default,
        allowed_values=list(_spec("window_days")),
        description=f"Conversion attribution window for {what}, days (Pinterest's default "
        f"{default}).",
    )


_ATTRIBUTION = (
    _window("click_window_days", 30, "a pin click"),
    _window("engagement_window_days", 30, "an engagement (save, closeup, click, swipe)"),
    _window("view_window_days", 1, "a view"),
    th.Property(
        "conversion_report_time",
        th.StringType,
        default="TIME_OF_AD_ACTION",
        allowed_values=list(_spec("conversion_report_times")),
        description="Report conversions on the day of the ad action (Pinterest's default) or "
        "of the conversion.",
    ),
)
ANALYTICS_PROPERTIES = (
    th.Property(
        "analytics_lookback_days",
        th.IntegerType(minimum=0, maximum=MAX_LOOKBACK_DAYS),
        default=DEFAULT_LOOKBACK_DAYS,
        description="Days behind the bookmark each analytics and report sync reads again, "
        "because conversions are attributed late: rows are updated in place (same key).",
    ),
    th.Property(
        "analytics_columns",
        th.ArrayType(th.StringType),
        default=list(DEFAULT_COLUMNS),
        description="Metric columns of the daily analytics and report streams, from the spec's "
        "sync column list (e.g. SPEND_IN_MICRO_DOLLAR, TOTAL_IMPRESSION, TOTAL_CONVERSIONS). "
        "Default: spend, impressions, clicks, saves, engagement, video, conversions and values.",
    ),
    *_ATTRIBUTION,
    th.Property(
        "report_targeting_types",
        th.ArrayType(th.StringType),
        default=list(DEFAULT_TARGETING_TYPES),
        description=f"Targeting breakdowns of the *_targeting_report streams (at most "
        f"{MAX_TARGETING_TYPES}, from the spec's list, e.g. KEYWORD, LOCATION, GENDER).",
    ),
    th.Property(
        "reports_in_flight",
        th.IntegerType(minimum=1, maximum=MAX_REPORTS_IN_FLIGHT),
        default=DEFAULT_REPORTS_IN_FLIGHT,
        description="Async report jobs one stream keeps running at once (each is polled with "
        "backoff; all requests share the v5 pace).",
    ),
    th.Property(
        "custom_reports",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True),
                th.Property("level", th.StringType, required=True),
                th.Property("granularity", th.StringType, default="DAY"),
                th.Property("columns", th.ArrayType(th.StringType), required=True),
                th.Property("targeting_types", th.ArrayType(th.StringType)),
                th.Property("start_date", th.DateType),
                th.Property("attribution_types", th.ArrayType(th.StringType)),
                *(th.Property(p.name, p.wrapped) for p in _ATTRIBUTION),
                additional_properties=True,  # unknown keys get a precise error below
            )
        ),
        description="Async reports of your own, each the stream `custom_<name>`: `name`, "
        f"`level` ({', '.join(_spec('levels'))}), `granularity` "
        f"({', '.join(REPORT_GRANULARITIES)}), `columns` (the spec's async column list), "
        "optional `targeting_types` (a *_TARGETING level), `start_date`, `attribution_types` "
        "and the four attribution settings above (default: the top-level ones).",
    ),
)
V5_PROPERTIES = (*_ACCESS_PROPERTIES, *ANALYTICS_PROPERTIES)


@dataclass(frozen=True)
class Attribution:
    click_window_days: int
    engagement_window_days: int
    view_window_days: int
    conversion_report_time: str
    attribution_types: tuple[str, ...] = ()

    def query(self) -> dict[str, Any]:
        """The parameters (query or report body) that say how conversions are attributed."""
        sent: dict[str, Any] = {
            "click_window_days": self.click_window_days,
            "engagement_window_days": self.engagement_window_days,
            "view_window_days": self.view_window_days,
            "conversion_report_time": self.conversion_report_time,
        }
        if self.attribution_types:
            sent["attribution_types"] = list(self.attribution_types)
        return sent


@dataclass(frozen=True)
class CustomReport:
    name: str
    stream: str
    level: str
    granularity: str
    columns: tuple[str, ...]
    targeting_types: tuple[str, ...]
    attribution: Attribution
    start_date: dt.date | None


@dataclass(frozen=True)
class AnalyticsSettings:
    start_date: dt.date | None
    lookback_days: int
    columns: tuple[str, ...]
    attribution: Attribution
    targeting_types: tuple[str, ...]
    reports_in_flight: int
    custom_reports: tuple[CustomReport, ...]


def _choices(
    setting: str, values: Any, allowed: tuple[Any, ...], *, upper: bool = True
) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise invalid_setting(setting, "must be a non-empty list")
    chosen = []
    for index, value in enumerate(values):
        text = str(value).strip().upper() if upper else value
        if text not in allowed:
            guess = difflib.get_close_matches(str(text), [str(a) for a in allowed], n=1)
            hint = f"; did you mean {guess[0]}?" if guess else ""
            raise invalid_setting(
                f"{setting}[{index}]", f"{value!r} is not in the spec's list{hint}"
            )
        chosen.append(text)
    return tuple(dict.fromkeys(chosen))


def _choice(setting: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise invalid_setting(setting, f"{value!r} is not one of {choices}")
    return value


def _attribution(config: Mapping[str, Any], prefix: str, base: Attribution | None) -> Attribution:
    values: dict[str, Any] = {}
    for name, default in WINDOWS.items():
        fallback = getattr(base, name) if base else default
        values[name] = _choice(f"{prefix}{name}", config.get(name, fallback), _spec("window_days"))
    report_time = config.get("conversion_report_time") or (
        base.conversion_report_time if base else "TIME_OF_AD_ACTION"
    )
    types = config.get("attribution_types")
    return Attribution(
        **values,
        conversion_report_time=_choice(
            f"{prefix}conversion_report_time", report_time, _spec("conversion_report_times")
        ),
        attribution_types=_choices(f"{prefix}attribution_types", types, _spec("attribution_types"))
        if types is not None
        else (),
    )


def _custom_report(index: int, entry: Any, base: Attribution, taken: set[str]) -> CustomReport:
    where = f"custom_reports[{index}]"
    if not isinstance(entry, Mapping):
        raise invalid_setting(where, "must be an object with name, level and columns")
    known = {"name", "level", "granularity", "columns", "targeting_types", "start_date",
             "attribution_types", "conversion_report_time", *WINDOWS}  # fmt: skip
    unknown = sorted(set(entry) - known)
    if unknown:
        raise invalid_setting(
            f"{where}.{unknown[0]}", f"unknown; known: {', '.join(sorted(known))}"
        )
    name = str(entry.get("name") or "").strip()
    stream = "custom_" + _NAME.sub("_", name.lower()).strip("_")
    if stream == "custom_":
        raise invalid_setting(f"{where}.name", "must hold a letter or digit")
    if stream in taken:
        raise invalid_setting(f"{where}.name", f"{name!r} gives the stream {stream}, used twice")
    taken.add(stream)
    level = _choice(f"{where}.level", str(entry.get("level", "")).upper(), _spec("levels"))
    granularity = _choice(
        f"{where}.granularity", str(entry.get("granularity") or "DAY").upper(), REPORT_GRANULARITIES
    )
    columns = _choices(f"{where}.columns", entry.get("columns"), _spec("async_columns"))
    targeting: tuple[str, ...] = ()
    if entry.get("targeting_types") is not None:
        targeting = _choices(
            f"{where}.targeting_types", entry["targeting_types"], _spec("targeting_types")
        )
        if not level.endswith("_TARGETING"):
            raise invalid_setting(
                f"{where}.targeting_types", f"needs a *_TARGETING level, not {level}"
            )
        if len(targeting) > MAX_TARGETING_TYPES:
            raise invalid_setting(f"{where}.targeting_types", f"at most {MAX_TARGETING_TYPES}")
    elif level.endswith("_TARGETING"):
        targeting = DEFAULT_TARGETING_TYPES
    start = entry.get("start_date")
    start_day = parse_day(start) if start is not None else None
    if start is not None and start_day is None:
        raise invalid_setting(f"{where}.start_date", f"{start!r} is not a date (YYYY-MM-DD)")
    return CustomReport(
        name=name,
        stream=stream,
        level=level,
        granularity=granularity,
        columns=columns,
        targeting_types=targeting,
        attribution=_attribution(entry, f"{where}.", base),
        start_date=start_day,
    )


def _whole_number(config: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_setting(name, f"{value!r} is not a whole number from {low} to {high}")
    return value


def parse_analytics_settings(config: Mapping[str, Any]) -> AnalyticsSettings:
    lookback = _whole_number(
        config, "analytics_lookback_days", DEFAULT_LOOKBACK_DAYS, 0, MAX_LOOKBACK_DAYS
    )
    in_flight = _whole_number(
        config, "reports_in_flight", DEFAULT_REPORTS_IN_FLIGHT, 1, MAX_REPORTS_IN_FLIGHT
    )
    columns = _choices(
        "analytics_columns",
        config.get("analytics_columns", list(DEFAULT_COLUMNS)),
        _spec("sync_columns"),
    )
    targeting = _choices(
        "report_targeting_types",
        config.get("report_targeting_types", list(DEFAULT_TARGETING_TYPES)),
        _spec("targeting_types"),
    )
    if len(targeting) > MAX_TARGETING_TYPES:
        raise invalid_setting("report_targeting_types", f"at most {MAX_TARGETING_TYPES} types")
    base = _attribution(config, "", None)
    taken: set[str] = set()
    reports = config.get("custom_reports") or []
    if not isinstance(reports, list):
        raise invalid_setting("custom_reports", "must be a list of report objects")
    return AnalyticsSettings(
        start_date=parse_day(config["start_date"]) if config.get("start_date") else None,
        lookback_days=lookback,
        columns=columns,
        attribution=base,
        targeting_types=targeting,
        reports_in_flight=in_flight,
        custom_reports=tuple(_custom_report(i, e, base, taken) for i, e in enumerate(reports)),
    )
