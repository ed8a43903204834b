"""Keeps secrets out of every log line the tap writes, whoever formats it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class SecretRedactor(logging.Filter):
    """Rewrites a record's rendered message with every known secret masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text, self.secrets)
        return True


def install(secrets: Iterable[str]) -> SecretRedactor:
    """Attach the filter to every handler of the root logger and of already-made loggers."""
    redactor = SecretRedactor(secrets)
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if redactor not in handler.filters:
                handler.addFilter(redactor)
    return redactor
