"""Governance work that runs outside a request: the scheduled jobs (``purge-expired``,
``audit-checkpoint``), export builds on their own thread, and audit verification
with its recording. Imports no Flask; the scheduler, the CLI and the views call it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select

from app.core import leases
from app.core.db import Database, utcnow
from app.core.metrics import Metrics
from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.ops.runtime import ProbeRuntime
from app.settings import Settings, audit_signing_key
from governance import audit, export, holds, retention
from governance.audit import Checkpoint, Signer, VerifyResult
from governance.retention import Decide, PurgeInProgress, PurgeOutcome

log = logging.getLogger("summit.governance")
STALE_EXPORT = timedelta(hours=1)  # an export still running after this lost its worker


@cache
def _signer(seed: bytes) -> Signer:
    return Signer(seed)


def signer(settings: Settings) -> Signer:
    return _signer(audit_signing_key(settings))


def tenants(db: Database) -> list[tuple[int, str]]:
    with db.session(tenant_id=ALL_TENANTS) as session:
        return [(row.id, row.slug) for row in session.execute(select(Tenant.id, Tenant.slug))]


# --- purge ------------------------------------------------------------------------------


def purge_tenant(
    *,
    db: Database,
    settings: Settings,
    metrics: Metrics | None,
    tenant_id: int,
    tenant: str,
    actor: str,
    decide: Decide,
    now: Callable[[], datetime] = utcnow,
) -> PurgeOutcome:
    """The tenant's retention purge (raises PurgeInProgress when another worker has it)."""
    outcome = retention.purge_expired(
        db=db, tenant_id=tenant_id, holder=leases.new_holder(), actor=actor, decide=decide,
        default_days=settings.retention_default_days, batch_size=settings.purge_batch_size,
        now=now,
    )  # fmt: skip
    if metrics is not None:
        metrics.purges.labels(tenant, "retention", "done").inc()
        metrics.entities_purged.labels(tenant).inc(outcome.purged)
    return outcome


def purge_all(
    *,
    db: Database,
    settings: Settings,
    metrics: Metrics | None,
    decide_for: Callable[[str], Decide],
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Every tenant's retention purge and housekeeping; returns entities purged."""
    total = 0
    for tenant_id, slug in tenants(db):
        try:
            outcome = purge_tenant(
                db=db, settings=settings, metrics=metrics, tenant_id=tenant_id, tenant=slug,
                actor="retention-job", decide=decide_for(slug), now=now,
            )  # fmt: skip
        except PurgeInProgress:
            log.info("purge of %s is running elsewhere; skipped", slug)
            continue
        total += outcome.purged
        housekeeping(db=db, settings=settings, metrics=metrics, tenant_id=tenant_id, now=now())
        log.info("purge", extra={"tenant": slug, "purged": outcome.purged, "held": outcome.held})
    return total


def housekeeping(
    *, db: Database, settings: Settings, metrics: Metrics | None, tenant_id: int, now: datetime
) -> None:
    """Expire download links, fail abandoned exports, and forget released holds and
    old exports past retention (the audit log keeps their history)."""
    with db.session(tenant_id=tenant_id, write=True) as session:
        days = retention.policy(
            session=session, default_days=settings.retention_default_days, now=now
        ).days
        before = now - timedelta(days=days)
        export.expire(session=session, directory=settings.exports_dir, now=now)
        export.fail_stale(session=session, now=now, older_than=STALE_EXPORT)
        export.forget(session=session, before=before)
        holds.forget_released(session=session, before=before)
        active = holds.active_count(session=session)
        session.commit()
    if metrics is not None:
        metrics.holds_active.labels(_slug(db, tenant_id)).set(active)


def _slug(db: Database, tenant_id: int) -> str:
    return dict(tenants(db)).get(tenant_id, str(tenant_id))


def purge_expired_job(runtime: ProbeRuntime, name: str) -> int:
    """The ``purge-expired`` job: every tenant's retention purge."""
    from app.governance.decide import job_purge

    return purge_all(
        db=runtime.db, settings=runtime.settings, metrics=runtime.metrics, decide_for=job_purge
    )


# --- audit ------------------------------------------------------------------------------


def verify_tenant(
    *,
    db: Database,
    settings: Settings,
    metrics: Metrics | None,
    tenant_id: int,
    tenant: str,
    extra: list[Checkpoint] | None = None,
    now: Callable[[], datetime] = utcnow,
) -> VerifyResult:
    """Verify the chain on a read session, then keep the result (a short write)."""
    with db.session(tenant_id=None) as session:
        result = audit.verify(
            session=session, tenant_id=tenant_id, signer=signer(settings),
            extra_checkpoints=extra or [],
        )  # fmt: skip
    with db.session(tenant_id=None, write=True) as session:
        audit.record(session=session, tenant_id=tenant_id, result=result, now=now())
        session.commit()
    if metrics is not None:
        metrics.observe_verify(tenant=tenant, ok=result.ok, checked=result.checked)
    return result


def checkpoint_all(
    *, db: Database, settings: Settings, metrics: Metrics | None, now: Callable[[], datetime]
) -> int:
    """Sign each tenant's chain head (after checking what was added since the last
    checkpoint); a broken chain is recorded as a failed verification instead."""
    made = 0
    for tenant_id, slug in tenants(db):
        with db.session(tenant_id=None, write=True) as session:
            try:
                mark = audit.checkpoint(
                    session=session, tenant_id=tenant_id, signer=signer(settings), now=now()
                )
            except audit.ChainBroken as broken:
                db.begin_write(session)  # ends the failed transaction, takes the lock again
                audit.record(session=session, tenant_id=tenant_id, result=broken.result, now=now())
                log.error("audit chain of %s is broken: %s", slug, broken)
                if metrics is not None:
                    metrics.observe_verify(tenant=slug, ok=False, checked=broken.result.checked)
                mark = None
            session.commit()
        made += mark is not None
    return made


def audit_checkpoint_job(runtime: ProbeRuntime, name: str) -> int:
    """The ``audit-checkpoint`` job: sign every tenant's chain head."""
    return checkpoint_all(
        db=runtime.db, settings=runtime.settings, metrics=runtime.metrics, now=utcnow
    )


# --- exports ----------------------------------------------------------------------------


def build_export(
    *, db: Database, settings: Settings, tenant_id: int, tenant: str, export_id: str
) -> None:
    with db.session(tenant_id=tenant_id) as session:
        days = retention.days_for(session=session, default_days=settings.retention_default_days)
    try:
        export.run_export(
            db=db, tenant_id=tenant_id, tenant=tenant, export_id=export_id,
            directory=settings.exports_dir,
            ttl=timedelta(seconds=settings.export_link_ttl_seconds),
            retention_days=days, now=utcnow,
        )  # fmt: skip
    except Exception:
        log.exception("export %s failed", export_id)


def start_export(
    *, db: Database, settings: Settings, tenant_id: int, tenant: str, export_id: str
) -> threading.Thread:
    """Build the export on its own thread (and session): no web worker waits for it."""
    thread = threading.Thread(
        target=build_export,
        kwargs={"db": db, "settings": settings, "tenant_id": tenant_id, "tenant": tenant,
                "export_id": export_id},
        name=f"summit-export-{export_id[:8]}",
        daemon=True,
    )  # fmt: skip
    thread.start()
    return thread
