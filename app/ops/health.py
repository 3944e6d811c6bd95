"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response
from sqlalchemy import text

from app.core.metrics import exposition
from app.core.migrate import pending
from app.ops.views import scheduler_state
from app.web.context import services
from app.web.guard import public
from app.web.scrape import require_scrape_access

TEXT: dict[int | str, Any] = {
    200: {"description": "Prometheus text", "content": {"text/plain": {}}},
    401: "a scrape token is configured and this request did not carry it",
    403: "no scrape token is configured and this request is not from the loopback",
}
bp = APIBlueprint("health", __name__, tag="Health")
SCHEDULER_READY = frozenset({"leader", "standby", "disabled"})


@bp.get("/healthz")
@public
def healthz() -> dict[str, Any]:
    """The process is up and serving."""
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz() -> Any:
    """Ready for traffic: the database answers and its schema is current, and so
    does the read replica if one is set; the scheduler leads, stands by, or is
    disabled (SUMMIT_SCHEDULER)."""
    checks: dict[str, str] = {}
    db = services().db
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        missing = pending(db.engine)
        checks["database"] = "ok" if not missing else f"migrations pending: {sorted(missing)}"
    except Exception as exc:  # any driver error means "not ready", never a 500
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if db.replica is not None:  # search and entity reads go there (DATABASE_REPLICA_URL)
        try:
            with db.replica.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["replica"] = "ok"
        except Exception as exc:  # as above: not ready, never a 500
            checks["replica"] = f"unreachable: {type(exc).__name__}"
    # The scheduler is ready leading or standing by (another process leads);
    # an elector thread that died means this process will never take over.
    checks["scheduler"] = scheduler_state()
    ready = checks["database"] == "ok" and checks.get("replica", "ok") == "ok"
    ready = ready and checks["scheduler"] in SCHEDULER_READY
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
@public
@bp.doc(responses=TEXT)
def metrics() -> Response:
    """Prometheus text exposition (every gunicorn worker's, aggregated). Loopback
    only, or with the scrape token when SUMMIT_METRICS_TOKEN is set."""
    require_scrape_access()
    metrics = services().metrics
    body, content_type = exposition(metrics.registry, metrics.scraped)
    return Response(body, content_type=content_type)
