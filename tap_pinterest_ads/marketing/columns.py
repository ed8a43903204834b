"""The analytics vocabulary of the official spec (columns, levels, targeting types, organic
metric types) and the JSON type of each column.

    python -m tap_pinterest_ads.marketing.columns path/to/openapi.json

rewrites `spec_enums.json` beside this module from the spec; it reruns only when Pinterest
publishes a new one. The spec types no column, so the type comes from the name: ids and labels
are strings, sums of money (`*_MICRO_DOLLAR` spends and values) and counts are integers, and
ratios, averages and `*_IN_DOLLAR` amounts are numbers.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

ENUMS_FILE = Path(__file__).with_name("spec_enums.json")

# Where the spec keeps each enum: a schema name, or (path, method, parameter).
_SOURCES: dict[str, Any] = {
    "sync_columns": ("/ad_accounts/{ad_account_id}/campaigns/analytics", "get", "columns"),
    "async_columns": "ReportingColumnAsync",
    "levels": "MetricsReportingLevel",
    "granularities": "Granularity",
    "window_days": "ConversionAttributionWindowDays",
    "conversion_report_times": "ConversionReportTimeType",
    "attribution_types": "ConversionReportAttributionType",
    "organic_metric_types": ("/user_account/analytics", "get", "metric_types"),
    "targeting_types": "TargetingTypeFilter",
}

_STRING_SUFFIXES = (
    "_ID", "_NAME", "_STATUS", "_TYPE", "_LABEL", "_LABELS", "_TAG", "_OPTIMIZATION",
)  # fmt: skip
# A metric whose name holds one of these is a ratio, an average, or an amount in units.
_NUMBER_MARKERS = (
    "RATE", "CTR", "ROAS", "_IN_DOLLAR", "COST", "CPC", "CPM", "CPA", "CPE", "CPV", "AVG",
    "AVERAGE", "FREQUENCY", "PERCENT", "MULTIPLIER", "_PER_", "WATCHTIME", "WATCH_TIME",
    "LENGTH", "PRICE", "_CAP", "LOCAL_CURRENCY",
)  # fmt: skip
STRING = {"type": ["string", "null"]}
INTEGER = {"type": ["integer", "null"]}
NUMBER = {"type": ["number", "null"]}


@cache
def enums() -> dict[str, tuple[Any, ...]]:
    return {name: tuple(values) for name, values in json.loads(ENUMS_FILE.read_text()).items()}


def column_schema(column: str) -> dict[str, Any]:
    """The JSON schema of one analytics column, from its name."""
    if column == "DATE":
        return {"type": ["string"], "format": "date"}
    if column.endswith(_STRING_SUFFIXES) or column.startswith(("PRODUCT_ITEM_", "TARGETING_")):
        return NUMBER if "PRICE" in column else STRING
    if column.startswith("IS_"):
        return {"type": ["boolean", "null"]}
    if any(marker in column for marker in _NUMBER_MARKERS):
        return NUMBER
    return INTEGER


def is_integer(column: str) -> bool:
    return column_schema(column) is INTEGER


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _enum(spec: dict[str, Any], source: Any) -> list[Any]:
    if isinstance(source, str):
        node = _resolve(spec, spec["components"]["schemas"][source])
    else:
        path, method, name = source
        parameters = [_resolve(spec, p) for p in spec["paths"][path][method]["parameters"]]
        node = _resolve(spec, next(p for p in parameters if p["name"] == name)["schema"])
    while "enum" not in node:  # an array's items, or the one property of a wrapper object
        inner = node.get("items") or next(iter(node.get("properties", {}).values()))
        node = _resolve(spec, inner)
    return list(node["enum"])


def spec_enums(spec: dict[str, Any]) -> dict[str, list[Any]]:
    return {name: _enum(spec, source) for name, source in _SOURCES.items()}


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[0]).read_text())
    ENUMS_FILE.write_text(json.dumps(spec_enums(spec), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
