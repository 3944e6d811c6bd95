"""The decision log: who asked what, the answer, why and how fast."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.tenancy import TenantOwned


class PolicyDecision(TenantOwned, Base):
    """One decision. ``tenant_id`` is the caller's tenant: a tenant's admins read
    their own tenant's decisions through the usual tenant scoping. Decisions for
    callers without a tenant (operators) have none and are read by no tenant."""

    __tablename__ = "policy_decisions"
    __table_args__ = (Index("ix_policy_decisions_tenant_at", "tenant_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(  # type: ignore[assignment]
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(8))  # "route" | "api"
    caller: Mapped[str] = mapped_column(String(64))
    principal_id: Mapped[str] = mapped_column(String(128))
    principal_role: Mapped[str] = mapped_column(String(16))
    principal_tenant: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(128))
    resource_tenant: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    elapsed_ms: Mapped[float] = mapped_column(Float)


class PolicyDecisionCount(TenantOwned, Base):
    """Route decisions that allowed, counted per minute instead of kept one by
    one: at 1,000 requests a second a row each was ~86 M rows a day. Each
    process writes one row per (tenant, minute, action, role) once the minute
    is over; readers sum them."""

    __tablename__ = "policy_decision_counts"
    __table_args__ = (Index("ix_policy_decision_counts_tenant_minute", "tenant_id", "minute"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(  # type: ignore[assignment]
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    minute: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(32))
    principal_role: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(8))
    count: Mapped[int] = mapped_column(Integer)
