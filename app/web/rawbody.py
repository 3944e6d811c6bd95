"""Views that read their request body themselves (bulk ingest: NDJSON, gzip,
bodies larger than MAX_CONTENT_LENGTH, per-item verdicts instead of one 400).

``@raw_body(request_body)`` exempts the view from the up-front JSON parse and
value checks of app.web.errors (the view applies its own, per item, and sets
its own size limit), and documents ``request_body`` (an OpenAPI Request Body
Object) in /openapi.json, since no input schema describes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

F = TypeVar("F", bound=Callable[..., Any])


def raw_body(request_body: dict[str, Any]) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view._summit_raw_body = request_body  # type: ignore[attr-defined]
        return view

    return mark


def reads_raw_body() -> bool:
    """Whether this request's view reads its body itself."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "_summit_raw_body", None) is not None
