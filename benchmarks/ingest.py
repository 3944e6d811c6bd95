"""Ingest benchmark: 1,000,000 events over HTTP against `summit serve`, on SQLite
and on PostgreSQL, beside the raw insert ceiling measured in the same run.

For each database:

1. the ceiling: the same rows (same table shape and indexes as
   ``ingest_events``) written by the bare driver, 5,000 a transaction:
   sqlite3 ``executemany`` (WAL, synchronous=FULL as ingest commits) and
   psycopg ``COPY``; nothing of Summit in the way;
2. `summit serve` (gunicorn, its default worker count) with the demo data,
   and the load harness of ``summit ingest load`` in this process (threads,
   on the same machine), sending NDJSON batches of 5,000 with 0.2 % invalid
   events and reconciling every count with the server's.

It prints events/s, the batch latency percentiles, the ratio to the ceiling,
and whether our bars hold (>= 100,000 events/s; P95 <= 250 ms per 5,000-event
batch) beside the seed's (completes, no loss, write P95 <= 1.5 s, DLQ < 0.5 %).
Traffic goes to 127.0.0.1 only; the servers are stopped by PID.

    .venv/bin/python -m benchmarks.ingest [--events 1000000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from app.ingest.loadgen import Load, LoadPlan, LoadReport, batch_body, login
from app.ingest.validate import Valid, parse, sqlite_time
from tests.ingest.live_server import live
from tests.support.live import DEMO_PASSWORD
from tests.support.services import PG_URL

BAR_RATE, BAR_P95, SEED_P95 = 100_000, 0.250, 1.5
TABLE = """(pk {pk} PRIMARY KEY, tenant_id integer NOT NULL, event_id varchar(128) NOT NULL,
 type varchar(64) NOT NULL, ts {ts} NOT NULL, source varchar(128) NOT NULL,
 subject varchar(256), payload {json} NOT NULL, size_bytes integer NOT NULL,
 batch_id varchar(36) NOT NULL, received_at {ts} NOT NULL, created_by varchar(64) NOT NULL)"""
INDEXES = (
    "CREATE UNIQUE INDEX {t}_uq ON {t} (tenant_id, event_id)",
    "CREATE INDEX {t}_subject ON {t} (tenant_id, subject) WHERE subject IS NOT NULL",
)


def rows_of(plan: LoadPlan, index: int) -> list[tuple[Any, ...]]:
    """The rows batch ``index`` becomes, parsed as the server parses it (not timed)."""
    body, _invalid = batch_body(plan, index, datetime.now(UTC).isoformat().encode())
    now = datetime.now(UTC)
    return [
        (1, v.event_id, v.type, v.ts, v.source, v.subject, v.payload, v.size, "b", now, "alice")
        for v in parse(body, max_event_bytes=65_536)
        if isinstance(v, Valid)
    ]


def sqlite_ceiling(plan: LoadPlan, work: Path) -> float:
    db = sqlite3.connect(work / "ceiling.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE ev " + TABLE.format(pk="INTEGER", ts="DATETIME", json="JSON"))
    for statement in INDEXES:
        db.execute(statement.format(t="ev"))
    sql = "INSERT INTO ev VALUES (NULL" + ", ?" * 11 + ")"
    seconds, count = 0.0, 0
    for index in range(plan.batches):
        rows = rows_of(plan, index)
        text = [(*r[:3], sqlite_time(r[3]), *r[4:9], sqlite_time(r[9]), r[10]) for r in rows]
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, text)
        db.execute("COMMIT")
        seconds += time.perf_counter() - started
        count += len(rows)
    db.close()
    return count / seconds


def postgres_ceiling(plan: LoadPlan) -> float:
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ev")
        conn.execute(
            "CREATE TABLE bench_ev " + TABLE.format(pk="bigserial", ts="timestamptz", json="jsonb")
        )
        for statement in INDEXES:
            conn.execute(statement.format(t="bench_ev"))
        conn.commit()
        seconds, count = 0.0, 0
        columns = (
            "tenant_id, event_id, type, ts, source, subject, payload, size_bytes, "
            "batch_id, received_at, created_by"
        )
        for index in range(plan.batches):
            rows = rows_of(plan, index)
            started = time.perf_counter()
            with conn.cursor().copy(f"COPY bench_ev ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            seconds += time.perf_counter() - started
            count += len(rows)
        conn.execute("DROP TABLE bench_ev")
        conn.commit()
    return count / seconds


def run_load(plan: LoadPlan, database: str, work: Path, workers: int) -> LoadReport:
    with live(work / f"var-{database}", database=database, workers=workers) as server:
        headers = login(server.url, tenant="acme", username="alice", password=DEMO_PASSWORD)
        return Load(replace(plan, url=server.url), headers).run()


def report(database: str, ceiling: float, result: LoadReport) -> None:
    sent = result.valid + result.invalid
    rate = sent / result.seconds
    p50, p95, p99 = (result.percentile(q) for q in (0.50, 0.95, 0.99))
    problems = result.mismatches()
    print(f"\n{database}: {sent:,} events in {result.seconds:.2f} s")
    print(f"  raw insert ceiling (same run) {ceiling:12,.0f} rows/s")
    print(f"  over HTTP, summit serve      {rate:12,.0f} events/s  ({rate / ceiling:.0%} of it)")
    print(
        f"  batch latency  P50 {p50 * 1000:.0f} ms  P95 {p95 * 1000:.0f} ms  "
        f"P99 {p99 * 1000:.0f} ms"
    )
    print(
        f"  429s {result.refusals.get(429, 0)}, 503s {result.refusals.get(503, 0)}, "
        f"retries {result.retries}; DLQ {result.delta('dlq'):,} "
        f"({result.delta('dlq') / sent:.3%})"
    )
    print("  reconciled exactly" if not problems else f"  NOT RECONCILED: {problems}")
    print(
        f"  our bar:  >= {BAR_RATE:,}/s {'PASS' if rate >= BAR_RATE else 'FAIL'}; "
        f"P95 <= {BAR_P95 * 1000:.0f} ms {'PASS' if p95 <= BAR_P95 else 'FAIL'}"
    )
    seed_ok = not problems and p95 <= SEED_P95 and result.delta("dlq") / sent < 0.005
    print(
        f"  the seed's: completes, no loss, P95 <= 1.5 s, DLQ < 0.5 %: "
        f"{'PASS' if seed_ok else 'FAIL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="batches in flight [workers - 1: summit serve's in-flight cap for one tenant]",
    )
    parser.add_argument("--invalid-ratio", type=float, default=0.002)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--workers", type=int, default=0, help="gunicorn workers [default: cores + 1]"
    )
    args = parser.parse_args()
    workers = args.workers or (os.cpu_count() or 1) + 1  # summit serve's own default
    # One tenant may keep all but one worker busy (SUMMIT_TENANT_MAX_INFLIGHT under
    # summit serve): more in flight only collects 429 too_many_in_flight.
    concurrency = args.concurrency or max(1, workers - 1)
    with tempfile.TemporaryDirectory(prefix="summit-ingest-bench-") as tmp:
        work = Path(tmp)
        for database in args.databases.split(","):
            plan = LoadPlan(
                url="",
                events=args.events,
                batch=args.batch,
                concurrency=concurrency,
                invalid_ratio=args.invalid_ratio,
            )
            ceiling = sqlite_ceiling(plan, work) if database == "sqlite" else postgres_ceiling(plan)
            result = run_load(plan, database, work, workers)
            report(database, ceiling, result)


if __name__ == "__main__":
    main()
