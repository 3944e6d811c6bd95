"""Route authorization: every guarded view's action goes to the policy engine.

No role logic lives here or in any route: the Cedar policies decide. This
module only states the facts (who is calling, which action, on what) and
records the decision. Imports no Flask.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from app.core.metrics import Metrics
from app.identity.service import Principal
from app.policy.engine import GROUPS, POLICY_DIR, Decision, PolicyEngine, Request
from app.policy.log import DecisionLog


def _schema_actions() -> tuple[frozenset[str], frozenset[str]]:
    actions = json.loads((POLICY_DIR / "schema.cedarschema.json").read_text())[""]["actions"]
    tenant = frozenset(
        name for name, spec in actions.items() if {"id": "tenant_data"} in spec.get("memberOf", [])
    )
    return frozenset(actions) - GROUPS, tenant


ACTIONS, TENANT_ACTIONS = _schema_actions()
PLATFORM: Final = "summit"


def route_request(principal: Principal, action: str) -> Request:
    """A route acts on its caller's own tenant (the session scoping guarantees
    it touches nothing else) or on the platform."""
    if action in TENANT_ACTIONS:
        tenant = principal.tenant_slug or ""
        return Request(
            principal_id=principal.username,
            role=principal.role,
            tenant=principal.tenant_slug,
            action=action,
            resource_type="Resource",
            resource_id=f"tenant:{tenant}",
            resource_tenant=tenant,
        )
    return Request(
        principal_id=principal.username,
        role=principal.role,
        tenant=principal.tenant_slug,
        action=action,
        resource_type="Platform",
        resource_id=PLATFORM,
    )


def record(
    *,
    log: DecisionLog,
    metrics: Metrics,
    request: Request,
    decision: Decision,
    caller: Principal,
    source: str,
    now: datetime,
) -> None:
    metrics.observe_decision(
        action=request.action, decision=decision.word, source=source, ms=decision.elapsed_ms
    )
    log.record(decision_row(request, decision, caller=caller, source=source, now=now))


def decision_row(
    request: Request, decision: Decision, *, caller: Principal, source: str, now: datetime
) -> dict[str, Any]:
    """What the decision log keeps: ids, roles and the answer; never attributes."""
    return {
        "tenant_id": caller.tenant_id,
        "at": now,
        "source": source,
        "caller": caller.username,
        "principal_id": request.principal_id,
        "principal_role": request.role,
        "principal_tenant": request.tenant,
        "action": request.action,
        "resource_type": request.resource_type,
        "resource_id": request.resource_id,
        "resource_tenant": request.resource_tenant or None,
        "decision": decision.word,
        "reasons": list(decision.reasons) or list(decision.errors[:1]),
        "elapsed_ms": decision.elapsed_ms,
    }


def authorize(
    *,
    engine: PolicyEngine,
    log: DecisionLog,
    metrics: Metrics,
    principal: Principal,
    action: str,
    now: datetime,
) -> Decision:
    request = route_request(principal, action)
    decision = engine.decide(request)
    record(
        log=log,
        metrics=metrics,
        request=request,
        decision=decision,
        caller=principal,
        source="route",
        now=now,
    )
    return decision
