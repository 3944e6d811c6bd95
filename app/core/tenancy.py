"""Tenant scoping, applied in one place: the session.

Every tenant-owned model inherits :class:`TenantOwned`. A session carries the
tenant it works for; every ORM SELECT, UPDATE and DELETE it runs is filtered
to that tenant (``with_loader_criteria``), and every row it inserts is
stamped with it. A session without a tenant refuses to touch tenant-owned
rows at all (fail closed); platform code that must see every tenant
(migrations, demo seeding, retention jobs) asks for :data:`ALL_TENANTS`.
"""

from __future__ import annotations

from typing import Any, Final, cast
from weakref import WeakKeyDictionary

from sqlalchemy import ClauseElement, ForeignKey, Result, bindparam, event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.sql.util import find_tables

INFO_KEY: Final = "summit.tenant_id"
# The dataset of the probes' own records in each tenant: probe users see no other
# (app.graph.service.dataset_scope), and governance lets them hold and export
# only these.
SYNTHETIC_DATASET: Final = "synthetic"


class AllTenants:
    """The explicit, greppable way to say "this code sees every tenant"."""

    def __repr__(self) -> str:
        return "ALL_TENANTS"


ALL_TENANTS: Final = AllTenants()


class TenantScopeError(RuntimeError):
    """Tenant-owned rows were touched without a tenant, or with the wrong one."""


class TenantOwned:
    # No index of its own: each table leads its composite indexes with
    # tenant_id. A lone tenant_id index invites SQLite's planner (without
    # statistics) to scan a whole tenant instead of using a selective index.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "do_orm_execute", _scope_statement)
    event.listen(sessions, "before_flush", _stamp_new_rows)


def tenant_tables() -> frozenset[str]:
    """Names of the tables whose models inherit TenantOwned."""
    found: set[str] = set()
    pending = list(TenantOwned.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if name := getattr(cls, "__tablename__", None):
            found.add(name)
    return frozenset(found)


# Verdicts on prebuilt statements (module constants, reused on every request).
_VERDICTS: WeakKeyDictionary[ClauseElement, bool] = WeakKeyDictionary()


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    """Whether any table the statement reads or writes, anywhere in it, is tenant-owned.

    Mappers alone miss ``select(func.count()).select_from(Edge)``; tables don't.
    """
    statement = cast(ClauseElement, state.statement)
    verdict = _VERDICTS.get(statement)
    if verdict is None:
        owned = tenant_tables()
        tables = find_tables(
            statement,
            check_columns=True,
            include_aliases=True,
            include_joins=True,
            include_selects=True,
            include_crud=True,
        )
        verdict = any(
            issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers
        ) or any(getattr(table, "name", None) in owned for table in tables)
        _VERDICTS[statement] = verdict
    return verdict


# One option object for every statement: the tenant arrives as a bound
# parameter, so the option (and the statement's cache key) never changes.
# Rebuilding a closure-capturing criteria per statement cost ~40 µs a query.
TENANT_PARAM: Final = "summit_tenant_id"
_TENANT_CRITERIA: Final = with_loader_criteria(
    TenantOwned,
    lambda cls: cls.tenant_id == bindparam("summit_tenant_id"),  # = TENANT_PARAM
    include_aliases=True,
    track_closure_variables=False,
)


def _scope_statement(state: ORMExecuteState) -> Result[Any] | None:
    if not (state.is_select or state.is_update or state.is_delete):
        return None
    if state.is_column_load or state.is_relationship_load:
        return None  # these follow a parent row that was already scoped
    tenant_id = state.session.info.get(INFO_KEY)
    if tenant_id is ALL_TENANTS:
        return None
    if tenant_id is None or not state.is_orm_statement:
        # No tenant, or plain Core that loader criteria cannot reach: such a
        # statement may not touch tenant rows at all.
        if _touches_tenant_rows(state):
            raise TenantScopeError(
                "tenant-owned rows queried without a tenant, or by a Core statement"
                " that tenant scoping cannot filter; use the ORM models"
            )
        return None
    if not isinstance(state.parameters, dict | None):
        raise TenantScopeError("executemany on tenant-owned rows: use one statement per row")
    state.parameters = {**(state.parameters or {}), TENANT_PARAM: tenant_id}
    return state.invoke_statement(statement=_scoped(state.statement))


# The scoped copy of each prebuilt statement (the module constants every request
# reuses), made once. SQLAlchemy memoizes a statement's cache key on the statement
# object, so the same copy skips the key's generation (~70 µs a query, a third of
# an entity fetch's ORM time in benchmarks/read_profile.py). The criteria takes the
# tenant as a bound parameter, so one copy serves every tenant. A statement built
# per request is a new key, gone with the statement (a weak reference).
_SCOPED: WeakKeyDictionary[ClauseElement, Any] = WeakKeyDictionary()


def _scoped(statement: Any) -> Any:
    scoped = _SCOPED.get(statement)
    if scoped is None:
        scoped = statement.options(_TENANT_CRITERIA)
        _SCOPED[statement] = scoped
    return scoped


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
