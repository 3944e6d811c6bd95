"""Structured JSON logs on stderr, one object per line."""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

_MARK = "_summit_handler"
# Our tokens, and anything presented as a bearer credential or a password.
_SECRETS = re.compile(
    r"smt_[A-Za-z0-9_-]{8,}|(?i:bearer)\s+\S+|(?i:(\"?password\"?\s*[:=]\s*))\"?[^\s\",}]+"
)


# What asyncio says when Playwright's driver process is gone before the browser
# thread closed it: a stop signal sent to the whole process group (Ctrl-C in a
# terminal, systemd's default KillMode) reaches the driver first. The runner
# already reports a driver lost mid-run as a failed run; this line adds nothing.
_DRIVER_GONE = "Connection closed while reading from the driver"


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class RedactingFilter(logging.Filter):
    """Last line of defence: no code should log secrets, and if it does, this
    scrubs tokens and passwords from the message and every string field."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "asyncio" and _DRIVER_GONE in _text_of(record):
            record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "levelname", "name", "pathname"):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure(level: str) -> None:
    """Idempotent: a second app in the same process (tests) adds no second handler."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(handler, _MARK, False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(RedactingFilter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)


def _text_of(record: logging.LogRecord) -> str:
    exc = record.exc_info[1] if record.exc_info else None
    return f"{record.getMessage()} {exc or ''}"
