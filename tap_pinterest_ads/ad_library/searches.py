"""Config checks the JSON schema cannot express, done before any request.

Every error names the setting it is about, e.g. `searches[1].mediatype`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_pinterest_ads.config_checks import invalid_setting
from tap_pinterest_ads.dates import parse_day

ENUM_FILTERS: dict[str, tuple[str, ...]] = {
    "searchkeyword": ("All", "landingurl", "storeurl", "pagename", "adtext", "productname"),
    "mediatype": ("videos", "video", "images", "image"),
    "pagetype": ("product", "products", "collection", "collections"),
    "adscorefilter": ("winning", "scaling", "testing"),
}
# Lists the API takes as "All" or comma-separated values.
LIST_FILTERS = ("countries", "niches", "languages", "technologies", "website")
TEXT_FILTERS = ("keyword", "pageid", "productid", "gender")
RANGE_FILTERS = ("likes", "comments", "shares", "traffic", "price", "days")
NUMBER_FILTERS = tuple(f"{bound}{name}" for name in RANGE_FILTERS for bound in ("min", "max"))
DATE_RANGES = (("from", "to"), ("fromlastseen", "tolastseen"), ("product_from", "product_to"))
DATE_FILTERS = tuple(name for pair in DATE_RANGES for name in pair)
FILTERS = (*TEXT_FILTERS, *ENUM_FILTERS, *LIST_FILTERS, *NUMBER_FILTERS, *DATE_FILTERS)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_API_URL = "https://app.winninghunter.com"


@dataclass(frozen=True)
class Search:
    """One configured ad-library search: a name (its state partition) and API filters."""

    name: str
    filters: Mapping[str, str] = field(default_factory=dict)


def _as_list_param(setting: str, value: Any) -> str:
    items = value if isinstance(value, list) else str(value).split(",")
    cleaned = [str(item).strip() for item in items if str(item).strip()]
    if not cleaned:
        raise invalid_setting(setting, "give `All` or at least one value")
    if any("," in item for item in cleaned):
        raise invalid_setting(setting, "list items must not contain commas")
    return ",".join(cleaned)


def _as_number(setting: str, value: Any) -> float:
    if isinstance(value, bool):
        raise invalid_setting(setting, f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid_setting(setting, f"expected a number, got {value!r}") from None
    if number < 0:
        raise invalid_setting(setting, "must be >= 0")
    return number


def parse_search(index: int, raw: Mapping[str, Any]) -> Search:
    where = f"searches[{index}]"
    if not isinstance(raw, Mapping):
        raise invalid_setting(where, "each search is an object with a `name` and filters")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid_setting(
            f"{where}.name",
            "required; 1-64 characters of letters, digits, `_`, `-`, `.`, starting with a "
            "letter or digit",
        )
    unknown = sorted(set(raw) - {"name", *FILTERS})
    if unknown:
        raise invalid_setting(
            f"{where}.{unknown[0]}", f"unknown filter; known filters: {', '.join(FILTERS)}"
        )

    params: dict[str, str] = {}
    for key, value in raw.items():
        setting = f"{where}.{key}"
        if key == "name" or value is None:
            continue
        if key in ENUM_FILTERS:
            allowed = ENUM_FILTERS[key]
            match = next((a for a in allowed if a.lower() == str(value).lower()), None)
            if match is None:
                raise invalid_setting(setting, f"{value!r} is not one of {', '.join(allowed)}")
            params[key] = match
        elif key in LIST_FILTERS:
            params[key] = _as_list_param(setting, value)
        elif key in NUMBER_FILTERS:
            number = _as_number(setting, value)
            params[key] = str(int(number)) if number.is_integer() else str(number)
        elif key in DATE_FILTERS:
            day = parse_day(value)
            if day is None:
                raise invalid_setting(setting, f"{value!r} is not a date (use YYYY-MM-DD)")
            params[key] = day.isoformat()
        else:
            text = str(value).strip()
            if not text:
                raise invalid_setting(setting, "must not be empty")
            params[key] = text

    for name_ in RANGE_FILTERS:
        low, high = params.get(f"min{name_}"), params.get(f"max{name_}")
        if low is not None and high is not None and float(low) > float(high):
            raise invalid_setting(
                f"{where}.min{name_}", f"min{name_} {low} is above max{name_} {high}"
            )
    for start, end in DATE_RANGES:
        if start in params and end in params and params[start] > params[end]:
            raise invalid_setting(
                f"{where}.{start}", f"{start} {params[start]} is after {end} {params[end]}"
            )
    return Search(name=name, filters=params)


def parse_searches(raw: Sequence[Mapping[str, Any]] | None) -> tuple[Search, ...]:
    """With no searches configured, one unfiltered search named `all` runs."""
    if not raw:
        return (Search(name="all"),)
    searches = tuple(parse_search(i, item) for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, search in enumerate(searches):
        if search.name in seen:
            raise invalid_setting(
                f"searches[{i}].name", f"{search.name!r} is used twice; names must be unique"
            )
        seen.add(search.name)
    return searches
