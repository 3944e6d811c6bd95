"""Opaque page cursors: a kind and a position, base64url-encoded."""

from __future__ import annotations

import base64
import binascii

from app.web.errors import api_error

MAX_POSITION = 2**63 - 1  # every position is a database integer


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The position in ``cursor``, or None for none; 400 for one we never issued."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix == kind and value.isdigit() and int(value) <= MAX_POSITION:
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise api_error(400, "invalid_cursor", "cursor is not one this endpoint returned")
