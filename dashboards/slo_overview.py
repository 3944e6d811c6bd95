"""SLO overview: is any SLO burning its error budget, how fast, against which alert
window, and what do the raw signals behind it say?

The SLO panels read the recording rules `summit alerts build` generates, under
Sloth's names (app.core.metrics: SLO_*); the last row reads the raw request,
latency and policy metrics, filtered by tenant, to say who the burn comes from.
"""

from __future__ import annotations

from typing import Any

from app.core import metrics as m
from dashboards import promql as q
from dashboards.slo_panels import BUDGET_STEPS, burn_rate
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

UID = "summit-slo-overview"
TITLE = "Summit / SLO overview"
PER_SLO = "{{sloth_service}} / {{sloth_slo}}"
INCIDENT_RESPONSE = link(
    "Incident response", "/runbooks/incident-response", "Severities, roles, comms templates"
)


def _slo_variable() -> Variable:
    return query_variable(
        "slo",
        "SLO",
        f"label_values({m.SLO_OBJECTIVE}, sloth_id)",
        "SLOs to show, by Sloth id (service-slo), from the generated SLO rules.",
    )


def _budget() -> Any:
    return row(
        "Error budget",
        stat(
            "Budget remaining (30 d)",
            description="How much of each SLO's error budget for the 30-day period is left? "
            "At 0 % the SLO is missed for the period: freeze risky changes.",
            unit="percentunit",
            queries=[Query(q.sel(m.SLO_BUDGET_REMAINING, q.SLO), PER_SLO, instant=True)],
            thresholds=BUDGET_STEPS,
            width=8,
        ),
        stat(
            "Burn rate now (5 m)",
            description="How fast is each SLO spending its budget right now? 1× spends it "
            "exactly over the period; 14.4× over an hour pages.",
            unit="suffix:×",
            queries=[Query(q.sel(m.SLO_CURRENT_BURN_RATE, q.SLO), PER_SLO, instant=True)],
            thresholds=[(None, "green"), (1.0, "orange"), (14.4, "red")],
            width=8,
        ),
        stat(
            "Burn rate over the period (30 d)",
            description="Has each SLO spent faster than its budget allows over the whole "
            "period? Above 1× it will miss its objective unless the rate drops.",
            unit="suffix:×",
            queries=[Query(q.sel(m.SLO_PERIOD_BURN_RATE, q.SLO), PER_SLO, instant=True)],
            thresholds=[(None, "green"), (1.0, "red")],
            width=8,
        ),
    )


def _sli() -> Any:
    sli = f"1 - {q.sel(m.slo_error_ratio('1h'), q.SLO)}"
    return row(
        "SLI against objective",
        timeseries(
            "SLI (1 h) and objective",
            description="Is each SLO's indicator above its objective? The SLI is the share "
            "of good events over the last hour; the objective is its target line.",
            unit="percentunit",
            queries=[
                Query(sli, f"{PER_SLO} SLI"),
                Query(q.sel(m.SLO_OBJECTIVE, q.SLO), f"{PER_SLO} objective"),
            ],
            max=1,
        ),
        timeseries(
            "Budget remaining over the period",
            description="How has each SLO's remaining budget moved over the period? A "
            "steady fall is a slow burn (tickets); a cliff is a fast one (pages).",
            unit="percentunit",
            queries=[Query(q.sel(m.SLO_BUDGET_REMAINING, q.SLO), PER_SLO)],
            thresholds=[(None, "red"), (0.0, "green")],
        ),
    )


def _burn_rates() -> Any:
    burns = (
        burn_rate(alert, q.SLO, legend=PER_SLO, links=[INCIDENT_RESPONSE])
        for alert in m.BURN_RATE_ALERTS
    )
    return row("Burn rate per alert window", *burns)


def _inputs() -> Any:
    errors = q.sum_by("tenant", q.rate(m.HTTP_ERRORS.total, q.TENANT, q.USER))
    requests = q.sum_by("tenant", q.rate(m.HTTP_REQUESTS.total, q.TENANT, q.USER))
    read = q.quantile(0.95, m.HTTP_DURATION.bucket, "tenant", q.TENANT, q.USER, q.READ_ROUTES)
    decide = q.quantile(0.95, m.POLICY_DECISION_DURATION.bucket, "source")
    return row(
        "What the SLIs are made of",
        timeseries(
            "5xx ratio by tenant",
            description="Whose requests fail? The availability SLO counts 5xx answers to "
            "real users; its budget (99.5 %) is the dashed line at 0.5 %.",
            unit="percentunit",
            queries=[Query(q.ratio(errors, requests), "{{tenant}}")],
            thresholds=[(None, "green"), (0.005, "red")],
            width=8,
        ),
        timeseries(
            "Read path P95 by tenant",
            description="Whose searches and entity fetches are slow? The read SLO wants "
            "P95 ≤ 300 ms (dashed).",
            unit="s",
            queries=[Query(read, "{{tenant}}")],
            thresholds=[(None, "green"), (0.3, "red")],
            width=8,
        ),
        timeseries(
            "Policy decision P95",
            description="Is the policy engine within its 10 ms budget (dashed), for route "
            "guards and for the decision API?",
            unit="s",
            queries=[Query(decide, "{{source}}")],
            thresholds=[(None, "green"), (0.01, "red")],
            width=8,
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="Each SLO against its objective, its error budget, and its burn rate "
        "per alert window, with the signals behind it.",
        tags=["summit", "slo"],
        rows=[_budget(), _sli(), _burn_rates(), _inputs()],
        variables=[_slo_variable()],
        summit_url=summit_url,
        links=[INCIDENT_RESPONSE, link("Ops", "/ops", "Probes, SLOs and incidents in Summit")],
    )
