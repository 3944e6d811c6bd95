"""Reading the dead-letter queue: a tenant's own items (raw bytes included), and
the operators' cross-tenant view, which carries metadata only. No Flask.

Operators see no tenant data (SPEC): the raw event, its id and the
validation message can all hold what a tenant sent, so the operator view
selects none of them, by construction rather than by a template's discretion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import Database
from app.core.errors import NotFound
from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.ingest.models import DlqItem


def list_items(
    *,
    session: Session,
    source: str | None,
    reason: str | None,
    status: str | None,
    limit: int,
    after_pk: int | None,
) -> tuple[list[DlqItem], int | None]:
    """A page of the session's tenant's DLQ, oldest first, and the next page's cursor."""
    query = select(DlqItem).order_by(DlqItem.pk).limit(limit + 1)
    for column, value in (
        (DlqItem.source, source),
        (DlqItem.reason, reason),
        (DlqItem.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if after_pk is not None:
        query = query.where(DlqItem.pk > after_pk)
    rows = list(session.scalars(query))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def get_item(*, session: Session, item_id: str) -> DlqItem:
    item = session.scalars(select(DlqItem).where(DlqItem.id == item_id)).one_or_none()
    if item is None:
        raise NotFound(f"DLQ item {item_id} not found")
    return item


@dataclass(frozen=True, slots=True)
class ItemMeta:
    """What an operator may see of a DLQ item."""

    id: str
    tenant: str
    source: str
    reason: str
    status: str
    attempts: int
    size_bytes: int
    first_seen_at: datetime
    last_seen_at: datetime
    batch_id: str


_META = (
    DlqItem.id,
    Tenant.slug.label("tenant"),
    DlqItem.source,
    DlqItem.reason,
    DlqItem.status,
    DlqItem.attempts,
    DlqItem.size_bytes,
    DlqItem.first_seen_at,
    DlqItem.last_seen_at,
    DlqItem.batch_id,
)


def operator_items(
    *, db: Database, tenant: str | None, source: str | None, reason: str | None, limit: int
) -> list[ItemMeta]:
    """Every tenant's DLQ items, newest first, metadata only."""
    query = select(*_META).join(Tenant, Tenant.id == DlqItem.tenant_id)
    for column, value in (
        (Tenant.slug, tenant),
        (DlqItem.source, source),
        (DlqItem.reason, reason),
    ):
        if value:
            query = query.where(column == value)
    with db.session(tenant_id=ALL_TENANTS) as session:
        rows = session.execute(query.order_by(DlqItem.pk.desc()).limit(limit))
        return [ItemMeta(**row._mapping) for row in rows]


def operator_item(*, db: Database, item_id: str) -> ItemMeta:
    query = select(*_META).join(Tenant, Tenant.id == DlqItem.tenant_id)
    with db.session(tenant_id=ALL_TENANTS) as session:
        row = session.execute(query.where(DlqItem.id == item_id)).one_or_none()
    if row is None:
        raise NotFound(f"DLQ item {item_id} not found")
    return ItemMeta(**row._mapping)


def facets(*, db: Database) -> dict[str, list[tuple[str, int]]]:
    """The values each filter can take, with how many pending items have each."""
    out: dict[str, list[tuple[str, int]]] = {}
    with db.session(tenant_id=ALL_TENANTS) as session:
        for name, column in (
            ("tenant", Tenant.slug),
            ("source", DlqItem.source),
            ("reason", DlqItem.reason),
        ):
            rows: Any = session.execute(
                select(column, func.count())
                .select_from(DlqItem)
                .join(Tenant, Tenant.id == DlqItem.tenant_id)
                .where(DlqItem.status == "pending")
                .group_by(column)
                .order_by(column)
            )
            out[name] = [(str(value), int(count)) for value, count in rows]
    return out
