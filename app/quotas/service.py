"""Quota rules: limits with defaults, storage accounting, concurrent jobs, audit.

Every check that guards a limit is one conditional statement whose rowcount
says whether it held (STYLE habit 7), so two workers racing for the last byte
or the last job slot cannot both win.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Integer, String, func, insert, literal, select, update
from sqlalchemy.orm import Session

from app import settings
from app.core.db import UTCDateTime
from app.core.errors import DomainError
from app.core.metrics import QuotaUse
from app.core.tenancy import INFO_KEY
from app.identity.models import Tenant
from app.identity.service import tenant_by_slug
from app.quotas.models import Job, QuotaChange, QuotaRejection, TenantQuota, TenantUsage

# How the audit entries of `summit quotas apply` begin: the newest such entry is
# the "last applied" state a plan compares with, so the API refuses it in a reason.
APPLY_MARK = "quotas as code"
LIMIT_RANGES = {
    "qps": (1, 100_000),
    "burst": (0, 100_000),
    "concurrent_jobs": (0, 1_000),
    "storage_bytes": (0, 10 * 1024**4),
}


@dataclass(frozen=True, slots=True)
class Limits:
    qps: int
    burst: int
    concurrent_jobs: int
    storage_bytes: int


DEFAULT_LIMITS = Limits(**settings.DEFAULT_LIMITS)


class StorageQuotaExceeded(DomainError):
    status = 409
    code = "storage_quota_exceeded"


class JobQuotaExceeded(DomainError):
    status = 429
    code = "concurrent_jobs_exceeded"


def stored_bytes(*values: Any) -> int:
    """What a row costs against the storage quota: its user-supplied fields as JSON."""
    return len(orjson.dumps(values))


def tenant_of(session: Session) -> int:
    tenant_id = session.info.get(INFO_KEY)
    if not isinstance(tenant_id, int):
        raise RuntimeError("quota accounting needs a tenant-scoped session")
    return tenant_id


def ensure_rows(*, session: Session, tenant_id: int, defaults: Limits, now: datetime) -> None:
    """Give a tenant its quota row (the defaults) and usage row, if missing."""
    if session.get(TenantQuota, tenant_id) is None:
        session.add(
            TenantQuota(
                tenant_id=tenant_id, updated_at=now, updated_by="defaults", **asdict(defaults)
            )
        )
    if session.get(TenantUsage, tenant_id) is None:
        session.add(TenantUsage(tenant_id=tenant_id, storage_bytes=0, generation=0))
    session.flush()


def limits_for(*, session: Session, tenant_id: int, defaults: Limits) -> Limits:
    return _limits(session.get(TenantQuota, tenant_id), defaults)


def charge(
    *, session: Session, delta: int, tenant_id: int | None = None, enforce: bool = True
) -> None:
    """Account ``delta`` bytes to the tenant (default: the session's) and bump its
    cache generation, in the caller's transaction; past the quota, refuse
    (StorageQuotaExceeded). ``enforce=False`` is for system loads (the demo seed)
    that are counted but not refused."""
    tenant_id = tenant_of(session) if tenant_id is None else tenant_id
    quota = select(TenantQuota.storage_bytes).where(TenantQuota.tenant_id == tenant_id)
    statement = (
        update(TenantUsage)
        .where(TenantUsage.tenant_id == tenant_id)
        .values(
            storage_bytes=TenantUsage.storage_bytes + delta,
            generation=TenantUsage.generation + 1,
        )
    )
    if delta > 0 and enforce:
        statement = statement.where(TenantUsage.storage_bytes + delta <= quota.scalar_subquery())
    if session.execute(statement).rowcount == 1:  # type: ignore[attr-defined]
        return
    usage = session.get(TenantUsage, tenant_id)
    limit = session.scalar(quota)
    if usage is None or limit is None:
        raise RuntimeError(f"tenant {tenant_id} has no quota rows: run `summit init`")
    raise StorageQuotaExceeded(
        "this write would exceed your tenant's storage quota; nothing was written",
        details={"used_bytes": usage.storage_bytes, "quota_bytes": limit, "needed_bytes": delta},
    )


def bump_generation(*, session: Session) -> None:
    """Invalidate every cached answer of the session's tenant (a write with no size change)."""
    charge(session=session, delta=0)


def usage(*, session: Session, tenant_id: int) -> dict[str, int]:
    row = session.get(TenantUsage, tenant_id)
    running = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.tenant_id == tenant_id, Job.status == "running")
    )
    return {
        "storage_bytes": row.storage_bytes if row else 0,
        "running_jobs": int(running or 0),
    }


def overview(*, session: Session, tenant: Tenant, defaults: Limits) -> dict[str, Any]:
    """A tenant's limits and what it uses of them."""
    return {
        "tenant": tenant.slug,
        "limits": limits_for(session=session, tenant_id=tenant.id, defaults=defaults),
        "usage": usage(session=session, tenant_id=tenant.id),
    }


def admin_overview(
    *, session: Session, tenant: Tenant, defaults: Limits, since: datetime
) -> dict[str, Any]:
    """The overview, with the 429s since ``since`` and the latest changes (newest first)."""
    changes = session.scalars(
        select(QuotaChange)
        .where(QuotaChange.tenant_id == tenant.id)
        .order_by(QuotaChange.id.desc())
        .limit(20)
    )
    return {
        **overview(session=session, tenant=tenant, defaults=defaults),
        "recent_429s": recent_rejections(session=session, tenant_id=tenant.id, since=since),
        "changes": list(changes),
    }


def set_limits(
    *,
    session: Session,
    tenant_slug: str,
    changes: dict[str, int],
    actor: str,
    reason: str,
    defaults: Limits,
    now: datetime,
) -> tuple[Limits, Limits]:
    """Change some of a tenant's limits, and record who changed what and why."""
    tenant = tenant_by_slug(session=session, slug=tenant_slug)
    ensure_rows(session=session, tenant_id=tenant.id, defaults=defaults, now=now)
    old = limits_for(session=session, tenant_id=tenant.id, defaults=defaults)
    new = replace(old, **changes)
    row = session.get_one(TenantQuota, tenant.id)
    for name, value in asdict(new).items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = now, actor
    session.add(
        QuotaChange(
            tenant_id=tenant.id,
            at=now,
            changed_by=actor,
            old=asdict(old),
            new=asdict(new),
            reason=reason or "(no reason given)",
        )
    )
    session.flush()
    return old, new


def start_job(*, session: Session, kind: str, actor: str, now: datetime) -> int:
    """Claim one of the tenant's concurrent-job slots; JobQuotaExceeded when none is free.

    The insert happens only if fewer than the quota are running, in one
    statement; the usage row is locked first so that PostgreSQL serialises two
    claims of one tenant (SQLite's BEGIN IMMEDIATE already does).
    """
    tenant_id = tenant_of(session)
    session.execute(
        select(TenantUsage.tenant_id).where(TenantUsage.tenant_id == tenant_id).with_for_update()
    )
    running = (
        select(func.count())
        .select_from(Job)
        .where(Job.tenant_id == tenant_id, Job.status == "running")
        .scalar_subquery()
    )
    allowed = select(TenantQuota.concurrent_jobs).where(TenantQuota.tenant_id == tenant_id)
    values = select(
        literal(tenant_id, Integer()),
        literal(kind, String()),
        literal("running", String()),
        literal(actor, String()),
        literal(now, UTCDateTime()),
    ).where(running < allowed.scalar_subquery())
    claim = (
        insert(Job)
        .from_select(["tenant_id", "kind", "status", "created_by", "started_at"], values)
        .returning(Job.id)
    )
    job_id = session.execute(claim).scalar()
    if job_id is None:
        limit = session.scalar(allowed)
        raise JobQuotaExceeded(
            f"your tenant already runs its {limit} concurrent jobs; wait for one to finish",
            details={"concurrent_jobs": limit},
        )
    return int(job_id)


def finish_job(*, session: Session, job_id: int, status: str, now: datetime) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.tenant_id == tenant_of(session))
        .values(status=status, finished_at=now)
    )


def recent_rejections(*, session: Session, tenant_id: int, since: datetime) -> list[dict[str, Any]]:
    """429s of one tenant since ``since``, per route and reason, most first."""
    total = func.sum(QuotaRejection.count)
    rows = session.execute(
        select(QuotaRejection.route, QuotaRejection.reason, total)
        .where(QuotaRejection.tenant_id == tenant_id, QuotaRejection.minute >= since)
        .group_by(QuotaRejection.route, QuotaRejection.reason)
        .order_by(total.desc())
    ).all()
    return [{"route": r, "reason": why, "count": int(n)} for r, why, n in rows]


def quota_use(*, session: Session, defaults: Limits) -> list[QuotaUse]:
    """Every tenant's stored bytes and limits (the defaults where it has no row), for /metrics."""
    rows = session.execute(
        select(Tenant.slug, TenantUsage.storage_bytes, TenantQuota)
        .outerjoin(TenantUsage, TenantUsage.tenant_id == Tenant.id)
        .outerjoin(TenantQuota, TenantQuota.tenant_id == Tenant.id)
        .order_by(Tenant.slug)
    ).all()
    return [
        QuotaUse(tenant=slug, storage_bytes=stored or 0, limits=asdict(_limits(quota, defaults)))
        for slug, stored, quota in rows
    ]


def _limits(row: TenantQuota | None, defaults: Limits) -> Limits:
    return (
        defaults
        if row is None
        else Limits(row.qps, row.burst, row.concurrent_jobs, row.storage_bytes)
    )
