"""Threshold and recovery: when a probe turns red, opens an incident, and resolves it.
Runs are recorded with an injected clock, one minute apart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts import incidents
from alerts.models import Incident, IncidentNotification
from app.core.db import Database
from probes import service
from probes.journey import RunResult, StepRecord
from probes.models import ProbeRun

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


class Recorder:
    """Records pass/fail runs of one probe through the real service, on a fake clock."""

    def __init__(self, db: Database, policy: service.ThresholdPolicy, root: Path) -> None:
        self.db, self.policy, self.clock = db, policy, Clock()
        self.retention = service.Retention(root=root, keep=2)
        self.notifiers = incidents.load_notifiers(["database"])

    def record(self, outcomes: str, probe: str = "golden-path") -> list[ProbeRun]:
        """``outcomes``: "P" pass, "F" fail, in time order."""
        runs = []
        for outcome in outcomes:
            now = self.clock.tick()
            result = result_of(probe, passed=outcome == "P", at=now)
            with self.db.session(tenant_id=None, write=True) as session:
                runs.append(
                    service.record_run(
                        session=session, result=result, trigger="schedule", now=now,
                        policy=self.policy, notifiers=self.notifiers, retention=self.retention,
                    )
                )  # fmt: skip
                session.commit()
        return runs

    def status(self, probe: str = "golden-path") -> str:
        with self.db.session(tenant_id=None) as session:
            return service.status(session=session, probe=probe)[0]

    def incidents(self) -> list[Incident]:
        with self.db.session(tenant_id=None) as session:
            return list(reversed(incidents.list_incidents(session=session)))


def result_of(
    probe: str, *, passed: bool, at: datetime, artifacts: list[str] | None = None
) -> RunResult:
    step = StepRecord("search", 12.5, ok=passed, error=None if passed else "ProbeFailure: 500")
    return RunResult(
        id=str(uuid.uuid4()), probe=probe, passed=passed, started_at=at, duration_ms=800.0,
        steps=[step], failed_step=None if passed else "search",
        error=None if passed else "ProbeFailure: search answered 500",
        artifacts=artifacts or [],
    )  # fmt: skip


def recorder(db: Database, tmp_path: Path, failures: int, window: int, recover: int) -> Recorder:
    return Recorder(db, service.ThresholdPolicy(failures, window, recover), tmp_path)


def test_three_consecutive_failures_turn_the_probe_red_at_the_third(
    db: Database, tmp_path: Path
) -> None:
    probe = recorder(db, tmp_path, failures=3, window=3, recover=2)
    probe.record("PFF")
    assert probe.status() == "failing"
    assert probe.incidents() == []
    third = probe.record("F")[0]
    assert probe.status() == "red"
    [incident] = probe.incidents()
    assert incident.status == "open"
    assert incident.key == "probe:golden-path"
    assert incident.opened_at == probe.clock.now
    assert incident.details["run_id"] == third.id
    assert incident.details["failed_step"] == "search"


def test_failures_interrupted_by_a_pass_do_not_count_as_consecutive(
    db: Database, tmp_path: Path
) -> None:
    probe = recorder(db, tmp_path, failures=3, window=3, recover=2)
    probe.record("FFPFFPFF")
    assert probe.incidents() == []
    assert probe.status() == "failing"


def test_n_of_the_last_m_runs_trips_without_being_consecutive(db: Database, tmp_path: Path) -> None:
    probe = recorder(db, tmp_path, failures=3, window=5, recover=2)
    probe.record("FPFP")
    assert probe.incidents() == []
    probe.record("F")
    assert probe.status() == "red"
    assert probe.incidents()[0].opened_at == T0 + timedelta(minutes=5)


def test_further_failures_keep_one_incident_open(db: Database, tmp_path: Path) -> None:
    probe = recorder(db, tmp_path, failures=2, window=2, recover=2)
    probe.record("FFFFFF")
    assert len(probe.incidents()) == 1


def test_recovery_needs_m_consecutive_passes_then_resolves(db: Database, tmp_path: Path) -> None:
    probe = recorder(db, tmp_path, failures=2, window=2, recover=3)
    probe.record("FF")
    probe.record("PPFPP")  # a failure in between restarts the count
    assert probe.status() == "red"
    probe.record("P")
    [incident] = probe.incidents()
    assert incident.status == "resolved"
    assert incident.resolved_at == probe.clock.now
    assert probe.status() == "green"


def test_old_failures_cannot_reopen_a_just_resolved_incident(db: Database, tmp_path: Path) -> None:
    probe = recorder(db, tmp_path, failures=2, window=5, recover=2)
    probe.record("FFPP")  # opened, then resolved; the window still holds two failures
    probe.record("F")
    assert [i.status for i in probe.incidents()] == ["resolved"]
    probe.record("F")  # two failures since the resolution: a new incident
    assert [i.status for i in probe.incidents()] == ["resolved", "open"]


def test_probes_are_judged_separately(db: Database, tmp_path: Path) -> None:
    probe = recorder(db, tmp_path, failures=2, window=2, recover=1)
    probe.record("F", probe="golden-path")
    probe.record("F", probe="policy")
    assert probe.incidents() == []
    assert probe.status("policy") == "failing"


def test_every_open_and_resolve_is_told_to_the_database_notifier(
    db: Database, tmp_path: Path
) -> None:
    probe = recorder(db, tmp_path, failures=1, window=1, recover=1)
    probe.record("FP")
    with db.session(tenant_id=None) as session:
        rows = session.scalars(select(IncidentNotification).order_by(IncidentNotification.id))
        told = [(row.notifier, row.event, row.created_at) for row in rows]
    assert told == [
        ("database", "opened", T0 + timedelta(minutes=1)),
        ("database", "resolved", T0 + timedelta(minutes=2)),
    ]


def test_an_unknown_notifier_is_refused() -> None:
    with pytest.raises(ValueError, match=r"carrier-pigeon.*known"):
        incidents.load_notifiers(["carrier-pigeon"])


def test_a_threshold_larger_than_its_window_is_refused() -> None:
    with pytest.raises(ValueError, match="failures <= window"):
        service.ThresholdPolicy(failures=4, window=3)


def test_retention_keeps_the_newest_failures_and_the_open_incidents_run(
    db: Database, tmp_path: Path
) -> None:
    probe = recorder(db, tmp_path, failures=1, window=1, recover=5)  # keep=2
    runs = []
    for _ in range(5):
        now = probe.clock.tick()
        run_id = str(uuid.uuid4())
        path = Path("golden-path") / run_id / "trace.zip"
        (tmp_path / path).parent.mkdir(parents=True)
        (tmp_path / path).write_bytes(b"PK")
        result = result_of("golden-path", passed=False, at=now, artifacts=[str(path)])
        result.id = run_id
        with db.session(tenant_id=None, write=True) as session:
            runs.append(
                service.record_run(
                    session=session, result=result, trigger="schedule", now=now,
                    policy=probe.policy, notifiers=probe.notifiers, retention=probe.retention,
                ).id
            )  # fmt: skip
            session.commit()
    kept = {run_id for run_id in runs if (tmp_path / "golden-path" / run_id).exists()}
    # the two newest, plus the first: the open incident points at it
    assert kept == {runs[0], runs[3], runs[4]}
    with db.session(tenant_id=None) as session:
        assert session.get(ProbeRun, runs[1]).artifacts == []  # type: ignore[union-attr]
        assert session.get(ProbeRun, runs[4]).artifacts != []  # type: ignore[union-attr]
