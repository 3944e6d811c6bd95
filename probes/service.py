"""Recording runs and judging probes. Keyword-only functions over a session and ``now``.

Threshold semantics (``ThresholdPolicy``): an incident opens when a failing run
makes ``failures`` of the last ``window`` runs failures (``failures == window``
means that many in a row); it resolves after ``recover_after`` passes in a row.
Only runs recorded since the probe's last resolved incident count toward
opening the next, so old failures cannot reopen a just-resolved incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import incidents
from alerts.models import Incident
from probes.journey import RunResult
from probes.models import ProbeRun
from probes.runner import remove_artifacts

Status = Literal["unknown", "green", "failing", "red"]


@dataclass(frozen=True)
class ThresholdPolicy:
    failures: int = 3
    window: int = 3
    recover_after: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.failures <= self.window or self.recover_after < 1:
            raise ValueError(f"need 1 <= failures <= window and recover_after >= 1: {self}")

    def trips(self, newest_first: Sequence[bool]) -> bool:
        """``newest_first``: pass (True) / fail (False) of the runs that count."""
        return sum(not ok for ok in newest_first[: self.window]) >= self.failures

    def recovered(self, newest_first: Sequence[bool]) -> bool:
        latest = newest_first[: self.recover_after]
        return len(latest) == self.recover_after and all(latest)


@dataclass(frozen=True)
class Retention:
    """Keep the artifacts of a probe's ``keep`` newest failed runs, and of any run
    an open incident points at; delete the rest (files, and their paths on the row)."""

    root: Path
    keep: int = 20


def incident_key(probe: str) -> str:
    return f"probe:{probe}"


def record_run(
    *,
    session: Session,
    result: RunResult,
    trigger: str,
    now: datetime,
    policy: ThresholdPolicy,
    notifiers: Sequence[incidents.Notifier],
    retention: Retention,
) -> ProbeRun:
    """Store the run, then open or resolve the probe's incident as the policy says."""
    run = ProbeRun(
        id=result.id,
        probe=result.probe,
        trigger=trigger,
        status="pass" if result.passed else "fail",
        started_at=result.started_at,
        recorded_at=now,
        duration_ms=result.duration_ms,
        steps=[step.as_dict() for step in result.steps],
        failed_step=result.failed_step,
        error=result.error,
        artifacts=list(result.artifacts),
    )
    session.add(run)
    session.flush()
    _judge(session=session, run=run, now=now, policy=policy, notifiers=notifiers)
    if not run.passed:
        prune_artifacts(session=session, probe=run.probe, retention=retention)
    return run


def _judge(
    *,
    session: Session,
    run: ProbeRun,
    now: datetime,
    policy: ThresholdPolicy,
    notifiers: Sequence[incidents.Notifier],
) -> None:
    key = incident_key(run.probe)
    open_now = incidents.current(session=session, key=key)
    if open_now is not None and run.passed:
        outcomes = _outcomes(session, run.probe, policy.recover_after, since=open_now.opened_at)
        if policy.recovered(outcomes):
            # Which run saw it recover: the run page and the CLI say so.
            open_now.details = {**open_now.details, "resolved_by_run": run.id}
            incidents.resolve_incident(
                session=session, incident=open_now, now=now, notifiers=notifiers
            )
    elif open_now is None and not run.passed:
        since = incidents.last_resolved_at(session=session, key=key)
        if policy.trips(_outcomes(session, run.probe, policy.window, since=since)):
            incidents.open_incident(
                session=session,
                key=key,
                title=f"probe {run.probe} is failing at step {run.failed_step or '?'}",
                details=_details(run),
                now=now,
                notifiers=notifiers,
            )


def _details(run: ProbeRun) -> dict[str, object]:
    return {
        "probe": run.probe,
        "run_id": run.id,
        "failed_step": run.failed_step,
        "error": run.error,
        "artifacts": list(run.artifacts),
    }


def _outcomes(session: Session, probe: str, limit: int, *, since: datetime | None) -> list[bool]:
    statement = select(ProbeRun.status).where(ProbeRun.probe == probe)
    if since is not None:
        statement = statement.where(ProbeRun.recorded_at > since)
    statement = statement.order_by(ProbeRun.started_at.desc()).limit(limit)
    return [status == "pass" for status in session.scalars(statement)]


def incident_change(*, session: Session, run: ProbeRun) -> tuple[str, Incident] | None:
    """("opened" | "resolved", the incident) when ``run`` opened or resolved one."""
    for incident in incidents.list_incidents(
        session=session, key=incident_key(run.probe), limit=200
    ):
        if incident.details.get("run_id") == run.id:
            return "opened", incident
        if incident.details.get("resolved_by_run") == run.id:
            return "resolved", incident
    return None


def recent_runs(*, session: Session, probe: str, limit: int = 20) -> list[ProbeRun]:
    return list(
        session.scalars(
            select(ProbeRun)
            .where(ProbeRun.probe == probe)
            .order_by(ProbeRun.started_at.desc())
            .limit(limit)
        )
    )


def get_run(*, session: Session, run_id: str) -> ProbeRun | None:
    return session.get(ProbeRun, run_id)


def status(*, session: Session, probe: str) -> tuple[Status, Incident | None]:
    """red: an incident is open; failing: the last run failed, under the threshold."""
    incident = incidents.current(session=session, key=incident_key(probe))
    if incident is not None:
        return "red", incident
    latest = recent_runs(session=session, probe=probe, limit=1)
    if not latest:
        return "unknown", None
    return ("green" if latest[0].passed else "failing"), None


def prune_artifacts(*, session: Session, probe: str, retention: Retention) -> int:
    """Apply the retention limit to ``probe``'s failed runs; returns runs pruned."""
    protected = {
        str(incident.details.get("run_id"))
        for incident in incidents.list_incidents(session=session, status="open", limit=1000)
    }
    failed = session.scalars(
        select(ProbeRun)
        .where(ProbeRun.probe == probe, ProbeRun.status == "fail")
        .order_by(ProbeRun.started_at.desc())
        .offset(retention.keep)
        .limit(200)  # pruning runs after every failure: the backlog is small
    )
    pruned = 0
    for run in failed:
        if run.artifacts and run.id not in protected:
            remove_artifacts(retention.root, run.artifacts)
            run.artifacts = []
            pruned += 1
    return pruned


def prune_runs(*, session: Session, before: datetime, retention: Retention) -> int:
    """Delete runs started before ``before`` (with their artifacts), except a run
    an open incident still points at; returns how many."""
    protected = {
        str(incident.details.get("run_id"))
        for incident in incidents.list_incidents(session=session, status="open", limit=1000)
    }
    old = list(session.scalars(select(ProbeRun).where(ProbeRun.started_at < before).limit(5000)))
    pruned = 0
    for run in old:
        if run.id in protected:
            continue
        if run.artifacts:
            remove_artifacts(retention.root, run.artifacts)
        session.delete(run)
        pruned += 1
    return pruned
