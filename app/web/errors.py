"""One error shape for the whole API: ``{"error": {"code", "message", "details"?}}``.

Pages of the web UI get the same information as HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask, HTTPError, Schema
from apiflask.fields import Dict, Nested, String
from apiflask.schema_adapters.marshmallow import parser
from flask import current_app, g, render_template, request
from marshmallow import RAISE
from werkzeug.datastructures import Headers

from app.core.errors import DomainError
from app.policy.authz import TENANT_ACTIONS

log = logging.getLogger("summit.http")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(Schema):
    code = String(required=True, metadata={"description": "stable, machine-readable"})
    message = String(required=True, metadata={"description": "for humans"})
    details = Dict(metadata={"description": "per-field problems, when there are any"})


class ErrorOut(Schema):
    error = Nested(ErrorBody, required=True)


def api_error(
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> HTTPError:
    return HTTPError(
        status, message, detail=details or {}, headers=headers, extra_data={"code": code}
    )


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_body(error: HTTPError) -> tuple[Any, int, Any]:
    status = error.status_code
    code = error.extra_data.get("code") or CODES.get(status, "error")
    message = error.message or "error"
    if message == "Validation error":
        code, message = "validation_error", "the request is not valid; see details"
    elif status == 500:
        message = f"internal error; quote request id {g.get('request_id', '-')}"
    elif status == 413:
        message = "the request body is larger than this server accepts"
    if _is_api():
        body: dict[str, Any] = {"code": code, "message": message}
        if error.detail:
            # Field problems stay keyed by location ("json", "query"): that
            # tells the client which part of the request was wrong.
            body["details"] = error.detail
        return {"error": body}, status, error.headers
    title, message = plain_words(status, code, message)
    page = render_template("error.html", status=status, title=title, message=message)
    headers = Headers(error.headers)
    headers["Content-Type"] = "text/html; charset=utf-8"
    return page, status, headers


TITLES = {
    400: "That request did not work",
    401: "Please log in",
    403: "Not for your role",
    404: "Not found",
    405: "Not allowed here",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Not available right now",
}


def plain_words(status: int, code: str, message: str) -> tuple[str, str]:
    """A page's title and message for people: never an internal action name."""
    title = TITLES.get(status, "Something went wrong")
    if status == 403 and code == "forbidden":
        view = current_app.view_functions.get(request.endpoint or "")
        action = getattr(view, "_summit_action", None)
        if action in TENANT_ACTIONS:
            return title, "This page shows a tenant's data. Operators don't see tenant data."
        return title, "This page is for platform operators."
    if status == 404 and code == "not_found" and message in ("Not Found", "not_found", "error"):
        return (
            title,
            "There is no such page. Check the address, or start again from your home page.",
        )
    if status == 500:
        request_id = g.get("request_id", "-")
        return title, f"Something broke on our side. If it keeps happening, quote {request_id}."
    return title, message


def _strict_query_strings() -> None:
    """Unknown query parameters are refused like unknown body fields (a typo such
    as ?limt=5 would otherwise be silently ignored)."""
    parser.DEFAULT_UNKNOWN_BY_LOCATION = {
        **parser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
        "querystring": RAISE,
    }


def init_app(app: APIFlask) -> None:
    _strict_query_strings()
    app.error_processor(error_body)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Any:
        return error_body(api_error(exc.status, exc.code, exc.message, details=exc.details))
