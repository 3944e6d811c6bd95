"""The ops page's content, assembled from the record for a session and ``now``:
incidents first, then one card per probe. Plain values for the template;
imports no Flask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from alerts import incidents
from alerts.models import Incident
from app.ops import history
from app.ops.service import TRIGGERS, SchedulerFacts
from probes import service
from probes.journeys import load
from probes.models import ProbeRun

HISTORY_RUNS = 90
TABLE_RUNS = 8
BROWSER_BUDGET_MS = 1000.0  # the golden-path bar: one second per run, warm browser
STATUS_WORDS = {"green": "Passing", "failing": "Failing", "red": "Incident open",
                "unknown": "No runs yet"}  # fmt: skip


@dataclass(frozen=True)
class ProbeCard:
    name: str
    kind: str
    status: str
    status_label: str
    interval_seconds: int
    uptime_24h: float | None
    uptime_30d: float | None
    last_run: ProbeRun | None
    next_run_at: datetime | None
    open_incident: Incident | None
    chart: dict[str, Any]
    summary: str
    history: list[dict[str, Any]]
    history_label: str
    runs: list[ProbeRun]


def probe_card(
    *, session: Session, name: str, interval: int, facts: SchedulerFacts, now: datetime
) -> ProbeCard:
    status, incident = service.status(session=session, probe=name)
    runs = service.recent_runs(session=session, probe=name, limit=HISTORY_RUNS)
    yesterday, last_month = now - timedelta(hours=24), now - timedelta(days=30)
    day = history.points(session=session, probe=name, since=yesterday)
    kind = load(name).kind
    budget = BROWSER_BUDGET_MS if kind == "browser" else None
    return ProbeCard(
        name=name, kind=kind, status=status, status_label=STATUS_WORDS[status],
        interval_seconds=interval,
        uptime_24h=history.uptime(session=session, probe=name, since=yesterday).ratio,
        uptime_30d=history.uptime(session=session, probe=name, since=last_month).ratio,
        last_run=runs[0] if runs else None, next_run_at=facts.next_runs.get(name),
        open_incident=incident, chart=chart(day, budget_ms=budget), summary=summary(day),
        history=history_cells(runs), history_label=history_label(runs), runs=runs[:TABLE_RUNS],
    )  # fmt: skip


def chart(day: list[history.Point], *, budget_ms: float | None) -> dict[str, Any]:
    """The duration chart's data (uPlot's columns): time, then passed and failed
    durations apart (null where the run was the other kind), for static/ops.js."""
    return {
        "t": [round(p.started_at.timestamp(), 3) for p in day],
        "pass": [round(p.ms, 1) if p.passed else None for p in day],
        "fail": [None if p.passed else round(p.ms, 1) for p in day],
        "budget_ms": budget_ms,
    }


def summary(day: list[history.Point]) -> str:
    """The chart in words (its text alternative, and all a reader without JS gets)."""
    if not day:
        return "No runs in the last 24 hours."
    durations = [p.ms for p in day]
    failed = sum(not p.passed for p in day)
    p50, p95 = history.percentile(durations, 0.5), history.percentile(durations, 0.95)
    return (
        f"{len(day):,} runs in the last 24 hours, {failed:,} failed; "
        f"median {ms(p50)}, 95th percentile {ms(p95)}, slowest {ms(max(durations))}."
    )


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def history_cells(runs: list[ProbeRun]) -> list[dict[str, Any]]:
    """The last runs, oldest first, as cells of the history bar."""
    return [
        {"status": run.status,
         "label": f"{run.started_at:%d %b %H:%M:%S} UTC: {run.status}, {ms(run.duration_ms)}"}
        for run in reversed(runs)
    ]  # fmt: skip


def history_label(runs: list[ProbeRun]) -> str:
    failed = sum(not run.passed for run in runs)
    return f"Last {len(runs)} runs, oldest first: {len(runs) - failed} passed, {failed} failed"


def trigger_word(trigger: str) -> str:
    return TRIGGERS.get(trigger, trigger)


@dataclass(frozen=True)
class IncidentCard:
    incident: Incident
    what: str
    probe: str | None
    run_id: str | None
    resolved_run_id: str | None


def incident_cards(*, session: Session, status: str, limit: int) -> list[IncidentCard]:
    found = incidents.list_incidents(session=session, status=status, limit=limit)
    return [incident_card(incident) for incident in found]


def incident_card(incident: Incident) -> IncidentCard:
    """Worded for its state: a resolved probe incident "failed", it is not "failing"."""
    details = incident.details
    probe = details.get("probe")
    step = details.get("failed_step") or "?"
    if probe and incident.status == "open":
        what = f"{probe} is failing at step {step}"
    elif probe:
        what = f"{probe} failed at step {step}"
    else:
        what = incident.title
    return IncidentCard(
        incident, what, probe, details.get("run_id"), details.get("resolved_by_run")
    )
