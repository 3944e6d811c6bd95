"""Tenant scoping, applied in one place: the session.

Every tenant-owned model inherits :class:`TenantOwned`. A session carries the
tenant it works for; every ORM SELECT, UPDATE and DELETE it runs is filtered
to that tenant (``with_loader_criteria``), and every row it inserts is
stamped with it. A session without a tenant refuses to touch tenant-owned
rows at all (fail closed); platform code that must see every tenant
(migrations, demo seeding, retention jobs) asks for :data:`ALL_TENANTS`.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ForeignKey, event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)

INFO_KEY: Final = "summit.tenant_id"


class AllTenants:
    """The explicit, greppable way to say "this code sees every tenant"."""

    def __repr__(self) -> str:
        return "ALL_TENANTS"


ALL_TENANTS: Final = AllTenants()


class TenantScopeError(RuntimeError):
    """Tenant-owned rows were touched without a tenant, or with the wrong one."""


class TenantOwned:
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "do_orm_execute", _scope_statement)
    event.listen(sessions, "before_flush", _stamp_new_rows)


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers)


def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # these follow a parent row that was already scoped
    tenant_id = state.session.info.get(INFO_KEY)
    if tenant_id is ALL_TENANTS:
        return
    if tenant_id is None:
        if _touches_tenant_rows(state):
            raise TenantScopeError("tenant-owned rows queried by a session without a tenant")
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
        )
    )


def _stamp_new_rows(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    tenant_id = session.info.get(INFO_KEY)
    for obj in session.new:
        if not isinstance(obj, TenantOwned):
            continue
        if tenant_id is ALL_TENANTS:
            if obj.tenant_id is None:
                raise TenantScopeError(f"{type(obj).__name__} inserted without a tenant")
            continue
        if tenant_id is None:
            raise TenantScopeError(f"{type(obj).__name__} inserted by a session without a tenant")
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantScopeError(f"{type(obj).__name__} inserted into another tenant")
