"""The scheduler: APScheduler jobs, run by exactly one leader across workers and hosts.

Every process that enables it (``SUMMIT_SCHEDULER``) runs an elector thread
that claims the "scheduler" lease (app.leases: a row claimed by conditional
UPDATE, renewed every third of its length). Only the holder runs an
APScheduler, whose jobs live in the database (SQLAlchemyJobStore), so the next
leader picks up their next run times; the others stand by. A leader that
cannot renew steps down at once; one that stops gives the lease up.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from app.alerting.paging import deliver_job
from app.alerting.paging_metrics import PagingCollector
from app.core import leases
from app.core.db import Database, utcnow
from app.core.metrics import Metrics
from app.governance.jobs import audit_checkpoint_job, purge_expired_job
from app.ops import maintenance
from app.ops import service as ops
from app.ops.record_metrics import ProbeRecordCollector
from app.ops.runtime import ProbeRuntime, ShuttingDown
from app.ops.service import JOBSTORE_TABLE, SCHEDULER_LEASE, JobRun
from app.settings import Settings

log = logging.getLogger("summit.scheduler")

LEASE: Final = SCHEDULER_LEASE
# What APScheduler stores for every job: a textual reference, because its job
# store outlives this process. It names one dispatcher, which looks the job up
# by name in JOBS below.
FIRE: Final = "app.ops.scheduler:fire"

# APScheduler persists a job by the textual reference of its function, so the
# function cannot carry this process's runtime: the leader puts itself here.
_leader: Scheduler | None = None
_started: weakref.WeakSet[Scheduler] = weakref.WeakSet()
_runtimes: weakref.WeakSet[ProbeRuntime] = weakref.WeakSet()

# Who started the job now running on this thread: "schedule" unless run_job was
# told otherwise (the CLI). A context variable, so job functions keep their
# (runtime, name) signature and every job records its trigger truthfully.
TRIGGER: ContextVar[str] = ContextVar("summit_job_trigger", default="schedule")


class JobFailed(RuntimeError):
    """A job ran and failed (a probe run failed): the message says where."""


def run_probe(runtime: ProbeRuntime, name: str) -> int:
    """The probe jobs: run probe ``name``; a failed run fails the job."""
    try:
        recorded = runtime.run(name, trigger=TRIGGER.get())
    except ShuttingDown:
        return 0
    run = recorded.run
    if not run.passed:
        raise JobFailed(f"probe {name} failed at {run.failed_step or '?'}: {run.error}")
    return 1


def run_ingest_auto_replay(runtime: ProbeRuntime, _name: str) -> int:
    from app.ingest.jobs import auto_replay_job  # the ingest domain's job, by plain import

    return auto_replay_job(settings=runtime.settings, db=runtime.db, metrics=runtime.metrics)


# Job name (kebab-case, used in logs, CLI and metrics) -> (interval setting,
# function). A job function takes (runtime, name) and returns a count; it
# fails by raising.
JOBS: Final[dict[str, tuple[str, Callable[[ProbeRuntime, str], int]]]] = {
    "golden-path": ("probe_golden_path_interval_seconds", run_probe),
    "policy": ("probe_policy_interval_seconds", run_probe),
    "governance": ("probe_governance_interval_seconds", run_probe),
    "prune": ("prune_interval_seconds", maintenance.prune),
    "purge-expired": ("purge_interval_seconds", purge_expired_job),
    "audit-checkpoint": ("audit_checkpoint_interval_seconds", audit_checkpoint_job),
    "ingest-auto-replay": ("ingest_auto_replay_interval_seconds", run_ingest_auto_replay),
    "paging-outbox": ("paging_outbox_interval_seconds", deliver_job),
}


def run_job(runtime: ProbeRuntime, name: str, *, trigger: str = "schedule") -> int:
    """Run job ``name`` now in this process and keep it as the job's last run;
    returns its count, or raises what the job raised."""
    _setting, function = JOBS[name]
    token = TRIGGER.set(trigger)
    started = utcnow()
    try:
        count = function(runtime, name)
    except Exception as exc:
        _keep(runtime, JobRun(name, trigger, runtime.holder, started, utcnow(), False,
                              error=str(exc)[:2000] or type(exc).__name__))  # fmt: skip
        raise
    finally:
        TRIGGER.reset(token)
    _keep(runtime, JobRun(name, trigger, runtime.holder, started, utcnow(), True, count))
    return count


def _keep(runtime: ProbeRuntime, run: JobRun) -> None:
    try:
        with runtime.db.session(tenant_id=None, write=True) as session:
            ops.record_job(session=session, run=run)
            session.commit()
    except SQLAlchemyError as exc:  # the job's own outcome matters more than its log
        log.warning("could not record the last run of job %s: %s", run.name, exc)


def fire(name: str) -> int:
    """What APScheduler calls (by reference) at each job's run time."""
    leader = _leader
    if leader is None:
        log.warning("job fired with no leader in this process", extra={"job": name})
        return 0
    try:
        return run_job(leader.runtime, name)
    except JobFailed as exc:  # an expected outcome, recorded: one line, no traceback
        log.warning("job failed: %s", exc, extra={"job": name})
        return 0


class Scheduler:
    def __init__(
        self,
        *,
        runtime: ProbeRuntime,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.db = runtime.db
        self.holder = holder or runtime.holder
        self.clock = clock
        self.ttl = timedelta(seconds=self.settings.scheduler_lease_seconds)
        self._aps: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self._aps is not None

    @property
    def state(self) -> str:
        """leader | standby | stopped; readiness wants one of the first two."""
        if self._thread is None or not self._thread.is_alive():
            return "stopped"
        return "leader" if self.is_leader else "standby"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._elect, name="summit-elector", daemon=True)
        self._thread.start()
        _started.add(self)

    def stop(self) -> None:
        """Stop electing, step down, give the lease up at once. A job still running
        finishes on its own thread; closing the runtime (stop_all) waits for it."""
        self.runtime.closing.set()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.ttl.total_seconds() + 5)
        self._step_down(wait=False)
        try:
            with self.db.session(tenant_id=None, write=True) as session:
                leases.release(session=session, name=LEASE, holder=self.holder, now=self.clock())
                session.commit()
        except Exception as exc:  # shutting down: the lease expires on its own
            log.warning("could not release the scheduler lease: %s", exc)

    def _elect(self) -> None:
        period = self.ttl.total_seconds() / 3
        while True:
            try:
                self.elect_once()
            except Exception:  # the database is away: we cannot know we still lead
                log.exception("scheduler election failed; standing by")
                self._step_down(wait=False)
            if self._stop.wait(period):
                return

    def elect_once(self) -> None:
        """One round of the election: claim or renew the lease, then lead or stand
        by accordingly (the elector thread calls this every third of the lease)."""
        with self.db.session(tenant_id=None, write=True) as session:
            mine = leases.claim(
                session=session, name=LEASE, holder=self.holder, now=self.clock(), ttl=self.ttl
            )
            session.commit()
        if mine and self._aps is None:
            self._lead()
        elif not mine and self._aps is not None:
            log.warning("scheduler lease lost; standing by", extra={"holder": self.holder})
            self._step_down(wait=False)

    def _lead(self) -> None:
        global _leader
        aps = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.db.engine, tablename=JOBSTORE_TABLE)
            },
            executors={"default": ThreadPoolExecutor(max_workers=len(JOBS))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        aps.start(paused=True)
        self._reconcile(aps)
        _leader, self._aps = self, aps
        aps.resume()
        log.info("scheduler leader", extra={"holder": self.holder, "jobs": sorted(JOBS)})

    def _reconcile(self, aps: BackgroundScheduler) -> None:
        """Make the stored jobs match JOBS and the settings, keeping the next run
        time of a job whose interval did not change (the point of a persistent store)."""
        for job in aps.get_jobs():
            if job.id not in JOBS:
                aps.remove_job(job.id)
        for name, (setting, _target) in JOBS.items():
            interval = timedelta(seconds=getattr(self.settings, setting))
            stored = aps.get_job(name)
            same = getattr(stored, "func_ref", None) == FIRE
            if same and getattr(stored.trigger, "interval", None) == interval:
                continue
            aps.add_job(
                FIRE, trigger=IntervalTrigger(seconds=interval.total_seconds()),
                args=[name], id=name, name=name, replace_existing=True,
            )  # fmt: skip

    def _step_down(self, *, wait: bool) -> None:
        global _leader
        aps, self._aps = self._aps, None
        if _leader is self:
            _leader = None
        if aps is not None:
            aps.pause()  # else its loop may submit a due job to the stopped executor
            aps.shutdown(wait=wait)

    def jobs(self) -> list[dict[str, Any]]:
        aps = self._aps
        if aps is None:
            return []
        return [{"id": job.id, "next_run_time": job.next_run_time} for job in aps.get_jobs()]


def start(
    *, settings: Settings, db: Database, metrics: Metrics
) -> tuple[ProbeRuntime, Scheduler | None]:
    """This process's probe runtime, and its scheduler when SUMMIT_SCHEDULER is on."""
    schedulers: list[Scheduler] = []
    # Only the leader runs probes on a timer: it keeps its browser warm; another
    # process that runs one on demand closes its browser after the run.
    runtime = ProbeRuntime(
        settings=settings,
        db=db,
        metrics=metrics,
        keep_warm=lambda: any(s.is_leader for s in schedulers),
    )
    _runtimes.add(runtime)
    # Probe metrics come from the recorded runs, read when /metrics is scraped.
    metrics.add_scraped(ProbeRecordCollector(db=db, probes=runtime.names))
    metrics.add_scraped(PagingCollector(db=db))
    if not settings.scheduler:
        return runtime, None
    scheduler = Scheduler(runtime=runtime)
    schedulers.append(scheduler)
    scheduler.start()
    return runtime, scheduler


def state(scheduler: Scheduler | None) -> str:
    return "disabled" if scheduler is None else scheduler.state


def stop_all() -> None:
    """Stop every scheduler this process started, then close every probe runtime's
    browser from its own thread (idempotent)."""
    for scheduler in list(_started):
        _started.discard(scheduler)
        scheduler.stop()
    for runtime in list(_runtimes):
        _runtimes.discard(runtime)
        runtime.close()


atexit.register(stop_all)
