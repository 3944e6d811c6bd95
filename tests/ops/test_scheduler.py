"""One scheduler leader across processes: the lease, two schedulers on one database,
failover, the persistent job store, and readiness."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.core import leases
from app.core.db import Database
from app.ops.runtime import ProbeRuntime
from app.ops.scheduler import Scheduler
from app.settings import load_settings
from probes.models import ProbeRun
from tests.support.live import free_port

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def claim(db: Database, holder: str, at: datetime) -> bool:
    with db.session(tenant_id=None, write=True) as session:
        mine = leases.claim(session=session, name="scheduler", holder=holder, now=at, ttl=TTL)
        session.commit()
        return mine


def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    assert claim(db, "a", T0)
    assert not claim(db, "b", T0 + timedelta(seconds=1))
    assert claim(db, "a", T0 + timedelta(seconds=20))  # renewed: good until T0+50 s
    assert not claim(db, "b", T0 + timedelta(seconds=45))
    assert claim(db, "b", T0 + timedelta(seconds=51))  # a stopped renewing
    assert not claim(db, "a", T0 + timedelta(seconds=52))
    with db.session(tenant_id=None) as session:
        at = T0 + timedelta(seconds=52)
        assert leases.holder_of(session=session, name="scheduler", now=at) == "b"


def test_a_released_lease_is_taken_at_once(db: Database) -> None:
    assert claim(db, "a", T0)
    with db.session(tenant_id=None, write=True) as session:
        leases.release(session=session, name="scheduler", holder="a", now=T0)
        session.commit()
    assert claim(db, "b", T0 + timedelta(milliseconds=1))


@pytest.fixture
def make_runtime(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ProbeRuntime]]:
    """Runtimes whose probes fail fast: no browser at that path, nobody at that port."""
    built: list[ProbeRuntime] = []

    def build(**extra: Any) -> ProbeRuntime:
        settings = load_settings(
            {
                "DATABASE_URL": database_url,
                "SUMMIT_ENV": "test",
                "SUMMIT_VAR_DIR": str(tmp_path / "var"),
                "CHROMIUM_PATH": str(tmp_path / "no-chromium"),
                "SUMMIT_PROBE_TARGET_URL": f"http://127.0.0.1:{free_port()}",
                "SUMMIT_SCHEDULER_LEASE_SECONDS": 2,
                "SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS": 1,
                "SUMMIT_PROBE_POLICY_INTERVAL_SECONDS": 1,
                **extra,
            }
        )
        runtime = ProbeRuntime(settings=settings, db=Database(settings.resolved_database_url))
        built.append(runtime)
        return runtime

    yield build
    for runtime in built:
        runtime.close()
        runtime.db.dispose()


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def scheduled_runs(db: Database) -> dict[str, list[datetime]]:
    with db.session(tenant_id=None) as session:
        rows = session.execute(
            select(ProbeRun.probe, ProbeRun.started_at)
            .where(ProbeRun.trigger == "schedule")
            .order_by(ProbeRun.started_at)
        )
        found: dict[str, list[datetime]] = defaultdict(list)
        for probe, started_at in rows:
            found[probe].append(started_at)
        return found


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


HOURLY = {
    "SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS": 3600,  # nothing fires during the test
    "SUMMIT_PROBE_POLICY_INTERVAL_SECONDS": 3600,
}


def test_two_schedulers_never_lead_at_once_and_hand_over(
    make_runtime: Callable[..., ProbeRuntime],
) -> None:
    clock = Clock(T0)  # the lease lasts 2 s (make_runtime)
    first = Scheduler(runtime=make_runtime(**HOURLY), holder="first", clock=clock)
    second = Scheduler(runtime=make_runtime(**HOURLY), holder="second", clock=clock)
    leaders = []
    try:
        for _ in range(8):  # both renew every 0.5 s: the first claimant keeps leading
            first.elect_once()
            second.elect_once()
            leaders.append((first.is_leader, second.is_leader))
            clock.advance(0.5)
        assert set(leaders) == {(True, False)}
        clock.advance(2.5)  # the leader hangs past its lease: the standby takes over
        second.elect_once()
        first.elect_once()  # and the old leader, back, finds it lost the lease
        assert (first.is_leader, second.is_leader) == (False, True)
        second.stop()  # gives the lease up: no need to wait for it to expire
        first.elect_once()
        assert first.is_leader
    finally:
        first.stop()
        second.stop()


def test_a_new_leader_keeps_the_stored_next_run_time_unless_the_interval_changed(
    make_runtime: Callable[..., ProbeRuntime],
) -> None:
    def next_runs(scheduler: Scheduler) -> dict[str, datetime]:
        scheduler.start()
        wait_for(lambda: scheduler.is_leader, timeout=5)
        found = {job["id"]: job["next_run_time"] for job in scheduler.jobs()}
        scheduler.stop()
        return found

    hourly = {"SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS": 3600}
    first = next_runs(Scheduler(runtime=make_runtime(**hourly)))
    time.sleep(0.05)
    again = next_runs(Scheduler(runtime=make_runtime(**hourly)))
    assert again["golden-path"] == first["golden-path"]
    changed = next_runs(
        Scheduler(runtime=make_runtime(SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS=1800))
    )
    assert changed["golden-path"] < first["golden-path"]


def test_readyz_reports_the_scheduler(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(
        SUMMIT_SCHEDULER=True,
        SUMMIT_SCHEDULER_LEASE_SECONDS=2,
        SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS=3600,
        SUMMIT_PROBE_POLICY_INTERVAL_SECONDS=3600,
    )
    scheduler: Scheduler = app.extensions["summit.scheduler"]
    try:
        wait_for(lambda: scheduler.is_leader, timeout=5)
        ready = app.test_client().get("/readyz")
        assert (ready.status_code, ready.get_json()["checks"]["scheduler"]) == (200, "leader")
    finally:
        scheduler.stop()
    stopped = app.test_client().get("/readyz")
    assert (stopped.status_code, stopped.get_json()["checks"]["scheduler"]) == (503, "stopped")
