"""Record-level policy decisions for governance: the route guard asked about the
tenant; these ask the same engine about each record a route touches (its kind,
and whether a legal hold applies), so "no purge under legal hold" and "the
probe user touches only synthetic records" are decided by the Cedar policies.
Imports no Flask."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache

from app.core.errors import DomainError
from app.core.metrics import Metrics
from app.identity.service import Principal
from app.policy import authz
from app.policy.engine import Decision, PolicyEngine, Request
from app.policy.log import DecisionLog
from governance.retention import Decide, PurgeFacts

JOB_ROLE = "retention"  # the scheduled purge acts for the tenant's retention policy


class RecordForbidden(DomainError):
    status = 403
    code = "forbidden"


def request(
    *, caller: Principal, action: str, kind: str, resource_id: str, legal_hold: bool = False
) -> Request:
    tenant = caller.tenant_slug or ""
    return Request(
        principal_id=caller.username,
        role=caller.role,
        tenant=caller.tenant_slug,
        action=action,
        resource_type="Resource",
        resource_id=resource_id,
        resource_kind=kind,
        resource_tenant=tenant,
        legal_hold=legal_hold,
    )


class Records:
    """Asks the engine about records for one caller, logging each decision."""

    def __init__(
        self,
        *,
        engine: PolicyEngine,
        log: DecisionLog,
        metrics: Metrics,
        caller: Principal,
        now: Callable[[], datetime],
    ) -> None:
        self.engine, self.log, self.metrics, self.caller, self.now = (
            engine,
            log,
            metrics,
            caller,
            now,
        )

    def decide(
        self, action: str, *, kind: str, resource_id: str, legal_hold: bool = False
    ) -> Decision:
        req = request(
            caller=self.caller, action=action, kind=kind, resource_id=resource_id,
            legal_hold=legal_hold,
        )  # fmt: skip
        decision = self.engine.decide(req)
        authz.record(
            log=self.log, metrics=self.metrics, request=req, decision=decision,
            caller=self.caller, source="record", now=self.now(),
        )  # fmt: skip
        return decision

    def require(self, action: str, *, kinds: set[str], what: str) -> None:
        """Every kind of record this route touches must be permitted, else 403."""
        for kind in sorted(kinds):
            if not self.decide(action, kind=kind, resource_id=f"{what}:{kind}").allowed:
                raise RecordForbidden(f"the {self.caller.role} role may not {action} {what}")

    def purge(self) -> Decide:
        def decide(facts: PurgeFacts) -> bool:
            resource = f"entities:{facts.kind}:{'held' if facts.legal_hold else 'free'}"
            return self.decide(
                "purge", kind=facts.kind, resource_id=resource, legal_hold=facts.legal_hold
            ).allowed

        return decide


@cache
def job_engine() -> PolicyEngine:
    return PolicyEngine()


def job_purge(tenant: str) -> Decide:
    """The scheduled purge's decisions for one tenant (not logged one by one: the
    purge's audit entries say what was kept and why)."""

    def decide(facts: PurgeFacts) -> bool:
        return job_engine().decide(
            Request(
                principal_id="retention-job", role=JOB_ROLE, tenant=tenant, action="purge",
                resource_type="Resource", resource_id="retention", resource_kind=facts.kind,
                resource_tenant=tenant, legal_hold=facts.legal_hold,
            )
        ).allowed  # fmt: skip

    return decide
