"""The ``summit`` command."""

from __future__ import annotations

import os
import shutil
import sys

import click

from app.settings import DEMO_DEFAULT_PASSWORD, Settings, SettingsError, load_settings


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
    from app.db import Database
    from app.migrate import upgrade

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
    from app.db import Database, utcnow
    from app.demo import seed
    from app.security import Passwords

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
        from app.demo_script import run

        run(echo=click.echo, password=settings.demo_password)


if __name__ == "__main__":  # pragma: no cover
    main()
