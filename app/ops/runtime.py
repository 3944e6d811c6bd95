"""The probes as this process runs them: settings -> journey config, run -> record.
Used by the scheduler's jobs, the CLI and the HTTP API alike. Imports no Flask.

"Run now" from the web UI or the API is a request: a row the caller gets back
at once (202), run on this process's one run-now thread (one at a time per
process, so a burst of clicks cannot start a browser per click), and
recorded under the request's id, so any worker can show it when it is done.
Probe metrics are not kept here: /metrics reads them from the recorded runs
(app.ops.record_metrics), so runs made by the CLI or another host count too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from alerts import incidents
from alerts.models import Incident
from app.alerting.paging import notifier_options
from app.core import leases
from app.core.db import Database, utcnow
from app.core.metrics import Metrics
from app.ops import service as ops
from app.ops.models import ProbeRequest
from app.settings import Settings
from probes import runner, service
from probes.journey import ProbeConfig, RunResult, StepListener, Target, describe
from probes.journeys import JOURNEYS, load
from probes.models import ProbeRun

log = logging.getLogger("summit.probes")


class ShuttingDown(RuntimeError):
    """A run failed while this process was stopping: not the target's fault."""


@dataclass(frozen=True)
class Recorded:
    """A recorded run and the incident it opened or resolved, if any."""

    run: ProbeRun
    incident_event: str | None = None  # "opened" | "resolved"
    incident: Incident | None = None


def probe_config(settings: Settings) -> ProbeConfig:
    return ProbeConfig(
        target=Target(
            base_url=settings.probe_base_url,
            tenant=settings.probe_tenant or None,
            username=settings.probe_username,
            password=settings.probe_secret,
        ),
        artifacts_dir=artifacts_dir(settings),
        chromium_path=settings.chromium_path,
        timeout_seconds=settings.probe_timeout_seconds,
        search_query=settings.probe_search_query,
        entity_name=settings.probe_entity_name,
        other_tenant=settings.probe_other_tenant,
        decision_budget_ms=settings.probe_decision_budget_ms,
        governance_tenants=settings.probe_governance_tenant_names,
    )


def artifacts_dir(settings: Settings) -> Path:
    return (settings.var_dir / "probe-artifacts").resolve()


class ProbeRuntime:
    """Runs probes now, records them, and keeps this process's browser thread."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        metrics: Metrics | None = None,
        keep_warm: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.db = db
        # For the jobs that count what they do (purges, audit verification); probe
        # metrics come from the recorded runs instead (app.ops.record_metrics).
        self.metrics = metrics
        self.config = probe_config(settings)
        self.holder = leases.new_holder()
        self.policy = service.ThresholdPolicy(
            failures=settings.probe_fail_threshold,
            window=settings.probe_fail_window,
            recover_after=settings.probe_recover_after,
        )
        self.retention = service.Retention(
            root=self.config.artifacts_dir, keep=settings.probe_artifacts_keep
        )
        self.notifiers = incidents.load_notifiers(
            settings.incident_notifier_names, notifier_options(settings)
        )
        self.browser = runner.BrowserRunner(
            chromium_path=settings.chromium_path, keep_warm=keep_warm
        )
        self.closing = threading.Event()
        # Whoever runs probes in the foreground (the CLI) listens here: each step
        # as it starts and ends, then the recorded run.
        self.on_step: StepListener | None = None
        self.on_recorded: Callable[[Recorded], None] | None = None
        self._run_now = ThreadPoolExecutor(max_workers=1, thread_name_prefix="summit-run-now")
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(JOURNEYS)

    def kind(self, name: str) -> str:
        return load(name).kind

    @property
    def stale_after(self) -> timedelta:
        """Longer than any run can take (the runner's own limit, plus the queue)."""
        longest = max(len(journey.steps) for journey in JOURNEYS.values()) + 2
        return timedelta(seconds=self.settings.probe_timeout_seconds * longest * 2 + 60)

    def run(
        self,
        name: str,
        *,
        trigger: str,
        run_id: str | None = None,
        on_step: StepListener | None = None,
    ) -> Recorded:
        """Run probe ``name`` now and record it; raises UnknownProbe for a bad name."""
        load(name)  # an unknown name is the caller's mistake, not a failed run
        result = runner.execute(
            name, config=self.config, browser=self.browser, now=utcnow,
            run_id=run_id, on_step=on_step or self.on_step, stopping=self.closing,
        )  # fmt: skip
        if self.closing.is_set() and not result.passed:
            # A probe of this very server fails while its workers stop: that
            # says nothing about the service, so it is not recorded.
            log.warning("probe run failed during shutdown; not recorded", extra={"probe": name})
            raise ShuttingDown(name)
        recorded = self._record(result, trigger)
        if self.on_recorded is not None:
            self.on_recorded(recorded)
        run = recorded.run
        log.info(
            "probe run",
            extra={"probe": name, "status": run.status, "trigger": trigger,
                   "duration_ms": round(run.duration_ms, 1), "failed_step": run.failed_step,
                   "incident": recorded.incident_event},
        )  # fmt: skip
        return recorded

    def _record(self, result: RunResult, trigger: str) -> Recorded:
        with self.db.session(tenant_id=None, write=True) as session:
            run = service.record_run(
                session=session, result=result, trigger=trigger, now=utcnow(),
                policy=self.policy, notifiers=self.notifiers, retention=self.retention,
            )  # fmt: skip
            change = service.incident_change(session=session, run=run)
            session.commit()
        if change is None:
            return Recorded(run)
        return Recorded(run, change[0], change[1])

    # --- run now ----------------------------------------------------------------------

    def request_run(self, name: str, *, trigger: str, requested_by: str | None) -> ProbeRequest:
        """Queue a run of ``name`` on this process's run-now thread and return the
        request at once. A run of the same probe already queued or running is
        returned instead of a second one (clicking twice runs it once)."""
        load(name)
        now = utcnow()
        with self.db.session(tenant_id=None, write=True) as session:
            pending = ops.pending_request(
                session=session, probe=name, now=now, stale_after=self.stale_after
            )
            if pending is not None:
                return pending
            request = ops.create_request(
                session=session, probe=name, trigger=trigger, requested_by=requested_by,
                holder=self.holder, now=now,
            )  # fmt: skip
            session.commit()
        with self._lock:
            if self.closing.is_set():
                self._finish(request.id, "abandoned", "the server is stopping")
                return request
            self._queued.add(request.id)
            self._run_now.submit(self._run_requested, request.id, name, trigger)
        return request

    def _run_requested(self, request_id: str, name: str, trigger: str) -> None:
        with self._lock:
            self._queued.discard(request_id)
        with self.db.session(tenant_id=None, write=True) as session:
            mine = ops.claim_request(
                session=session, request_id=request_id, holder=self.holder, now=utcnow()
            )
            session.commit()
        if not mine:
            return
        try:
            self.run(name, trigger=trigger, run_id=request_id)
        except Exception as exc:  # the run could not be recorded: say so on the request
            log.exception("run-now failed", extra={"probe": name, "request": request_id})
            self._finish(request_id, "abandoned", describe(exc))
            return
        self._finish(request_id, "done")

    def _finish(self, request_id: str, state: str, error: str | None = None) -> None:
        with self.db.session(tenant_id=None, write=True) as session:
            ops.finish_request(
                session=session, request_id=request_id, state=state, now=utcnow(), error=error
            )
            session.commit()

    def close(self) -> None:
        """Stop taking runs; wait for the one running; mark the queued abandoned;
        close the browser from its own thread."""
        with self._lock:
            self.closing.set()
            queued, self._queued = set(self._queued), set()
        self._run_now.shutdown(wait=True, cancel_futures=True)
        for request_id in queued:
            try:
                self._finish(request_id, "abandoned", "the server stopped before it ran")
            except Exception as exc:  # shutting down: the request goes stale on its own
                log.warning("could not mark run request %s abandoned: %s", request_id, exc)
        self.browser.close(timeout=self.settings.probe_timeout_seconds * 6)
