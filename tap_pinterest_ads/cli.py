"""The command line's edges: unusable input files and handled refusals end in one clear line.

A refusal the tap can explain (bad setting, refused key, spent credits, unreachable API) is not a
crash: its message says what to do, and a traceback would only bury it.
"""

from __future__ import annotations

import decimal
import io
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError


class InputFileError(Exception):
    """A --config, --state or --catalog file the tap cannot use; the message names both."""


HANDLED = (ConfigValidationError, FatalAPIError, InputFileError)


def _parse_object(text: str, name: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_float=decimal.Decimal)  # as the SDK reads --config
    except json.JSONDecodeError as error:
        # Position and reason only: the file's text may hold a key.
        raise InputFileError(
            f"{name} ({flag}) is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno}. Fix the file, then rerun."
        ) from None
    if not isinstance(value, dict):
        raise InputFileError(
            f"{name} ({flag}) must hold a JSON object, not {type(value).__name__}."
        )
    return value


def read_config_files(paths: Iterable[str]) -> dict[str, Any]:
    """The --config files, checked and merged in order as the SDK merges them, each read once:
    `--config <(...)` and `--config /dev/stdin` are pipes, which cannot be read twice."""
    config: dict[str, Any] = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise InputFileError(f"Cannot read {path} (--config): {reason}.") from None
        config |= _parse_object(text, path, "--config")
    return config


def checked_json_input(stream: IO[str] | None, flag: str) -> IO[str] | None:
    """An opened --state/--catalog file, checked and closed; the SDK reads the returned copy."""
    if stream is None:
        return None
    name = getattr(stream, "name", flag)
    try:
        with stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise InputFileError(f"Cannot read {name} ({flag}): {reason}.") from None
    _parse_object(text, name, flag)
    return io.StringIO(text)


@contextmanager
def one_line_failures(logger: logging.Logger, ctx: click.Context | None = None) -> Iterator[None]:
    """Handled refusals: their message alone, exit 1. Anything else stays a crash.

    Inside a click callback pass its context: exiting there skips click's cleanup, which would
    leave the --state or --catalog file it opened unclosed.
    """
    try:
        yield
    except HANDLED as error:
        lines = error.errors if isinstance(error, ConfigValidationError) else None
        for line in lines or [str(error)]:
            logger.error("%s", line)
        if ctx is not None:
            ctx.close()
        raise SystemExit(1) from None


# The sandbox's web server is the `sandbox` extra: a lean install of the tap lacks it.
SANDBOX_STACK = ("starlette", "uvicorn")


def sandbox_main() -> None:
    """`tap-pinterest-ads-sandbox`: says how to install what it needs instead of a traceback."""
    try:
        from tap_pinterest_ads.sandbox.server import main
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in SANDBOX_STACK:
            raise
        raise SystemExit(
            f"tap-pinterest-ads-sandbox needs {missing}, which comes with the sandbox extra: "
            "pip install 'tap-pinterest-ads[sandbox]'"
        ) from None
    main()
