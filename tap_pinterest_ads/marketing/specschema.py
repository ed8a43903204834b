"""Writes `schemas/<stream>.json` for the v5 streams from the official OpenAPI file.

    python -m tap_pinterest_ads.marketing.specschema path/to/openapi.json [schemas/]

The generated files are committed; this only reruns when Pinterest publishes a new spec. Each
stream's schema is its list operation's item schema with `$ref`/`allOf`/`oneOf` flattened, enums
and validation keywords dropped (a value the spec has not caught up with must not fail a sync)
and every property nullable (the API omits what it has no value for).
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    is_object_type,
    is_uniform_list,
)

# stream -> the GET operation whose `items` it emits
OPERATIONS = {
    "ad_accounts": "/ad_accounts",
    "campaigns": "/ad_accounts/{ad_account_id}/campaigns",
    "ad_groups": "/ad_accounts/{ad_account_id}/ad_groups",
    "ads": "/ad_accounts/{ad_account_id}/ads",
    "audiences": "/ad_accounts/{ad_account_id}/audiences",
    "customer_lists": "/ad_accounts/{ad_account_id}/customer_lists",
    "keywords": "/ad_accounts/{ad_account_id}/keywords",
    "conversion_tags": "/ad_accounts/{ad_account_id}/conversion_tags",
    "catalogs": "/catalogs",
    "catalogs_feeds": "/catalogs/feeds",
    "catalogs_product_groups": "/catalogs/product_groups",
    "boards": "/boards",
    "board_sections": "/boards/{board_id}/sections",
    "board_pins": "/boards/{board_id}/pins",
    "board_section_pins": "/boards/{board_id}/sections/{section_id}/pins",
}
# Fields the tap never emits: feed credentials are the merchant's feed-host password.
REMOVED = {"catalogs_feeds": ("credentials",)}
# Fields the tap adds: the partition a record was read in, where the API leaves it out.
ADDED = {
    "keywords": {"ad_account_id": {"type": ["string", "null"]}},
    "catalogs": {"ad_account_id": {"type": ["string", "null"]}},
    "catalogs_feeds": {"ad_account_id": {"type": ["string", "null"]}},
    "catalogs_product_groups": {"ad_account_id": {"type": ["string", "null"]}},
    "board_sections": {"board_id": {"type": ["string", "null"]}},
}
ANY = ("object", "array", "string", "number", "boolean", "null")


class Flattener:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def merge(self, node: dict[str, Any]) -> dict[str, Any]:
        """One schema from allOf/oneOf/anyOf parts: properties united, first type wins."""
        node = self.resolve(node)
        parts = [node] + [
            self.merge(part) for key in ("allOf", "oneOf", "anyOf") for part in node.get(key, ())
        ]
        merged: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        for part in parts:
            # A field (or array items) in two parts, e.g. retail and hotel `filters`: both.
            for name, sub in part.get("properties", {}).items():
                properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
            if "items" in part and "items" in merged:
                merged["items"] = {"allOf": [merged["items"], part["items"]]}
            for key, value in part.items():
                if key not in merged and key not in ("properties", "allOf", "oneOf", "anyOf"):
                    merged[key] = value
        if properties:
            merged["properties"] = properties
            merged.setdefault("type", "object")
        return merged

    def json_schema(self, node: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        node = self.merge(node)
        kind = node.get("type")
        if kind is None:
            kind = "object" if "properties" in node else None
        out: dict[str, Any] = {}
        if kind is None:  # the spec allows anything here: say so in types a target can map
            return {"type": list(ANY)}
        out["type"] = [kind, "null"]
        if node.get("format") in {"date-time", "date"}:
            out["format"] = node["format"]
        if kind == "object":
            props = node.get("properties") or {}
            out["properties"] = {
                name: self.json_schema(sub, depth + 1) for name, sub in sorted(props.items())
            }
            if not props or node.get("additionalProperties"):
                out["additionalProperties"] = True
        elif kind == "array":
            out["items"] = self.json_schema(node.get("items") or {}, depth + 1)
        return out


def stream_schema(spec: dict[str, Any], stream: str) -> dict[str, Any]:
    flattener = Flattener(spec)
    operation = spec["paths"][OPERATIONS[stream]]["get"]
    body = flattener.merge(operation["responses"]["200"]["content"]["application/json"]["schema"])
    schema = flattener.json_schema(flattener.merge(body["properties"]["items"])["items"])
    schema["type"] = "object"
    for name in REMOVED.get(stream, ()):
        schema["properties"].pop(name, None)
    schema["properties"].update(ADDED.get(stream, {}))
    schema["properties"]["id"] = {"type": "string"}  # the key of every v5 stream
    return schema


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[0]).read_text())
    target = Path(argv[1] if len(argv) > 1 else "schemas")
    for stream in OPERATIONS:
        text = json.dumps(stream_schema(spec, stream), indent=2, sort_keys=True) + "\n"
        (target / f"{stream}.json").write_text(text)


class Conformer:
    """What the SDK's type conformance (RECURSIVE) does to a record, with every decision about
    the schema taken once instead of for each value: a property the schema lacks is dropped
    (kept where it allows additional ones) and named in one warning per set, objects and
    uniform lists are walked, a non-finite float becomes null, and a value that is not a plain
    JSON scalar goes through the SDK's own conversion. Records come out identical to the SDK's
    pass, at a fraction of its cost; a stream using it sets `TYPE_CONFORMANCE_LEVEL` to NONE."""

    def __init__(self, schema: dict[str, Any], stream: str, logger: logging.Logger) -> None:
        self.stream = stream
        self.logger = logger
        self.warned: set[tuple[str, ...]] = set()
        # What the tap removes on purpose (feed credentials) goes without a warning.
        self.root = self._object(schema, None, REMOVED.get(stream, ()))

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        unmapped: list[str] = []
        out: dict[str, Any] = self.root(record, unmapped)
        if unmapped and tuple(unmapped) not in self.warned:  # the SDK warns once per set too
            self.warned.add(tuple(unmapped))
            self.logger.warning(
                "Properties %s were present in the '%s' stream but not found in catalog "
                "schema. Ignoring.",
                tuple(unmapped),
                self.stream,
            )
        return out

    def _object(
        self, schema: dict[str, Any], path: str | None, removed: tuple[str, ...] = ()
    ) -> _Convert:
        extra = bool(schema.get("additionalProperties"))
        # name -> (whether a plain JSON scalar passes as it is, the conversion otherwise)
        fields = {
            name: self._value(sub, name if path is None else f"{path}.{name}")
            for name, sub in schema["properties"].items()
        }

        names = frozenset(fields)
        booleans = tuple(name for name, (plain, _) in fields.items() if not plain)

        def conform(value: dict[str, Any], unmapped: list[str]) -> dict[str, Any]:
            if value.keys() <= names:
                # Every property known (most records): copy, then convert only what is not
                # a plain scalar, found without a Python step per property.
                out = value.copy()
                kinds = map(_CONVERTS.__getitem__, map(type, value.values()))
                for name in itertools.compress(value, kinds):
                    out[name] = fields[name][1](value[name], unmapped)
                for name in booleans:  # a plain number or string where only a boolean goes
                    if type(value.get(name)) in (int, str):
                        out[name] = fields[name][1](value[name], unmapped)
                return out
            out = {}
            for name, item in value.items():
                field = fields.get(name)
                if field is None:
                    if extra:
                        out[name] = item
                    elif name not in removed:
                        unmapped.append(name if path is None else f"{path}.{name}")
                elif field[0] and type(item) in _PLAIN:
                    out[name] = item
                else:
                    out[name] = field[1](item, unmapped)
            return out

        return conform

    def _value(self, schema: dict[str, Any], path: str) -> tuple[bool, _Convert]:
        scalar = _scalar(schema)
        if is_uniform_list(schema):
            items = schema["items"]
            whole = self._walked(items, path)
            item = _scalar(items)

            def as_list(value: Any, unmapped: list[str]) -> Any:
                if not isinstance(value, list):
                    return scalar(value, unmapped)
                return [
                    whole(v, unmapped) if whole and isinstance(v, dict) else item(v, unmapped)
                    for v in value
                ]

            return True, as_list
        whole = self._walked(schema, path)
        if whole is not None:
            walked = whole

            def as_object(value: Any, unmapped: list[str]) -> Any:
                return (
                    walked(value, unmapped) if isinstance(value, dict) else scalar(value, unmapped)
                )

            return True, as_object
        return not _exclusive_boolean(schema), scalar

    def _walked(self, schema: dict[str, Any], path: str) -> _Convert | None:
        """An object schema with properties: the SDK walks a dict there."""
        if is_object_type(schema) and "properties" in schema:
            return self._object(schema, path)
        return None


_Convert = Callable[[Any, list[str]], Any]
_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})
# type -> whether a value of it goes through its field's conversion (every type but the plain
# scalars; a type seen first is added, so the lookup stays in C).
_CONVERTS: collections.defaultdict[type, bool] = collections.defaultdict(
    lambda: True, dict.fromkeys(_PLAIN, False)
)


def _exclusive_boolean(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind is not None and (
        kind in ("boolean", ["boolean"]) or set(kind) == {"boolean", "null"}
    )


def _scalar(schema: dict[str, Any]) -> _Convert:
    """The SDK's conversion of a value it does not walk: a float must be finite, a plain
    scalar passes (or becomes a boolean where the schema allows only that), anything else
    is the SDK's own conversion."""
    boolean = _exclusive_boolean(schema)

    def conform(value: Any, unmapped: list[str]) -> Any:
        kind = type(value)
        if kind is float:
            return value if math.isfinite(value) else None
        if kind not in _PLAIN:
            return _conform_primitive_property(value, schema)
        if boolean:  # what the SDK makes of a plain value where only a boolean goes
            return None if value is None else value != 0
        return value

    return conform


if __name__ == "__main__":
    main(sys.argv[1:])
