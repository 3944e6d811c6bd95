"""Every metric Summit exports, built against a registry that is passed in.

Under gunicorn the workers write to PROMETHEUS_MULTIPROC_DIR and ``/metrics``
aggregates them (prometheus-client's multiprocess mode); in tests and the
development server each app has its own registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Bucket boundaries sit on the SLO thresholds: 10 ms (policy decision),
# 300 ms (read path), 1.5 s (write/ingest), so `le` buckets answer SLO
# questions exactly instead of by interpolation.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0)

# The policy SLO is 10 ms, our bar 0.1 ms in-process: both are bucket edges.
DECISION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)

# The golden-path bar is 1 s per run with a warm browser; a cold one takes ~1.5 s.
PROBE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)

HTTP_LABELS = ("route", "method", "tenant", "traffic")
NO_TENANT = "-"


@dataclass(frozen=True)
class Name:
    """A metric family's name and the series names Prometheus exposes for it.

    Every name lives here, once: the code that emits a metric, the alert rules
    and the dashboards all read it from this module, so a rename cannot
    silently leave a panel or a rule without data.
    """

    family: str

    def __str__(self) -> str:
        return self.family

    @property
    def total(self) -> str:  # a counter's series
        return f"{self.family}_total"

    @property
    def bucket(self) -> str:  # a histogram's series
        return f"{self.family}_bucket"

    @property
    def count(self) -> str:
        return f"{self.family}_count"

    @property
    def sum(self) -> str:
        return f"{self.family}_sum"


HTTP_REQUESTS = Name("summit_http_requests")
HTTP_ERRORS = Name("summit_http_errors")
HTTP_DURATION = Name("summit_http_request_duration_seconds")
POLICY_DECISIONS = Name("summit_policy_decisions")
POLICY_DECISION_DURATION = Name("summit_policy_decision_seconds")
PROBE_SUCCESS = Name("summit_probe_success")
PROBE_DURATION = Name("summit_probe_duration_seconds")
PROBE_RUNS = Name("summit_probe_runs")
CACHE_REQUESTS = Name("summit_cache_requests")
CACHE_EVICTIONS = Name("summit_cache_evictions")
CACHE_SKIPPED = Name("summit_cache_skipped")
CACHE_BYTES = Name("summit_cache_bytes")
RATE_LIMITED = Name("summit_rate_limited")
# ingest (issue 15): per tenant and connector (a configured connector's name,
# else "other", so senders cannot mint label values)
INGEST_EVENTS = Name("summit_ingest_events")
INGEST_BATCH_DURATION = Name("summit_ingest_batch_seconds")
INGEST_THROTTLED = Name("summit_ingest_throttled")
INGEST_LAST_SUCCESS = Name("summit_ingest_last_success_timestamp_seconds")
INGEST_IN_FLIGHT = Name("summit_ingest_batches_in_flight")
INGEST_REPLAYED = Name("summit_ingest_dlq_replayed")
INGEST_OUTCOMES = ("stored", "duplicate", "dlq")
INGEST_THROTTLE_REASONS = ("connector_rate", "busy", "writer_saturated", "storage_quota")
# The ingest SLO (write P95 <= 1.5 s) and our bar (P95 <= 250 ms per 5,000-event
# batch) are both bucket edges.
INGEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            str(HTTP_REQUESTS),
            "HTTP requests served, by route template, status and tenant",
            (*HTTP_LABELS, "status"),
            registry=registry,
        )
        self.errors = Counter(
            str(HTTP_ERRORS),
            "HTTP requests answered with a 5xx status",
            HTTP_LABELS,
            registry=registry,
        )
        self.latency = Histogram(
            str(HTTP_DURATION),
            "Time from request to response, by route template and tenant",
            HTTP_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

        self.decisions = Counter(
            str(POLICY_DECISIONS),
            "Policy decisions, by action and outcome; source is route (a guard) or api",
            ("action", "decision", "source"),
            registry=registry,
        )
        self.decision_latency = Histogram(
            str(POLICY_DECISION_DURATION),
            "Time the policy engine took to decide",
            ("source",),
            buckets=DECISION_BUCKETS,
            registry=registry,
        )

        self._probe_metrics(registry)
        self._quota_metrics(registry)
        self._ingest_metrics(registry)

    def _probe_metrics(self, registry: CollectorRegistry) -> None:
        # Only the scheduler leader (or a manual run) writes these; under gunicorn
        # "mostrecent" makes /metrics show the latest write of any worker.
        self.probe_success = Gauge(
            str(PROBE_SUCCESS),
            "1 when the probe's latest run passed, 0 when it failed",
            ("probe",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.probe_duration = Histogram(
            str(PROBE_DURATION),
            "Probe run time, per step and for the whole run (step=total)",
            ("probe", "step"),
            buckets=PROBE_BUCKETS,
            registry=registry,
        )
        self.probe_runs = Counter(
            str(PROBE_RUNS),
            "Probe runs by result (pass, fail)",
            ("probe", "result"),
            registry=registry,
        )

    def initialise_probes(self, probes: list[str]) -> None:
        for probe in probes:
            for result in ("pass", "fail"):
                self.probe_runs.labels(probe, result)

    def observe_probe(
        self, *, probe: str, passed: bool, seconds: float, steps: list[tuple[str, float]]
    ) -> None:
        self.probe_success.labels(probe).set(1 if passed else 0)
        self.probe_runs.labels(probe, "pass" if passed else "fail").inc()
        self.probe_duration.labels(probe, "total").observe(seconds)
        for step, step_seconds in steps:
            self.probe_duration.labels(probe, step).observe(step_seconds)

    def _quota_metrics(self, registry: CollectorRegistry) -> None:
        self.cache_requests = Counter(
            str(CACHE_REQUESTS),
            "HOT query cache lookups, by kind (search, entity) and result (hit, miss)",
            ("kind", "result"),
            registry=registry,
        )
        self.cache_evictions = Counter(
            str(CACHE_EVICTIONS),
            "Cached answers dropped for room before their TTL (process-memory cache)",
            registry=registry,
        )
        self.cache_skipped = Counter(
            str(CACHE_SKIPPED),
            "Answers not cached because they exceed SUMMIT_CACHE_MAX_ENTRY_BYTES",
            registry=registry,
        )
        self.cache_bytes = Gauge(
            str(CACHE_BYTES),
            "Bytes the process-memory HOT cache holds (summed over workers)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rate_limited = Counter(
            str(RATE_LIMITED),
            "Requests refused with 429 by a tenant's rate limit, by tenant and route",
            ("tenant", "route"),
            registry=registry,
        )

    def _ingest_metrics(self, registry: CollectorRegistry) -> None:
        labels = ("tenant", "connector")
        self.ingest_events = Counter(
            str(INGEST_EVENTS),
            "Ingested events by outcome: stored, duplicate (already stored), dlq (invalid)",
            (*labels, "outcome"),
            registry=registry,
        )
        self.ingest_batch_seconds = Histogram(
            str(INGEST_BATCH_DURATION),
            "Time from an ingest request's arrival to its commit, per committed batch",
            labels,
            buckets=INGEST_BUCKETS,
            registry=registry,
        )
        self.ingest_throttled = Counter(
            str(INGEST_THROTTLED),
            "Ingest requests refused to slow the sender (429/503/413 with nothing written)",
            (*labels, "reason"),
            registry=registry,
        )
        self.ingest_last_success = Gauge(
            str(INGEST_LAST_SUCCESS),
            "Unix time of the connector's latest committed batch",
            labels,
            registry=registry,
            multiprocess_mode="max",
        )
        self.ingest_in_flight = Gauge(
            str(INGEST_IN_FLIGHT),
            "Ingest batches being parsed or written now (bounded per process)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.ingest_replayed = Counter(
            str(INGEST_REPLAYED),
            "DLQ items replayed, by outcome: stored, duplicate, invalid (still)",
            ("tenant", "outcome"),
            registry=registry,
        )

    def initialise_ingest(self, tenant: str, connector: str) -> None:
        """Zero series for a connector, so rates and ratios exist before traffic."""
        for outcome in INGEST_OUTCOMES:
            self.ingest_events.labels(tenant, connector, outcome)
        for reason in INGEST_THROTTLE_REASONS:
            self.ingest_throttled.labels(tenant, connector, reason)

    def observe_decision(self, *, action: str, decision: str, source: str, ms: float) -> None:
        self.decisions.labels(action, decision, source).inc()
        self.decision_latency.labels(source).observe(ms / 1000)

    def initialise(self, routes: list[tuple[str, str]], tenants: list[str]) -> None:
        """Create the zero series so error ratios exist before the first error."""
        for route, method in routes:
            for tenant in [*tenants, NO_TENANT]:
                self.errors.labels(route, method, tenant, "user")
                self.requests.labels(route, method, tenant, "user", "500")

    def observe(
        self, *, route: str, method: str, tenant: str, traffic: str, status: int, seconds: float
    ) -> None:
        self.requests.labels(route, method, tenant, traffic, str(status)).inc()
        self.latency.labels(route, method, tenant, traffic).observe(seconds)
        if status >= 500:
            self.errors.labels(route, method, tenant, traffic).inc()


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition: this registry's, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        aggregate = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregate)  # type: ignore[no-untyped-call]
        return generate_latest(aggregate), CONTENT_TYPE_LATEST
    return generate_latest(registry), CONTENT_TYPE_LATEST
