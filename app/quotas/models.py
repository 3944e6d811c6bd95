"""Quota tables. Platform rows (not TenantOwned): authentication reads a
tenant's limits and cache generation before any tenant scope exists, and
operators, who belong to no tenant, manage them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class TenantQuota(Base):
    """A tenant's limits; a tenant without a row has the configured defaults."""

    __tablename__ = "tenant_quotas"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    qps: Mapped[int] = mapped_column(Integer)
    burst: Mapped[int] = mapped_column(Integer)
    concurrent_jobs: Mapped[int] = mapped_column(Integer)
    storage_bytes: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class TenantUsage(Base):
    """Bytes stored, and the generation every cached answer of the tenant is keyed
    on: a write bumps it in its own transaction, so no read after it sees a stale
    cached answer."""

    __tablename__ = "tenant_usage"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class QuotaChange(Base):
    """The audit of every quota change: who, old, new, why."""

    __tablename__ = "quota_changes"
    __table_args__ = (Index("ix_quota_changes_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(64))
    old: Mapped[dict[str, Any]]
    new: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)


class QuotaRejection(Base):
    """429s per tenant, route and minute (aggregated in memory, written in batches)."""

    __tablename__ = "quota_rejections"
    __table_args__ = (Index("ix_quota_rejections_tenant_minute", "tenant_id", "minute"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    minute: Mapped[datetime]
    route: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)


class Job(Base):
    """A tenant's long-running job (export, purge, load), counted against its
    concurrent-jobs quota while running."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_tenant_status", "tenant_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    created_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
