"""``summit alerts build|who|serve-local``: SLO rules and routing, from the command line."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import click
import yaml

from alerts import build, routing, rules, slo, who
from app import console
from app.ops.scheduler import JOBS
from app.settings import Settings
from probes.journeys import JOURNEYS

PROMETHEUS, ALERTMANAGER = "prometheus", "prometheus-alertmanager"


@click.group()
def alerts() -> None:
    """SLO rules, Alertmanager routing, and who gets an alert."""


def probe_alerts(settings: Settings) -> list[rules.ProbeAlert]:
    """One N-of-M alert per probe, with the thresholds the probes themselves use."""
    return [
        rules.ProbeAlert(
            probe=name,
            interval=timedelta(seconds=getattr(settings, JOBS[name][0])),
            failures=settings.probe_fail_threshold,
            window=settings.probe_fail_window,
        )
        for name in sorted(JOURNEYS)
        if name in JOBS
    ]


def build_folder(
    settings: Settings,
    *,
    specs: Path,
    out: Path,
    routing_file: Path,
    base_url: str | None = None,
    time_scale: float = 1.0,
    alertmanager: str = "127.0.0.1:9093",
    secrets_dir: Path | None = None,
) -> tuple[list[Path], list[str]]:
    loaded = slo.load_dir(specs)
    links = rules.Links(base_url or settings.summit_url, settings.alerts_dashboard_url)
    options = rules.Options(links=links, time_scale=time_scale)
    written = build.write(
        out,
        slos=loaded.slos,
        probes=probe_alerts(settings),
        routing_file=routing_file,
        options=options,
        alertmanager=alertmanager,
        secrets_dir=secrets_dir,
    )
    return written, loaded.warnings


@alerts.command("build")
@click.option(
    "--specs",
    type=click.Path(file_okay=False, path_type=Path),
    default=build.SPECS_DIR,
    show_default="alerts/slos",
    help="Folder of Sloth prometheus/v1 specs.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/alerts"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--routing",
    "routing_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=build.ROUTING_FILE,
    show_default="alerts/routing.yaml",
)
@click.option(
    "--base-url",
    help="Where alerts link (runbooks, SLO view) and the webhook goes "
    "[default: SUMMIT_PUBLIC_URL or this server].",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1),
    default=1.0,
    hidden=True,
    help="Tests only: divide every window and timing by this.",
)
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run promtool and amtool on the output when they are installed.")  # fmt: skip
@click.option(
    "--secrets-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where Alertmanager reads the secret files the routing names (webhook token, "
    "PagerDuty routing keys), keeping their names [default: the paths in the routing file].",
)
def build_command(
    specs: Path, out: Path, routing_file: Path, base_url: str | None, time_scale: float,
    check: bool, secrets_dir: Path | None,
) -> None:  # fmt: skip
    """Write Prometheus rules, alertmanager.yml and prometheus.yml into OUT."""
    try:
        written, warnings = build_folder(
            console.settings(), specs=specs, out=out, routing_file=routing_file,
            base_url=base_url, time_scale=time_scale,
            secrets_dir=secrets_dir.resolve() if secrets_dir else None,
        )  # fmt: skip
    except (slo.SpecError, routing.RoutingError) as exc:
        raise click.ClickException(str(exc)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    for path in written:
        click.echo(f"wrote {path}")
    if check:
        _check(out)


def _check(out: Path) -> None:
    """The Prometheus project's own checks, where the tools are installed."""
    commands = [
        ["promtool", "check", "rules", *map(str, sorted((out / build.RULES_DIR).glob("*.yml")))],
        ["amtool", "check-config", str(out / "alertmanager.yml")],
    ]
    for argv in commands:
        if shutil.which(argv[0]) is None:
            click.echo(f"{argv[0]} not installed: not checked", err=True)
            continue
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode:
            raise click.ClickException(f"{' '.join(argv[:3])} failed:\n{done.stdout}{done.stderr}")
        click.echo(f"{' '.join(argv[:3])}: ok")


@alerts.command("who")
@click.option(
    "--at",
    "at_text",
    required=True,
    help="ISO time, e.g. 2026-11-28T03:00; without an offset, the responders' zone.",
)
@click.option("--labels", "labels_text", required=True, help="The alert's labels: K=V,K=V.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An alertmanager.yml [default: generated from alerts/routing.yaml].",
)
@click.option("--routing", "routing_file", type=click.Path(dir_okay=False, path_type=Path),
              default=build.ROUTING_FILE, show_default="alerts/routing.yaml")  # fmt: skip
def who_command(
    at_text: str, labels_text: str, config_file: Path | None, routing_file: Path
) -> None:
    """Which route and receiver an alert reaches at a moment, and whether quiet hours mute it."""
    try:
        plan = routing.load(routing_file)
        config = _config(config_file, plan)
        labels = who.parse_labels(labels_text)
        at = who.parse_at(at_text, plan.location)
    except (routing.RoutingError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"at {at.isoformat()} = {at.astimezone(UTC):%Y-%m-%dT%H:%MZ}")
    names = {(i,): route.name for i, route in enumerate(plan.routes)} if not config_file else {}
    for found in who.who(config, labels, at):
        route = "root" if not found.path else "route " + ".".join(map(str, found.path))
        route = f"route {names[found.path]}" if found.path in names else route
        where = f"{route} [{', '.join(found.matchers)}]" if found.matchers else route
        state = f"MUTED by {', '.join(found.muted_by)}" if found.muted else "delivered"
        click.echo(f"{where} -> receiver {found.receiver}: {state}")


def _config(config_file: Path | None, plan: routing.Routing) -> dict[str, Any]:
    if config_file is not None:
        loaded: dict[str, Any] = yaml.safe_load(config_file.read_text())
        return loaded
    return routing.alertmanager_config(plan, base_url=console.settings().summit_url)


@alerts.command("serve-local")
@click.option(
    "--target",
    help="The control plane to scrape [default: SUMMIT_PUBLIC_URL "
    "or http://127.0.0.1:SUMMIT_PORT].",
)
@click.option("--prometheus-port", type=int, default=9090, show_default=True)
@click.option("--alertmanager-port", type=int, default=9093, show_default=True)
@click.option("--scrape-interval", default="15s", show_default=True)  # fmt: skip
def serve_local(
    target: str | None, prometheus_port: int, alertmanager_port: int, scrape_interval: str
) -> None:
    """Run Debian's prometheus and prometheus-alertmanager on 127.0.0.1 with the
    generated rules and routing, scraping the control plane, until Ctrl-C."""
    settings = console.settings()
    for tool in (PROMETHEUS, ALERTMANAGER):
        if shutil.which(tool) is None:
            raise click.ClickException(f"{tool} is not installed (scripts/setup installs it)")
    home = (settings.var_dir / "alerting").resolve()
    base = (target or settings.summit_url).rstrip("/")
    am = f"127.0.0.1:{alertmanager_port}"
    secrets_dir = home / "secrets"
    try:
        build_folder(settings, specs=build.SPECS_DIR, out=home / "build",
                     routing_file=build.ROUTING_FILE, base_url=base, alertmanager=am,
                     secrets_dir=secrets_dir)  # fmt: skip
        _write_secrets(secrets_dir, routing.load(build.ROUTING_FILE), settings)
    except (slo.SpecError, routing.RoutingError) as exc:
        raise click.ClickException(str(exc)) from None
    config = build.prometheus_config(
        target=base.split("://", 1)[1], alertmanager=am, interval=scrape_interval,
        scheme=base.split("://", 1)[0],
    )  # fmt: skip
    (home / "build" / "prometheus.yml").write_text(build.dump(config, "summit alerts serve-local"))
    _run_both(home, prometheus_port, alertmanager_port)


def _write_secrets(folder: Path, plan: routing.Routing, settings: Settings) -> None:
    """The secret files Alertmanager reads, from this server's own settings (0600);
    a secret that is not set is said, not invented."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    wanted: dict[str, tuple[str, str]] = {}
    if plan.webhook_credentials_file:
        wanted[Path(plan.webhook_credentials_file).name] = (
            settings.alerts_webhook_token,
            "SUMMIT_ALERTS_WEBHOOK_TOKEN",
        )
    receivers = routing.alertmanager_config(plan, base_url="http://unused")["receivers"]
    for path in routing.secret_files(receivers):
        wanted.setdefault(
            Path(path).name, (settings.pagerduty_routing_key, "PAGERDUTY_ROUTING_KEY")
        )
    for name, (value, setting) in wanted.items():
        target = folder / name
        if not value:
            target.unlink(missing_ok=True)
            click.echo(f"warning: {setting} is not set, so Alertmanager has no {name}: "
                       "its deliveries that need it fail (see its log)", err=True)  # fmt: skip
            continue
        target.touch(mode=0o600)
        target.write_text(value)


def _argv(home: Path, prometheus_port: int, alertmanager_port: int) -> list[list[str]]:
    prom, am = f"127.0.0.1:{prometheus_port}", f"127.0.0.1:{alertmanager_port}"
    return [
        [ALERTMANAGER, f"--config.file={home / 'build' / 'alertmanager.yml'}",
         f"--storage.path={home / 'alertmanager-data'}", f"--web.listen-address={am}",
         "--cluster.listen-address=", f"--web.external-url=http://{am}"],
        [PROMETHEUS, f"--config.file={home / 'build' / 'prometheus.yml'}",
         f"--storage.tsdb.path={home / 'prometheus-data'}", f"--web.listen-address={prom}",
         f"--web.external-url=http://{prom}"],
    ]  # fmt: skip


def _run_both(home: Path, prometheus_port: int, alertmanager_port: int) -> None:
    """Start both, stop both (by PID) on Ctrl-C, SIGTERM or when either exits."""
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    # Ctrl-C must stop both even when this process was started with SIGINT
    # ignored (a background job of a shell without job control: Python then
    # leaves it ignored, and both servers ran on after the signal); SIGTERM
    # (a supervisor, `kill`) stops them the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for argv in _argv(home, prometheus_port, alertmanager_port):
            log = (home / f"{argv[0]}.log").open("ab")
            logs.append(log)
            processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))  # noqa: S603
        click.echo(
            f"Alertmanager on http://127.0.0.1:{alertmanager_port}/ (pid {processes[0].pid})"
        )
        click.echo(f"Prometheus on http://127.0.0.1:{prometheus_port}/ (pid {processes[1].pid})")
        click.echo(f"logs and data in {home}; Ctrl-C stops both")
        sys.stdout.flush()
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        failed = next(p for p in processes if p.poll() is not None)
        name = Path(str(failed.args[0])).name  # type: ignore[index]
        raise click.ClickException(f"{name} exited with {failed.returncode}; see {home}")
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        _stop(processes)
        for log in logs:
            log.close()


def _stop(processes: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
    """SIGTERM both at once; whatever still runs after ``grace`` seconds in all
    (not each) is killed, so Ctrl-C is answered within ``grace`` s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
