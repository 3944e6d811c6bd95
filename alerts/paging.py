"""Paging as an incident notifier: each incident change becomes a PagerDuty
event in the outbox, written in the caller's transaction.

opened -> trigger, acknowledged -> acknowledge, resolved -> resolve, all with
the incident's stable dedup key (``probe:<name>`` for a probe; the key
Alertmanager itself uses for an SLO alert, so its page and Summit's incident
are one PagerDuty alert). Every trigger links to the runbook, the dashboard
and, for a probe, the failing run's page (its screenshot and trace).

Where Alertmanager pages by itself (``details.paged_by == "alertmanager"``),
only what people do in Summit is sent (acknowledge, resolve by hand): the
trigger and the automatic resolve are Alertmanager's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from alerts import oncall, outbox, rules
from alerts.escalation import DEFAULT_SERVICE, Escalation
from alerts.models import Incident
from alerts.pagerduty import SEVERITIES, Event

ACTIONS: Final = {"opened": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
INCIDENT_RESPONSE: Final = "incident-response"
DETAIL_FIELDS: Final = ("probe", "failed_step", "error", "sloth_id", "alertname", "description")


@dataclass(frozen=True)
class NotifierOptions:
    """What notifiers may need: where links point, and the escalation file (for
    quiet hours). Each notifier takes what it uses."""

    summit_url: str = "http://127.0.0.1:8000"
    dashboard_url: str = ""  # a format string, as SUMMIT_ALERTS_DASHBOARD_URL
    escalation: Escalation | None = None


class PagingNotifier:
    name = "pagerduty"

    def __init__(self, options: NotifierOptions | None = None) -> None:
        self.options = options or NotifierOptions()

    def notify(self, *, session: Session, incident: Incident, event: str, now: datetime) -> None:
        action = ACTIONS.get(event)
        if action is None or not pages(incident, action):
            return
        built = build_event(incident, action, self.options)
        held = None
        if action == "trigger":
            held = oncall.held_until(self.options.escalation, service=incident.service,
                                     severity=built.severity, at=now)  # fmt: skip
        outbox.enqueue(session=session, incident_id=incident.id, service=incident.service,
                       event=built, now=now, held_until=held)  # fmt: skip


def pages(incident: Incident, action: str) -> bool:
    """Whether this change is sent: not for what is recorded only (tickets), and not
    what Alertmanager sends itself."""
    details = incident.details
    if details.get("page") is False:
        return False
    if details.get("paged_by") == "alertmanager":
        return action == "acknowledge" or (action == "resolve" and incident.resolved_by is not None)
    return True


def dedup_key(incident: Incident) -> str:
    return str(incident.details.get("dedup_key") or incident.key)


def severity(incident: Incident) -> str:
    found = str(incident.details.get("severity", "critical"))
    return found if found in SEVERITIES else "critical"


def build_event(incident: Incident, action: str, options: NotifierOptions) -> Event:
    if action != "trigger":
        return Event(action=action, dedup_key=dedup_key(incident), severity=severity(incident))
    details = incident.details
    custom = {name: details[name] for name in DETAIL_FIELDS if details.get(name)}
    custom.update({"incident": incident.id, "key": incident.key, "service": incident.service,
                   "opened_at": incident.opened_at.isoformat()})  # fmt: skip
    return Event(
        action="trigger", dedup_key=dedup_key(incident), summary=incident.title,
        source=str(details.get("source") or "summit"), severity=severity(incident),
        component=details.get("probe") or details.get("sloth_id") or details.get("component"),
        group=incident.service, event_class=str(details.get("class") or _kind(incident)),
        custom_details=custom, links=links(incident, options),
    )  # fmt: skip


def _kind(incident: Incident) -> str:
    return incident.key.split(":", 1)[0] if ":" in incident.key else "incident"


def links(incident: Incident, options: NotifierOptions) -> list[dict[str, str]]:
    """Runbook, dashboard, and for a probe its failing run (screenshot and trace)."""
    details = incident.details
    base = options.summit_url.rstrip("/")
    link = rules.Links(base, options.dashboard_url)
    probe = details.get("probe")
    runbook = details.get("runbook_url") or link.runbook(
        rules.slug(rules.probe_alert_name(str(probe))) if probe else INCIDENT_RESPONSE
    )
    dashboard = details.get("dashboard_url") or (
        link.dashboard_for(probe=str(probe)) if probe else f"{base}/ops"
    )
    out = [{"href": str(runbook), "text": "Runbook"},
           {"href": str(dashboard), "text": "Dashboard"}]  # fmt: skip
    if probe and details.get("run_id"):
        run = f"{base}/ops/probes/{probe}/runs/{details['run_id']}"
        out.append({"href": run, "text": "Failing run: steps, screenshot, trace"})
    out.append({"href": f"{base}/ops#incident-{incident.id}", "text": "Incident in Summit"})
    return out


def service_of(labels: dict[str, Any], escalation: Escalation | None) -> str:
    """The escalation service for an alert's labels: ``service`` or ``sloth_service``
    when the escalation file knows it, else the default (``summit``)."""
    for name in ("service", "sloth_service"):
        value = str(labels.get(name) or "")
        if value and (escalation is None or value in escalation.services):
            return value
    return DEFAULT_SERVICE


def describe(incident: Incident, rows: list[Any]) -> dict[str, Any]:
    """The paging facts of one incident, for the API: its dedup key and each event."""
    return {
        "dedup_key": dedup_key(incident),
        "events": [
            {"action": r.action, "state": r.state, "enqueued_at": r.created_at,
             "sent_at": r.sent_at, "held_until": r.held_until, "attempts": r.attempts,
             "error": r.last_error}
            for r in rows
        ],
    }  # fmt: skip
