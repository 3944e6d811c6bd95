"""Paging in the control plane: the PagerDuty client and outbox sender built from
settings, the outbox job the scheduler's leader runs, and the test page. No
Flask: the API, the CLI and the scheduler share these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerts import escalation, incidents, outbox
from alerts.escalation import DEFAULT_SERVICE, Escalation
from alerts.pagerduty import Endpoints, PagerDuty
from alerts.paging import NotifierOptions
from app.core.db import Database, utcnow
from app.core.leases import new_holder
from app.settings import Settings

if TYPE_CHECKING:  # the runtime imports this module for its notifiers
    from app.ops.runtime import ProbeRuntime

JOB = "paging-outbox"


@lru_cache(maxsize=8)
def _escalation(path: str, mtime: float) -> Escalation:
    return escalation.load(Path(path))


def escalation_file(settings: Settings) -> Path:
    return settings.escalation_file or escalation.FILE


def load_escalation(settings: Settings) -> Escalation:
    """The escalation file, read again when it changes; raises EscalationError."""
    path = escalation_file(settings)
    return _escalation(str(path), path.stat().st_mtime)


def notifier_options(settings: Settings) -> NotifierOptions:
    return NotifierOptions(
        summit_url=settings.summit_url,
        dashboard_url=settings.alerts_dashboard_url,
        escalation=load_escalation(settings),
    )


def endpoints(settings: Settings) -> Endpoints:
    verify: str | bool = str(settings.pagerduty_ca_file) if settings.pagerduty_ca_file else True
    return Endpoints(
        events_url=settings.pagerduty_events_url,
        rest_url=settings.pagerduty_api_url,
        verify=verify,
        rest_token=settings.pagerduty_api_token,
        rest_from=settings.pagerduty_from or None,
    )


def routing_key(settings: Settings, service: str) -> str | None:
    keys = settings.pagerduty_service_keys
    return keys.get(service) or keys.get("*")


def retry_policy(settings: Settings) -> outbox.RetryPolicy:
    return outbox.RetryPolicy(
        base_seconds=settings.paging_retry_base_seconds,
        max_seconds=settings.paging_retry_max_seconds,
        give_up_after=timedelta(hours=settings.paging_give_up_hours),
        claim_timeout=timedelta(seconds=settings.paging_claim_seconds),
        per_minute=settings.paging_rate_per_minute,
    )


def sender(settings: Settings, db: Database, holder: str | None = None) -> outbox.Sender:
    return outbox.Sender(
        db=db,
        pagerduty=PagerDuty(endpoints(settings)),
        routing_key=lambda service: routing_key(settings, service),
        holder=holder or new_holder(),
        policy=retry_policy(settings),
    )


def deliver_job(runtime: ProbeRuntime, _name: str) -> int:
    """The ``paging-outbox`` job: one pass of the sender; returns the events sent."""
    send = sender(runtime.settings, runtime.db, runtime.holder)
    try:
        return send.deliver(now=utcnow()).sent
    finally:
        send.pagerduty.close()


# --- the test page --------------------------------------------------------------------


class TestPageFailed(RuntimeError):
    """The test page did not reach PagerDuty; the message says why."""


@dataclass(frozen=True)
class TestPage:
    incident_id: str
    service: str
    dedup_key: str
    trigger: str  # the outbox state of each event: sent, pending, failed
    resolve: str
    error: str | None


def send_test_page(
    *, settings: Settings, db: Database, service: str = DEFAULT_SERVICE, by: str,
    notifiers: list[Any],
) -> TestPage:  # fmt: skip
    """Trigger a page for ``service`` now (quiet hours do not hold a test), wait for
    PagerDuty's 202, then resolve it: an incident like any other, in the record."""
    load_escalation(settings).service(service)  # an unknown service is the caller's mistake
    key = f"test:{service}:{uuid.uuid4().hex[:12]}"
    details = {"class": "test", "severity": "critical", "requested_by": by,
               "runbook_url": f"{settings.summit_url}/runbooks/incident-response"}  # fmt: skip
    with db.session(tenant_id=None, write=True) as session:
        incident = incidents.open_incident(
            session=session, key=key, title=f"Test page for {service}, asked by {by}",
            details=details, now=utcnow(), notifiers=notifiers, service=service,
        )  # fmt: skip
        session.commit()
        incident_id = incident.id
    trigger = _deliver_latest(settings, db, incident_id)
    with db.session(tenant_id=None, write=True) as session:
        found = incidents.get_incident(session=session, incident_id=incident_id)
        assert found is not None
        incidents.resolve_incident(session=session, incident=found, now=utcnow(),
                                   notifiers=notifiers, by=by)  # fmt: skip
        session.commit()
    resolve = _deliver_latest(settings, db, incident_id)
    error = trigger[1] or resolve[1]
    return TestPage(incident_id, service, key, trigger[0], resolve[0], error)


def _deliver_latest(settings: Settings, db: Database, incident_id: str) -> tuple[str, str | None]:
    """Send the incident's newest outbox row now; (its state, its error)."""
    with db.session(tenant_id=None) as session:
        rows = outbox.for_incidents(session=session, incident_ids=[incident_id])[incident_id]
        if not rows:
            return "none", "no pagerduty notifier: add it to SUMMIT_INCIDENT_NOTIFIERS"
        row_id = rows[-1].id
    send = sender(settings, db)
    try:
        send.deliver(now=utcnow(), only=[row_id])
    finally:
        send.pagerduty.close()
    with db.session(tenant_id=None) as session:
        row = outbox.get(session=session, row_id=row_id)
        assert row is not None
        return row.state, row.last_error
