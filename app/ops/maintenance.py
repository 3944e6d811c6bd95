"""The ``prune`` job: what would otherwise grow without bound, removed past its
retention (tokens, probe runs with their artifacts, resolved incidents). The
decision log and the 429 tallies prune themselves (app.core.batch)."""

from __future__ import annotations

from datetime import timedelta

from alerts import incidents
from app.core.db import utcnow
from app.identity.service import prune_tokens
from app.ops.runtime import ProbeRuntime
from probes.service import prune_runs


def prune(runtime: ProbeRuntime, _name: str) -> int:
    """One pass; returns the rows removed."""
    settings, now = runtime.settings, utcnow()
    with runtime.db.session(tenant_id=None, write=True) as session:
        removed = prune_tokens(
            session=session, before=now - timedelta(days=settings.token_retention_days)
        )
        removed += prune_runs(
            session=session,
            before=now - timedelta(days=settings.probe_run_retention_days),
            retention=runtime.retention,
        )
        removed += incidents.prune_resolved(
            session=session, before=now - timedelta(days=settings.incident_retention_days)
        )
        session.commit()
    return removed
