"""``summit probes``, ``summit jobs`` and ``summit preflight``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click

from app import console
from app.core.db import Database, utcnow
from app.ops import service as ops
from app.ops.board import incident_card
from app.ops.models import JobStatus
from app.ops.runtime import ProbeRuntime, Recorded
from app.ops.scheduler import JOBS, JobFailed, run_job
from app.settings import DEMO_DEFAULT_PASSWORD
from probes.isolation import Credentials, Preflight, PreflightError
from probes.journey import StepRecord
from probes.journeys import UnknownProbe


@console.explains(UnknownProbe)
def _unknown_probe(exc: UnknownProbe) -> click.ClickException:
    return console.ConfigurationError(exc.message)


@console.explains(PreflightError)
def _preflight_setup(exc: PreflightError) -> click.ClickException:
    return console.ConfigurationError(str(exc))


@click.group()
def preflight() -> None:
    """Checks to run against a deployment before it takes traffic."""


@preflight.command("isolation")
@click.option("--url", required=True, help="Base URL of the running server.")
@click.option(
    "--tenant-a",
    default="acme:alice",
    show_default=True,
    help="TENANT:ADMIN whose data the sweep looks for (created, then removed).",
)
@click.option(
    "--tenant-b",
    default="globex:carol",
    show_default=True,
    help="TENANT:USER of the outsider who probes every route.",
)
@click.option("--operator", default="ops", show_default=True, help="A platform operator.")
@click.option(
    "--password-env",
    default="SUMMIT_DEMO_PASSWORD",
    show_default=True,
    help="Environment variable holding the password of all three (default: the demo one).",
)
def preflight_isolation(
    url: str, tenant_a: str, tenant_b: str, operator: str, password_env: str
) -> None:
    """Call every route as another tenant, an operator and anonymously; fail on any leak.

    Creates a few entities named preflight-... and deletes them when done.
    Exits 1 when a route leaks, 2 when the sweep cannot start.
    """
    target = console.base_url(url)
    password = os.environ.get(password_env) or (
        DEMO_DEFAULT_PASSWORD if password_env == "SUMMIT_DEMO_PASSWORD" else None  # noqa: S105
    )
    if not password:
        raise console.ConfigurationError(f"{password_env} is not set: export the password there")
    a, b = _pair(tenant_a, "--tenant-a"), _pair(tenant_b, "--tenant-b")
    with console.status("isolation preflight: reading the routes") as say:
        sweep = Preflight(
            target,
            Credentials(password, a, b, operator),
            on_call=lambda method, path, persona: say.update(
                f"isolation preflight: {method} {path} as {persona} ({sweep.checked} calls)"
            ),
        )
        findings = sweep.run()
    for finding in findings:
        click.echo(
            f"LEAK  {finding.method:6} {finding.path:45} as {finding.persona:9} "
            f"-> {finding.status}: {finding.problem}"
        )
    click.echo(f"isolation preflight: {sweep.checked} calls, {len(findings)} problems")
    click.echo(f"cleaned up: {sweep.cleanup_report()}")
    if findings:
        sys.exit(1)


def _pair(value: str, option: str) -> tuple[str, str]:
    tenant, _, user = value.partition(":")
    if not tenant or not user:
        raise console.ConfigurationError(f"{option} {value!r}: give TENANT:USER, like acme:alice")
    return tenant, user


@click.group()
def probes() -> None:
    """Synthetic probes (golden path in Chromium, policy decisions)."""


@probes.command("run")
@click.argument("name")
def probes_run(name: str) -> None:
    """Run probe NAME now against SUMMIT_PROBE_TARGET_URL and record the run.

    Prints each step as it ends, whether the run opened or resolved an
    incident, and where its artifacts are. Exits 1 when the probe fails.
    """
    with foreground_runtime() as runtime:
        recorded = runtime.run(name, trigger="cli")
    if not recorded.run.passed:
        sys.exit(1)


@click.group()
def jobs() -> None:
    """Scheduled jobs (run by the scheduler leader of `summit serve`)."""


@jobs.command("list")
def jobs_list() -> None:
    """Every job: its interval, its last run and result, and its next run."""
    settings = console.settings()
    db = Database(settings.resolved_database_url)
    try:
        with db.session(tenant_id=None) as session:
            last = ops.job_statuses(session=session)
            facts = ops.scheduler_facts(session=session, enabled=True, now=utcnow())
    finally:
        db.dispose()
    click.echo(f"scheduler: {'led by ' + facts.leader if facts.leader else 'no leader running'}")
    rows = [("JOB", "EVERY", "LAST RUN", "RESULT", "NEXT RUN")]
    errors = []
    for name, (setting, _function) in JOBS.items():
        status = last.get(name)
        rows.append((name, f"{getattr(settings, setting)} s", _last(status), _result(status),
                     _next(facts.next_runs.get(name), facts.leader)))  # fmt: skip
        if status is not None and not status.ok and status.error:
            errors.append(f"{name}: {status.error}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
    for line in errors:
        click.echo(f"last error of {line}")


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _last(status: JobStatus | None) -> str:
    return "never" if status is None else f"{_when(status.started_at)} ({status.trigger})"


def _result(status: JobStatus | None) -> str:
    if status is None:
        return "-"
    seconds = (status.finished_at - status.started_at).total_seconds()
    return f"{'ok' if status.ok else 'FAILED'} in {seconds:.1f} s"


def _next(at: datetime | None, leader: str | None) -> str:
    if at is None:
        return "not scheduled (summit serve schedules jobs)"
    late = "" if leader else ", but no scheduler is running"
    return f"{_when(at)}{late}"


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run job NAME once, now, in this process (recorded with trigger "cli").

    Exits 1 when the job fails.
    """
    if name not in JOBS:
        raise console.ConfigurationError(f"no job named {name!r}; known: {', '.join(JOBS)}")
    started = utcnow()
    with foreground_runtime() as runtime:
        try:
            count = run_job(runtime, name, trigger="cli")
        except JobFailed as exc:
            raise console.CheckFailed(f"job {name} failed: {exc}") from None
    seconds = (utcnow() - started).total_seconds()
    click.echo(f"job {name}: ok in {seconds:.1f} s (count {count})")


@contextmanager
def foreground_runtime() -> Iterator[ProbeRuntime]:
    """A probe runtime on the configured database that shows each run on the
    terminal as it goes; closed (browser and all) when the command ends."""
    settings = console.settings()
    db = Database(settings.resolved_database_url)
    runtime = ProbeRuntime(settings=settings, db=db)
    try:
        with console.status("starting") as progress:
            runtime.on_step = StepPrinter(progress)
            runtime.on_recorded = RunPrinter(progress, runtime.config.artifacts_dir)
            yield runtime
    finally:
        runtime.close()
        db.dispose()


class StepPrinter:
    """Step names as they happen: the spinner names the running step, and a line
    is printed as each ends."""

    def __init__(self, progress: console.Progress) -> None:
        self.progress = progress

    def __call__(self, name: str, record: StepRecord | None) -> None:
        if record is None:
            self.progress.update(f"running step {name}")
            return
        mark = "✓" if record.ok else "✗"
        error = (record.error or "")[:90]  # all of it follows, after "failed at"
        self.progress.line(f"  {mark} {name:<24} {record.ms:8.1f} ms  {error}".rstrip())


class RunPrinter:
    """A recorded run in a few lines: result, error, incident, artifacts by absolute path."""

    def __init__(self, progress: console.Progress, artifacts: Path) -> None:
        self.say = progress.line
        self.artifacts = artifacts

    def __call__(self, recorded: Recorded) -> None:
        run = recorded.run
        self.say(f"{run.probe}: {run.status} in {run.duration_ms:.0f} ms "
                 f"(run {run.id}, trigger {run.trigger})")  # fmt: skip
        if run.error:
            self.say(f"  failed at {run.failed_step}: {run.error}")
        incident = recorded.incident
        if recorded.incident_event and incident is not None:
            what = incident_card(incident).what
            self.say(f"  incident {recorded.incident_event}: {what} (id {incident.id})")
        else:
            self.say("  incident: none opened or resolved by this run")
        for path in run.artifacts:
            self.say(f"  artifact: {(self.artifacts / path).resolve()}")
            if path.endswith("trace.zip"):
                self.say(f"  open it:  playwright show-trace {(self.artifacts / path).resolve()}")
