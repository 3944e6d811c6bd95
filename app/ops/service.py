"""The ops domain's own records: run-now requests, each job's last run, and what
the scheduler's lease and job store say. Keyword-only functions over a
session and ``now``; imports no Flask and no APScheduler.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Column, CursorResult, Float, MetaData, String, Table, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import leases
from app.ops.models import JobStatus, ProbeRequest

SCHEDULER_LEASE: Final = "scheduler"
JOBSTORE_TABLE: Final = "apscheduler_jobs"  # created by APScheduler itself
PENDING: Final = ("queued", "running")
TRIGGERS: Final = {"schedule": "Schedule", "api": "API", "ui": "Web UI", "cli": "CLI"}

# The columns of APScheduler's job table that we read (its shape is APScheduler's:
# next_run_time is a UNIX timestamp, NULL for a paused job).
_JOBSTORE = Table(
    JOBSTORE_TABLE,
    MetaData(),
    Column("id", String(191), primary_key=True),
    Column("next_run_time", Float(25)),
)


# --- run-now requests ---------------------------------------------------------------


def pending_request(
    *, session: Session, probe: str, now: datetime, stale_after: timedelta
) -> ProbeRequest | None:
    """A request for ``probe`` still queued or running (and not stale), if any."""
    return session.scalars(
        select(ProbeRequest)
        .where(
            ProbeRequest.probe == probe,
            ProbeRequest.state.in_(PENDING),
            ProbeRequest.requested_at > now - stale_after,
        )
        .order_by(ProbeRequest.requested_at.desc())
        .limit(1)
    ).first()


def create_request(
    *, session: Session, probe: str, trigger: str, requested_by: str | None, holder: str,
    now: datetime,
) -> ProbeRequest:  # fmt: skip
    request = ProbeRequest(
        id=str(uuid.uuid4()), probe=probe, trigger=trigger, requested_by=requested_by,
        requested_at=now, state="queued", holder=holder,
    )  # fmt: skip
    session.add(request)
    session.flush()
    return request


def claim_request(*, session: Session, request_id: str, holder: str, now: datetime) -> bool:
    """queued -> running for ``holder``; False when it is no longer queued (habit 7)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(ProbeRequest)
            .where(ProbeRequest.id == request_id, ProbeRequest.state == "queued")
            .values(state="running", holder=holder, started_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def finish_request(
    *, session: Session, request_id: str, state: str, now: datetime, error: str | None = None
) -> None:
    session.execute(
        update(ProbeRequest)
        .where(ProbeRequest.id == request_id, ProbeRequest.state.in_(PENDING))
        .values(state=state, finished_at=now, error=error)
        .execution_options(synchronize_session=False)
    )


def get_request(*, session: Session, request_id: str) -> ProbeRequest | None:
    return session.get(ProbeRequest, request_id)


def request_state(request: ProbeRequest, *, now: datetime, stale_after: timedelta) -> str:
    """queued | running | done | abandoned; a request pending for longer than any
    run can take was left behind by a process that stopped."""
    if request.state in PENDING and request.requested_at <= now - stale_after:
        return "abandoned"
    return request.state


# --- jobs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    name: str
    trigger: str
    holder: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    count: int | None = None
    error: str | None = None


def record_job(*, session: Session, run: JobRun) -> None:
    """Keep ``run`` as its job's last run (one row per job, updated in place)."""
    values = {k: getattr(run, k) for k in JobRun.__dataclass_fields__ if k != "name"}
    updated = cast(
        CursorResult[Any],
        session.execute(
            update(JobStatus)
            .where(JobStatus.name == run.name)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    if updated.rowcount == 1:
        return
    try:
        with session.begin_nested():  # another process may insert it first
            session.add(JobStatus(name=run.name, **values))
    except IntegrityError:
        session.execute(update(JobStatus).where(JobStatus.name == run.name).values(**values))


def job_statuses(*, session: Session) -> dict[str, JobStatus]:
    return {row.name: row for row in session.scalars(select(JobStatus))}


# --- the scheduler, as every worker sees it -------------------------------------------


@dataclass(frozen=True)
class SchedulerFacts:
    """What the lease and the job store say: the same answer on every worker."""

    enabled: bool
    leader: str | None
    next_runs: dict[str, datetime]

    @property
    def state(self) -> str:
        """disabled | running (a leader holds the lease) | no leader."""
        if not self.enabled:
            return "disabled"
        return "running" if self.leader else "no leader"


def scheduler_facts(*, session: Session, enabled: bool, now: datetime) -> SchedulerFacts:
    leader = leases.holder_of(session=session, name=SCHEDULER_LEASE, now=now)
    return SchedulerFacts(enabled, leader, next_run_times(session=session) if enabled else {})


def next_run_times(*, session: Session) -> dict[str, datetime]:
    """Job id -> its next run time, from APScheduler's job table (none before a
    leader first starts, which creates it)."""
    if not inspect(session.connection()).has_table(JOBSTORE_TABLE):
        return {}
    rows = session.execute(select(_JOBSTORE.c.id, _JOBSTORE.c.next_run_time))
    return {
        job_id: datetime.fromtimestamp(stamp, UTC) for job_id, stamp in rows if stamp is not None
    }
