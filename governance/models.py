"""Governance tables. Imports no Flask.

Retention settings, holds and exports belong to a tenant (``TenantOwned``:
scoped by the session like the graph). The audit tables are platform rows
with an explicit ``tenant_id``: every feature writes the audit log, operators'
included, whose sessions have no tenant. ``audit_entries`` and
``audit_checkpoints`` are append-only: the migration adds triggers that make
the database itself refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.tenancy import TenantOwned


def new_id() -> str:
    return str(uuid.uuid4())


class RetentionPolicy(TenantOwned, Base):
    """How long a tenant keeps a soft-deleted entity before it is purged; a tenant
    without a row has the configured default. The purge claim columns let one
    worker at a time purge the tenant (claimed by conditional UPDATE)."""

    __tablename__ = "retention_policies"
    __table_args__ = (Index("uq_retention_policies_tenant_id", "tenant_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))
    purge_holder: Mapped[str | None] = mapped_column(String(128), default=None)
    purge_claimed_until: Mapped[datetime | None] = mapped_column(default=None)


class RetentionChange(TenantOwned, Base):
    """The history of a tenant's retention: who changed it, from what, to what, why."""

    __tablename__ = "retention_changes"
    __table_args__ = (Index("ix_retention_changes_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(128))
    old_days: Mapped[int] = mapped_column(Integer)
    new_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class LegalHold(TenantOwned, Base):
    """A legal hold: while active (not released) it freezes its entities."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_tenant_released", "tenant_id", "released_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    reason: Mapped[str] = mapped_column(Text)
    case_id: Mapped[str | None] = mapped_column(String(128), default=None)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    released_by: Mapped[str | None] = mapped_column(String(128), default=None)
    release_reason: Mapped[str | None] = mapped_column(Text, default=None)


class HoldEntity(TenantOwned, Base):
    """An entity a hold covers. No foreign key to the entity: a released hold's
    history outlives the entities it once froze."""

    __tablename__ = "hold_entities"
    __table_args__ = (Index("ix_hold_entities_tenant_entity", "tenant_id", "entity_id"),)

    hold_id: Mapped[str] = mapped_column(
        ForeignKey("legal_holds.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class Export(TenantOwned, Base):
    """A subject access export: a job whose result is a zip under the var dir."""

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_tenant_requested", "tenant_id", "requested_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))  # "record" | "synthetic" (policy facts)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed | expired
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime]
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    records: Mapped[int | None] = mapped_column(Integer, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class AuditEntry(Base):
    """One link of a tenant's hash chain. ``hash`` is SHA-256 over canonical JSON
    of the other fields, which holds only the payload's digest: the payload
    itself (``AuditPayload``) can be purged without breaking the chain."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("uq_audit_entries_tenant_seq", "tenant_id", "seq", unique=True),
        Index("ix_audit_entries_tenant_at", "tenant_id", "at"),
        Index("ix_audit_entries_tenant_target", "tenant_id", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No ON DELETE CASCADE: deleting a tenant with an audit history is refused.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditPayload(Base):
    """An audit entry's details. Not part of the chain (its digest is), so it may
    be deleted when the personal data in it must go."""

    __tablename__ = "audit_payloads"

    entry_id: Mapped[int] = mapped_column(ForeignKey("audit_entries.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]


class AuditHead(Base):
    """The newest link of each tenant's chain: appends lock this row, so two
    writers of one tenant take turns (SQLite's write lock already serialises)."""

    __tablename__ = "audit_heads"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement "tenant T's chain had hash H at seq S", made periodically
    with a key kept outside the database. Append-only, and exportable so that
    an auditor can keep copies where the database cannot reach."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_tenant_seq", "tenant_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))


class AuditVerification(Base):
    """The latest verification of each tenant's chain (API, CLI or job)."""

    __tablename__ = "audit_verifications"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime]
    ok: Mapped[bool]
    checked: Mapped[int] = mapped_column(BigInteger)
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
