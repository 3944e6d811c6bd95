"""What reading probe metrics from the record costs at scrape time.

Seeds N probe runs (two probes, four steps each) into a fresh SQLite file, then
times ProbeRecordCollector:
- the first scrape of a process (reads every run: its one-off catch-up);
- a steady scrape (reads only the runs since the last, plus the overlap);
- the ceiling: plain sqlite3 reading and JSON-decoding the same columns of
  every row (no SQLAlchemy, no aggregation), measured in the same run.

    .venv/bin/python -m benchmarks.probe_metrics [--runs 1000000]

A year of both probes every 60 s is ~1,050,000 runs.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from app.core.db import Database, utcnow
from app.core.migrate import upgrade
from app.ops.record_metrics import ProbeRecordCollector
from probes.models import ProbeRun

STEPS = ("login", "search", "open-entity", "assert-page")


def seed(db: Database, runs: int) -> None:
    now = utcnow()
    batch = []
    for i in range(runs):
        at = now - timedelta(seconds=30 * (runs - i))
        ms = 600 + (i * 37) % 400
        batch.append({
            "id": str(uuid.uuid4()), "probe": ("golden-path", "policy")[i % 2],
            "trigger": "schedule", "status": "pass" if i % 50 else "fail",
            "started_at": at, "recorded_at": at, "duration_ms": float(ms),
            "steps": [{"name": s, "ms": ms / 4, "ok": True, "error": None} for s in STEPS],
            "failed_step": None, "error": None, "artifacts": [],
        })  # fmt: skip
        if len(batch) == 5000 or i == runs - 1:
            with db.engine.begin() as connection:
                connection.execute(insert(ProbeRun), batch)
            batch = []


def ceiling(path: Path) -> float:
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    for row in connection.execute(
        "SELECT id, probe, status, started_at, recorded_at, duration_ms, steps FROM probe_runs"
    ):
        json.loads(row[6])
    connection.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "summit.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db.engine)
        seed(db, runs)
        raw = ceiling(path)
        collector = ProbeRecordCollector(db=db, probes=["golden-path", "policy"])
        started = time.perf_counter()
        list(collector.collect())
        first = time.perf_counter() - started
        steady = []
        for _ in range(20):
            started = time.perf_counter()
            list(collector.collect())
            steady.append(time.perf_counter() - started)
        db.dispose()
    steady.sort()
    print(f"runs in the record:              {runs:,}")
    print(f"ceiling (sqlite3 + json, all):   {raw * 1000:10.1f} ms")
    print(f"first scrape (catch-up, all):    {first * 1000:10.1f} ms  ({first / raw:.1f}x ceiling)")
    print(f"steady scrape, median of 20:     {steady[10] * 1000:10.1f} ms")


if __name__ == "__main__":
    main()
