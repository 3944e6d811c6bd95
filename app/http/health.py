"""Request ids, metrics, access logs and security headers; /healthz, /readyz, /metrics."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import Any

from apiflask import APIBlueprint, APIFlask
from flask import Response, current_app, g, request
from sqlalchemy import text

from app.http.auth import public
from app.http.context import services
from app.metrics import NO_TENANT, exposition
from probes.journey import PROBE_HEADER

TEXT: dict[int | str, Any] = {
    200: {"description": "Prometheus text", "content": {"text/plain": {}}}
}
bp = APIBlueprint("health", __name__, tag="Health")
SCHEDULER_READY = frozenset({"leader", "standby", "disabled"})
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
    svc = services()
    svc.metrics.observe(
        route=route,
        method=request.method,
        tenant=tenant,
        traffic=traffic,
        status=response.status_code,
        seconds=seconds,
    )
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    if svc.settings.env == "test":  # lets tests see which gunicorn worker answered
        response.headers["X-Summit-Worker"] = str(os.getpid())
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
            "probe": request.headers.get(PROBE_HEADER, "")[:64] or None,
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
    """Ready for traffic: the database answers and its schema is current; the
    scheduler leads, stands by, or is disabled (SUMMIT_SCHEDULER)."""
    from app.migrate import pending
    from app.scheduler import state as scheduler_state

    checks: dict[str, str] = {}
    db = services().db
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        missing = pending(db.engine)
        checks["database"] = "ok" if not missing else f"migrations pending: {sorted(missing)}"
    except Exception as exc:  # any driver error means "not ready", never a 500
        checks["database"] = f"unreachable: {type(exc).__name__}"
    # The scheduler is ready leading or standing by (another process leads);
    # an elector thread that died means this process will never take over.
    checks["scheduler"] = scheduler_state(current_app)
    ready = checks["database"] == "ok" and checks["scheduler"] in SCHEDULER_READY
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
@public
@bp.doc(responses=TEXT)
def metrics() -> Response:
    """Prometheus text exposition (every gunicorn worker's, aggregated)."""
    body, content_type = exposition(services().metrics.registry)
    return Response(body, content_type=content_type)


def init_app(app: APIFlask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
