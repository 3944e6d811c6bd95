"""Top offenders: which tenants send the most traffic, get the most 429s and 5xx,
wait longest, and store the most, so an SRE sees who is hurting whom.

The top row ranks tenants now (bar gauges, instant queries); the rows below
show the same rankings over time, so a noisy neighbour's flood can be lined
up with another tenant's latency.
"""

from __future__ import annotations

from typing import Any

from app.core import metrics as m
from dashboards import promql as q
from dashboards.style import Query, bargauge, dashboard, link, row, timeseries

UID = "summit-top-offenders"
TITLE = "Summit / Top offenders"
TOP = 5


def _signals() -> dict[str, str]:
    """Per-tenant signals, each ranked with topk in the panels."""
    return {
        "traffic": q.sum_by("tenant", q.rate(m.HTTP_REQUESTS.total, q.TENANT, q.USER)),
        "429": q.sum_by("tenant", q.rate(m.RATE_LIMITED.total, q.TENANT)),
        "5xx": q.sum_by("tenant", q.rate(m.HTTP_ERRORS.total, q.TENANT, q.USER)),
        "p95": q.quantile(0.95, m.HTTP_DURATION.bucket, "tenant", q.TENANT, q.USER),
        "storage": q.max_by("tenant", q.sel(m.TENANT_STORAGE.family, q.TENANT)),
    }


def _now() -> Any:
    signal = _signals()
    return row(
        "Ranked now",
        bargauge(
            "Most 429s",
            description="Which tenants are over their rate limit right now, and by how much? "
            "The top one is usually the noisy neighbour.",
            unit="reqps",
            queries=[Query(q.topk(TOP, signal["429"]), "{{tenant}}", instant=True)],
            thresholds=[(None, "green"), (0.001, "orange")],  # any refusal at all
        ),
        bargauge(
            "Most 5xx",
            description="Which tenants' requests fail most right now? One tenant alone "
            "points at its data or its calls; all of them point at us.",
            unit="reqps",
            queries=[Query(q.topk(TOP, signal["5xx"]), "{{tenant}}", instant=True)],
            thresholds=[(None, "green"), (0.01, "red")],
        ),
        bargauge(
            "Slowest (P95)",
            description="Which tenants wait longest right now? Above 300 ms (red) a tenant "
            "is outside the read-path SLO.",
            unit="s",
            queries=[Query(q.topk(TOP, signal["p95"]), "{{tenant}}", instant=True)],
            thresholds=[(None, "green"), (0.3, "red")],
        ),
        bargauge(
            "Most storage",
            description="Which tenants store the most (bytes counted against their "
            "storage quota)? The big ones make purges and exports slow.",
            unit="bytes",
            queries=[Query(q.topk(TOP, signal["storage"]), "{{tenant}}", instant=True)],
        ),
    )


def _over_time() -> Any:
    signal = _signals()
    return row(
        "Over time",
        timeseries(
            "Request rate, top tenants",
            description="Who sends the most traffic, and did a flood start when another "
            "tenant slowed down?",
            unit="reqps",
            queries=[Query(q.topk(TOP, signal["traffic"]), "{{tenant}}")],
        ),
        timeseries(
            "429s, top tenants",
            description="When did each tenant start hitting its rate limit, and is it still?",
            unit="reqps",
            queries=[Query(q.topk(TOP, signal["429"]), "{{tenant}}")],
            bars=True,
        ),
        timeseries(
            "5xx, top tenants",
            description="When did each tenant's errors start, and do they line up with "
            "another tenant's flood?",
            unit="reqps",
            queries=[Query(q.topk(TOP, signal["5xx"]), "{{tenant}}")],
        ),
        timeseries(
            "P95 latency, top tenants",
            description="Whose latency rose, and when? A rise for every tenant at once is "
            "load on us; a rise for one tenant is its own queries.",
            unit="s",
            queries=[Query(q.topk(TOP, signal["p95"]), "{{tenant}}")],
            thresholds=[(None, "green"), (0.3, "red")],
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="Tenants ranked by 429s, errors, latency and storage: who is hurting whom.",
        tags=["summit", "tenants"],
        rows=[_now(), _over_time()],
        summit_url=summit_url,
        links=[link("Quotas admin", "/admin/quotas", "Change a tenant's limits")],
    )
