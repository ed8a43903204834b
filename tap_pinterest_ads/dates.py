"""Lenient parsing of the date forms the ad-library API sends, with plausibility checks."""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dateutil.parser import isoparser

UTC = dt.timezone.utc

# Numbers are epoch seconds or milliseconds only when they land in this window; anything else
# (a day count, a compact date read as seconds, a sentinel like 0 or -1) is not an instant.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=UTC)
_EARLIEST_S, _LATEST_S = EARLIEST.timestamp(), LATEST.timestamp()
_API_FORM_LENGTH = len("2026-06-01 10:30:00")


def parse_instant(value: object) -> dt.datetime | None:
    """Read `Y-m-d`, `YYYYMMDD`, `Y-m-d H:i:s`, ISO 8601 (zone optional, UTC assumed) or epoch
    seconds/milliseconds.

    Returns None for what cannot be a real instant (null, "", "0000-00-00 00:00:00", junk, a
    number outside 2000-2100 whichever way it is read).
    """
    if type(value) is str and len(value) == _API_FORM_LENGTH and value[10] == " ":
        # The API's own `Y-m-d H:i:s`, nearly every value: none of the checks below apply.
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass  # "0000-00-00 00:00:00" and the like: the lenient path decides
        else:
            return _plausible(parsed)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_number(value)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _from_number(float(text) if "." in text else int(text))
    try:
        # Fast path; Python 3.10 reads fewer ISO forms, hence the fallback.
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = _lenient_iso().isoparse(text.replace("/", "-"))
        except (ValueError, OverflowError):
            return None
    return _plausible(parsed)


@functools.cache
def _lenient_iso() -> isoparser:
    # Imported on first use: most runs never need it.
    from dateutil.parser import isoparser

    return isoparser()  # any single character may separate date and time


def _plausible(parsed: dt.datetime) -> dt.datetime | None:
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed if EARLIEST <= parsed < LATEST else None


def _from_number(number: float) -> dt.datetime | None:
    if isinstance(number, int) and 19000101 <= number <= 21001231:
        return _from_compact(number)  # YYYYMMDD: a day, never 1970-08-23
    for seconds in (number, number / 1000):
        if _EARLIEST_S <= seconds < _LATEST_S:
            return dt.datetime.fromtimestamp(seconds, tz=UTC)
    return None


def _from_compact(number: int) -> dt.datetime | None:
    try:
        day = dt.datetime(number // 10000, number // 100 % 100, number % 100, tzinfo=UTC)
    except ValueError:
        return None
    return day if EARLIEST <= day < LATEST else None


def to_iso(instant: dt.datetime) -> str:
    """The one string form the tap emits (and bookmarks): second precision, explicit UTC."""
    return instant.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_day(value: object) -> dt.date | None:
    instant = parse_instant(value)
    return instant.date() if instant else None
