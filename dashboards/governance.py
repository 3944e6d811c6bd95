"""Governance: does every tenant's audit chain still verify, and what did purges,
legal holds and subject-access exports do, per tenant?

The audit result is the latest verification of each tenant's chain (the API's
/audit/verify or the audit-checkpoint job): 1 verified, 0 broken, which means
an entry was changed, removed or reordered behind the application's back.
"""

from __future__ import annotations

from typing import Any

from app.core import metrics as m
from dashboards import promql as q
from dashboards.style import Query, dashboard, link, row, stat, timeseries

UID = "summit-governance"
TITLE = "Summit / Governance"
PER_TENANT = "{{tenant}}"
VERIFIED = {"0": ("broken", "red"), "1": ("verified", "green")}
GOVERNANCE = link(
    "Governance page", "/governance", "For tenant admins: retention, holds, exports, the audit log"
)


def _latest(name: m.Name, how: str = "max") -> str:
    """A per-tenant gauge, one value per tenant (the workers agree: mostrecent)."""
    return f"{how} by (tenant) ({q.sel(name.family, q.TENANT)})"


def _count(name: m.Name, by: str = "tenant") -> str:
    return q.sum_by(by, q.increase(name.total, q.TENANT))


def _audit() -> Any:
    return row(
        "Audit chain",
        stat(
            "Chain verified",
            description="Does each tenant's audit chain still verify? Red (broken) means an "
            "entry was changed, removed or reordered outside Summit: treat it as a "
            "security incident and keep the database as it is.",
            unit="bool",
            queries=[Query(_latest(m.AUDIT_VERIFY_OK, "min"), PER_TENANT, instant=True)],
            thresholds=[(None, "red"), (1.0, "green")],
            mappings=VERIFIED,
            width=8,
            height=8,
        ),
        stat(
            "Entries checked",
            description="How many entries did each tenant's last verification check? A "
            "count that shrinks between two checks is a chain cut short.",
            unit="short",
            queries=[Query(_latest(m.AUDIT_VERIFY_CHECKED), PER_TENANT, instant=True)],
            width=6,
            height=8,
        ),
        timeseries(
            "Verified over time",
            description="When did a tenant's chain stop verifying? Each point is the "
            "latest verification's result (1 verified, 0 broken).",
            unit="bool",
            queries=[Query(_latest(m.AUDIT_VERIFY_OK, "min"), PER_TENANT)],
            min=0,
            max=1,
            width=10,
        ),
    )


def _purges() -> Any:
    return row(
        "Purges",
        timeseries(
            "Purges by kind and outcome",
            description="Which tenants purged, by retention or explicitly, and were any "
            "refused (a legal hold or the policy stopped them, nothing purged)?",
            unit="short",
            queries=[
                Query(
                    _count(m.GOVERNANCE_PURGES, "tenant, kind, outcome"),
                    "{{tenant}} {{kind}} {{outcome}}",
                ),
            ],
            bars=True,
        ),
        timeseries(
            "Entities purged",
            description="How many entities did purges hard-delete, per tenant? A spike "
            "that no retention change explains deserves a look at the audit log.",
            unit="short",
            queries=[Query(_count(m.GOVERNANCE_ENTITIES_PURGED), PER_TENANT)],
            bars=True,
        ),
    )


def _holds_exports() -> Any:
    return row(
        "Legal holds and exports",
        stat(
            "Active legal holds",
            description="How many legal holds does each tenant have in force? Entities "
            "under a hold cannot be changed, deleted or purged.",
            unit="short",
            queries=[Query(_latest(m.GOVERNANCE_HOLDS_ACTIVE), PER_TENANT, instant=True)],
            width=6,
            height=8,
        ),
        timeseries(
            "Active legal holds over time",
            description="When were holds placed and released, per tenant?",
            unit="short",
            queries=[Query(_latest(m.GOVERNANCE_HOLDS_ACTIVE), PER_TENANT)],
            min=0,
            width=9,
        ),
        timeseries(
            "Exports served",
            description="How many subject-access exports were downloaded, per tenant? "
            "Each download is also an audit entry.",
            unit="short",
            queries=[Query(_count(m.GOVERNANCE_EXPORTS_SERVED), PER_TENANT)],
            bars=True,
            width=9,
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="Per tenant: the audit chain's last verification, purges, legal holds "
        "and subject-access exports.",
        tags=["summit", "governance"],
        rows=[_audit(), _purges(), _holds_exports()],
        summit_url=summit_url,
        links=[GOVERNANCE],
    )
