"""Request ids, metrics, access logs and security headers; /healthz, /readyz, /metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from apiflask import APIBlueprint, APIFlask
from flask import Response, g, request
from sqlalchemy import text

from app.http.auth import public
from app.http.context import services
from app.metrics import NO_TENANT, exposition

bp = APIBlueprint("health", __name__, tag="Health")
access_log = logging.getLogger("summit.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule else "<unmatched>"
    caller = g.get("principal")
    tenant = caller.tenant_slug if caller and caller.tenant_slug else NO_TENANT
    traffic = "synthetic" if caller and caller.role == "synthetic" else "user"
    services().metrics.observe(
        route=route,
        method=request.method,
        tenant=tenant,
        traffic=traffic,
        status=response.status_code,
        seconds=seconds,
    )
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = HTML_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
    access_log.info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 3),
            "tenant": tenant,
            "user": caller.username if caller else None,
            "traffic": traffic,
        },
    )
    return response


@bp.get("/healthz")
@public
def healthz() -> dict[str, Any]:
    """The process is up and serving."""
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz() -> Any:
    """Ready for traffic: the database answers and its schema is current."""
    from app.migrate import pending

    checks: dict[str, str] = {}
    db = services().db
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        missing = pending(db.engine)
        checks["database"] = "ok" if not missing else f"migrations pending: {sorted(missing)}"
    except Exception as exc:  # any driver error means "not ready", never a 500
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
@public
def metrics() -> Response:
    """Prometheus text exposition (every gunicorn worker's, aggregated)."""
    body, content_type = exposition(services().metrics.registry)
    return Response(body, content_type=content_type)


def init_app(app: APIFlask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
