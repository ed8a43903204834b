"""Query parsing, filtering, sorting, scroll tokens and paging: pure functions over row dicts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .data import Row

MAX_LIMIT = 50
DEFAULT_LIMIT = 20
TOTAL_CAP = 10_000
ADSCORE_CAP = 20
UNPARSED = -1  # sort value for a datefound that does not parse: older than any real instant
UNPARSED_FIRST = 2**53  # the same when undated rows sort first: newer than any instant

# canonical name -> alias (the canonical spelling wins when both are sent)
ALIASES = {
    "pageid": "pageidfromurl",
    "productid": "product",
    "languages": "language",
    "website": "technologies",
    "sorting": "trier",
    "adscorefilter": "adscore",
}
# enum param -> {accepted lower-case value: normalized value}
ENUMS: dict[str, dict[str, str]] = {
    "searchkeyword": {
        v.lower(): v.lower()
        for v in ("All", "landingurl", "storeurl", "pagename", "adtext", "productname")
    },
    "gender": {v: v for v in ("all", "female", "male")},
    "mediatype": {"videos": "video", "video": "video", "images": "image", "image": "image"},
    "pagetype": {
        "product": "product",
        "products": "product",
        "collection": "collection",
        "collections": "collection",
    },
    "sorting": {
        v: v
        for v in (
            "datefound",
            "comments",
            "likes",
            "shares",
            "reactions",
            "lastseen",
            "daysrunning",
        )
    },
    "sortdirection": {"desc": "desc", "asc": "asc"},
    "adscorefilter": {v: v for v in ("winning", "scaling", "testing")},
}
ALLOWED_VALUES = {
    "searchkeyword": ["All", "landingurl", "storeurl", "pagename", "adtext", "productname"],
    "gender": ["all", "female", "male"],
    "mediatype": ["videos", "video", "images", "image"],
    "pagetype": ["product", "products", "collection", "collections"],
    "sorting": list(ENUMS["sorting"]),
    "sortdirection": ["desc", "asc"],
    "adscorefilter": ["winning", "scaling", "testing"],
}
EXAMPLES = {
    "searchkeyword": "All",
    "gender": "female",
    "mediatype": "video",
    "pagetype": "product",
    "sorting": "datefound",
    "sortdirection": "desc",
    "adscorefilter": "winning",
}
# list params: name -> case normalizer
LISTS: dict[str, Callable[[str], str]] = {
    "countries": str.upper,
    "niches": str.upper,
    "languages": str.lower,
    "website": str.lower,
}
# min/max params: stem -> row field
RANGES = {
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "traffic": "store_traffic",
    "price": "shopify_productprice",
    "days": "daysrunning",
}
# date params: (from-param, to-param) -> row field holding a Y-m-d (prefix)
DATE_RANGES = {
    ("from", "to"): "started",
    ("fromlastseen", "tolastseen"): "lastseen",
    ("product_from", "product_to"): "product_created",
}
KEYWORD_FIELDS = {
    "landingurl": ("landing_url", "link"),
    "storeurl": ("domain", "shopify_shopifydomain"),
    "pagename": ("page_name",),
    "adtext": ("ad_text", "title", "description"),
    "productname": ("product_name",),
}
KEYWORD_FIELDS["all"] = tuple(f for fields in KEYWORD_FIELDS.values() for f in fields)
_YMD = re.compile(r"\d{4}-\d{2}-\d{2}")


class QueryError(Exception):
    """A 400 answer; `body` is the JSON error payload."""

    def __init__(self, body: dict[str, Any], *, scroll: bool = False) -> None:
        super().__init__(body["error"])
        self.body = body
        self.scroll = scroll  # a scroll-token error, whose status is a quirk switch

    @classmethod
    def invalid(cls, what: str, value: str, sent: str, hint: str, **extra: Any) -> QueryError:
        """The documented 400 body for a bad parameter value."""
        error = f"Invalid {what} '{value}' for '{sent}'"
        return cls({"success": False, "error": error, **extra, "hint": hint})


def invalid_scroll() -> QueryError:
    return QueryError(
        {
            "success": False,
            "error": "Invalid or expired scroll token",
            "hint": "Restart the search from the first page (omit scroll)",
        },
        scroll=True,
    )


def scroll_mismatch() -> QueryError:
    return QueryError(
        {
            "success": False,
            "error": "Scroll token does not match current query filters",
            "hint": "Send the same filters and sorting as the request that returned the token, "
            "or omit scroll to start over",
        },
        scroll=True,
    )


@dataclass(frozen=True)
class Query:
    filters: dict[str, Any]  # normalized, only the ones that are set
    sorting: str
    direction: str
    limit: int
    page: int
    scroll: str

    @property
    def canonical(self) -> dict[str, Any]:
        return {**self.filters, "sorting": self.sorting, "sortdirection": self.direction}

    @property
    def filter_hash(self) -> str:
        blob = json.dumps(self.canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _get(params: Mapping[str, str], name: str) -> tuple[str, str]:
    """(name as sent, stripped value); empty means unset, like the dashboard's blank keys."""
    value = (params.get(name) or "").strip()
    alias = ALIASES.get(name)
    if not value and alias:
        alias_value = (params.get(alias) or "").strip()
        if alias_value:
            return alias, alias_value
    return name, value


def _enum(params: Mapping[str, str], name: str) -> str | None:
    sent, value = _get(params, name)
    if not value:
        return None
    normalized = ENUMS[name].get(value.lower())
    if normalized is None:
        raise QueryError.invalid(
            "value",
            value,
            sent,
            f"Use one of the allowed values, e.g. {sent}={EXAMPLES[name]}",
            allowed_values=ALLOWED_VALUES[name],
        )
    return normalized


def _number(params: Mapping[str, str], name: str) -> float | None:
    sent, value = _get(params, name)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise QueryError.invalid("number", value, sent, f"Use a number, e.g. {sent}=100")
    return number


def _date(params: Mapping[str, str], name: str) -> str | None:
    sent, value = _get(params, name)
    if not value:
        return None
    try:
        if not _YMD.fullmatch(value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise QueryError.invalid("date", value, sent, "Dates use Y-m-d, e.g. 2026-01-31") from None
    return value


def _int(params: Mapping[str, str], name: str, default: int, minimum: int, hint: str) -> int:
    sent, value = _get(params, name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise QueryError.invalid("value", value, sent, hint)
    return number


def parse(params: Mapping[str, str]) -> Query:
    """Validate API params (raises QueryError with the 400 body) into a normalized Query."""
    filters: dict[str, Any] = {}
    keyword = [k.strip().lower() for k in _get(params, "keyword")[1].split(",") if k.strip()]
    scope = _enum(params, "searchkeyword") or "all"
    if keyword:
        filters["keyword"] = keyword
        filters["searchkeyword"] = scope
    for name, norm in LISTS.items():
        values = sorted({norm(v.strip()) for v in _get(params, name)[1].split(",") if v.strip()})
        if values and norm("all") not in values:
            filters[name] = values
    for name in ("pageid", "productid"):
        value = _get(params, name)[1]
        if value:
            filters[name] = value
    for name in ("gender", "mediatype", "pagetype", "adscorefilter"):
        choice = _enum(params, name)
        if choice and not (name == "gender" and choice == "all"):
            filters[name] = choice
    for stem in RANGES:
        for bound in ("min", "max"):
            number = _number(params, bound + stem)
            if number is not None:
                filters[bound + stem] = number
    for pair in DATE_RANGES:
        for name in pair:
            day = _date(params, name)
            if day is not None:
                filters[name] = day
    return Query(
        filters=filters,
        sorting=_enum(params, "sorting") or "datefound",
        direction=_enum(params, "sortdirection") or "desc",
        limit=min(
            MAX_LIMIT, _int(params, "limit", DEFAULT_LIMIT, 1, "limit must be between 1 and 50")
        ),
        page=_int(params, "page", 0, 0, "page is 0-based, e.g. page=0"),
        scroll=_get(params, "scroll")[1],
    )


Predicate = Callable[[Row], bool]


def _one_of(field: str, allowed: set[str]) -> Predicate:
    return lambda row: row[field] in allowed


def _overlaps(field: str, wanted: set[str]) -> Predicate:
    return lambda row: not wanted.isdisjoint(row[field])


def _between(field: str, low: Any, high: Any, prefix: int | None = None) -> Predicate:
    # A null field never satisfies a bound: prices and traffic are often null.
    def check(row: Row) -> bool:
        value = row[field]
        if value is None:
            return False
        if prefix is not None:
            value = value[:prefix]
        return (low is None or value >= low) and (high is None or value <= high)

    return check


def _keyword(terms: list[str], fields: tuple[str, ...]) -> Predicate:
    def check(row: Row) -> bool:
        text = "\n".join(row[f] for f in fields if row[f] is not None).lower()
        return any(term in text for term in terms)

    return check


EQUALS = {
    "niches": "niche_v2",
    "languages": "language",
    "pageid": "page_id",
    "productid": "shopify_productid",
    "gender": "gender",
    "mediatype": "media_type",
    "pagetype": "page_type",
}


def _predicates(filters: Mapping[str, Any]) -> list[Predicate]:
    preds: list[Predicate] = []
    if "keyword" in filters:
        preds.append(_keyword(filters["keyword"], KEYWORD_FIELDS[filters["searchkeyword"]]))
    if "countries" in filters:
        preds.append(_overlaps("countries", set(filters["countries"])))
    if "website" in filters:
        preds.append(_overlaps("technologies", set(filters["website"])))
    for name, field in EQUALS.items():
        if name in filters:
            value = filters[name]
            preds.append(_one_of(field, set(value) if isinstance(value, list) else {value}))
    if "adscorefilter" in filters:
        preds.append(_one_of("adscore", {filters["adscorefilter"].capitalize()}))
    for stem, field in RANGES.items():
        low, high = filters.get("min" + stem), filters.get("max" + stem)
        if low is not None or high is not None:
            preds.append(_between(field, low, high))
    for (start, end), field in DATE_RANGES.items():
        low, high = filters.get(start), filters.get(end)
        if low is not None or high is not None:
            preds.append(_between(field, low, high, prefix=10))
    return preds


def parse_datefound(value: object) -> int | None:
    """Epoch seconds of a served datefound in any of its formats (naive means UTC)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return int((when - datetime(1970, 1, 1)).total_seconds())
    return int(when.timestamp())


def sort_value(row: Row, sorting: str, undated: int = UNPARSED) -> Any:
    if sorting == "datefound":
        parsed = parse_datefound(row["datefound"])
        return undated if parsed is None else parsed
    return row[sorting]


@dataclass(frozen=True)
class Result:
    """Matching rows in the requested order, plus ascending (sort value, id) keys for seeking."""

    rows: list[Row]
    asc_keys: list[tuple[Any, str]]
    descending: bool
    sorting: str
    undated: int  # the sort value of an unparseable datefound

    def key(self, row: Row) -> tuple[Any, str]:
        return sort_value(row, self.sorting, self.undated), row["id"]

    def after(self, key: tuple[Any, str]) -> int:
        """Index in `rows` of the first row strictly after `key` in the requested order."""
        if self.descending:
            return len(self.asc_keys) - bisect_left(self.asc_keys, key)
        return bisect_right(self.asc_keys, key)


def run(rows: Sequence[Row], query: Query, undated_first: bool = False) -> Result:
    undated = UNPARSED_FIRST if undated_first else UNPARSED
    preds = _predicates(query.filters)
    matches = [row for row in rows if all(p(row) for p in preds)]
    keyed = sorted(((sort_value(r, query.sorting, undated), r["id"]), r) for r in matches)
    asc_keys = [k for k, _ in keyed]
    ordered = [r for _, r in keyed]
    descending = query.direction == "desc"
    if descending:
        ordered.reverse()
    if "adscorefilter" in query.filters:  # the real endpoint scores after searching, top 20 only
        ordered = ordered[:ADSCORE_CAP]
        asc_keys = sorted((sort_value(r, query.sorting, undated), r["id"]) for r in ordered)
    return Result(ordered, asc_keys, descending, query.sorting, undated)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def scroll_secret(seed: int) -> bytes:
    return hashlib.sha256(f"tap-pinterest-ads-sandbox:{seed}".encode()).digest()


def encode_scroll(secret: bytes, payload: Mapping[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:18])
    return f"sa:{body}.{signature}"


def decode_scroll(secret: bytes, token: str) -> dict[str, Any]:
    """The signed payload, or QueryError(invalid) for anything forged or mangled."""
    try:
        body, signature = token.removeprefix("sa:").split(".")
        expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:18])
        if not token.startswith("sa:") or not hmac.compare_digest(signature, expected):
            raise ValueError("bad signature")
        payload = json.loads(_unb64(body))
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:  # includes binascii.Error and JSONDecodeError
        raise invalid_scroll() from None
    return payload


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    size: int
    last_key: tuple[Any, str] | None  # set when more rows follow


def first_page(result: Result, query: Query, honour_page: bool = True) -> Page:
    start = query.page * query.limit if honour_page else 0
    return _slice(result, start, query.limit, query)


def page_after(result: Result, key: tuple[Any, str], size: int, query: Query) -> Page:
    return _slice(result, result.after(key), size, query)


def _slice(result: Result, start: int, size: int, query: Query) -> Page:
    rows = result.rows[start : start + size]
    more = start + size < len(result.rows) and "adscorefilter" not in query.filters
    last = result.key(rows[-1]) if rows and more else None
    return Page(rows, size, last)


def scroll_payload(query: Query, page: Page, issued: float, generation: int) -> dict[str, Any]:
    assert page.last_key is not None
    value, last_id = page.last_key
    return {
        "f": query.filter_hash,
        "k": value,
        "i": last_id,
        "n": page.size,
        "t": round(issued, 3),
        "g": generation,
    }


def check_scroll(
    payload: Mapping[str, Any], query: Query, now: float, ttl: float, generation: int
) -> tuple[tuple[Any, str], int]:
    """The (sort key, id) to search after and the page size, or the matching QueryError."""
    try:
        key = (payload["k"], str(payload["i"]))
        size, issued, gen = int(payload["n"]), float(payload["t"]), int(payload["g"])
        bound_to = payload["f"]
        fresh = now - issued <= ttl and gen >= generation and 1 <= size <= MAX_LIMIT
    except (KeyError, TypeError, ValueError):
        fresh = False
    if not fresh:
        raise invalid_scroll()
    if bound_to != query.filter_hash:
        raise scroll_mismatch()
    return key, size
