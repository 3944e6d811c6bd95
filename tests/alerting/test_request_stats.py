"""The recorded request statistics: per-minute rows, written in batches, read
back as the series the SLO specs name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts import status
from app.alerting.models import RequestMinute
from app.alerting.service import LocalCounts, RequestStats
from app.core import metrics
from app.core.db import Database
from app.core.tenancy import ALL_TENANTS

T0 = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


@pytest.fixture
def db(database_url: str) -> Database:
    return Database(database_url)


def rows(db: Database) -> list[tuple[int, str, int, int, int]]:
    with db.session(tenant_id=None) as session:
        found = session.execute(
            select(RequestMinute.minute, RequestMinute.route, RequestMinute.status,
                   RequestMinute.bucket, RequestMinute.count).order_by(RequestMinute.id)
        )  # fmt: skip
        return [tuple(row) for row in found]  # type: ignore[misc]


def test_requests_are_counted_per_minute_and_latency_bucket(db: Database) -> None:
    clock = Clock(T0)
    stats = RequestStats(db, clock=lambda: T0, retention=timedelta(days=1), seconds=clock)
    for seconds in (0.002, 0.004, 0.25):
        stats.observe("/api/v1/search", "GET", "user", 200, seconds)
    stats.observe("/api/v1/search", "GET", "user", 500, 0.001)
    stats.flush()
    assert rows(db) == []  # the minute has not ended: nothing written yet
    clock.at = T0 + timedelta(minutes=1)
    stats.observe("/api/v1/search", "GET", "user", 200, 99.0)
    assert stats.flush() == 3
    minute = int(T0.timestamp()) // 60
    assert sorted(rows(db)) == [
        (minute, "/api/v1/search", 200, 1, 2),  # within 5 ms
        (minute, "/api/v1/search", 200, 6, 1),  # within 300 ms
        (minute, "/api/v1/search", 500, 0, 1),
    ]
    stats.close()  # at exit the current minute is written too
    assert (minute + 1, "/api/v1/search", 200, len(metrics.LATENCY_BUCKETS), 1) in rows(db)


def test_old_minutes_are_pruned(db: Database) -> None:
    clock = Clock(T0)
    now = T0 + timedelta(days=3)
    stats = RequestStats(db, clock=lambda: now, retention=timedelta(days=2), seconds=clock)
    stats.observe("/a", "GET", "user", 200, 0.01)
    clock.at = now
    stats.observe("/a", "GET", "user", 200, 0.01)
    stats.close()
    assert stats.prune() == 1
    assert [r[0] for r in rows(db)] == [int(now.timestamp()) // 60]


def test_local_counts_answer_for_the_series_the_specs_name(db: Database) -> None:
    clock = Clock(T0)
    stats = RequestStats(db, clock=lambda: T0, retention=timedelta(days=1), seconds=clock)
    for route, code, seconds in [
        ("/api/v1/search", 200, 0.1),
        ("/api/v1/search", 200, 0.4),
        ("/api/v1/search", 503, 0.01),
        ("/healthz", 200, 0.001),
    ]:
        stats.observe(route, "GET", "user", code, seconds)  # fmt: skip
    stats.close()
    reads = [("route", "=~", "/api/v1/search|/api/v1/entities/<entity_id>"), ("method", "=", "GET")]
    start, step = T0 - timedelta(minutes=5), timedelta(minutes=5)
    with db.session(tenant_id=ALL_TENANTS) as session:
        counts = LocalCounts(session)

        def one(series: str, matchers: list[status.Matcher]) -> float:
            return counts.increases(series, matchers, start, step, 1)[0]

        assert one(metrics.HTTP_REQUESTS.total, [("route", "!~", "/healthz")]) == 3
        assert one(metrics.HTTP_ERRORS.total, []) == 1
        assert one(metrics.HTTP_DURATION.count, reads) == 3
        assert one(metrics.HTTP_DURATION.bucket, [*reads, ("le", "=", "0.3")]) == 2
        assert one(metrics.HTTP_REQUESTS.total, [("status", "=", "503")]) == 1
        with pytest.raises(status.Unsupported, match="not a bucket boundary"):
            one(metrics.HTTP_DURATION.bucket, [("le", "=", "0.25")])
        with pytest.raises(status.Unsupported, match="not recorded locally"):
            one(metrics.HTTP_REQUESTS.total, [("tenant", "=", "acme")])
        with pytest.raises(status.Unsupported, match="is not recorded"):
            one(metrics.CACHE_REQUESTS.total, [])


def test_the_local_evaluator_reads_sums_of_rates_and_refuses_the_rest() -> None:
    parsed = status.parse(
        '(sum(rate(a_count{x="1"}[{{.window}}]))'
        ' - sum(rate(a_bucket{x="1",le="0.3"}[{{.window}}])))'
    )
    assert parsed.terms == [("a_count", [("x", "=", "1")]),
                            ("a_bucket", [("x", "=", "1"), ("le", "=", "0.3")])]  # fmt: skip
    assert status.evaluate(parsed.formula, [10.0, 7.0]) == 3.0
    assert status.parse("sum(rate(t[{{.window}}])) > 0").terms == [("t", [])]
    for query in (
        "histogram_quantile(0.9, sum(rate(a[{{.window}}])))",
        "sum(rate(a[{{.window}}])) * 2",
        "avg(rate(a[{{.window}}]))",
    ):
        with pytest.raises(status.Unsupported):
            status.parse(query)  # fmt: skip


def test_closing_without_a_schema_logs_instead_of_raising(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated
    stats = RequestStats(db, clock=lambda: T0, retention=timedelta(days=1))
    stats.observe("/openapi.json", "GET", "user", 200, 0.01)
    stats.close()  # must not raise at shutdown
    db.dispose()
