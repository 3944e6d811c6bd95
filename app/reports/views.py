"""Branded reports: a tenant's logo and footer, and its SLO and usage reports
as HTML or PDF. A thin adapter over app.reports.service."""

from __future__ import annotations

from typing import Any, Final

from apiflask import APIBlueprint
from flask import Response
from werkzeug.datastructures import FileStorage

from alerts.rules import DEFAULT_PERIOD
from app.alerting.service import statuses
from app.core.db import utcnow
from app.identity.service import tenant_by_slug
from app.reports import images, service
from app.reports.render import CONTENT_SECURITY_POLICY
from app.reports.schemas import BrandingIn, BrandingOut, ReportQuery
from app.web.context import db_session, principal, services
from app.web.guard import requires
from governance import export

bp = APIBlueprint("reports", __name__, url_prefix="/api/v1", tag="Reports")
# The subject export's cover carries the tenant's branding (governance.export).
export.set_cover(service.cover_html)

NO_SNIFF: Final = {"X-Content-Type-Options": "nosniff"}
REPORT_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "the report, branded with your tenant's logo and footer",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    400: "format is neither html nor pdf",
    404: "no report of that kind (there are: slo, usage)",
}
BRANDING_ERRORS: dict[int | str, Any] = {
    400: "neither a logo nor a footer, or a footer that is not plain text",
    413: f"the logo is larger than {images.MAX_BYTES:,} bytes",
    422: "the logo is not a PNG or JPEG image, or is over "
    f"{images.MAX_SIDE}×{images.MAX_SIDE} pixels",
}


@bp.get("/reports/branding")
@requires("read_reports")
@bp.output(BrandingOut)
def get_branding() -> Any:
    """Your tenant's report branding: the footer and the stored logo's digest and size."""
    return service.describe(service.current(session=db_session()))


@bp.put("/reports/branding")
@requires("manage_branding")
@bp.input(BrandingIn, location="form_and_files", arg_name="body")
@bp.output(BrandingOut)
@bp.doc(responses=BRANDING_ERRORS)
def put_branding(body: dict[str, Any]) -> Any:
    """Set your tenant's logo, footer or both (tenant admins).

    multipart/form-data. The logo is checked by its content and stored
    re-encoded as PNG; a refused logo changes nothing."""
    upload: FileStorage | None = body.get("logo")
    raw = _read_bounded(upload) if upload is not None else None
    row = service.set_branding(
        session=db_session(), logo=raw, footer=body.get("footer"),
        actor=principal().username, now=utcnow(),
    )  # fmt: skip
    return service.describe(row)


@bp.delete("/reports/branding")
@requires("manage_branding")
@bp.output({}, status_code=204)
@bp.doc(responses={404: "your tenant has no branding"})
def delete_branding() -> Any:
    """Remove your tenant's logo and footer (tenant admins)."""
    service.clear_branding(session=db_session(), actor=principal().username, now=utcnow())
    return ""


@bp.get("/reports/branding/logo")
@requires("read_reports")
@bp.output({}, content_type="image/png", description="the stored logo, always a PNG")
@bp.doc(responses={404: "your tenant has no logo"})
def get_logo() -> Response:
    """Your tenant's logo as we stored it: a PNG we encoded, never the upload."""
    png = service.logo_png(session=db_session())
    response = Response(png, mimetype="image/png", headers=NO_SNIFF)
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["Content-Disposition"] = 'inline; filename="logo.png"'
    return response


@bp.get("/reports/<kind>")
@requires("read_reports")
@bp.input(ReportQuery, location="query", arg_name="query")
@bp.doc(responses=REPORT_RESPONSES)
def get_report(kind: str, query: dict[str, Any]) -> Response:
    """A branded report for your tenant, as HTML or PDF.

    ``slo``: the platform's service levels; ``usage``: your tenant's limits,
    storage, entities, ingest counters and recent 429s."""
    fmt = query["format"]
    service.check_request(kind, fmt)
    session, now = db_session(), utcnow()
    tenant = tenant_by_slug(session=session, slug=principal().tenant_slug or "")
    document = service.render_report(
        session=session, tenant=tenant, kind=kind, fmt=fmt,
        sections=_sections(kind, session=session, tenant=tenant, now=now), now=now,
    )  # fmt: skip
    response = Response(document.body, content_type=document.content_type, headers=NO_SNIFF)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    disposition = "attachment" if fmt == "pdf" else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{document.filename}"'
    return response


def _sections(kind: str, **facts: Any) -> list[service.Section]:
    svc = services()
    if kind == "slo":
        found = statuses(settings=svc.settings, db=svc.db, now=facts["now"])
        return service.slo_sections(found, period_days=DEFAULT_PERIOD.days)
    return service.usage_sections(defaults=svc.quota_defaults, **facts)


def _read_bounded(upload: FileStorage) -> bytes:
    """At most one byte past the limit is read: enough to know it is too large."""
    raw = upload.stream.read(images.MAX_BYTES + 1)
    if len(raw) > images.MAX_BYTES:
        raise images.LogoTooLarge(f"the logo is larger than {images.MAX_BYTES:,} bytes")
    return bytes(raw)
