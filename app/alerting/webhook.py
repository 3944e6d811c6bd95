"""Alertmanager's webhook -> Summit's incidents (no Flask).

One notification is one alert group. A firing group opens (or keeps) the
incident ``slo:<sloth_id>:<severity>`` (``alert:<alertname>:<hash>`` for other
alerts); a resolved one resolves it. Its PagerDuty dedup key is the one
Alertmanager's own ``pagerduty_configs`` use — the SHA-256 of the group key —
so the page Alertmanager sends and the incident on /ops are one PagerDuty
alert: acknowledging it on /ops acknowledges that page.

Probe alerts are not turned into incidents: the control plane opens its own
probe incidents from the same N-of-M rule, with the failing run attached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerts import incidents
from alerts.escalation import Escalation
from alerts.pagerduty import SEVERITIES
from alerts.paging import service_of

PAGED_BY_ALERTMANAGER = "alertmanager"


@dataclass
class Received:
    opened: int = 0
    resolved: int = 0
    ignored: int = 0
    key: str | None = None


def dedup_key(group_key: str) -> str:
    """Alertmanager's PagerDuty dedup key for a group (its ``Key.Hash()``)."""
    return hashlib.sha256(group_key.encode()).hexdigest()


def incident_key(labels: dict[str, str], group_key: str) -> str:
    severity = labels.get("sloth_severity") or labels.get("severity") or "alert"
    if labels.get("sloth_id"):
        return f"slo:{labels['sloth_id']}:{severity}"
    return f"alert:{labels.get('alertname', 'unnamed')}:{dedup_key(group_key)[:12]}"


def pd_severity(labels: dict[str, str]) -> str:
    """PagerDuty's severity: pages are critical, tickets warnings; a label that is
    already one of PagerDuty's severities is kept."""
    label = labels.get("severity", "")
    if label in SEVERITIES:
        return label
    return "critical" if label == "page" else "warning"


def receive(
    *,
    session: Session,
    message: dict[str, Any],
    paged_by: str | None,
    escalation: Escalation | None,
    now: datetime,
    notifiers: Sequence[incidents.Notifier],
) -> Received:
    """Apply one webhook message (already validated) in the caller's transaction."""
    labels = {**message["groupLabels"], **message["commonLabels"]}
    done = Received()
    if labels.get("probe"):
        done.ignored = len(message["alerts"])
        return done
    key = incident_key(labels, message["groupKey"])
    done.key = key
    if message["status"] == "firing":
        _open(session, message, labels, key, paged_by, escalation, now, notifiers)
        done.opened = 1
        return done
    found = incidents.current(session=session, key=key)
    if found is not None:
        incidents.resolve_incident(session=session, incident=found, now=now, notifiers=notifiers)
        done.resolved = 1
    return done


def _open(
    session: Session, message: dict[str, Any], labels: dict[str, str], key: str,
    paged_by: str | None, escalation: Escalation | None, now: datetime,
    notifiers: Sequence[incidents.Notifier],
) -> None:  # fmt: skip
    notes = message["commonAnnotations"]
    details: dict[str, Any] = {
        "source": "alertmanager", "dedup_key": dedup_key(message["groupKey"]),
        "group_key": message["groupKey"], "alertname": labels.get("alertname"),
        "sloth_id": labels.get("sloth_id"), "severity": pd_severity(labels),
        "page": labels.get("severity") != "ticket", "class": "slo" if labels.get("sloth_id")
        else "alert", "summary": notes.get("summary"), "description": notes.get("description"),
        "runbook_url": notes.get("runbook_url"), "dashboard_url": notes.get("dashboard_url"),
        "labels": labels, "external_url": message.get("externalURL"),
    }  # fmt: skip
    if paged_by:
        details["paged_by"] = paged_by
    title = notes.get("title") or notes.get("summary") or labels.get("alertname") or key
    incidents.open_incident(
        session=session, key=key, title=str(title)[:256],
        details={k: v for k, v in details.items() if v is not None}, now=now,
        notifiers=notifiers, service=service_of(labels, escalation),
    )  # fmt: skip
