"""Raw API values -> the types a stream's JSON schema promises, leniently and countably.

APIs written for dashboards send counts as `"1.2k"` or `"1,234"`, flags as 0/1 and ids as
numbers. Each schema field gets one compiled converter; a value that cannot be read as its type
becomes null and is counted, so every emitted record validates against its schema and the run
summary says how much was lost.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

from tap_pinterest_ads.dates import UTC, parse_day, parse_instant, to_iso

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9}
_HUMAN = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*([kmb]?)\+?$", re.IGNORECASE)
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
DATE_CACHE = 256  # distinct date strings remembered per format: rows come roughly in date order


def parse_number(value: object) -> float | int | None:
    """`12`, `12.5`, `"1,234"`, `"1.2k"`, `"3M"`, `"$12.99"` -> a number; anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("_", "").replace(" ", "").lstrip("$€£")
    match = _HUMAN.match(text)
    if not match:
        return None
    number = float(match.group(1)) * _SUFFIXES.get(match.group(2).lower(), 1)
    return int(number) if number.is_integer() and abs(number) < 2**63 else number


def parse_count(value: object) -> int | None:
    number = parse_number(value)
    if number is None:
        return None
    return int(number) if float(number).is_integer() else round(number)


Converter = Callable[[Any], Any]


@dataclass
class Losses:
    """Values that could not be read as their schema type and were set to null."""

    count: int = 0


def _boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _string(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _day(value: object) -> str | None:
    day = parse_day(value)
    return day.isoformat() if day else None


def _instant(value: object) -> str | None:
    when: dt.datetime | None = parse_instant(value)
    return to_iso(when) if when else None


def _text_cached(convert: Converter) -> Converter:
    # Dates repeat from row to row (days, midnights): each string is parsed once. Bounded.
    cached = functools.lru_cache(maxsize=DATE_CACHE)(convert)

    def run(value: Any) -> Any:
        return cached(value) if type(value) is str else convert(value)

    return run


_SCALARS: dict[str, Converter] = {
    "integer": parse_count,
    "number": parse_number,
    "boolean": _boolean,
    "string": _string,
}
_FORMATS: dict[str, Converter] = {"date": _text_cached(_day), "date-time": _text_cached(_instant)}
_EXACT: dict[str, type] = {"integer": int, "number": float, "boolean": bool, "string": str}


def _kind(schema: Mapping[str, Any]) -> str | None:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    return next((t for t in types if t != "null"), None)


def kept_types(schema: Mapping[str, Any]) -> frozenset[type]:
    """Types a value of `schema` already has when its converter would return it unchanged:
    callers skip the call for those (most values). Null always converts to null."""
    exact = _EXACT.get(_kind(schema) or "")
    if exact is None or schema.get("format") in _FORMATS:
        return frozenset()
    return frozenset({exact, int if exact is float else exact})


Field = tuple[frozenset[type], Converter]  # (kept_types, converter)


def converter(schema: Mapping[str, Any], losses: Losses) -> Converter:
    """A function that conforms one value to `schema` (null where it cannot)."""
    kind = _kind(schema)

    if kind == "object":
        fields: dict[str, Field] = {
            name: (kept_types(sub), converter(sub, losses))
            for name, sub in schema.get("properties", {}).items()
        }
        keep_extra = schema.get("additionalProperties", not fields)

        def as_object(value: Any) -> Any:
            if not isinstance(value, dict):
                return None
            # One pass; a value already of its type is kept without a call.
            if keep_extra:
                return {
                    k: v
                    if (f := fields.get(k)) is None or v is None or type(v) in f[0]
                    else f[1](v)
                    for k, v in value.items()
                }
            return {
                k: v if v is None or type(v) in f[0] else f[1](v)
                for k, v in value.items()
                if (f := fields.get(k)) is not None
            }

        return _counted(as_object, losses)
    if kind == "array":
        items = schema.get("items", {})
        item_kept, item = kept_types(items), converter(items, losses)
        item_types = items.get("type", "null")
        nullable = "null" in ([item_types] if isinstance(item_types, str) else item_types)

        def as_array(value: Any) -> Any:
            if isinstance(value, str):  # "US,CA": the dashboard's list form
                value = [part.strip() for part in value.split(",") if part.strip()]
            if not isinstance(value, list):
                return None
            out = [v if v is None or type(v) in item_kept else item(v) for v in value]
            # An unreadable item (counted) is dropped where the schema allows no null item.
            return out if nullable else [v for v in out if v is not None]

        return _counted(as_array, losses)
    scalar = _FORMATS.get(schema.get("format", "")) or _SCALARS.get(kind or "")
    if scalar is None:
        return lambda value: value
    kept = kept_types(schema)
    if not kept:
        return _counted(scalar, losses)
    parse = scalar

    def fast(value: Any) -> Any:
        if value is None or type(value) in kept:
            return value
        out = parse(value)
        if out is None:
            losses.count += 1
        return out

    return fast


def _counted(convert: Converter, losses: Losses) -> Converter:
    def run(value: Any) -> Any:
        if value is None:
            return None
        out = convert(value)
        if out is None:
            losses.count += 1
        return out

    return run


class DirectRecords(Stream):
    """A stream whose records need none of the SDK's per-record passes once they have their
    schema's types (`TYPE_CONFORMANCE_LEVEL` NONE) and the catalog deselects nothing."""

    _opened: tuple[object, bool] = (None, False)  # (the mask, whether it selects everything)
    # State partition keys the schema does not hold: the SDK would copy them into every record
    # (when the record lacks them), and its conformance would drop them, with a warning a record.
    partition_copies: tuple[str, ...] = ()

    def _selects_everything(self) -> bool:
        mask = self.mask  # the SDK's, built once per catalog
        if self._opened[0] is not mask:
            self._opened = (mask, all(mask.values()))
        return self._opened[1]

    def _direct(self, record: dict[str, Any]) -> list[RecordMessage] | None:
        """The record's messages as the stream maps make them, or None where the SDK's own
        passes are needed.

        The SDK checks every property and nested key of every record against the catalog's
        selection (a tenth of a sync's CPU) and has no switch for it. When the catalog
        deselects nothing, that pass changes nothing (nor does conformance at NONE): the
        stream maps get the record as it is. Any deselection takes the SDK's own path."""
        if self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE or not (
            self._selects_everything()
        ):
            return None
        return [
            RecordMessage(
                stream=stream_map.stream_alias,
                record=mapped,
                version=self._stream_version,
                time_extracted=dt.datetime.now(UTC),
            )
            for stream_map in self.stream_maps
            if (mapped := stream_map.transform(record)) is not None
        ]

    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        messages = self._direct(record)
        if messages is None:
            yield from super()._generate_record_messages(record)
        else:
            yield from messages

    def _write_record_message(self, record: dict[str, Any]) -> None:
        # The SDK's, without its generator per record.
        messages = self._direct(record)
        if messages is None:
            super()._write_record_message(record)
            return
        for message in messages:
            self._tap.write_message(message)
        self.state_manager.is_flushed = False

    def _process_record(
        self,
        record: dict[str, Any],
        child_context: Mapping[str, Any] | None = None,
        partition_context: Mapping[str, Any] | None = None,
    ) -> None:
        if partition_context and self.partition_copies:
            partition_context = {
                k: v for k, v in partition_context.items() if k not in self.partition_copies
            }
        # Without child streams the SDK's pass only copies the partition's keys in: it would
        # also build (and copy) a child context per record for no child to sync.
        if self.child_streams:
            super()._process_record(record, child_context, partition_context)
            return
        for key, value in (partition_context or {}).items():
            if key not in record:
                record[key] = value


class SelfConformed(DirectRecords):
    """A stream whose records already have their schema's types (the ad library's converters
    here, the analytics' `shape`): the SDK's type conformance would repeat the work."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
