"""Paging: how often is someone woken, how fast do they take the page and end the
incident, and is PagerDuty getting our events?

Every figure is read from the incidents table and the PagerDuty outbox when
/metrics is scraped (app/alerting/paging_metrics.py), per escalation service:
MTTA and MTTR over the incidents opened in the last 30 days, pages over the
last 7 (docs/paging.md). They carry no tenant: an incident is the platform's.
"""

from __future__ import annotations

from typing import Any

from app.core import metrics as m
from dashboards import promql as q
from dashboards.style import (
    Query,
    Variable,
    dashboard,
    link,
    query_variable,
    row,
    stat,
    timeseries,
)

UID = "summit-paging"
TITLE = "Summit / Paging"
SERVICE = 'service=~"$service"'
PER_SERVICE = "{{service}}"
# The SRE book's ceiling is two incidents per 12-hour shift: one a shift on average
# (14 a week) is busy, two (28) is more than a rotation can absorb.
PAGES_STEPS = [(None, "green"), (14.0, "orange"), (28.0, "red")]
# alerts/escalation.yaml escalates an unacknowledged page after 15 minutes.
MTTA_STEPS = [(None, "green"), (300.0, "orange"), (900.0, "red")]
MTTR_STEPS = [(None, "green"), (3600.0, "orange"), (4 * 3600.0, "red")]
WAITING = 'state=~"pending|sending"'
FAILED = 'state="failed"'
INCIDENT_RESPONSE = link(
    "Incident response", "/runbooks/incident-response", "Severities, roles, comms templates"
)
OPS = link("Paging on /ops", "/ops", "Incidents, the outbox's latest events, who is on call")


def _service_variable() -> Variable:
    return query_variable(
        "service",
        "Service",
        f"label_values({m.PAGES_PER_WEEK}, service)",
        "Escalation services to show (alerts/escalation.yaml).",
    )


def _per_service(name: m.Name) -> str:
    return q.max_by("service", q.sel(name.family, SERVICE))


def _outbox() -> str:
    return q.sum_by("state", q.sel(m.PAGING_OUTBOX.family))


def _now() -> Any:
    return row(
        "Now",
        stat(
            "Pages (7 d)",
            description="How often was someone paged this week, per service? Above one "
            "page a shift (14 a week) the rotation is busy; above two (28) it cannot "
            "keep up, and the alerts need work more than the people do.",
            unit="short",
            queries=[Query(_per_service(m.PAGES_PER_WEEK), PER_SERVICE, instant=True)],
            thresholds=PAGES_STEPS,
            width=5,
            links=[INCIDENT_RESPONSE],
        ),
        stat(
            "MTTA (30 d)",
            description="How fast is a page acknowledged, on average over the incidents "
            "of the last 30 days? Unacknowledged for 15 min (red) it escalates to the "
            "next level.",
            unit="s",
            queries=[Query(_per_service(m.INCIDENT_MTTA), PER_SERVICE, instant=True)],
            thresholds=MTTA_STEPS,
            width=5,
        ),
        stat(
            "MTTR (30 d)",
            description="How long does an incident last, from opened to resolved, on "
            "average over the last 30 days?",
            unit="s",
            queries=[Query(_per_service(m.INCIDENT_MTTR), PER_SERVICE, instant=True)],
            thresholds=MTTR_STEPS,
            width=5,
        ),
        stat(
            "Outbox waiting",
            description="Is PagerDuty getting our events? Events pending or being sent "
            "should drain within seconds; events that stay are PagerDuty down or "
            "rate-limiting, quiet hours, or no routing key set (they wait, never dropped).",
            unit="short",
            queries=[
                Query(f"sum({q.sel(m.PAGING_OUTBOX.family, WAITING)})", "waiting", instant=True)
            ],
            thresholds=[(None, "green"), (1.0, "orange"), (10.0, "red")],
            width=5,
            links=[OPS],
        ),
        stat(
            "Outbox failed",
            description="Did PagerDuty refuse any event as invalid, or did one keep failing "
            "for a day? Failed events are not retried: those pages never arrived.",
            unit="short",
            queries=[
                Query(f"sum({q.sel(m.PAGING_OUTBOX.family, FAILED)})", "failed", instant=True)
            ],
            thresholds=[(None, "green"), (1.0, "red")],
            width=4,
            links=[OPS],
        ),
    )


def _over_time() -> Any:
    return row(
        "Over time",
        timeseries(
            "Pages per week by service",
            description="Is paging getting noisier? The number of incidents that paged "
            "someone in the 7 days before each point.",
            unit="short",
            queries=[Query(_per_service(m.PAGES_PER_WEEK), PER_SERVICE)],
            thresholds=PAGES_STEPS,
            min=0,
            width=8,
        ),
        timeseries(
            "MTTA and MTTR by service",
            description="Are we slower to take pages or to end incidents than we were? "
            "The 30-day means at each point; a step is an incident opening or closing.",
            unit="s",
            queries=[
                Query(_per_service(m.INCIDENT_MTTA), f"{PER_SERVICE} MTTA"),
                Query(_per_service(m.INCIDENT_MTTR), f"{PER_SERVICE} MTTR"),
            ],
            min=0,
            width=8,
        ),
        timeseries(
            "Outbox by state",
            description="When did PagerDuty events pile up? Pending rising while sent "
            "stays flat is PagerDuty unreachable, rate-limiting, or no routing key set; "
            "failed rising is events PagerDuty refused.",
            unit="short",
            queries=[Query(_outbox(), "{{state}}")],
            min=0,
            width=8,
            links=[OPS],
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="Pages per week, MTTA and MTTR per escalation service, and the "
        "PagerDuty outbox by state, so trouble reaching PagerDuty shows.",
        tags=["summit", "paging"],
        rows=[_now(), _over_time()],
        variables=[_service_variable()],
        summit_url=summit_url,
        links=[INCIDENT_RESPONSE, OPS],
    )
