"""Ingest against a live `summit serve` (gunicorn): a SIGKILL in the middle of a
load loses or doubles nothing; a saturated writer slows the harness down with
429/503 + Retry-After and the counts still reconcile exactly; the CLI prints
and checks its reconciliation. Bounded: tens of thousands of events each."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from app.ingest.loadgen import Load, LoadPlan, LoadReport, is_invalid, login
from app.ingest.models import IngestEvent
from tests.ingest.live_server import Server, live
from tests.support.live import DEMO_PASSWORD

pytestmark = pytest.mark.slow
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def alice(server: Server) -> dict[str, str]:
    return login(server.url, tenant="acme", username="alice", password=DEMO_PASSWORD)


def stored_rows(server: Server, run_id: str) -> tuple[int, int, set[str]]:
    """Rows of this run's events, distinct ids, and the ids themselves."""
    url = server.env.get("DATABASE_URL") or f"sqlite:///{server.var / 'summit.db'}"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    mine = IngestEvent.event_id.like(f"{run_id}-%")
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).where(mine)) or 0
        distinct = conn.scalar(select(func.count(IngestEvent.event_id.distinct())).where(mine)) or 0
        ids = set(conn.scalars(select(IngestEvent.event_id).where(mine)))
    engine.dispose()
    return rows, distinct, ids


def run_in_background(load: Load) -> tuple[threading.Thread, list[LoadReport | BaseException]]:
    out: list[LoadReport | BaseException] = []

    def work() -> None:
        try:
            out.append(load.run())
        except BaseException as exc:  # handed to the test thread
            out.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, out


@pytest.mark.parametrize("database", DATABASES)
def test_a_server_killed_mid_load_ends_with_every_acknowledged_event_once(
    tmp_path: Path, database: str
) -> None:
    # With summit serve's own in-flight cap: the killed workers' slots are given
    # back when the server starts again (gunicorn's on_starting), so the retries
    # are not refused for the two minutes until the slots would go stale.
    # Three workers, so that summit serve sets a cap (two in flight per tenant).
    with live(tmp_path / "var", database=database, workers=3) as server:
        acked = [0]
        plan = LoadPlan(url=server.url, events=40_000, batch=1000, concurrency=4,
                        invalid_ratio=0.002, give_up_after=90)  # fmt: skip
        load = Load(plan, alice(server), progress=lambda n: acked.__setitem__(0, acked[0] + n))
        thread, out = run_in_background(load)
        deadline = time.monotonic() + 60
        while acked[0] < 8_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert 8_000 <= acked[0] < plan.events, "the kill must land in the middle of the load"
        server.kill()
        time.sleep(0.5)
        server.start()
        thread.join(timeout=120)
        [report] = out
        assert isinstance(report, LoadReport), report
        assert report.connection_retries > 0, "some requests were in flight at the kill"
        assert report.mismatches() == []
        valid = [n for n in range(plan.events) if not is_invalid(n, plan.invalid_ratio)]
        rows, distinct, ids = stored_rows(server, plan.run_id)
        assert rows == distinct == len(valid) == report.valid
        assert ids == {f"{plan.run_id}-{n:09d}" for n in valid}


def test_a_saturated_writer_answers_429_and_503_and_the_harness_still_reconciles(
    tmp_path: Path,
) -> None:
    # One batch at a time per process, and (almost) no wait for the slot: eight
    # clients on two processes overlap at once, so 503s do not hang on timing.
    # With 0.05 s a run whose batches were mostly refused by the connector's
    # bucket (fast answers) never overlapped long enough (CI, a quiet machine).
    extra = {"SUMMIT_INGEST_MAX_IN_FLIGHT": "1", "SUMMIT_INGEST_WRITE_WAIT_SECONDS": "0.001"}
    with live(tmp_path / "var", database="sqlite", workers=2, threads=4, **extra) as server:
        headers = alice(server)
        connector = {"rate": 4000, "burst": 4000, "batch_size": 1000}
        put = requests.put(f"{server.url}/api/v1/ingest/connectors/load-sat", json=connector,
                           headers=headers, timeout=10)  # fmt: skip
        assert put.status_code == 200, put.text
        plan = LoadPlan(url=server.url, events=30_000, batch=1000, concurrency=8,
                        invalid_ratio=0.002, source="load-sat", give_up_after=60)  # fmt: skip
        report = Load(plan, headers).run()
    codes = report.refusal_codes
    assert codes.get("ingest_busy", 0) + codes.get("writer_saturated", 0) > 0, codes
    assert codes.get("connector_throttled", 0) > 0, "faster than the connector's bucket allows"
    assert report.mismatches() == []
    assert report.delta("dlq") == report.invalid == 60
    assert report.delta("dlq") / (report.valid + report.invalid) < 0.005


def test_the_cli_load_prints_its_figures_and_its_reconciliation(tmp_path: Path) -> None:
    with live(tmp_path / "var", database="sqlite") as server:
        command = [sys.executable, "-m", "app.cli", "ingest", "load", "--events", "12000",
                   "--batch", "2000", "--concurrency", "3", "--invalid-ratio", "0.002",
                   "--url", server.url, "--gzip"]  # fmt: skip
        done = subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "sent 12,000 events in 6 batches" in out
    assert "batch latency: P50" in out
    assert "DLQ: 24 events (0.200 % of those sent)" in out
    assert "reconciled exactly with the server" in out
    assert "received 12,000 = stored 11,976 + duplicates 0 + DLQ 24" in out
