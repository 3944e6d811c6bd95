"""The operator's quota page: every tenant's limits, usage and recent 429s."""

from __future__ import annotations

from dataclasses import asdict

from apiflask import APIBlueprint
from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange
from wtforms.validators import Length as FormLength

from app.identity.service import tenant_by_slug, tenants
from app.quotas.service import LIMIT_RANGES
from app.quotas.views import admin_overview, change_limits
from app.web.context import db_session, principal
from app.web.docs import PAGE, WEB_UI, html
from app.web.guard import requires

bp = APIBlueprint("quotas_pages", __name__, tag=WEB_UI)


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
    rows = []
    for tenant in tenants(session=db_session()):
        view = admin_overview(tenant.slug)
        rows.append((view, QuotaForm(formdata=None, data=asdict(view["limits"]))))
    return render_template("admin_quotas.html", rows=rows, caller=principal()), status


@bp.get("/admin/quotas")
@requires("manage_quotas", via="web")
@bp.doc(responses=PAGE)
def quotas_page() -> tuple[str, int]:
    """Every tenant's limits, usage and recent 429s, with a form to change them."""
    return _render()


@bp.post("/admin/quotas/<tenant>")
@requires("manage_quotas", via="web")
@bp.doc(
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
    target = tenant_by_slug(session=db_session(), slug=tenant)
    if not form.validate_on_submit():
        problems = "; ".join(f"{f.label.text}: {e}" for f in form for e in f.errors)
        flash(f"{target.slug} not changed: {problems}", "error")
        return _render(400)
    changes = {name: getattr(form, name).data for name in LIMIT_RANGES}
    change_limits(target.slug, changes, form.reason.data or "")
    flash(f"Quotas of {target.slug} changed.", "info")
    return redirect(url_for("quotas_pages.quotas_page"))
