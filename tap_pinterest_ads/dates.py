"""Lenient parsing of the date forms the ad-library API sends."""

from __future__ import annotations

import datetime as dt

from dateutil import parser as dateutil_parser

UTC = dt.timezone.utc
_ISO = dateutil_parser.isoparser()  # any single character may separate date and time


def parse_instant(value: object) -> dt.datetime | None:
    """Read `Y-m-d`, `Y-m-d H:i:s`, ISO 8601 (zone optional, UTC assumed) or epoch seconds.

    Returns None for what cannot be a real instant (null, "", "0000-00-00 00:00:00", junk).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _from_epoch(float(text))
    try:
        # Fast path; Python 3.10 reads fewer ISO forms, hence the fallback.
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = _ISO.isoparse(text)
        except (ValueError, OverflowError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _from_epoch(seconds: float) -> dt.datetime | None:
    if seconds <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def to_iso(instant: dt.datetime) -> str:
    """The one string form the tap emits (and bookmarks): second precision, explicit UTC."""
    return instant.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_day(value: object) -> dt.date | None:
    instant = parse_instant(value)
    return instant.date() if instant else None
