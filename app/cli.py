"""The ``summit`` command."""

from __future__ import annotations

import os
import shutil
import socket
import sys

import click

from app import console


@click.group(cls=console.SummitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="summit")
@click.option(
    "--traceback",
    is_flag=True,
    help="On an unexpected error, show the full traceback (expected ones are one line).",
)
def main(traceback: bool) -> None:
    """Summit: the SRE control plane for IntelGraph.

    Settings come from the environment (see docs/configuration.md). Expected
    failures print one line and exit 2 (usage, configuration) or 1 (a check
    that failed).
    """


@main.command()
def init() -> None:
    """Create the database schema, or migrate it to the current version."""
    console.migrate(console.settings())


@main.command()
@click.option("--host", help="Address to listen on [default: SUMMIT_HOST or 127.0.0.1].")
@click.option("--port", type=int, help="Port [default: SUMMIT_PORT or 8000].")
@click.option("--workers", type=int, help="gunicorn workers [default: CPU cores + 1].")
@click.option("--threads", type=int, help="Threads per worker; >1 uses gthread [default: 1].")
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Migrate, then serve with gunicorn (several workers) until interrupted."""
    settings = console.settings()
    console.migrate(settings)
    host = host or settings.host
    port = settings.port if port is None else port
    # CPU-bound Python: one sync worker per core plus one to cover I/O waits
    # measured best on 2 cores (docs/benchmarks.md); more workers only thrash.
    workers = workers or settings.workers or (os.cpu_count() or 1) + 1
    threads = threads or settings.threads
    _check_free(host, port)
    metrics_dir = settings.var_dir.resolve() / "prometheus-multiproc"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # a previous run's counters are not ours
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # One tenant may keep all but one worker thread busy: another tenant always
    # finds one free, however slow the first tenant's requests are.
    # With only two, a cap of one would serialise each tenant: no cap then.
    slots = workers * threads
    os.environ.setdefault("SUMMIT_TENANT_MAX_INFLIGHT", str(slots - 1 if slots >= 3 else 0))
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


def _check_free(host: str, port: int) -> None:
    """gunicorn would print a page of retries for a port in use: say it in one line."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        raise console.ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror} (stop what runs there, "
            "or choose another with --port or SUMMIT_PORT)"
        ) from None


def _register() -> None:
    """Each domain's commands live beside it (``app/<domain>/commands.py``)."""
    from app.alerting.commands import alerts
    from app.alerting.paging_commands import paging_group
    from app.backup.commands import backup, restore
    from app.demo.commands import demo, drill
    from app.evidence.commands import evidence
    from app.governance.commands import audit_group
    from app.ingest.commands import ingest
    from app.ops.commands import jobs, preflight, probes
    from app.ops.dashboard_commands import dashboards
    from app.quotas.commands import quotas_group

    for command in (
        alerts,
        audit_group,
        backup,
        dashboards,
        demo,
        drill,
        evidence,
        ingest,
        jobs,
        paging_group,
        preflight,
        probes,
        quotas_group,
        restore,
    ):
        main.add_command(command)


_register()


if __name__ == "__main__":  # pragma: no cover
    main()
