"""Probe metrics read from the record: ``summit_probe_*`` computed from the
probe_runs table when /metrics is scraped, so a run made by the CLI, by
another worker or by another host shows on every worker's /metrics alike.

Each process keeps running totals and reads only the runs that started since
its last scrape, less an overlap (a run is recorded when it ends, so one may
land behind the cursor; ids in the overlap are remembered so none counts
twice). The first scrape of a process reads the whole table once
(benchmarks/probe_metrics.py measures it). The values
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

import orjson
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Text, select, type_coerce
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
# Runs are read by start time, and recorded when they end: a run that started
# before the last scrape may be recorded after it. No run takes this long.
OVERLAP = timedelta(minutes=10)


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
        self._cursor: dict[str, datetime] = {}  # per probe: the latest start seen
        self._seen: dict[str, datetime] = {}  # ids within the overlap, not to count twice

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                self._catch_up()
            except SQLAlchemyError as exc:  # the database is away: report what we had
                log.warning("probe metrics not refreshed: %s", type(exc).__name__)
            return self._families()

    def _catch_up(self) -> None:
        """Per probe, the runs that started since the last scrape less the overlap:
        an index range on (probe, started_at), so a steady scrape reads a few rows."""
        with self._db.session(tenant_id=None) as session:
            for probe in self._probes:
                statement = (
                    select(ProbeRun.id, ProbeRun.status, ProbeRun.started_at,
                           ProbeRun.duration_ms, type_coerce(ProbeRun.steps, Text))
                    .where(ProbeRun.probe == probe)
                    .order_by(ProbeRun.started_at)
                )  # fmt: skip
                since = self._cursor.get(probe)
                if since is not None:
                    statement = statement.where(ProbeRun.started_at >= since - OVERLAP)
                for row in session.execute(statement.execution_options(yield_per=5000)):
                    if row[0] not in self._seen:
                        self._add(probe, row)
        self._forget_old()

    def _add(self, probe: str, row: Any) -> None:
        run_id, status, started_at, duration_ms, steps = row
        self._seen[run_id] = started_at
        self._runs[(probe, status)] += 1
        cursor = self._cursor.get(probe)
        if cursor is None or started_at >= cursor:
            self._cursor[probe] = started_at
            self._latest[probe] = (started_at, status == "pass")
        self._durations[(probe, "total")].observe(duration_ms / 1000)
        # Steps come as JSON text on SQLite (decoded here, faster than the ORM's
        # type does) and already decoded by psycopg on PostgreSQL.
        for step in orjson.loads(steps) if isinstance(steps, str | bytes) else steps or []:
            self._durations[(probe, str(step["name"]))].observe(float(step["ms"]) / 1000)

    def _forget_old(self) -> None:
        if self._cursor:
            horizon = min(self._cursor.values()) - OVERLAP
            self._seen = {key: at for key, at in self._seen.items() if at >= horizon}

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
