"""The data inventory for the DPIA, generated from the SQLAlchemy models. Imports no Flask.

Every table in ``Base.metadata`` is listed with where it lives; the columns that
hold personal data are named here (or by the model itself, with a column's
``info={"personal": "what"}``), with how long they are kept and under which
setting. A table this map does not know is listed as UNCLASSIFIED, never left
out: a new table needs its line here (the tests check both ways).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData

from app.settings import Settings


@dataclass(frozen=True)
class Keep:
    """How long a table's rows stay: the rule, and the setting that sets it (if any)."""

    rule: str
    setting: str | None = None


FOREVER = Keep("kept until an admin or operator deletes it: no automatic expiry")
TENANT = Keep(
    "the tenant's retention policy (PUT /api/v1/governance/retention): soft-deleted "
    "entities are purged that many days after deletion, edges with them; legal holds "
    "freeze them", "SUMMIT_RETENTION_DEFAULT_DAYS",
)  # fmt: skip
HOUSEKEEPING = Keep("forgotten by the purge-expired job once older than the tenant's "
                    "retention (the audit log keeps their history)",
                    "SUMMIT_RETENTION_DEFAULT_DAYS")  # fmt: skip
AUDIT = Keep(
    "kept: the tamper-evident audit chain; governance.audit.forget_payloads can drop the "
    "payloads (the chain keeps their digests) but no job calls it yet",
)
INGESTED = Keep("kept: no retention job removes ingested events or DLQ items yet")

# table -> (where it sits, {column: what personal data}, how long)
PERSONAL: dict[str, tuple[str, dict[str, str], Keep]] = {
    "users": (
        "identity",
        {
            "username": "login name of a person (or a probe)",
            "password_hash": "argon2 hash of the password",
        },
        FOREVER,
    ),
    "auth_tokens": (
        "identity",
        {"user_id": "links a session or API token to a person"},
        Keep("deleted by the prune job that many days after expiry", "SUMMIT_TOKEN_RETENTION_DAYS"),
    ),
    "entities": (
        "graph",
        {
            "name": "name of the entity: may be a person's name",
            "attributes": "free attributes about the entity, may describe a person",
            "subject": "the data subject the entity is about (subject export key)",
            "search_text": "the attributes flattened for search",
            "created_by": "username of who created it",
            "updated_by": "username of who changed it",
        },
        TENANT,
    ),
    "edges": (
        "graph",
        {
            "attributes": "free attributes of the relationship",
            "created_by": "username of who created it",
        },
        TENANT,
    ),
    "ingest_events": (
        "ingest",
        {
            "subject": "the data subject of the event",
            "payload": "the event's content, may carry personal data",
            "created_by": "username of the sender",
        },
        INGESTED,
    ),
    "ingest_dlq": (
        "ingest",
        {
            "raw": "the rejected event as sent, may carry personal data",
            "detail": "why it was rejected (may quote the event)",
            "created_by": "username of the sender",
            "replayed_by": "username of who replayed it",
        },
        INGESTED,
    ),
    "ingest_batches": ("ingest", {"created_by": "username of the sender"}, INGESTED),
    "ingest_connectors": ("ingest", {"updated_by": "username of the admin"}, FOREVER),
    "audit_entries": (
        "governance",
        {"actor": "username of who acted", "target": "what was acted on (may name a subject)"},
        AUDIT,
    ),
    "audit_payloads": ("governance", {"payload": "details of the audited action"}, AUDIT),
    "exports": (
        "governance",
        {"subject": "the data subject exported", "requested_by": "username of the requester"},
        HOUSEKEEPING,
    ),
    "legal_holds": (
        "governance",
        {
            "owner": "username of who placed it",
            "released_by": "username of who released it",
            "reason": "free text",
            "release_reason": "free text",
        },
        HOUSEKEEPING,
    ),
    "retention_changes": ("governance", {"changed_by": "username of the admin"}, FOREVER),
    "retention_policies": ("governance", {"updated_by": "username of the admin"}, FOREVER),
    "policy_decisions": (
        "policy",
        {
            "principal_id": "username of who asked",
            "caller": "who called the decision API",
            "resource_id": "what was asked about",
        },
        Keep(
            "pruned by the decision log that many days after the decision",
            "SUMMIT_DECISION_LOG_RETENTION_DAYS",
        ),
    ),
    "quota_changes": ("quotas", {"changed_by": "username of the operator"}, FOREVER),
    "tenant_quotas": ("quotas", {"updated_by": "username of the operator"}, FOREVER),
    "jobs": ("quotas", {"created_by": "username of who started the job"}, FOREVER),
    "probe_requests": (
        "probes",
        {"requested_by": "username of the operator"},
        Keep("deleted with the probe runs", "SUMMIT_PROBE_RUN_RETENTION_DAYS"),
    ),
    "probe_runs": (
        "probes",
        {
            "artifacts": "screenshots and traces of the synthetic user's "
            "pages (synthetic records only)"
        },
        Keep(
            "deleted by the prune job that many days after the run",
            "SUMMIT_PROBE_RUN_RETENTION_DAYS",
        ),
    ),
    "feedback_votes": (
        "feedback",
        {
            "voter": "username of who voted",
            "query": "what they searched for",
            "entity_id": "which result they rated",
        },
        Keep("kept until the rated entity is purged (its votes go with it)"),
    ),
    "report_brandings": (
        "reports",
        {
            "updated_by": "username of the tenant admin",
            "footer": "free text a tenant admin wrote (may name people)",
            "logo_png": "the tenant's logo (may show a person)",
        },
        Keep("kept until the tenant's admin deletes it (DELETE /api/v1/reports/branding)"),
    ),
    "incidents": (
        "alerts",
        {
            "acknowledged_by": "username of the responder",
            "resolved_by": "username of the responder",
        },
        Keep(
            "resolved incidents are deleted by the prune job that many days later",
            "SUMMIT_INCIDENT_RETENTION_DAYS",
        ),
    ),
}

# Tables that hold no personal data: counters, chains' digests, locks, configuration.
NOT_PERSONAL: dict[str, str] = {
    "tenants": "identity", "audit_checkpoints": "governance", "audit_heads": "governance",
    "audit_verifications": "governance", "hold_entities": "governance",
    "ingest_counters": "ingest", "policy_decision_counts": "policy",
    "quota_rejections": "quotas", "tenant_usage": "quotas", "request_minutes": "alerting",
    "incident_notifications": "alerts", "page_events": "alerts", "job_status": "ops",
    "leases": "core",
}  # fmt: skip


def inventory(
    metadata: MetaData, settings: Settings, *, tenant_days: dict[str, int] | None = None
) -> dict[str, Any]:
    """Every table, its personal columns and their retention, from ``metadata``;
    ``tenant_days``: each tenant's retention in force, for the tables it governs."""
    tables = [_table(t.name, list(t.columns), settings) for t in metadata.sorted_tables]
    for table in tables:
        if table.get("setting") == TENANT.setting and tenant_days:
            table["per_tenant_days"] = dict(sorted(tenant_days.items()))
    tables.sort(key=lambda t: (t["classification"] != "personal", t["table"]))
    return {
        "database": "the DATABASE_URL database (SQLite file under SUMMIT_VAR_DIR by default)",
        "tables": tables,
        "personal_tables": sum(t["classification"] == "personal" for t in tables),
        "unclassified": [t["table"] for t in tables if t["classification"] == "UNCLASSIFIED"],
        "files": [
            {"where": str(settings.exports_dir), "holds": "subject export zips",
             "kept": "until the download link expires (SUMMIT_EXPORT_LINK_TTL_SECONDS = "
                     f"{settings.export_link_ttl_seconds}) and housekeeping deletes them"},
            {"where": str(settings.var_dir.resolve() / "probe-artifacts"),
             "holds": "failed probe runs' screenshots and traces (synthetic user only)",
             "kept": f"the newest {settings.probe_artifacts_keep} per probe "
                     "(SUMMIT_PROBE_ARTIFACTS_KEEP)"},
        ],
    }  # fmt: skip


def _table(name: str, columns: list[Any], settings: Settings) -> dict[str, Any]:
    marked = {c.name: str(c.info["personal"]) for c in columns if "personal" in c.info}
    all_columns = [c.name for c in columns]
    if name in PERSONAL or marked:
        domain, personal, keep = PERSONAL.get(name, ("(marked in its model)", {}, FOREVER))
        personal = {**personal, **marked}
        return {"table": name, "domain": domain, "classification": "personal",
                "personal_columns": [{"column": c, "holds": what} for c, what in personal.items()],
                "columns": all_columns, "retention": keep.rule, "setting": keep.setting,
                "current_value": _value(settings, keep.setting)}  # fmt: skip
    if name in NOT_PERSONAL:
        return {"table": name, "domain": NOT_PERSONAL[name], "classification": "none",
                "personal_columns": [], "columns": all_columns}  # fmt: skip
    return {"table": name, "domain": "?", "classification": "UNCLASSIFIED",
            "personal_columns": [], "columns": all_columns,
            "retention": "unknown: classify this table in app/evidence/inventory.py"}  # fmt: skip


def _value(settings: Settings, env_name: str | None) -> Any:
    if env_name is None:
        return None
    for name, info in type(settings).model_fields.items():
        if info.validation_alias == env_name:
            return getattr(settings, name)
    return None


def as_markdown(found: dict[str, Any]) -> str:
    lines = ["# Data inventory (DPIA)", "",
             f"Generated from the models. Database: {found['database']}.", "",
             "| table | domain | personal data | kept | setting (value) |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for t in found["tables"]:
        if t["classification"] == "none":
            continue
        held = "; ".join(f"`{c['column']}`: {c['holds']}" for c in t["personal_columns"])
        setting = f"`{t['setting']}` ({t['current_value']})" if t.get("setting") else "—"
        if t.get("per_tenant_days"):
            per = ", ".join(f"{slug} {days} d" for slug, days in t["per_tenant_days"].items())
            setting += f"; in force: {per}"
        held = held or "**UNCLASSIFIED: review**"
        lines.append(f"| `{t['table']}` | {t['domain']} | {held} | {t['retention']} | {setting} |")
    none = ", ".join(f"`{t['table']}`" for t in found["tables"] if t["classification"] == "none")
    lines += ["", f"No personal data: {none}.", "", "Files outside the database:", ""]
    lines += [f"- `{f['where']}`: {f['holds']}; {f['kept']}" for f in found["files"]]
    return "\n".join(lines) + "\n"
