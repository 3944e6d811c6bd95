"""The governance page for tenant admins: retention, legal holds, exports, the audit
log and its last verification. Forms post here; the work is the same service
calls the API makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apiflask import APIBlueprint
from flask import flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from app.core.db import utcnow
from app.core.errors import DomainError
from app.governance import jobs
from app.governance.views import records, tenant
from app.web.context import db_session, principal, services
from app.web.docs import PAGE, WEB_UI, html
from app.web.guard import requires
from governance import audit, export, holds, retention

bp = APIBlueprint("governance_pages", __name__, tag=WEB_UI)
FORM = html(
    s302="back to /governance",
    s400="invalid form or CSRF token",
    s403="the role may not",
    s404="no such entity, hold or export in your tenant",
    s409="refused (already released, legal hold)",
)
FILTERS = ("actor", "action", "target", "since", "until")


def _when(name: str) -> datetime | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        flash(f"{name}: not a date or time (use 2026-11-27 or 2026-11-27T10:00)", "error")
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _audit_query() -> audit.Query:
    def text(name: str) -> str | None:
        return request.args.get(name, "").strip()[:256] or None

    return audit.Query(
        actor=text("actor"), action=text("action"), target=text("target"),
        since=_when("since"), until=_when("until"), limit=100,
    )  # fmt: skip


def _render(status: int = 200) -> tuple[str, int]:
    session, settings = db_session(), services().settings
    tenant_id, _ = tenant()
    active = holds.list_holds(session=session, active_only=True)
    return render_template(
        "governance.html",
        caller=principal(),
        retention=retention.current(session=session, default_days=settings.retention_default_days),
        holds=active,
        hold_entities=holds.entities_of(session=session, hold_ids=[h.id for h in active]),
        exports=export.list_exports(session=session, limit=20),
        entries=audit.search(session=session, tenant_id=tenant_id, query=_audit_query()),
        filters={name: request.args.get(name, "") for name in FILTERS},
        verification=audit.latest(session=session, tenant_id=tenant_id),
        now=utcnow(),
    ), status


def _refused(exc: DomainError) -> tuple[str, int]:
    db_session().rollback()
    flash(exc.message, "error")
    return _render(exc.status)


def _back(message: str) -> Response:
    flash(message, "info")
    return redirect(url_for("governance_pages.governance_page"))


@bp.get("/governance")
@requires("govern", via="web")
@bp.doc(responses=PAGE)
def governance_page() -> tuple[str, int]:
    """Retention, active legal holds, exports, and the audit log with its last verification."""
    return _render()


@bp.post("/governance/retention")
@requires("govern", via="web")
@bp.doc(responses=FORM)
def retention_form() -> Response | tuple[str, int]:
    """Change the tenant's retention (days after deletion)."""
    try:
        days = int(request.form.get("days", ""))
        retention.set_retention(
            session=db_session(), days=days, reason=request.form.get("reason", "")[:500],
            actor=principal().username,
            default_days=services().settings.retention_default_days, now=utcnow(),
        )  # fmt: skip
    except ValueError:
        flash("Retention: give a whole number of days.", "error")
        return _render(400)
    except DomainError as exc:
        return _refused(exc)
    return _back(f"Retention is now {days} days.")


@bp.post("/governance/holds")
@requires("hold", via="web")
@bp.doc(responses=FORM)
def hold_form() -> Response | tuple[str, int]:
    """Place a legal hold on the entities listed (ids separated by commas or spaces)."""
    ids = request.form.get("entity_ids", "").replace(",", " ").split()[: holds.MAX_ENTITIES]
    try:
        kinds = holds.record_kinds(session=db_session(), entity_ids=ids)
        records().require("hold", kinds=set(kinds.values()), what="these entities")
        hold = holds.place_hold(
            session=db_session(), entity_ids=ids, reason=request.form.get("reason", "")[:2000],
            case_id=request.form.get("case_id", "").strip()[:128] or None,
            owner=principal().username, now=utcnow(),
        )  # fmt: skip
    except DomainError as exc:
        return _refused(exc)
    return _back(f"Hold {hold.id} placed on {len(set(ids))} entities.")


@bp.post("/governance/holds/<hold_id>/release")
@requires("hold", via="web")
@bp.doc(responses=FORM)
def release_form(hold_id: str) -> Response | tuple[str, int]:
    """Release a hold; a reason is required."""
    session = db_session()
    try:
        hold = holds.get_hold(session=session, hold_id=hold_id)
        ids = holds.entities_of(session=session, hold_ids=[hold.id])[hold.id]
        kinds = holds.record_kinds(session=session, entity_ids=ids)
        records().require("hold", kinds=set(kinds.values()) or {"record"}, what="this hold")
        holds.release_hold(
            session=session, hold_id=hold.id, reason=request.form.get("reason", "")[:2000],
            actor=principal().username, now=utcnow(),
        )  # fmt: skip
    except DomainError as exc:
        return _refused(exc)
    return _back(f"Hold {hold_id} released.")


@bp.post("/governance/exports")
@requires("export", via="web")
@bp.doc(responses=FORM | html(s429="the tenant already runs its concurrent jobs"))
def export_form() -> Response | tuple[str, int]:
    """Request a subject access export."""
    svc, session, (tenant_id, slug) = services(), db_session(), tenant()
    subject = request.form.get("subject", "").strip()[:256]
    try:
        if not subject:
            raise DomainError("Export: name the data subject.")
        kind = export.subject_kind(session=session, subject=subject)
        records().require("export", kinds={kind}, what="this subject")
        row = export.request_export(
            session=session, subject=subject, kind=kind, actor=principal().username, now=utcnow()
        )
    except DomainError as exc:
        return _refused(exc)
    session.commit()
    jobs.start_export(
        db=svc.db, settings=svc.settings, tenant_id=tenant_id, tenant=slug, export_id=row.id
    )
    return _back(f"Export of {subject} requested.")


@bp.get("/governance/exports/<export_id>/download")
@requires("export", via="web", writes=True)  # each download is an audit entry
@bp.doc(
    responses=html(
        s200="the zip", s302="to /login when not logged in", s403="the role may not",
        s404="no such export", s409="not finished", s410="the link expired",
    )
)  # fmt: skip
def download_page(export_id: str) -> Any:
    """Download a finished export (until its link expires)."""
    try:
        row = export.get_export(session=db_session(), export_id=export_id)
        records().require("export", kinds={row.kind}, what="this export")
        _, path = export.open_download(
            session=db_session(), export_id=row.id, directory=services().settings.exports_dir,
            actor=principal().username, now=utcnow(),
        )  # fmt: skip
    except DomainError as exc:
        return _refused(exc)
    services().metrics.exports_served.labels(tenant()[1]).inc()
    return send_file(
        path, mimetype="application/zip", as_attachment=True, download_name=f"export-{row.id}.zip"
    )


@bp.post("/governance/audit/verify")
@requires("verify_audit", via="web", writes=False)
@bp.doc(responses=html(s302="back to /governance", s400="missing CSRF token"))
def verify_form() -> Response:
    """Verify the tenant's audit chain now."""
    svc, (tenant_id, slug) = services(), tenant()
    result = jobs.verify_tenant(
        db=svc.db, settings=svc.settings, metrics=svc.metrics, tenant_id=tenant_id, tenant=slug
    )
    if result.ok:
        return _back(f"Audit chain verified: {result.checked} entries.")
    flash(f"Audit chain broken at seq {result.first_bad_seq}: {result.reason}", "error")
    return redirect(url_for("governance_pages.governance_page"))
