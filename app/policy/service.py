"""The decision API's questions and the decision log's queries. Imports no Flask."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.core.errors import DomainError
from app.policy import authz
from app.policy.engine import Request
from app.policy.models import PolicyDecision, PolicyDecisionCount


class UnknownAction(DomainError):
    code = "unknown_action"


def decide_request(body: dict[str, Any]) -> Request:
    """A decision request from the API's facts (principal, action, resource, context)."""
    action = body["action"]
    if action not in authz.ACTIONS:
        raise UnknownAction(f"unknown action {action!r}", details={"known": sorted(authz.ACTIONS)})
    who, what = body["principal"], body["resource"]
    tenant_data = action in authz.TENANT_ACTIONS
    return Request(
        principal_id=who["id"],
        role=who["role"],
        tenant=who["tenant"],
        action=action,
        resource_type="Resource" if tenant_data else "Platform",
        resource_id=what["id"] if tenant_data else authz.PLATFORM,
        resource_kind=what["type"],
        resource_tenant=what["tenant"] or "",
        legal_hold=what["legal_hold"],
        context=body["context"],
    )


def _matching(filters: dict[str, Any], *, before_id: int | None) -> Select[PolicyDecision]:
    statement = select(PolicyDecision).order_by(PolicyDecision.id.desc())
    for name in ("action", "decision", "source"):
        if filters.get(name):
            statement = statement.where(getattr(PolicyDecision, name) == filters[name])
    if filters.get("principal"):
        statement = statement.where(PolicyDecision.principal_id == filters["principal"])
    if filters.get("since"):
        statement = statement.where(PolicyDecision.at >= filters["since"])
    if filters.get("until"):
        statement = statement.where(PolicyDecision.at < filters["until"])
    if before_id is not None:
        statement = statement.where(PolicyDecision.id < before_id)
    return statement


def decision_page(
    *, session: Session, filters: dict[str, Any], limit: int, before_id: int | None
) -> tuple[list[PolicyDecision], int | None]:
    """Matching decisions of the session's tenant, newest first, and the next cursor."""
    statement = _matching(filters, before_id=before_id).limit(limit + 1)
    rows = list(session.scalars(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


def all_decisions(*, session: Session, filters: dict[str, Any]) -> Iterator[PolicyDecision]:
    """Every matching decision, newest first, streamed from a server-side cursor."""
    statement = _matching(filters, before_id=None).execution_options(yield_per=1000)
    yield from session.scalars(statement)


def decision_counts(*, session: Session, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Route decisions that allowed, per minute, action and role, oldest first
    (the session's tenant; summed over the processes that counted them)."""
    total = func.sum(PolicyDecisionCount.count)
    rows = session.execute(
        select(
            PolicyDecisionCount.minute,
            PolicyDecisionCount.action,
            PolicyDecisionCount.principal_role,
            PolicyDecisionCount.decision,
            total,
        )
        .where(PolicyDecisionCount.minute >= since, PolicyDecisionCount.minute < until)
        .group_by(
            PolicyDecisionCount.minute,
            PolicyDecisionCount.action,
            PolicyDecisionCount.principal_role,
            PolicyDecisionCount.decision,
        )
        .order_by(PolicyDecisionCount.minute, PolicyDecisionCount.action)
    )
    return [
        {"minute": m, "action": a, "principal_role": r, "decision": d, "count": int(n)}
        for m, a, r, d, n in rows
    ]
