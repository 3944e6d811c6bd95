"""``summit probes``, ``summit jobs`` and ``summit preflight``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from app import console
from app.core.db import Database
from app.ops.runtime import ProbeRuntime
from app.ops.scheduler import JOBS, run_job
from app.settings import DEMO_DEFAULT_PASSWORD
from probes.isolation import Credentials, Preflight, PreflightError
from probes.journeys import UnknownProbe
from probes.models import ProbeRun


@click.group()
def preflight() -> None:
    """Checks to run against a deployment before it takes traffic."""


@preflight.command("isolation")
@click.option("--url", required=True, help="Base URL of the running server.")
@click.option(
    "--tenant-a",
    default="acme:alice",
    show_default=True,
    help="TENANT:ADMIN whose data is created and must stay hidden.",
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

    Creates entities named preflight-... in both tenants: run it on staging or demo data.
    """
    password = os.environ.get(password_env) or (
        DEMO_DEFAULT_PASSWORD if password_env == "SUMMIT_DEMO_PASSWORD" else None  # noqa: S105
    )
    if not password:
        raise click.ClickException(f"{password_env} is not set")
    a, b = tenant_a.split(":", 1), tenant_b.split(":", 1)
    sweep = Preflight(url, Credentials(password, (a[0], a[1]), (b[0], b[1]), operator))
    try:
        findings = sweep.run()
    except PreflightError as exc:
        raise click.ClickException(str(exc)) from None
    for finding in findings:
        click.echo(
            f"LEAK  {finding.method:6} {finding.path:45} as {finding.persona:9} "
            f"-> {finding.status}: {finding.problem}"
        )
    click.echo(f"isolation preflight: {sweep.checked} calls, {len(findings)} problems")
    if findings:
        raise SystemExit(1)


@click.group()
def probes() -> None:
    """Synthetic probes (golden path in Chromium, policy decisions)."""


@probes.command("run")
@click.argument("name")
def probes_run(name: str) -> None:
    """Run probe NAME now against SUMMIT_PROBE_TARGET_URL and record the run.

    Exits 1 when the probe fails.
    """
    _run_now(lambda runtime: runtime.run(name, trigger="cli"))


@click.group()
def jobs() -> None:
    """Scheduled jobs (run by the scheduler leader of `summit serve`)."""


@jobs.command("list")
def jobs_list() -> None:
    """Every job with its interval."""
    settings = console.settings()
    for name, (setting, function) in JOBS.items():
        click.echo(f"{name}\tevery {getattr(settings, setting)} s\t{function.__name__}")


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run job NAME once, now, in this process."""
    if name not in JOBS:
        raise click.ClickException(f"no job named {name!r}; known: {', '.join(JOBS)}")
    click.echo(f"{name}: {_run_now(lambda runtime: run_job(runtime, name))}")


def _run_now(work: Callable[[ProbeRuntime], Any]) -> Any:
    """``work(runtime)`` with a runtime on the configured database; a probe run
    is printed step by step, and a failed one exits 1."""
    settings = console.settings()
    db = Database(settings.resolved_database_url)
    runtime = ProbeRuntime(settings=settings, db=db)
    try:
        result = work(runtime)
    except UnknownProbe as exc:
        raise click.ClickException(exc.message) from None
    finally:
        runtime.close()
        db.dispose()
    if isinstance(result, ProbeRun):
        _echo_run(result)
        if not result.passed:
            sys.exit(1)
    return result


def _echo_run(run: Any) -> None:
    for step in run.steps:
        mark = "✓" if step["ok"] else "✗"
        click.echo(f"  {mark} {step['name']:<24} {step['ms']:8.1f} ms  {step['error'] or ''}")
    click.echo(f"{run.probe}: {run.status} in {run.duration_ms:.0f} ms (run {run.id})")
    if run.error:
        click.echo(f"  failed at {run.failed_step}: {run.error}")
    for path in run.artifacts:
        click.echo(f"  artifact: {path}")
