"""``GET /api/v1/slo``: every SLO's status, for operators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import url_for

from alerts import rules
from alerts.status import Status
from app.alerting import service
from app.alerting.schemas import SloOut, SlosOut
from app.core.db import utcnow
from app.web.context import services
from app.web.guard import requires
from app.web.shapes import dump

bp = APIBlueprint("alerting", __name__, url_prefix="/api/v1", tag="Ops")


def slo_report() -> dict[str, Any]:
    """The body of GET /api/v1/slo (the SLO page renders the same)."""
    settings = services().settings
    now = utcnow()
    found = service.statuses(settings=settings, db=services().db, now=now)
    specs = {one.id: one for one in service.specs(settings)}
    return {
        "period_days": rules.DEFAULT_PERIOD // timedelta(days=1),
        "source": "prometheus" if settings.prometheus_url else "local",
        "generated_at": now,
        "slos": [_slo_out(status, specs[status.id]) for status in found],
    }


def _slo_out(status: Status, spec: Any) -> dict[str, Any]:
    slug = service.runbook_slug(spec)
    return dump(
        SloOut,
        status,
        burn_rates=[{"window": w, "burn_rate": r} for w, r in status.burn_rates.items()],
        alerts=service.alert_states(spec, status),
        runbook=url_for("alerting_pages.runbook", slug=slug) if slug else None,
    )


@bp.get("/slo")
@requires("view_ops")
@bp.output(SlosOut)
def slo_status() -> Any:
    """Each SLO: objective, SLI over the period, error budget left, burn rate per
    alert window, the alert conditions, and the budget over the period."""
    return slo_report()
