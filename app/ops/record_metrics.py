"""Probe metrics read from the record: ``summit_probe_*`` computed from the
probe_runs table when /metrics is scraped, so a run made by the CLI, by
another worker or by another host shows on every worker's /metrics alike.

Each process keeps running totals and reads only the rows recorded since its
last scrape (plus an overlap, so a run whose transaction committed late is not
missed; ids in the overlap are remembered so none counts twice). The values
are a function of the table alone, so it does not matter which gunicorn
worker answers the scrape. Imports no Flask.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.core.db import Database
from app.core.metrics import (
    PROBE_BUCKETS,
    PROBE_DURATION,
    PROBE_LAST_RUN,
    PROBE_RUNS,
    PROBE_SUCCESS,
)
from probes.models import ProbeRun

log = logging.getLogger("summit.metrics")
OVERLAP = timedelta(minutes=2)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(PROBE_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(PROBE_BUCKETS, seconds)] += 1
        self.sum += seconds

    def buckets(self) -> list[tuple[str, float]]:
        edges = [*(str(edge) for edge in PROBE_BUCKETS), "+Inf"]
        running, out = 0, []
        for edge, count in zip(edges, self.counts, strict=True):
            running += count
            out.append((edge, float(running)))
        return out


class ProbeRecordCollector(Collector):
    def __init__(self, *, db: Database, probes: Sequence[str]) -> None:
        self._db = db
        self._probes = list(probes)
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], int] = defaultdict(int)
        self._latest: dict[str, tuple[datetime, bool]] = {}
        self._durations: dict[tuple[str, str], _Histogram] = defaultdict(_Histogram)
        self._cursor: datetime | None = None
        self._seen: dict[str, datetime] = {}

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                self._catch_up()
            except SQLAlchemyError as exc:  # the database is away: report what we had
                log.warning("probe metrics not refreshed: %s", type(exc).__name__)
            return self._families()

    def _catch_up(self) -> None:
        statement = select(
            ProbeRun.id, ProbeRun.probe, ProbeRun.status, ProbeRun.started_at,
            ProbeRun.recorded_at, ProbeRun.duration_ms, ProbeRun.steps,
        ).order_by(ProbeRun.recorded_at)  # fmt: skip
        if self._cursor is not None:
            statement = statement.where(ProbeRun.recorded_at >= self._cursor - OVERLAP)
        with self._db.session(tenant_id=None) as session:
            for row in session.execute(statement.execution_options(yield_per=2000)):
                if row.id not in self._seen:
                    self._add(row)
        if self._cursor is not None:
            horizon = self._cursor - OVERLAP
            self._seen = {key: at for key, at in self._seen.items() if at >= horizon}

    def _add(self, row: Any) -> None:
        self._seen[row.id] = row.recorded_at
        self._cursor = max(self._cursor or row.recorded_at, row.recorded_at)
        passed = row.status == "pass"
        self._runs[(row.probe, row.status)] += 1
        latest = self._latest.get(row.probe)
        if latest is None or row.started_at >= latest[0]:
            self._latest[row.probe] = (row.started_at, passed)
        self._durations[(row.probe, "total")].observe(row.duration_ms / 1000)
        for step in row.steps or []:
            self._durations[(row.probe, str(step["name"]))].observe(float(step["ms"]) / 1000)

    def _families(self) -> list[Metric]:
        success = GaugeMetricFamily(
            str(PROBE_SUCCESS), "1 when the probe's latest run passed, 0 when it failed",
            labels=["probe"],
        )  # fmt: skip
        last = GaugeMetricFamily(
            str(PROBE_LAST_RUN), "When the probe's latest run started (UNIX time)",
            labels=["probe"],
        )  # fmt: skip
        for probe, (started_at, passed) in sorted(self._latest.items()):
            success.add_metric([probe], 1.0 if passed else 0.0)
            last.add_metric([probe], started_at.timestamp())
        runs = CounterMetricFamily(
            str(PROBE_RUNS), "Probe runs by result (pass, fail), from the record",
            labels=["probe", "result"],
        )  # fmt: skip
        for probe in sorted({*self._probes, *(key[0] for key in self._runs)}):
            for result in ("pass", "fail"):
                runs.add_metric([probe, result], float(self._runs.get((probe, result), 0)))
        durations = HistogramMetricFamily(
            str(PROBE_DURATION), "Probe run time, per step and for the whole run (step=total)",
            labels=["probe", "step"],
        )  # fmt: skip
        for (probe, step), histogram in sorted(self._durations.items()):
            durations.add_metric([probe, step], histogram.buckets(), histogram.sum)
        return [success, last, runs, durations]
