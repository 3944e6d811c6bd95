"""One error shape for the whole API: ``{"error": {"code", "message", "details"?}}``.

Pages of the web UI get the same information as HTML.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from apiflask import APIFlask, HTTPError, Schema
from apiflask.fields import Dict, Nested, String
from apiflask.schema_adapters.marshmallow import parser
from flask import g, render_template, request
from marshmallow import RAISE
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest

from app.core.errors import DomainError
from app.web.rawbody import reads_raw_body

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
    page = render_template("error.html", status=status, code=code, message=message)
    headers = Headers(error.headers)
    headers["Content-Type"] = "text/html; charset=utf-8"
    return page, status, headers


def _reject_malformed_json() -> None:
    """Parse JSON bodies up front so a syntax error gets its own clear message,
    and refuse values no database here can store (checked once, for every route)."""
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and not reads_raw_body()
        and request.is_json
        and (request.content_length or request.headers.get("Transfer-Encoding"))
    ):
        try:
            body = request.get_json()  # cached by Flask: the view's parser reuses it
        except BadRequest as exc:
            reason = (exc.description or "").removeprefix("Failed to decode JSON object: ")
            raise api_error(
                400, "malformed_json", f"the request body is not valid JSON: {reason}"
            ) from None
        _check_storable(body, "body")
    for name, value in [*request.args.items(multi=True), *(request.view_args or {}).items()]:
        _check_storable(value, name)


INT64 = 2**63


def _check_storable(value: Any, where: str) -> None:
    """PostgreSQL text refuses NUL and lone surrogates, JSON numbers past 64 bits
    and NaN/Infinity do not round-trip: a clear 400 instead of a 500 later."""
    problem = None
    if isinstance(value, str):
        if "\x00" in value:
            problem = "contains a NUL character"
        elif not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                problem = "contains an unpaired surrogate, which is not text"
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and not -INT64 <= value < INT64:
        problem = "is an integer beyond 64 bits"
    elif isinstance(value, float) and not math.isfinite(value):
        problem = "is NaN or infinite"
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, f"{where} key")
            _check_storable(item, f"{where}.{key}"[:80])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{where}[{index}]"[:80])
    if problem:
        raise api_error(400, "unsupported_value", f"{where} {problem}")


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
    app.before_request(_reject_malformed_json)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Any:
        return error_body(api_error(exc.status, exc.code, exc.message, details=exc.details))
