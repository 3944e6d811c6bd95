"""Quotas: a tenant reads its own; operators read and change everyone's (API and page)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, Range
from flask import flash, redirect, render_template
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange
from wtforms.validators import Length as FormLength

from app.db import utcnow
from app.errors import NotFound
from app.http.auth import requires
from app.http.context import db_session, principal, services
from app.http.ui import PAGE, html
from app.models import Tenant
from app.quotas import rejections
from app.quotas.models import QuotaChange
from app.quotas.service import LIMIT_RANGES, limits_for, set_limits, usage

api = APIBlueprint("quotas", __name__, url_prefix="/api/v1", tag="Quotas")
page = APIBlueprint("quotas_ui", __name__, tag="Web UI")
RECENT = timedelta(hours=1)


def _range(name: str) -> Range:
    low, high = LIMIT_RANGES[name]
    return Range(low, high)


class LimitsOut(Schema):
    qps = Integer(required=True, metadata={"description": "sustained requests per second"})
    burst = Integer(required=True, metadata={"description": "extra requests in any one second"})
    concurrent_jobs = Integer(required=True)
    storage_bytes = Integer(required=True)


class UsageOut(Schema):
    storage_bytes = Integer(required=True)
    running_jobs = Integer(required=True)


class QuotasOut(Schema):
    tenant = String(required=True)
    limits = Nested(LimitsOut, required=True)
    usage = Nested(UsageOut, required=True)


class ChangeOut(Schema):
    at = DateTime(required=True)
    changed_by = String(required=True)
    old = Dict(required=True)
    new = Dict(required=True)
    reason = String(required=True)


class RejectionOut(Schema):
    route = String(required=True)
    reason = String(required=True)
    count = Integer(required=True)


class AdminQuotasOut(QuotasOut):
    recent_429s = List(
        Nested(RejectionOut),
        required=True,
        metadata={"description": "429s in the last hour, per route"},
    )
    changes = List(Nested(ChangeOut), required=True, metadata={"description": "newest first"})


class QuotaPatch(Schema):
    qps = Integer(strict=True, validate=_range("qps"))
    burst = Integer(strict=True, validate=_range("burst"))
    concurrent_jobs = Integer(strict=True, validate=_range("concurrent_jobs"))
    storage_bytes = Integer(strict=True, validate=_range("storage_bytes"))
    reason = String(
        load_default="",
        validate=Length(max=500),
        metadata={"description": "why: kept in the audit of quota changes"},
    )


def _view(tenant: Tenant) -> dict[str, Any]:
    session = db_session()
    limits = limits_for(session=session, tenant_id=tenant.id, defaults=services().quota_defaults)
    return {
        "tenant": tenant.slug,
        "limits": asdict(limits),
        "usage": usage(session=session, tenant_id=tenant.id),
    }


def _admin_view(tenant: Tenant) -> dict[str, Any]:
    session = db_session()
    changes = session.scalars(
        select(QuotaChange)
        .where(QuotaChange.tenant_id == tenant.id)
        .order_by(QuotaChange.id.desc())
        .limit(20)
    )
    return {
        **_view(tenant),
        "recent_429s": rejections.recent(
            session=session, tenant_id=tenant.id, since=utcnow() - RECENT
        ),
        "changes": [
            {"at": c.at, "changed_by": c.changed_by, "old": c.old, "new": c.new, "reason": c.reason}
            for c in changes
        ],
    }


def _tenant(slug: str) -> Tenant:
    tenant = db_session().scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


@api.get("/quotas")
@requires("read")
@api.output(QuotasOut)
def own_quotas() -> Any:
    """Your tenant's limits and what it uses of them."""
    caller = principal()
    return _view(db_session().get_one(Tenant, caller.tenant_id))


@api.get("/admin/tenants/<tenant>/quotas")
@requires("manage_quotas")
@api.output(AdminQuotasOut)
@api.doc(responses={404: "no such tenant"})
def tenant_quotas(tenant: str) -> Any:
    """A tenant's limits, usage, recent 429s and the audit of changes (operators)."""
    return _admin_view(_tenant(tenant))


@api.patch("/admin/tenants/<tenant>/quotas")
@requires("manage_quotas")
@api.input(QuotaPatch, arg_name="body")
@api.output(AdminQuotasOut)
@api.doc(responses={404: "no such tenant"})
def change_quotas(tenant: str, body: dict[str, Any]) -> Any:
    """Raise or lower a tenant's limits (operators). Takes effect on the tenant's
    next request on every worker; recorded with who, old, new and why."""
    reason = body.pop("reason")
    set_limits(
        session=db_session(),
        tenant_slug=tenant,
        changes=body,
        actor=principal().username,
        reason=reason,
        defaults=services().quota_defaults,
        now=utcnow(),
    )
    return _admin_view(_tenant(tenant))


class QuotaForm(FlaskForm):
    qps = IntegerField("QPS", validators=[InputRequired(), NumberRange(*LIMIT_RANGES["qps"])])
    burst = IntegerField("Burst", validators=[InputRequired(), NumberRange(*LIMIT_RANGES["burst"])])
    concurrent_jobs = IntegerField(
        "Concurrent jobs",
        validators=[InputRequired(), NumberRange(*LIMIT_RANGES["concurrent_jobs"])],
    )
    storage_bytes = IntegerField(
        "Storage bytes", validators=[InputRequired(), NumberRange(*LIMIT_RANGES["storage_bytes"])]
    )
    reason = StringField("Reason", validators=[DataRequired(), FormLength(max=500)])


def _render(status: int = 200) -> tuple[str, int]:
    tenants = db_session().scalars(select(Tenant).order_by(Tenant.slug)).all()
    rows = [(_admin_view(t), QuotaForm(formdata=None, data=_view(t)["limits"])) for t in tenants]
    return render_template("admin_quotas.html", rows=rows, caller=principal()), status


@page.get("/admin/quotas")
@requires("manage_quotas", via="web")
@page.doc(responses=PAGE)
def quotas_page() -> tuple[str, int]:
    """Every tenant's limits, usage and recent 429s, with a form to change them."""
    return _render()


@page.post("/admin/quotas/<tenant>")
@requires("manage_quotas", via="web")
@page.doc(
    responses=html(
        s302="back to /admin/quotas",
        s400="invalid form or CSRF token",
        s403="the role may not",
        s404="no such tenant",
    )
)
def change_quotas_page(tenant: str) -> Response | tuple[str, int]:
    """Change one tenant's limits from the page; a reason is required."""
    form = QuotaForm()
    target = _tenant(tenant)
    if not form.validate_on_submit():
        problems = "; ".join(f"{f.label.text}: {e}" for f in form for e in f.errors)
        flash(f"{target.slug} not changed: {problems}", "error")
        return _render(400)
    changes = {name: getattr(form, name).data for name in LIMIT_RANGES}
    set_limits(
        session=db_session(),
        tenant_slug=target.slug,
        changes=changes,
        actor=principal().username,
        reason=form.reason.data or "",
        defaults=services().quota_defaults,
        now=utcnow(),
    )
    flash(f"Quotas of {target.slug} changed.", "info")
    return redirect("/admin/quotas")
