"""Keeps secrets out of everything the tap writes through logging: messages and tracebacks."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter strings are too likely to occur by chance: masking them would garble messages.
MIN_SECRET_LENGTH = 4


def spellings(secret: str) -> set[str]:
    """Every form a secret takes inside a message: as is, stripped, escaped by repr() or JSON,
    as the inside of a bytes repr (`Invalid header value b'wh_…\\n'`), URL-encoded."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        forms |= {
            value,
            repr(value)[1:-1],
            json.dumps(value)[1:-1],
            repr(value.encode("utf-8", "backslashreplace"))[2:-1],
            quote(value, safe=""),
            quote_plus(value),
        }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class SecretRedactor(logging.Filter):
    """Rewrites a record's message and traceback with every spelling of every secret masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        forms = set(self.forms).union(*(spellings(s) for s in secrets if s))
        # Longest first, so a secret that contains another is masked whole.
        self.forms = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            if self.redact(trace) != trace:
                # Formatters render exc_info themselves (the structured one from the exception
                # object): hand them the masked text instead of the exception.
                cleaned += "\n" + self.redact(trace)
                record.exc_info, record.exc_text = None, None
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A formatter that ran first cached its text (`message`), and `extra` fields ride along:
        # the structured formatter dumps every attribute.
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name != "msg":
                setattr(record, name, self.redact(value))
        return True


_redactor = SecretRedactor()


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    # Python's own hook writes to stderr past every filter; a log record passes through them.
    logging.getLogger().error("%s", exc, exc_info=(exc_type, exc, tb))


def install(secrets: Iterable[str]) -> SecretRedactor:
    """Mask these secrets (and every one seen before) on every handler that exists now, and
    in crashes Python would print itself (the SDK sets its own, logging, hook for a sync)."""
    _redactor.add(secrets)
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _log_uncaught
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    # Logging's last resort prints a record when no handler is configured yet (a crash early on).
    handlers = [handler for logger in loggers for handler in logger.handlers]
    for handler in [*handlers, *([logging.lastResort] if logging.lastResort else [])]:
        if _redactor not in handler.filters:
            handler.addFilter(_redactor)
    return _redactor
