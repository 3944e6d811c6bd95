"""Every metric Summit exports, built against a registry that is passed in.

Under gunicorn the workers write to PROMETHEUS_MULTIPROC_DIR and ``/metrics``
aggregates them (prometheus-client's multiprocess mode); in tests and the
development server each app has its own registry.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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
PROBE_LAST_RUN = Name("summit_probe_last_run_timestamp_seconds")
# Process metrics (CPU, memory, file descriptors) of every gunicorn process,
# by pid: prometheus-client's process_* names under our namespace.
PROCESS_NAMESPACE = "summit"
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
# governance (issue 14)
GOVERNANCE_PURGES = Name("summit_governance_purges")
GOVERNANCE_ENTITIES_PURGED = Name("summit_governance_entities_purged")
GOVERNANCE_HOLDS_ACTIVE = Name("summit_governance_holds_active")
GOVERNANCE_EXPORTS_SERVED = Name("summit_governance_exports_served")
AUDIT_VERIFY_OK = Name("summit_audit_verify_ok")
AUDIT_VERIFY_CHECKED = Name("summit_audit_verify_checked_entries")
# feedback (issue 16): votes cast on search results, by vote (up, down); a
# replaced vote counts again, as the vote it now is
FEEDBACK_VOTES = Name("summit_feedback_votes")
FEEDBACK_VOTE_VALUES = ("up", "down")

# paging (issue 12): read from the incidents table and the outbox at scrape time
# (app/alerting/paging_metrics.py), so every worker reports the same figures.
INCIDENT_MTTA = Name("summit_incident_mtta_seconds")
INCIDENT_MTTR = Name("summit_incident_mttr_seconds")
PAGES_PER_WEEK = Name("summit_pages_per_week")
PAGING_OUTBOX = Name("summit_paging_outbox_events")
PAGING_WINDOW_DAYS = 30  # MTTA and MTTR are over the incidents opened in this many days

# SLOs and alerting (issue 11): each histogram's bucket boundaries by family, so
# rule generation can check at build time that an SLO threshold sits on a
# boundary (a test checks this map against the histograms Metrics builds).
HISTOGRAM_BUCKETS: dict[Name, tuple[float, ...]] = {
    HTTP_DURATION: LATENCY_BUCKETS,
    POLICY_DECISION_DURATION: DECISION_BUCKETS,
    PROBE_DURATION: PROBE_BUCKETS,
    INGEST_BATCH_DURATION: INGEST_BUCKETS,
}

# --- dashboards (issue 13): tenant quota use, and the SLO rules the dashboards read ---
# Read from the database when /metrics is scraped (TenantUsageCollector), so every
# worker reports the same figures and a scrape never sees a worker's stale copy.
TENANT_STORAGE = Name("summit_tenant_storage_bytes")
TENANT_QUOTA = Name("summit_tenant_quota_limit")
QUOTA_RESOURCES = ("qps", "burst", "concurrent_jobs", "storage_bytes")

# SLO recording rules under Sloth's names (`summit alerts build` writes them), with
# labels sloth_id, sloth_service, sloth_slo, and sloth_window on the error ratios.
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
SLO_ERROR_RATIO_PREFIX = "slo:sli_error:ratio_rate"  # + a window: slo_error_ratio()
SLO_OBJECTIVE = "slo:objective:ratio"
SLO_PERIOD_DAYS = "slo:time_period:days"
SLO_ERROR_BUDGET = "slo:error_budget:ratio"
SLO_CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
SLO_PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
SLO_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"


def slo_error_ratio(window: str) -> str:
    """The recorded error ratio of every SLO over ``window`` (one of SLO_WINDOWS)."""
    if window not in SLO_WINDOWS:
        raise ValueError(f"no SLO error-ratio rule over {window!r}; known: {SLO_WINDOWS}")
    return f"{SLO_ERROR_RATIO_PREFIX}{window}"


@dataclass(frozen=True)
class BurnRateAlert:
    """One multi-window burn-rate condition of the Google SRE workbook (30-day period):
    it fires when the burn rate over both windows exceeds ``factor``."""

    severity: str
    factor: float
    long_window: str
    short_window: str


BURN_RATE_ALERTS = (
    BurnRateAlert("page", 14.4, "1h", "5m"),  # 2 % of the budget in an hour
    BurnRateAlert("page", 6.0, "6h", "30m"),  # 5 % in six hours
    BurnRateAlert("ticket", 3.0, "1d", "2h"),  # 10 % in a day
    BurnRateAlert("ticket", 1.0, "3d", "6h"),  # 10 % in three days
)

# The ingest dashboard: the write-latency SLO of alerts/slos/ingest.yaml (Sloth id
# "<service>-<name>", its threshold a bucket edge of INGEST_BUCKETS; a test holds
# both against the spec), and the DLQ's size, read from the ingest counters when
# /metrics is scraped (app/ingest/dlq_metrics.py).
INGEST_SLO_ID = "summit-ingest-write-latency"
INGEST_SLO_SECONDS = 1.5
INGEST_DLQ_ITEMS = Name("summit_ingest_dlq_items")
# --- end dashboards (issue 13) ---


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

        self.scraped: list[Collector] = []
        self._quota_metrics(registry)
        self._governance_metrics(registry)
        self._ingest_metrics(registry)
        self.feedback_votes = Counter(
            str(FEEDBACK_VOTES),
            "Thumbs up or down cast on search results (a changed vote counts again)",
            ("vote",),
            registry=registry,
        )
        for vote in FEEDBACK_VOTE_VALUES:  # zero series, so a ratio exists before the first vote
            self.feedback_votes.labels(vote)

    def add_scraped(self, collector: Collector) -> None:
        """A collector whose values are read when /metrics is scraped (probe state
        from the recorded runs): in multiprocess mode it cannot live in the
        per-worker files, so exposition() asks it directly."""
        self.scraped.append(collector)

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

    def _governance_metrics(self, registry: CollectorRegistry) -> None:
        self.purges = Counter(
            str(GOVERNANCE_PURGES),
            "Purges executed, by kind (retention, explicit) and outcome (done, refused)",
            ("tenant", "kind", "outcome"),
            registry=registry,
        )
        self.entities_purged = Counter(
            str(GOVERNANCE_ENTITIES_PURGED),
            "Entities hard-deleted by purges",
            ("tenant",),
            registry=registry,
        )
        self.holds_active = Gauge(
            str(GOVERNANCE_HOLDS_ACTIVE),
            "Active legal holds, per tenant",
            ("tenant",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.exports_served = Counter(
            str(GOVERNANCE_EXPORTS_SERVED),
            "Subject access export downloads served",
            ("tenant",),
            registry=registry,
        )
        self.audit_verify_ok = Gauge(
            str(AUDIT_VERIFY_OK),
            "1 when the tenant's audit chain verified at its last check, 0 when it did not",
            ("tenant",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.audit_verify_checked = Gauge(
            str(AUDIT_VERIFY_CHECKED),
            "Entries checked by the tenant's last audit verification",
            ("tenant",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )

    def observe_verify(self, *, tenant: str, ok: bool, checked: int) -> None:
        self.audit_verify_ok.labels(tenant).set(1 if ok else 0)
        self.audit_verify_checked.labels(tenant).set(checked)

    def watch_tenants(self, read: Callable[[], Sequence[QuotaUse]]) -> None:
        """Export every tenant's storage and quota limits, as ``read`` returns them."""
        self.add_scraped(TenantUsageCollector(read))

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


def exposition(registry: CollectorRegistry, scraped: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition: this registry's, or every worker's in multiprocess
    mode; then the collectors read at scrape time, and process metrics."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
        scrape.register(ServerProcesses(gunicorn=True))
    else:
        scrape.register(registry)
        scrape.register(ServerProcesses(gunicorn=False))
    for collector in scraped:
        scrape.register(collector)
    return generate_latest(scrape), CONTENT_TYPE_LATEST


class ServerProcesses(Collector):
    """CPU, memory and file descriptors of this server's processes, labelled by pid.

    In multiprocess mode (gunicorn) the worker answering a scrape reports the
    master (its parent) and every worker (the master's children) from /proc, so
    each scrape shows them all, whichever worker answers."""

    def __init__(self, *, gunicorn: bool) -> None:
        self.gunicorn = gunicorn

    def pids(self) -> list[int]:
        if not self.gunicorn:
            return [os.getpid()]
        master = os.getppid()
        return [master, *_children(master)]

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in self.pids():
            source = ProcessCollector(
                namespace=PROCESS_NAMESPACE, pid=functools.partial(int, pid), registry=None
            )
            for family in source.collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return list(families.values())


def _children(parent: int) -> list[int]:
    """Direct children of ``parent``, from /proc (Linux); none elsewhere."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(text[text.rindex(")") + 2 :].split()[1]) == parent:
            found.append(int(stat.parent.name))
    return sorted(found)


# --- dashboards (issue 13) ---
log = logging.getLogger("summit.metrics")


@dataclass(frozen=True)
class QuotaUse:
    """A tenant's stored bytes and its limits (QUOTA_RESOURCES), as the database has them."""

    tenant: str
    storage_bytes: int
    limits: dict[str, int]


class TenantUsageCollector(Collector):
    """Gauges of tenant storage and quota limits, read when scraped.

    A failing read (the database is down, the schema not created) exports
    nothing for these gauges rather than failing the whole scrape.
    """

    def __init__(self, read: Callable[[], Sequence[QuotaUse]]) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        return []  # registering must not read the database

    def collect(self) -> Iterator[Metric]:
        try:
            usage = self._read()
        except Exception:  # any driver error: skip these gauges, keep the scrape
            log.warning("tenant usage unavailable for /metrics", exc_info=True)
            return
        storage = GaugeMetricFamily(
            str(TENANT_STORAGE), "Bytes a tenant stores, as its storage quota counts them",
            labels=("tenant",),
        )  # fmt: skip
        limits = GaugeMetricFamily(
            str(TENANT_QUOTA), "A tenant's quota limit, by resource", labels=("tenant", "resource")
        )
        for row in usage:
            storage.add_metric((row.tenant,), row.storage_bytes)
            for resource in QUOTA_RESOURCES:
                limits.add_metric((row.tenant, resource), row.limits[resource])
        yield storage
        yield limits
