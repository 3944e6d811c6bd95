"""The entity graph's tables: entities and the edges between them. Imports no Flask."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow
from app.core.tenancy import TenantOwned


def new_id() -> str:
    return str(uuid.uuid4())


class Entity(TenantOwned, Base):
    """A node of the graph.

    ``pk`` is the internal integer key the full-text index points at (SQLite
    FTS5 needs a stable integer rowid); ``id`` is the public UUID.
    ``search_text`` is the attribute values flattened by the graph service.
    """

    __tablename__ = "entities"
    __table_args__ = (
        Index("ix_entities_tenant_live", "tenant_id", "deleted_at", "pk"),
        Index("ix_entities_tenant_dataset", "tenant_id", "dataset"),
        Index("ix_entities_tenant_subject", "tenant_id", "subject"),
    )

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    dataset: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject: Mapped[str | None] = mapped_column(String(256), default=None)
    search_text: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128))
    updated_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Edge(TenantOwned, Base):
    """A directed, typed link between two entities of the same tenant."""

    __tablename__ = "edges"
    __table_args__ = (
        Index("ix_edges_tenant_source", "tenant_id", "source_id"),
        Index("ix_edges_tenant_target", "tenant_id", "target_id"),
    )

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    source_id: Mapped[str] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), index=True
    )
    target_id: Mapped[str] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
