"""The probes as this process runs them: settings -> journey config, run -> record ->
metrics. Used by the scheduler's jobs, the CLI and the HTTP API alike. Imports
no Flask."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from alerts import incidents
from app.core.db import Database, utcnow
from app.core.metrics import Metrics
from app.settings import Settings
from probes import runner, service
from probes.journey import ProbeConfig, Target
from probes.journeys import JOURNEYS, load
from probes.models import ProbeRun

log = logging.getLogger("summit.probes")


class ShuttingDown(RuntimeError):
    """A run failed while this process was stopping: not the target's fault."""


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
        self.metrics = metrics
        self.config = probe_config(settings)
        self.policy = service.ThresholdPolicy(
            failures=settings.probe_fail_threshold,
            window=settings.probe_fail_window,
            recover_after=settings.probe_recover_after,
        )
        self.retention = service.Retention(
            root=self.config.artifacts_dir, keep=settings.probe_artifacts_keep
        )
        self.notifiers = incidents.load_notifiers(settings.incident_notifier_names)
        self.browser = runner.BrowserRunner(
            chromium_path=settings.chromium_path, keep_warm=keep_warm
        )
        self.closing = threading.Event()

    @property
    def names(self) -> list[str]:
        return list(JOURNEYS)

    def kind(self, name: str) -> str:
        return load(name).kind

    def run(self, name: str, *, trigger: str) -> ProbeRun:
        """Run probe ``name`` now and record it; raises UnknownProbe for a bad name."""
        load(name)  # an unknown name is the caller's mistake, not a failed run
        result = runner.execute(name, config=self.config, browser=self.browser, now=utcnow)
        if self.closing.is_set() and not result.passed:
            # A probe of this very server fails while its workers stop: that
            # says nothing about the service, so it is not recorded.
            log.warning("probe run failed during shutdown; not recorded", extra={"probe": name})
            raise ShuttingDown(name)
        with self.db.session(tenant_id=None, write=True) as session:
            run = service.record_run(
                session=session,
                result=result,
                trigger=trigger,
                now=utcnow(),
                policy=self.policy,
                notifiers=self.notifiers,
                retention=self.retention,
            )
            session.commit()
        if self.metrics is not None:
            self.metrics.observe_probe(
                probe=name,
                passed=result.passed,
                seconds=result.duration_ms / 1000,
                steps=[(step.name, step.ms / 1000) for step in result.steps],
            )
        log.info(
            "probe run",
            extra={"probe": name, "status": run.status, "trigger": trigger,
                   "duration_ms": round(run.duration_ms, 1), "failed_step": run.failed_step},
        )  # fmt: skip
        return run

    def close(self) -> None:
        self.closing.set()
        self.browser.close(timeout=self.settings.probe_timeout_seconds * 6)
