"""Query parameters and bookmark pagination as the v5 list endpoints take them."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .data import DEFAULT_STATUSES, STATUSES, Row

Params = dict[str, list[str]]  # every value of each query parameter, in the order sent
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 250
MAX_IDS = 250
DIGITS = re.compile(r"^\d{1,18}$")


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message}


def invalid(message: str) -> ApiError:
    return ApiError(400, 1, message)


def one(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def listed(params: Params, name: str) -> list[str]:
    """An array parameter: repeated keys (the spec's form style) or comma-joined, or both."""
    return [part for value in params.get(name, []) for part in value.split(",") if part]


def id_filter(params: Params, name: str, limit: int = MAX_IDS) -> set[str] | None:
    values = listed(params, name)
    if name not in params:
        return None
    if not values or len(values) > limit:
        raise invalid(f"Parameter '{name}' must hold 1 to {limit} ids (got {len(values)})")
    bad = next((v for v in values if not DIGITS.match(v)), None)
    if bad is not None:
        raise invalid(f"'{name}' value '{bad}' must match the pattern: ^\\d+$")
    return set(values)


def single_id(params: Params, name: str) -> str | None:
    value = one(params, name)
    if value is not None and not DIGITS.match(value):
        raise invalid(f"'{name}' value '{value}' must match the pattern: ^\\d+$")
    return value


def enum_values(params: Params, name: str, allowed: Sequence[str]) -> list[str] | None:
    if name not in params:
        return None
    values = listed(params, name)
    bad = next((v for v in values if v not in allowed), None)
    if bad is not None or not values:
        raise invalid(f"Parameter '{name}' value '{bad}' is not one of {list(allowed)}")
    return values


def statuses(params: Params) -> set[str]:
    return set(enum_values(params, "entity_statuses", STATUSES) or DEFAULT_STATUSES)


def boolean(params: Params, name: str, default: bool) -> bool:
    value = one(params, name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise invalid(f"Parameter '{name}' must be true or false (was {value})")
    return value.lower() == "true"


def page_size(params: Params, maximum: int | None) -> int:
    raw = one(params, "page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not re.fullmatch(r"-?\d+", raw.strip()):
        raise invalid(f"Parameter 'page_size' was not numeric (was {raw})")
    size = int(raw)
    if size < 1 or (maximum is not None and size > maximum):
        top = maximum if maximum is not None else "any"
        raise invalid(f"Parameter 'page_size' must be between 1 and {top} (was {size})")
    return min(size, MAX_PAGE_SIZE)  # without a maximum in the spec: "default maximum of 250"


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid("Invalid bookmark") from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), str):
        raise invalid("Invalid bookmark")
    return data


def paginate(
    rows: Iterable[Row],
    params: Params,
    default_order: str,
    maximum: int | None = MAX_PAGE_SIZE,
    ordered: bool = True,
) -> dict[str, Any]:
    """One page `{"items", "bookmark"}`; the bookmark holds the last id, so a walk neither
    skips nor repeats rows when objects change or arrive between pages."""
    size = page_size(params, maximum)
    order = default_order
    if ordered:
        order = (enum_values(params, "order", ("ASCENDING", "DESCENDING")) or [order])[-1]
    descending = order == "DESCENDING"
    keyed = sorted(rows, key=lambda row: int(row["id"]), reverse=descending)
    token = one(params, "bookmark")
    if token:
        after = int(_decode(token)["after"])
        keyed = [r for r in keyed if (int(r["id"]) < after if descending else int(r["id"]) > after)]
    page = keyed[:size]
    more = len(keyed) > size
    return {"items": page, "bookmark": _encode({"after": page[-1]["id"]}) if more else None}
