"""Quotas: a tenant reads its own; operators read and change everyone's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint

from app.core.db import utcnow
from app.identity.service import tenant_by_slug
from app.quotas import service
from app.quotas.schemas import AdminQuotasOut, QuotaPatch, QuotasOut
from app.web.context import db_session, principal, services
from app.web.guard import requires

bp = APIBlueprint("quotas", __name__, url_prefix="/api/v1", tag="Quotas")
RECENT = timedelta(hours=1)


def admin_overview(slug: str) -> dict[str, Any]:
    session = db_session()
    return service.admin_overview(
        session=session,
        tenant=tenant_by_slug(session=session, slug=slug),
        defaults=services().quota_defaults,
        since=utcnow() - RECENT,
    )


def change_limits(slug: str, changes: dict[str, int], reason: str) -> None:
    """Record the change (who, old, new, why) and start the tenant's rate bucket
    afresh, so every worker's next request of the tenant runs on the new limits."""
    session = db_session()
    tenant = tenant_by_slug(session=session, slug=slug)
    service.set_limits(
        session=session,
        tenant_slug=tenant.slug,
        changes=changes,
        actor=principal().username,
        reason=reason,
        defaults=services().quota_defaults,
        now=utcnow(),
    )
    services().limiter.forget(tenant=str(tenant.id))


@bp.get("/quotas")
@requires("read")
@bp.output(QuotasOut)
def own_quotas() -> Any:
    """Your tenant's limits and what it uses of them."""
    session = db_session()
    tenant = tenant_by_slug(session=session, slug=principal().tenant_slug or "")
    return service.overview(session=session, tenant=tenant, defaults=services().quota_defaults)


@bp.get("/admin/tenants/<tenant>/quotas")
@requires("manage_quotas")
@bp.output(AdminQuotasOut)
@bp.doc(responses={404: "no such tenant"})
def tenant_quotas(tenant: str) -> Any:
    """A tenant's limits, usage, recent 429s and the audit of changes (operators)."""
    return admin_overview(tenant)


@bp.patch("/admin/tenants/<tenant>/quotas")
@requires("manage_quotas")
@bp.input(QuotaPatch, arg_name="body")
@bp.output(AdminQuotasOut)
@bp.doc(responses={404: "no such tenant"})
def change_quotas(tenant: str, body: dict[str, Any]) -> Any:
    """Raise or lower a tenant's limits (operators). Takes effect on the tenant's
    next request on every worker; recorded with who, old, new and why."""
    reason = body.pop("reason")
    change_limits(tenant, body, reason)
    return admin_overview(tenant)
