"""Connectors and ingest: are events getting in, per connector, fast enough for the
write SLO; who is being slowed down or refused, which connector went quiet, and
what waits in the DLQ?

Events, latency, refusals and last success are per tenant and connector (a
configured connector's name, else "other"); the SLO panels read the recording
rules of alerts/slos/ingest.yaml (write P95 <= 1.5 s), and the DLQ's size is
read from the ingest counters when /metrics is scraped (docs/ingest.md).
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

UID = "summit-ingest"
TITLE = "Summit / Connectors and ingest"
CONNECTOR = 'connector=~"$connector"'
SLO = f'sloth_id="{m.INGEST_SLO_ID}"'
SLO_LE = f'le="{float(m.INGEST_SLO_SECONDS)!r}"'  # as the exposition writes the bucket edge
OBJECTIVE = 0.95  # alerts/slos/ingest.yaml: 95 % of batches within the threshold
BAR_SECONDS = 0.25  # our bar: P95 <= 250 ms per 5,000-event batch (docs/ingest.md)
LATENCY_STEPS = [(None, "green"), (BAR_SECONDS, "orange"), (m.INGEST_SLO_SECONDS, "red")]
QUIET_STEPS = [(None, "green"), (900.0, "orange"), (3600.0, "red")]  # 15 min, 1 h
PER_CONNECTOR = "{{tenant}} {{connector}}"
RUNBOOK = link(
    "Ingest SLO runbook",
    "/runbooks/summit-ingest-write-latency-budget-burn",
    "What to do when ingest batches are too slow",
)
DLQ_PAGE = link("DLQ on /ops", "/ops/dlq", "Each tenant's DLQ items: source, reason, attempts")


def _connector_variable() -> Variable:
    return query_variable(
        "connector",
        "Connector",
        f"label_values({m.INGEST_EVENTS.total}, connector)",
        'Connectors to show ("other" is every source that is not a configured connector).',
    )


def _events(by: str, *matchers: str) -> str:
    return q.sum_by(by, q.rate(m.INGEST_EVENTS.total, q.TENANT, CONNECTOR, *matchers))


def _latency(quantile: float, by: str) -> str:
    return q.quantile(quantile, m.INGEST_BATCH_DURATION.bucket, by, q.TENANT, CONNECTOR)


def _since_success() -> str:
    last = q.max_by("tenant, connector", q.sel(m.INGEST_LAST_SUCCESS.family, q.TENANT, CONNECTOR))
    return f"time() - {last}"


def _dlq_items(by: str) -> str:
    return q.sum_by(by, q.sel(m.INGEST_DLQ_ITEMS.family, q.TENANT, CONNECTOR))


def _now() -> Any:
    return row(
        "Now",
        stat(
            "Events/s",
            description="Are events getting in right now, and how many are stored, "
            "duplicates (already stored: a sender retrying) or invalid (to the DLQ)?",
            unit="eps",
            queries=[Query(_events("outcome"), "{{outcome}}", instant=True)],
            width=5,
        ),
        stat(
            "Batch P95",
            description="Is a batch committed within the SLO's 1.5 s (red) and our 250 ms "
            "bar (orange), from the request's arrival to its commit?",
            unit="s",
            queries=[Query(_latency(0.95, ""), "P95", instant=True)],
            thresholds=LATENCY_STEPS,
            width=4,
        ),
        stat(
            "SLO budget (30 d)",
            description="How much of the ingest write SLO's error budget is left for the "
            "30-day period? At 0 % too many batches took longer than 1.5 s.",
            unit="percentunit",
            queries=[Query(q.sel(m.SLO_BUDGET_REMAINING, SLO), "budget left", instant=True)],
            thresholds=BUDGET_STEPS,
            width=4,
            links=[RUNBOOK],
        ),
        stat(
            "Since last success",
            description="Which connector has gone quiet? Seconds since each connector's "
            "latest committed batch; a sender that should send steadily and has not for "
            "15 min (orange) or an hour (red) is stuck or failing on its side.",
            unit="s",
            queries=[Query(_since_success(), PER_CONNECTOR, instant=True)],
            thresholds=QUIET_STEPS,
            width=5,
        ),
        stat(
            "DLQ items",
            description="How many invalid events wait in the DLQ to be corrected and "
            "replayed? Anything there is data a sender believes was delivered.",
            unit="short",
            queries=[Query(f"sum({_dlq_items('tenant')})", "DLQ", instant=True)],
            thresholds=[(None, "green"), (1.0, "orange")],
            width=3,
            links=[DLQ_PAGE],
        ),
        stat(
            "In flight",
            description="How many batches are being parsed or written now, over every "
            "worker? Each worker takes at most SUMMIT_INGEST_MAX_IN_FLIGHT; beyond, "
            "senders get 503 ingest_busy.",
            unit="short",
            queries=[Query(f"sum({q.sel(m.INGEST_IN_FLIGHT.family)})", "in flight", instant=True)],
            width=3,
        ),
    )


def _throughput() -> Any:
    rejected = q.ratio(_events("tenant, connector", 'outcome="dlq"'), _events("tenant, connector"))
    return row(
        "Throughput",
        timeseries(
            "Events/s by connector and outcome",
            description="How many events does each connector send, and how many are "
            "stored, duplicates or invalid? A connector's line dropping to zero is a "
            "sender that stopped.",
            unit="eps",
            queries=[
                Query(_events("tenant, connector, outcome"), f"{PER_CONNECTOR} {{{{outcome}}}}")
            ],
            width=16,
        ),
        timeseries(
            "Rejected share by connector",
            description="What share of each connector's events is invalid and goes to "
            "the DLQ? A jump is usually a sender's release changing its event format.",
            unit="percentunit",
            queries=[Query(rejected, PER_CONNECTOR)],
            min=0,
            width=8,
            links=[DLQ_PAGE],
        ),
    )


def _within_slo() -> str:
    """Per connector, the share of batches committed within the SLO's threshold."""
    series = m.INGEST_BATCH_DURATION
    good = q.rate(series.bucket, q.TENANT, CONNECTOR, SLO_LE)
    every = q.rate(series.count, q.TENANT, CONNECTOR)
    return q.ratio(q.sum_by("tenant, connector", good), q.sum_by("tenant, connector", every))


def _latency_row() -> Any:
    return row(
        "Batch latency against the SLO",
        timeseries(
            "Batch latency P50 and P95 by connector",
            description="Which connector's batches are slow? The SLO wants P95 <= 1.5 s "
            "(red dashed); our bar is 250 ms for a 5,000-event batch (orange).",
            unit="s",
            queries=[
                Query(_latency(0.5, "tenant, connector"), f"{PER_CONNECTOR} P50"),
                Query(_latency(0.95, "tenant, connector"), f"{PER_CONNECTOR} P95"),
            ],
            thresholds=LATENCY_STEPS,
            min=0,
        ),
        timeseries(
            "Batches within 1.5 s by connector",
            description="What share of each connector's batches met the SLO's 1.5 s? "
            "The objective is 95 % (dashed); below it the error budget burns.",
            unit="percentunit",
            queries=[Query(_within_slo(), PER_CONNECTOR)],
            thresholds=[(None, "red"), (OBJECTIVE, "green")],
            max=1,
            links=[RUNBOOK],
        ),
    )


def _burn() -> Any:
    burns = (burn_rate(a, SLO, legend="burn", links=[RUNBOOK]) for a in m.BURN_RATE_ALERTS)
    return row("Ingest SLO burn rate per alert window", *burns)


def _backpressure() -> Any:
    refused = q.sum_by(
        "tenant, connector, reason", q.rate(m.INGEST_THROTTLED.total, q.TENANT, CONNECTOR)
    )
    return row(
        "Backpressure",
        timeseries(
            "Refused batches by connector and reason",
            description="Who is being slowed down, and why: over the connector's rate "
            "(connector_rate), no slot free (busy), the writer saturated "
            "(writer_saturated) or over the storage quota? Nothing of a refused batch is "
            "written; the sender retries after Retry-After.",
            unit="reqps",
            queries=[Query(refused, f"{PER_CONNECTOR} {{{{reason}}}}")],
            bars=True,
            width=8,
        ),
        timeseries(
            "Seconds since the last success",
            description="When did each connector last get a batch committed? A line "
            "that keeps climbing is a connector that stopped sending or keeps failing.",
            unit="s",
            queries=[Query(_since_success(), PER_CONNECTOR)],
            thresholds=QUIET_STEPS,
            min=0,
            width=8,
        ),
        timeseries(
            "Batches in flight",
            description="Is ingest running at its bound? Batches being parsed or written "
            "over every worker; at workers × SUMMIT_INGEST_MAX_IN_FLIGHT new batches "
            "wait, then get 503.",
            unit="short",
            queries=[Query(f"sum({q.sel(m.INGEST_IN_FLIGHT.family)})", "in flight")],
            min=0,
            width=8,
        ),
    )


def _dlq() -> Any:
    replays = q.sum_by("tenant, outcome", q.increase(m.INGEST_REPLAYED.total, q.TENANT))
    return row(
        "Dead-letter queue",
        timeseries(
            "DLQ items by connector",
            description="Is any connector's DLQ growing? Items wait there until they are "
            "replayed, corrected or by the connector's auto-replay.",
            unit="short",
            queries=[Query(_dlq_items("tenant, connector"), PER_CONNECTOR)],
            min=0,
            links=[DLQ_PAGE],
        ),
        timeseries(
            "DLQ replays by outcome",
            description="Were replayed items ingested (stored), already there "
            "(duplicate), or still invalid? Still invalid needs a correction, not "
            "another replay.",
            unit="short",
            queries=[Query(replays, "{{tenant}} {{outcome}}")],
            bars=True,
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="Ingest per connector: events by outcome, batch latency against the "
        "1.5 s write SLO and its burn, refusals, quiet connectors, the DLQ and replays.",
        tags=["summit", "ingest"],
        rows=[_now(), _throughput(), _latency_row(), _burn(), _backpressure(), _dlq()],
        variables=[_connector_variable()],
        summit_url=summit_url,
        links=[RUNBOOK, DLQ_PAGE],
    )
