"""The parts of the evidence pack read from the database: the policy decision log,
the SLO report, the probe results, the audit verification and the DPIA inventory.
Imports no Flask or click."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts import rules
from app import schema  # noqa: F401 - every model, so Base.metadata is complete
from app.alerting import service as alerting
from app.core.db import Base
from app.core.tenancy import ALL_TENANTS
from app.evidence import inventory
from app.evidence.parts import Inputs, Part
from app.evidence.parts import as_json as _json
from app.governance import jobs
from app.policy.models import PolicyDecision, PolicyDecisionCount
from governance import retention
from probes import service as probes
from probes.journeys import JOURNEYS


def decisions(stage: Path, inputs: Inputs) -> Part:
    """The decision log, every tenant's and the operators', oldest first (JSON lines),
    and the allowed route decisions it counts instead of keeping, summed."""
    slugs = dict(jobs.tenants(inputs.db))
    with inputs.db.session(tenant_id=ALL_TENANTS) as session:
        rows = 0
        with (stage / "policy-decisions.jsonl").open("w") as out:
            query = select(PolicyDecision).order_by(PolicyDecision.id)
            for row in session.scalars(query.execution_options(yield_per=1000)):
                out.write(json.dumps(_decision(row, slugs), sort_keys=True, default=str) + "\n")
                rows += 1
        counted = _counts(session, slugs)
    (stage / "policy-decision-counts.json").write_text(_json(counted))
    allowed = sum(c["count"] for c in counted)
    detail = (f"{rows} decisions kept one by one, {allowed} allowed route decisions counted; "
              f"retention {inputs.settings.decision_log_retention_days} days")  # fmt: skip
    return Part("policy decisions", "ok", detail,
                ["policy-decisions.jsonl", "policy-decision-counts.json"])  # fmt: skip


def _decision(row: PolicyDecision, slugs: dict[int, str]) -> dict[str, Any]:
    names = ("id", "at", "source", "caller", "principal_id", "principal_role", "principal_tenant",
             "action", "resource_type", "resource_id", "resource_tenant", "decision", "reasons",
             "elapsed_ms")  # fmt: skip
    return {n: getattr(row, n) for n in names} | {"tenant": slugs.get(row.tenant_id or 0)}


def _counts(session: Any, slugs: dict[int, str]) -> list[dict[str, Any]]:
    c = PolicyDecisionCount
    query = (select(c.tenant_id, c.action, c.principal_role, c.decision, func.sum(c.count),
                    func.min(c.minute), func.max(c.minute))
             .group_by(c.tenant_id, c.action, c.principal_role, c.decision)
             .order_by(c.tenant_id, c.action, c.principal_role))  # fmt: skip
    return [{"tenant": slugs.get(t or 0), "action": a, "principal_role": r, "decision": d,
             "count": int(n), "first_minute": str(first), "last_minute": str(last)}
            for t, a, r, d, n, first, last in session.execute(query)]  # fmt: skip


def slo_report(stage: Path, inputs: Inputs) -> Part:
    """What GET /api/v1/slo answers, from the same service functions."""
    now = inputs.now()
    found = alerting.statuses(settings=inputs.settings, db=inputs.db, now=now)
    specs = {one.id: one for one in alerting.specs(inputs.settings)}
    body = {
        "period_days": rules.DEFAULT_PERIOD.days, "generated_at": now,
        "source": "prometheus" if inputs.settings.prometheus_url else "local",
        "slos": [vars(s) | {"alerts": alerting.alert_states(specs[s.id], s),
                            "runbook": _runbook(specs[s.id])} for s in found],
    }  # fmt: skip
    (stage / "slo-report.json").write_text(_json(body))
    known = [s for s in found if s.sli is not None]
    return Part("slo report", "ok", f"{len(found)} SLOs from {body['source']} data, "
                f"{len(known)} with events in the period", ["slo-report.json"])  # fmt: skip


def _runbook(spec: Any) -> str | None:
    slug = alerting.runbook_slug(spec)
    return f"/runbooks/{slug}" if slug else None


def probe_results(stage: Path, inputs: Inputs) -> Part:
    """Each probe's status and its latest runs (artifacts by name, not content),
    after running each once when asked to."""
    ran = inputs.run_probes() if inputs.run_probes is not None else []
    out, runs = {}, 0
    with inputs.db.session(tenant_id=None) as session:
        for name in sorted(JOURNEYS):
            state, incident = probes.status(session=session, probe=name)
            latest = probes.recent_runs(session=session, probe=name, limit=20)
            runs += len(latest)
            out[name] = {"status": state, "open_incident": incident.id if incident else None,
                         "runs": [_run_json(r) for r in latest]}  # fmt: skip
    (stage / "probe-results.json").write_text(_json(out))
    if not runs:
        return Part("probe results", "skipped", "no probe has run on this database yet "
                    "(summit probes run NAME)", ["probe-results.json"])  # fmt: skip
    states = ", ".join(f"{name} {body['status']}" for name, body in out.items())
    fresh = f"; ran now: {', '.join(ran)}" if ran else ""
    return Part("probe results", "ok", f"{runs} runs: {states}{fresh}", ["probe-results.json"])


def _run_json(run: Any) -> dict[str, Any]:
    names = ("id", "trigger", "status", "started_at", "duration_ms", "steps", "failed_step",
             "error", "artifacts")  # fmt: skip
    return {n: getattr(run, n) for n in names}


def audit_verification(stage: Path, inputs: Inputs) -> Part:
    """Every tenant's audit chain recomputed and held against its signed checkpoints
    (as ``summit audit verify``; the result is recorded too)."""
    results = {}
    for tenant_id, slug in jobs.tenants(inputs.db):
        result = jobs.verify_tenant(db=inputs.db, settings=inputs.settings, metrics=None,
                                    tenant_id=tenant_id, tenant=slug)  # fmt: skip
        results[slug] = result.as_json()
    (stage / "audit-verification.json").write_text(_json(results))
    broken = [slug for slug, r in results.items() if not r["ok"]]
    if broken:
        return Part("audit verification", "failed", f"broken chains: {', '.join(broken)}",
                    ["audit-verification.json"])  # fmt: skip
    checked = sum(r["checked"] for r in results.values())
    return Part("audit verification", "ok", f"{len(results)} tenants' chains verify, "
                f"{checked} entries", ["audit-verification.json"])  # fmt: skip


def dpia(stage: Path, inputs: Inputs) -> Part:
    found = inventory.inventory(Base.metadata, inputs.settings, tenant_days=_tenant_days(inputs))
    (stage / "dpia-inventory.json").write_text(_json(found))
    (stage / "dpia-inventory.md").write_text(inventory.as_markdown(found))
    files = ["dpia-inventory.json", "dpia-inventory.md"]
    detail = f"{found['personal_tables']} of {len(found['tables'])} tables hold personal data"
    if found["unclassified"]:
        unknown = ", ".join(found["unclassified"])
        return Part("dpia inventory", "failed", f"{detail}; not classified: {unknown}", files)
    return Part("dpia inventory", "ok", detail, files)


def _tenant_days(inputs: Inputs) -> dict[str, int]:
    """Each tenant's retention in force (its policy, else the default)."""
    days = {}
    for tenant_id, slug in jobs.tenants(inputs.db):
        with inputs.db.session(tenant_id=tenant_id) as session:
            days[slug] = retention.days_for(
                session=session, default_days=inputs.settings.retention_default_days
            )
    return days
