"""Every request's JSON body and parameters, checked once before any view runs.

- depth: nesting is bounded (MAX_DEPTH) before the body is parsed, so a body
  nested a thousand levels deep is a clear 400, not a RecursionError in the
  parser (Python's json recurses per level) or later in orjson (254 levels);
- syntax: a malformed body gets its own 400 ``malformed_json``;
- values no database here can store (NUL, lone surrogates, integers past 64
  bits, NaN): a 400 ``unsupported_value`` naming where, instead of a 500 later;
- size: a body over MAX_CONTENT_LENGTH is 413, with or without Content-Length.
"""

from __future__ import annotations

import math
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from app.web.errors import api_error
from app.web.rawbody import reads_raw_body

MAX_DEPTH = 32  # attributes and events are records, not trees: generous, and far below 254
INT64 = 2**63
# Brackets kept, objects' braces read as brackets (depth is all that counts here).
_BRACKETS_ONLY = (
    bytes(range(256)).replace(b"{", b"[").replace(b"}", b"]"),
    bytes(b for b in range(256) if b not in b"[]{}"),
)


def check_request() -> None:
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and not reads_raw_body()  # bulk ingest reads, bounds and checks its own, per item
        and request.is_json
        and _has_body()
    ):
        raw = _read_body()
        if too_deep(raw, MAX_DEPTH):
            raise api_error(400, "too_deep", f"the JSON body nests deeper than {MAX_DEPTH} levels")
        try:
            body = request.get_json()  # cached by Flask: the view's parser reuses it
        except BadRequest as exc:
            reason = (exc.description or "").removeprefix("Failed to decode JSON object: ")
            raise api_error(
                400, "malformed_json", f"the request body is not valid JSON: {reason}"
            ) from None
        check_storable(body, "body")
    for name, value in [*request.args.items(multi=True), *(request.view_args or {}).items()]:
        check_storable(value, name)


def _has_body() -> bool:
    return bool(request.content_length or request.headers.get("Transfer-Encoding"))


def _read_body() -> bytes:
    """The body, or 413. A declared Content-Length over the limit raises at once;
    a chunked body is cut at the limit by Werkzeug without a word, which would
    then fail to parse as a misleading 400, so reaching the limit is too large."""
    limit = request.max_content_length
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or (limit is not None and request.content_length is None and len(raw) >= limit):
        raise api_error(413, "payload_too_large", "the request body is too large")
    return raw


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether JSON text ``raw`` nests deeper than ``limit``, found without parsing:
    escapes and strings removed, brackets kept, then innermost pairs peeled off
    ``limit`` times. Every step is a bytes operation at C speed (~1 ms for a
    5,000-event batch); a malformed body is left for the parser to refuse."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(*_BRACKETS_ONLY)
    for _ in range(limit):
        peeled = brackets.replace(b"[]", b"")
        if peeled == brackets:
            return False  # nothing left to peel: shallow enough (or malformed)
        brackets = peeled
    return b"[]" in brackets


def check_storable(value: Any, where: str) -> None:
    """PostgreSQL text refuses NUL and lone surrogates, JSON numbers past 64 bits
    and NaN/Infinity do not round-trip: a clear 400 instead of a 500 later.
    Iterative, with the depth bounded: no recursion for a caller to exhaust."""
    pending: list[tuple[Any, str, int]] = [(value, where, 0)]
    while pending:
        item, at, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise api_error(400, "too_deep", f"{at[:80]} nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, inner in item.items():
                pending.append((key, f"{at} key", depth + 1))
                pending.append((inner, f"{at}.{key}", depth + 1))
        elif isinstance(item, list):
            pending.extend((inner, f"{at}[{i}]", depth + 1) for i, inner in enumerate(item))
        elif (problem := _problem(item)) is not None:
            raise api_error(400, "unsupported_value", f"{at[:80]} {problem}")


def _problem(value: Any) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "contains an unpaired surrogate, which is not text"
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int) and not -INT64 <= value < INT64:
        return "is an integer beyond 64 bits"
    elif isinstance(value, float) and not math.isfinite(value):
        return "is NaN or infinite"
    return None
