"""The governance and audit APIs (SPEC.md's rows): retention, purge, legal holds,
subject exports, audit search and verification. A thin adapter over the
``governance`` package; record-level decisions go to the policy engine
(app.governance.decide)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import send_file, url_for
from werkzeug.wrappers import Response

from app.core.db import utcnow
from app.governance import jobs
from app.governance.decide import Records
from app.governance.schemas import (
    AuditPage,
    AuditQuery,
    ExportIn,
    ExportOut,
    HoldIn,
    HoldOut,
    HoldsOut,
    HoldsQuery,
    PurgeIn,
    PurgeOut,
    ReleaseIn,
    RetentionIn,
    RetentionOut,
    VerifyOut,
)
from app.web.context import db_session, principal, services
from app.web.cursors import decode_cursor, encode_cursor
from app.web.errors import api_error
from app.web.guard import requires
from governance import audit, export, holds, retention
from governance.models import Export, LegalHold

bp = APIBlueprint("governance", __name__, url_prefix="/api/v1", tag="Governance")
HOLD_ERRORS: dict[int | str, Any] = {
    404: "no such entity or hold in your tenant",
    409: "the hold was already released",
}
PURGE_ERRORS: dict[int | str, Any] = {
    403: "the role may not purge these entities",
    404: "an entity is not one of your tenant's",
    409: "legal_hold: an entity is held (nothing purged); not_deleted; purge_in_progress",
}
EXPORT_ERRORS: dict[int | str, Any] = {404: "no such export in your tenant"}


def records() -> Records:
    svc = services()
    return Records(
        engine=svc.policy, log=svc.decisions, metrics=svc.metrics, caller=principal(), now=utcnow
    )


def tenant() -> tuple[int, str]:
    caller = principal()
    assert caller.tenant_id is not None  # governance routes are tenant actions
    assert caller.tenant_slug is not None
    return caller.tenant_id, caller.tenant_slug


# --- retention --------------------------------------------------------------------------


def retention_view() -> dict[str, Any]:
    default = services().settings.retention_default_days
    return retention.current(session=db_session(), default_days=default)


@bp.get("/governance/retention")
@requires("govern")
@bp.output(RetentionOut)
def get_retention() -> Any:
    """How long your tenant keeps a deleted entity before purging it, and the
    history of changes."""
    return retention_view()


@bp.put("/governance/retention")
@requires("govern")
@bp.input(RetentionIn, arg_name="body")
@bp.output(RetentionOut)
def put_retention(body: dict[str, Any]) -> Any:
    """Set your tenant's retention (days after deletion); audited with who and why."""
    retention.set_retention(
        session=db_session(), days=body["days"], reason=body["reason"],
        actor=principal().username,
        default_days=services().settings.retention_default_days, now=utcnow(),
    )  # fmt: skip
    return retention_view()


# --- purge ------------------------------------------------------------------------------


@bp.post("/governance/purge")
@requires("purge", writes=False)  # it manages its own transactions: one per batch
@bp.input(PurgeIn, arg_name="body")
@bp.output(PurgeOut)
@bp.doc(responses=PURGE_ERRORS)
def purge(body: dict[str, Any]) -> Any:
    """``{"entity_ids": [...]}`` purges those soft-deleted entities now, or none of
    them when any is under legal hold (409 ``legal_hold``); ``{}`` runs your
    tenant's retention purge. Every outcome is an audit entry."""
    svc, (tenant_id, slug) = services(), tenant()
    if "entity_ids" not in body:
        outcome = jobs.purge_tenant(
            db=svc.db, settings=svc.settings, metrics=svc.metrics, tenant_id=tenant_id,
            tenant=slug, actor=principal().username, decide=records().purge(),
        )  # fmt: skip
        return {"purged": outcome.purged, "held": outcome.held, "edges": outcome.edges}
    session = db_session()
    svc.db.begin_write(session)
    outcome = retention.purge_entities(
        session=session, entity_ids=body["entity_ids"], actor=principal().username,
        decide=records().purge(), now=utcnow(),
    )  # fmt: skip
    session.commit()  # a refusal too: its audit entry stays
    svc.metrics.purges.labels(slug, "explicit", "refused" if outcome.refused else "done").inc()
    if outcome.refused:
        status = 403 if outcome.refused == "forbidden" else 409
        raise api_error(status, outcome.refused, outcome.message, details={"held": outcome.held})
    svc.metrics.entities_purged.labels(slug).inc(outcome.purged)
    return {"purged": outcome.purged, "held": outcome.held, "edges": outcome.edges}


# --- holds ------------------------------------------------------------------------------


def hold_view(hold: LegalHold, entity_ids: list[str]) -> dict[str, Any]:
    names = ("id", "owner", "reason", "case_id", "created_at", "released_at", "released_by")
    return {name: getattr(hold, name) for name in names} | {
        "release_reason": hold.release_reason,
        "status": "active" if hold.released_at is None else "released",
        "entity_ids": entity_ids,
    }


def _observe_holds() -> None:
    _, slug = tenant()
    count = holds.active_count(session=db_session())
    services().metrics.holds_active.labels(slug).set(count)


@bp.get("/governance/holds")
@requires("govern")
@bp.input(HoldsQuery, location="query", arg_name="query")
@bp.output(HoldsOut)
def list_holds(query: dict[str, Any]) -> Any:
    """Your tenant's legal holds (active ones unless ``status=all``), newest first."""
    session = db_session()
    found = holds.list_holds(session=session, active_only=query["status"] == "active")
    entities = holds.entities_of(session=session, hold_ids=[h.id for h in found])
    return {"holds": [hold_view(h, entities[h.id]) for h in found]}


@bp.post("/governance/holds")
@requires("hold")
@bp.input(HoldIn, arg_name="body")
@bp.output(HoldOut, status_code=201)
@bp.doc(responses=HOLD_ERRORS)
def place_hold(body: dict[str, Any]) -> Any:
    """Freeze entities (and the edges touching them): no change, delete or purge
    while any active hold covers them. Holds stack."""
    session, ids = db_session(), body["entity_ids"]
    kinds = holds.record_kinds(session=session, entity_ids=ids)
    records().require("hold", kinds=set(kinds.values()), what="these entities")
    hold = holds.place_hold(
        session=session, entity_ids=ids, reason=body["reason"], case_id=body["case_id"],
        owner=principal().username, now=utcnow(),
    )  # fmt: skip
    _observe_holds()
    return hold_view(hold, list(dict.fromkeys(ids)))


@bp.post("/governance/holds/<hold_id>/release")
@requires("hold")
@bp.input(ReleaseIn, arg_name="body")
@bp.output(HoldOut)
@bp.doc(responses=HOLD_ERRORS)
def release_hold(hold_id: str, body: dict[str, Any]) -> Any:
    """Release a hold (a reason is required); its entities stay frozen while
    another active hold covers them."""
    session = db_session()
    hold = holds.get_hold(session=session, hold_id=hold_id)
    ids = holds.entities_of(session=session, hold_ids=[hold.id])[hold.id]
    kinds = holds.record_kinds(session=session, entity_ids=ids)
    records().require("hold", kinds=set(kinds.values()) or {"record"}, what="this hold")
    holds.release_hold(
        session=session, hold_id=hold.id, reason=body["reason"], actor=principal().username,
        now=utcnow(),
    )  # fmt: skip
    _observe_holds()
    return hold_view(hold, ids)


# --- exports ----------------------------------------------------------------------------


def export_view(row: Export) -> dict[str, Any]:
    names = ("id", "status", "subject", "requested_by", "requested_at", "finished_at",
             "expires_at", "records", "size_bytes", "sha256", "error")  # fmt: skip
    url = None
    if row.status == "done":
        url = url_for("governance.download_export", export_id=row.id)
    return {name: getattr(row, name) for name in names} | {"download_url": url}


def _export(export_id: str) -> Export:
    row = export.get_export(session=db_session(), export_id=export_id)
    records().require("export", kinds={row.kind}, what="this export")
    return row


@bp.post("/governance/exports")
@requires("export")
@bp.input(ExportIn, arg_name="body")
@bp.output(ExportOut, status_code=202)
@bp.doc(responses={429: "your tenant already runs its concurrent jobs"})
def request_export(body: dict[str, Any]) -> Any:
    """Start a subject access export (GDPR Art. 15); poll it, then download the zip."""
    svc, session, (tenant_id, slug) = services(), db_session(), tenant()
    kind = export.subject_kind(session=session, subject=body["subject"])
    records().require("export", kinds={kind}, what="this subject")
    row = export.request_export(
        session=session, subject=body["subject"], kind=kind, actor=principal().username,
        now=utcnow(),
    )  # fmt: skip
    session.commit()  # the builder's own session must find the row
    jobs.start_export(
        db=svc.db, settings=svc.settings, tenant_id=tenant_id, tenant=slug, export_id=row.id
    )
    return export_view(row)


@bp.get("/governance/exports/<export_id>")
@requires("export")
@bp.output(ExportOut)
@bp.doc(responses=EXPORT_ERRORS)
def get_export(export_id: str) -> Any:
    """An export's status; once done, its download link and when that expires."""
    return export_view(_export(export_id))


@bp.get("/governance/exports/<export_id>/download")
@requires("export", writes=True)  # each download is an audit entry
@bp.output({}, content_type="application/zip", description="the export's zip")
@bp.doc(
    responses=EXPORT_ERRORS
    | {409: "the export is not finished (or failed)", 410: "the download link expired"}
)
def download_export(export_id: str) -> Response:
    """The export's zip: manifest.json, data.json and one CSV per record type."""
    row = _export(export_id)
    _, path = export.open_download(
        session=db_session(), export_id=row.id, directory=services().settings.exports_dir,
        actor=principal().username, now=utcnow(),
    )  # fmt: skip
    services().metrics.exports_served.labels(tenant()[1]).inc()
    return send_file(
        path, mimetype="application/zip", as_attachment=True, download_name=f"export-{row.id}.zip"
    )


# --- audit ------------------------------------------------------------------------------


@bp.get("/audit")
@requires("read_audit")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPage)
def search_audit(query: dict[str, Any]) -> Any:
    """Your tenant's audit log, newest first, filtered by actor, action (a dotted
    prefix: ``hold`` finds ``hold.place``), target and time range [since, until)."""
    wanted = audit.Query(
        actor=query.get("actor"), action=query.get("action"), target=query.get("target"),
        since=query.get("since"), until=query.get("until"), limit=query["limit"],
        before_seq=decode_cursor("seq", query.get("cursor")),
    )  # fmt: skip
    entries = audit.search(session=db_session(), tenant_id=tenant()[0], query=wanted)
    more = len(entries) == wanted.limit and entries[-1]["seq"] > 1
    return {
        "entries": entries,
        "next_cursor": encode_cursor("seq", entries[-1]["seq"]) if more else None,
    }


@bp.get("/audit/verify")
@requires("verify_audit")
@bp.output(VerifyOut)
def verify_audit() -> Any:
    """Recompute your tenant's audit chain and hold it against its signed
    checkpoints: ``{"ok": true, "checked": n}`` or the first bad ``seq`` and why."""
    svc, (tenant_id, slug) = services(), tenant()
    result = jobs.verify_tenant(
        db=svc.db, settings=svc.settings, metrics=svc.metrics, tenant_id=tenant_id, tenant=slug
    )
    return result.as_json()
