"""The ``summit`` command."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from app.settings import DEMO_DEFAULT_PASSWORD, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from app.ops.runtime import ProbeRuntime


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="summit")
def main() -> None:
    """Summit: the SRE control plane for IntelGraph.

    Settings come from the environment (see docs/configuration.md).
    """


@main.command()
def init() -> None:
    """Create the database schema, or migrate it to the current version."""
    _migrate(_settings())


def _migrate(settings: Settings) -> None:
    from app.core.db import Database
    from app.core.migrate import upgrade

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        upgrade(db.engine)
    finally:
        db.dispose()
    click.echo(f"schema is current ({_redacted(settings.resolved_database_url)})")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--host", help="Address to listen on [default: SUMMIT_HOST or 127.0.0.1].")
@click.option("--port", type=int, help="Port [default: SUMMIT_PORT or 8000].")
@click.option("--workers", type=int, help="gunicorn workers [default: CPU cores + 1].")
@click.option("--threads", type=int, help="Threads per worker; >1 uses gthread [default: 1].")
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Migrate, then serve with gunicorn (several workers) until interrupted."""
    settings = _settings()
    _migrate(settings)
    host = host or settings.host
    port = settings.port if port is None else port
    # CPU-bound Python: one sync worker per core plus one to cover I/O waits
    # measured best on 2 cores (docs/benchmarks.md); more workers only thrash.
    workers = workers or settings.workers or (os.cpu_count() or 1) + 1
    threads = threads or settings.threads
    metrics_dir = settings.var_dir.resolve() / "prometheus-multiproc"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # a previous run's counters are not ours
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # Served, the probes run on schedule (one worker leads) against this server.
    os.environ.setdefault("SUMMIT_SCHEDULER", "true")
    loopback = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    os.environ.setdefault("SUMMIT_PROBE_TARGET_URL", f"http://{loopback}:{port}")
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:app.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "app.wsgi:application",
    ]
    click.echo(f"Summit on http://{host}:{port}/ ({workers} workers x {threads} threads)")
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - gunicorn replaces us: signals reach it directly


@main.command()
@click.option("--seed-only", is_flag=True, help="Seed the demo data and stop.")
def demo(seed_only: bool) -> None:
    """Seed the demo tenants, users and graph (idempotent), then run the demo script."""
    from app.core.db import Database, utcnow
    from app.demo.seed import seed
    from app.identity.service import Passwords

    settings = _settings()
    if not settings.demo_mode and settings.demo_password == DEMO_DEFAULT_PASSWORD:
        raise click.ClickException(
            f"SUMMIT_DEMO_PASSWORD: the default demo password is refused outside demo mode "
            f"(SUMMIT_ENV={settings.env}); set another one"
        )
    _migrate(settings)
    db = Database(settings.resolved_database_url)
    try:
        report = seed(
            db=db,
            passwords=Passwords(settings.password_hash_profile),
            password=settings.demo_password,
            now=utcnow(),
        )
    finally:
        db.dispose()
    click.echo(
        f"demo data: +{report.tenants} tenants, +{report.users} users, "
        f"+{report.entities} entities, +{report.edges} edges"
        + ("" if report.changed else " (already seeded; nothing changed)")
    )
    if not seed_only:
        from app.demo.script import run

        run(echo=click.echo, password=settings.demo_password)


@main.group()
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
    from probes.isolation import Credentials, Preflight, PreflightError

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


@main.group()
def probes() -> None:
    """Synthetic probes (golden path in Chromium, policy decisions)."""


@probes.command("run")
@click.argument("name")
def probes_run(name: str) -> None:
    """Run probe NAME now against SUMMIT_PROBE_TARGET_URL and record the run.

    Exits 1 when the probe fails.
    """
    _run_now(lambda runtime: runtime.run(name, trigger="cli"))


@main.group()
def jobs() -> None:
    """Scheduled jobs (run by the scheduler leader of `summit serve`)."""


@jobs.command("list")
def jobs_list() -> None:
    """Every job with its interval."""
    from app.ops.scheduler import JOBS

    settings = _settings()
    for name, (setting, function) in JOBS.items():
        click.echo(f"{name}\tevery {getattr(settings, setting)} s\t{function.__name__}")


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run job NAME once, now, in this process."""
    from app.ops.scheduler import JOBS, run_job

    if name not in JOBS:
        raise click.ClickException(f"no job named {name!r}; known: {', '.join(JOBS)}")
    click.echo(f"{name}: {_run_now(lambda runtime: run_job(runtime, name))}")


def _run_now(work: Callable[[ProbeRuntime], Any]) -> Any:
    """``work(runtime)`` with a runtime on the configured database; a probe run
    is printed step by step, and a failed one exits 1."""
    from app.core.db import Database
    from app.ops.runtime import ProbeRuntime
    from probes.journeys import UnknownProbe
    from probes.models import ProbeRun

    settings = _settings()
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


if __name__ == "__main__":  # pragma: no cover
    main()
