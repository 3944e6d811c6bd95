"""Structured JSON logs on stderr, one object per line."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

_MARK = "_summit_handler"


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
    setattr(handler, _MARK, True)
    root.addHandler(handler)
