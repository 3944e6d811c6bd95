"""The DLQ's size on /metrics, read from the ingest counters when scraped.

``summit_ingest_dlq_items{tenant, connector}`` is how many invalid events wait
in each connector's DLQ now: the ``dlq`` column of ``ingest_counters``, which
each batch and each replay change in their own transaction, so it is exact,
the same whichever worker answers, and survives restarts (a gauge kept in
process memory would not). Sources that are not configured connectors are
summed under ``other``, as the other ingest metrics label them, so senders
cannot mint label values. Imports no Flask.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.core.db import Database
from app.core.metrics import INGEST_DLQ_ITEMS
from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.ingest.models import Connector, IngestCounter
from app.ingest.service import OTHER

log = logging.getLogger("summit.metrics")


class DlqCollector(Collector):
    def __init__(self, *, db: Database) -> None:
        self._db = db

    def describe(self) -> list[Metric]:
        return []  # registering must not read the database

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            str(INGEST_DLQ_ITEMS),
            "Invalid events waiting in the DLQ now (not yet replayed), per connector",
            labels=["tenant", "connector"],
        )
        try:
            sizes = self.read()
        except SQLAlchemyError as exc:  # the database is away: say nothing rather than lie
            log.warning("DLQ size not read: %s", type(exc).__name__)
            return []
        for (tenant, connector), items in sorted(sizes.items()):
            gauge.add_metric([tenant, connector], float(items))
        return [gauge]

    def read(self) -> dict[tuple[str, str], int]:
        """(tenant slug, connector or "other") -> items in the DLQ."""
        configured = (Connector.tenant_id == IngestCounter.tenant_id) & (
            Connector.name == IngestCounter.source
        )
        query = (
            select(Tenant.slug, IngestCounter.source, Connector.name, IngestCounter.dlq)
            .join(Tenant, Tenant.id == IngestCounter.tenant_id)
            .outerjoin(Connector, configured)
        )
        sizes: dict[tuple[str, str], int] = defaultdict(int)
        with self._db.session(tenant_id=ALL_TENANTS) as session:
            for slug, source, connector, items in session.execute(query):
                sizes[(slug, source if connector is not None else OTHER)] += int(items)
        return dict(sizes)
