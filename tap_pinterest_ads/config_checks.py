"""Checks of top-level settings the JSON schema cannot express, done before any request.

Secret settings are checked before the SDK's schema validation, whose messages quote the
offending value (`['wh_…'] is not of type 'string'`): ours name the setting, never the value.
"""

from __future__ import annotations

import ipaddress
import logging
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlparse

from singer_sdk.exceptions import ConfigValidationError

from tap_pinterest_ads.dates import parse_instant

_JSON_KINDS = {
    bool: "true/false",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def secret_settings(schema: Mapping[str, Any]) -> list[str]:
    return [name for name, spec in schema["properties"].items() if spec.get("secret")]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def secret_values(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every string held by a secret setting, even one of the wrong type: all are masked."""
    return [text for name in secret_settings(schema) for text in _strings(config.get(name))]


def _has_blank_or_control(text: str) -> bool:
    return any(char.isspace() or unicodedata.category(char).startswith("C") for char in text)


def check_secrets(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    for name in secret_settings(schema):
        value = config.get(name)
        if value is None:
            continue  # missing: the stream that needs it says so
        if not isinstance(value, str):
            kind = _JSON_KINDS.get(type(value), type(value).__name__)
            raise invalid_setting(name, f"must be a string, got {kind} (value not shown: secret)")
        if _has_blank_or_control(value):
            raise invalid_setting(
                name,
                "contains whitespace or control characters (a newline copied from a file?); "
                "give the key alone (value not shown: secret)",
            )


def check_start_date(config: Mapping[str, Any]) -> None:
    value = config.get("start_date")
    if value is not None and parse_instant(value) is None:
        raise invalid_setting(
            "start_date", f"{value!r} is not a date (use YYYY-MM-DD or an ISO 8601 instant)"
        )


def warn_unknown_settings(
    config: Mapping[str, Any], schema: Mapping[str, Any], logger: logging.Logger
) -> None:
    """A misspelt setting is otherwise silently ignored: say so, with the likely intended one."""
    known = list(schema["properties"])
    unknown = sorted(set(config) - set(known))
    if not unknown:
        return
    import difflib  # only for a misspelt setting: about 10 ms of every start-up otherwise

    for name in unknown:
        guess = difflib.get_close_matches(name, known, n=1)
        logger.warning(
            "Unknown setting `%s` is ignored%s",
            name,
            f"; did you mean `{guess[0]}`?" if guess else f". Known settings: {', '.join(known)}",
        )


def invalid_setting(setting: str, problem: str) -> ConfigValidationError:
    message = f"Invalid setting `{setting}`: {problem}"
    return ConfigValidationError(message, errors=[message])


def check_api_url(setting: str, url: str) -> str:
    """Only https leaves the machine: a key sent over plain http is a key given away."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise invalid_setting(setting, f"{url!r} is not an http(s) URL")
    if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
        raise invalid_setting(
            setting, "must use https (plain http is allowed only for a loopback host)"
        )
    if parsed.query or parsed.fragment:
        raise invalid_setting(setting, "must not carry a query string or fragment")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
