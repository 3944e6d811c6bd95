"""MTTA, MTTR, pages per week and the outbox, read from the record when /metrics
is scraped (as app/ops/record_metrics.py does for probes): the values are a
function of the tables alone, the same whichever worker answers. Imports no Flask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from alerts import incidents, outbox
from app.core.db import Database, utcnow
from app.core.metrics import (
    INCIDENT_MTTA,
    INCIDENT_MTTR,
    PAGES_PER_WEEK,
    PAGING_OUTBOX,
    PAGING_WINDOW_DAYS,
)

log = logging.getLogger("summit.metrics")


class PagingCollector(Collector):
    def __init__(self, *, db: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        mtta = GaugeMetricFamily(
            str(INCIDENT_MTTA),
            f"Mean time to acknowledge, over incidents opened in the last {PAGING_WINDOW_DAYS} d",
            labels=["service"],
        )
        mttr = GaugeMetricFamily(
            str(INCIDENT_MTTR),
            f"Mean time to resolve, over incidents opened in the last {PAGING_WINDOW_DAYS} d",
            labels=["service"],
        )
        pages = GaugeMetricFamily(
            str(PAGES_PER_WEEK), "Incidents that paged someone in the last 7 days",
            labels=["service"],
        )  # fmt: skip
        queue = GaugeMetricFamily(
            str(PAGING_OUTBOX), "PagerDuty events in the outbox, by state", labels=["state"]
        )
        try:
            self._read(mtta, mttr, pages, queue)
        except SQLAlchemyError as exc:  # the database is away: say nothing rather than lie
            log.warning("paging metrics not read: %s", type(exc).__name__)
            return []
        return [mtta, mttr, pages, queue]

    def _read(self, mtta: GaugeMetricFamily, mttr: GaugeMetricFamily,
              pages: GaugeMetricFamily, queue: GaugeMetricFamily) -> None:  # fmt: skip
        now = self._clock()
        with self._db.session(tenant_id=None) as session:
            month = incidents.response_times(
                session=session, since=now - timedelta(days=PAGING_WINDOW_DAYS), until=now
            )
            week = incidents.response_times(session=session, since=now - timedelta(days=7),
                                            until=now)  # fmt: skip
            states = outbox.counts(session=session)
        for service, times in month.items():
            if times.mtta_seconds is not None:
                mtta.add_metric([service], times.mtta_seconds)
            if times.mttr_seconds is not None:
                mttr.add_metric([service], times.mttr_seconds)
        for service in sorted({*month, *week}):
            pages.add_metric([service], float(week[service].pages if service in week else 0))
        for state, count in states.items():
            queue.add_metric([state], float(count))
