"""Per-request access to the app's services, the caller and the database session."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import current_app, g
from sqlalchemy.orm import Session

from app.identity.service import Principal

if TYPE_CHECKING:
    from app.services import Services


def services() -> Services:
    return cast("Services", current_app.extensions["summit"])


def db_session() -> Session:
    """This request's session, opened on first use and scoped to the caller's
    tenant (none before authentication). A cache hit never opens one."""
    if "db_session" not in g:
        caller = g.get("principal")
        tenant_id = caller.tenant_id if caller is not None else None
        g.db_session = services().db.session(tenant_id=tenant_id)
    return cast(Session, g.db_session)


def principal() -> Principal:
    """The authenticated caller; only valid inside a view guarded by ``requires``."""
    return cast(Principal, g.principal)


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
