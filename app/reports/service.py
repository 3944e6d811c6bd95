"""Branding and branded reports. Imports no Flask.

A tenant's branding is one row (``Branding``) read and written through the
tenant-scoped session, so another tenant's logo or footer is never in reach.
Changes are audited in the caller's transaction. Reports gather figures the
other domains already compute (SLO status from app.alerting, limits and usage
from app.quotas, counters from app.ingest) into sections, then render them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.status import Status
from app.core.errors import Invalid, NotFound
from app.graph.models import Edge, Entity
from app.identity.models import Tenant
from app.ingest.service import stats as ingest_stats
from app.quotas.service import Limits, overview, recent_rejections
from app.reports import images, render
from app.reports.models import Branding
from governance import audit

KINDS: Final = ("slo", "usage")
FORMATS: Final = ("html", "pdf")
FOOTER_MAX: Final = 500
RECENT: Final = timedelta(hours=24)
TITLES: Final = {"slo": "Service level report", "usage": "Usage report"}


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    content_type: str
    filename: str


class UnknownReport(NotFound):
    code = "unknown_report"


class UnknownFormat(Invalid):
    """A query parameter outside its choices: 400, as every other field of the API."""

    code = "unknown_format"


# --- branding --------------------------------------------------------------------------


def current(*, session: Session) -> Branding | None:
    """The caller's tenant's branding (the session's scope picks the tenant)."""
    return session.scalars(select(Branding)).one_or_none()


def set_branding(
    *, session: Session, logo: bytes | None, footer: str | None, actor: str, now: datetime
) -> Branding:
    """Replace the logo, the footer or both; refuses the whole change (nothing
    stored) when the logo is not accepted."""
    if logo is None and footer is None:
        raise Invalid("send a logo, a footer or both")
    clean = images.clean_logo(logo) if logo is not None else None
    row = current(session=session)
    if row is None:
        row = Branding(footer="", updated_at=now, updated_by=actor)
        session.add(row)
    if footer is not None:
        row.footer = footer
    if clean is not None:
        row.logo_png, row.logo_sha256 = clean.png, clean.sha256
        row.logo_width, row.logo_height = clean.width, clean.height
    row.updated_at, row.updated_by = now, actor
    session.flush()
    payload: dict[str, Any] = {"footer_changed": footer is not None}
    if clean is not None:
        payload |= {"logo_sha256": clean.sha256, "uploaded_bytes": len(logo or b""),
                    "uploaded_format": clean.source_format}  # fmt: skip
    _audit(session, row, actor, "branding.update", payload, now)
    return row


def clear_branding(*, session: Session, actor: str, now: datetime) -> None:
    """Back to unbranded reports (NotFound when there was no branding)."""
    row = current(session=session)
    if row is None:
        raise NotFound("your tenant has no branding")
    _audit(session, row, actor, "branding.clear", {}, now)
    session.delete(row)
    session.flush()


def _audit(
    session: Session, row: Branding, actor: str, action: str, payload: dict[str, Any],
    now: datetime,
) -> None:  # fmt: skip
    audit.append(session=session, tenant_id=row.tenant_id, actor=actor, action=action,
                 target="branding", payload=payload, now=now)  # fmt: skip


def describe(row: Branding | None) -> dict[str, Any]:
    """What GET /api/v1/reports/branding answers (never the logo's bytes)."""
    if row is None:
        return {"footer": "", "logo": None, "updated_at": None, "updated_by": None}
    logo = None
    if row.logo_png is not None:
        logo = {"sha256": row.logo_sha256, "bytes": len(row.logo_png), "width": row.logo_width,
                "height": row.logo_height, "content_type": "image/png"}  # fmt: skip
    return {"footer": row.footer, "logo": logo, "updated_at": row.updated_at,
            "updated_by": row.updated_by}  # fmt: skip


def logo_png(*, session: Session) -> bytes:
    row = current(session=session)
    if row is None or row.logo_png is None:
        raise NotFound("your tenant has no logo")
    return row.logo_png


def _brand(session: Session) -> dict[str, Any]:
    row = current(session=session)
    return {
        "logo": render.data_uri(row.logo_png if row else None),
        "footer": row.footer if row else "",
    }


# --- reports ---------------------------------------------------------------------------


def check_request(kind: str, fmt: str) -> None:
    if kind not in KINDS:
        raise UnknownReport(f"no report named {kind!r}; there are: {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise UnknownFormat(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def slo_sections(statuses: list[Status], period_days: int) -> list[Section]:
    rows = [
        (s.name, s.service, f"{s.objective:g} %", _percent(s.sli),
         _percent(s.error_budget_remaining), _rates(s.burn_rates), s.note or s.source)
        for s in statuses
    ]  # fmt: skip
    return [
        Section(
            f"Service level objectives over {period_days} days",
            ("SLO", "service", "objective", "SLI", "error budget left", "burn rates", "source"),
            rows,
            "The platform's service levels as the control plane computes them "
            "(GET /api/v1/slo): the same for every tenant.",
        )
    ]


def usage_sections(
    *, session: Session, tenant: Tenant, defaults: Limits, now: datetime
) -> list[Section]:
    return [
        _quota_section(session, tenant, defaults),
        _entity_section(session),
        _ingest_section(session),
        Section(
            "Requests refused by rate limits in the last 24 hours",
            ("route", "reason", "429s"),
            [
                (r["route"], r["reason"], r["count"])
                for r in recent_rejections(session=session, tenant_id=tenant.id, since=now - RECENT)
            ],
        ),
    ]


def _quota_section(session: Session, tenant: Tenant, defaults: Limits) -> Section:
    quotas = overview(session=session, tenant=tenant, defaults=defaults)
    limits, used = quotas["limits"], quotas["usage"]
    return Section("Quotas", ("limit", "allowed", "in use"), [
        ("requests a second", limits.qps, "-"),
        ("burst", limits.burst, "-"),
        ("concurrent jobs", limits.concurrent_jobs, used["running_jobs"]),
        ("storage (bytes)", limits.storage_bytes, used["storage_bytes"]),
    ])  # fmt: skip


def _entity_section(session: Session) -> Section:
    per_dataset = session.execute(
        select(Entity.dataset, func.count())
        .where(Entity.deleted_at.is_(None))
        .group_by(Entity.dataset)
        .order_by(Entity.dataset)
    ).all()
    edges = session.scalar(select(func.count()).select_from(Edge)) or 0
    rows = [(dataset, int(n)) for dataset, n in per_dataset]
    return Section("Entities", ("dataset", "entities"), rows, f"{edges:,} edges between them.")


def _ingest_section(session: Session) -> Section:
    ingest = ingest_stats(session=session, source=None, verify=False)
    names = ("received", "stored", "duplicates", "dlq", "replayed", "batches")
    balanced = "Balanced: received = stored + duplicates + dlq."
    note = balanced if ingest["balanced"] else "Not balanced: see GET /api/v1/ingest/stats."
    return Section("Ingest", ("counter", "events"), [(n, ingest[n]) for n in names], note)


def render_report(
    *, session: Session, tenant: Tenant, kind: str, fmt: str, sections: list[Section],
    now: datetime,
) -> Document:  # fmt: skip
    """The report as HTML or PDF, with the tenant's logo and footer."""
    check_request(kind, fmt)
    document = render.html(
        "report.html", title=TITLES[kind], tenant=tenant.name, generated_at=_when(now),
        sections=sections, **_brand(session),
    )  # fmt: skip
    stem = f"{tenant.slug}-{kind}-report-{now:%Y%m%d}"
    if fmt == "pdf":
        return Document(render.pdf(document), "application/pdf", f"{stem}.pdf")
    return Document(document.encode(), "text/html; charset=utf-8", f"{stem}.html")


def cover_html(*, session: Session, head: dict[str, Any]) -> bytes:
    """A subject export's cover page: the tenant's branding, the subject and when."""
    name = session.scalar(select(Tenant.name).where(Tenant.slug == head["tenant"]))
    return render.html(
        "cover.html", title="Subject access export", tenant=name or head["tenant"],
        subject=head["subject"], generated_at=_when(head["generated_at"]),
        schema_version=head["schema_version"], **_brand(session),
    ).encode()  # fmt: skip


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.3f} %"


def _rates(rates: dict[str, float | None]) -> str:
    shown = [f"{window}: {rate:.2f}×" for window, rate in rates.items() if rate is not None]
    return ", ".join(shown) or "no data"
