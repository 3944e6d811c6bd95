"""Around every request: a request id, metrics, the access log and security headers."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from apiflask import APIFlask
from flask import Response, g, request

from app.core.metrics import NO_TENANT
from app.web.context import services
from probes.journey import PROBE_HEADER

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
    tenant = (
        caller.tenant_slug if caller and caller.tenant_slug else g.get("tenant_slug", NO_TENANT)
    )
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
    if svc.request_stats is not None:  # SLO status without Prometheus (app.alerting)
        svc.request_stats.observe(route, request.method, traffic, response.status_code, seconds)
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    if svc.settings.env == "test":  # lets tests see which gunicorn worker answered
        response.headers["X-Summit-Worker"] = str(os.getpid())
    response.headers["X-Content-Type-Options"] = "nosniff"
    if caller is not None or "Set-Cookie" in response.headers or request.authorization:
        # An answer for one signed-in caller must not be kept by a browser or a
        # proxy for the next person at that machine.
        response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html":
        # A view may set its own, stricter policy (a branded report: inline styles only).
        response.headers.setdefault("Content-Security-Policy", HTML_CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
    if g.get("refused_early"):
        return response  # a flood's 429s: counted above, logged in aggregate (guard._refuse)
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


def init_app(app: APIFlask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
