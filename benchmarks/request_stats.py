"""What recording request statistics (SLO status without Prometheus) costs a request.

In-process, N calls each (default 200,000):
- ceiling: the bare work the recorder cannot avoid — read the clock, bisect the
  latency buckets, one dict increment (no lock);
- RequestStats.observe: ours (the same, under a lock, starting the writer);
- the metrics the middleware already records (Metrics.observe), for scale.

Then whole requests through the app (Flask test client, GET /healthz, M each,
default 5,000) with SUMMIT_REQUEST_STATS on and off: the difference is the
per-request cost. SQLite in a temporary folder; nothing listens.

    .venv/bin/python -m benchmarks.request_stats [--calls 200000] [--requests 5000]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from bisect import bisect_left
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from app import create_app
from app.alerting.service import RequestStats
from app.core.db import Database, utcnow
from app.core.metrics import LATENCY_BUCKETS, Metrics
from app.core.migrate import upgrade
from benchmarks import common


def micro(calls: int, folder: Path) -> tuple[float, float]:
    db = Database(f"sqlite:///{folder / 'micro.db'}")
    upgrade(db.engine)
    stats = RequestStats(db, clock=utcnow, retention=timedelta(days=1))
    cells: dict[tuple[object, ...], int] = {}

    def ceiling() -> None:
        key = (
            int(time.time()) // 60,
            "/r",
            "GET",
            "user",
            200,
            bisect_left(LATENCY_BUCKETS, 0.004),
        )
        cells[key] = cells.get(key, 0) + 1

    metrics = Metrics(CollectorRegistry())
    rows = [
        ("ceiling: clock + bisect + dict increment", ceiling),
        ("RequestStats.observe", lambda: stats.observe("/r", "GET", "user", 200, 0.004)),
        ("Metrics.observe (already on every request)",
         lambda: metrics.observe(route="/r", method="GET", tenant="-", traffic="user",
                                 status=200, seconds=0.004)),
    ]  # fmt: skip
    print(f"1. in process, {calls:,} calls each (µs per call):")
    results = {}
    for name, fn in rows:
        p50, p95, p99 = (x * 1e6 for x in common.timed(fn, calls))
        results[name] = p50
        print(f"  {name:<44} p50 {p50:6.2f}  p95 {p95:6.2f}  p99 {p99:6.2f}")
    stats.close()
    db.dispose()
    return results["RequestStats.observe"], results[rows[0][0]]


def whole_requests(requests: int, folder: Path) -> tuple[float, float]:
    print(f"2. GET /healthz through the app, {requests:,} requests each (µs per request):")
    found = {}
    for on in (False, True):
        path = folder / f"app-{on}.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db.engine)
        db.dispose()
        app = create_app({
            "DATABASE_URL": f"sqlite:///{path}", "SUMMIT_ENV": "test",
            "SUMMIT_VAR_DIR": str(folder / "var"), "SUMMIT_SECRET_KEY": "bench",
            "SUMMIT_REQUEST_STATS": on, "SUMMIT_LOG_LEVEL": "ERROR",
            "METRICS_REGISTRY": CollectorRegistry(),
        })  # fmt: skip
        healthz = functools.partial(app.test_client().get, "/healthz")
        p50, p95, _ = (x * 1e6 for x in common.timed(healthz, requests))
        found[on] = p50
        print(f"  request statistics {'on ' if on else 'off'}  p50 {p50:8.1f}  p95 {p95:8.1f}")
        app.extensions["summit"].close()
    print(f"  difference (p50): {found[True] - found[False]:+.1f} µs per request")
    return found[True], found[False]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ours, ceiling = micro(args.calls, Path(folder))
        print(f"  observe / ceiling: {ours / ceiling:.2f}x")
        on, off = whole_requests(args.requests, Path(folder))
        print(f"  share of a /healthz request: {(on - off) / off * 100:.1f} %")


if __name__ == "__main__":
    main()
