"""``summit demo`` and ``summit drill``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from app import console
from app.core.db import Database, utcnow
from app.demo.client import StepFailed
from app.demo.drill import Drill, Target, drill_passed, report
from app.demo.script import Demo
from app.demo.seed import seed
from app.demo.server import serving
from app.identity.service import Passwords
from app.settings import DEMO_DEFAULT_PASSWORD, Settings


@click.command()
@click.option("--seed-only", is_flag=True, help="Seed the demo data and stop.")
@click.option(
    "--url",
    default="",
    help="A running control plane to show [default: start one on a free loopback port].",
)
@click.option(
    "--events",
    type=click.IntRange(1_000, 10_000_000),
    default=100_000,
    show_default=True,
    help="Events the ingest step loads (1000000 for the full-scale run).",
)
def demo(seed_only: bool, url: str, events: int) -> None:
    """Seed the demo tenants, users and graph (idempotent), then run the whole
    demo against the control plane and narrate it. Exits 1 if a step fails."""
    settings = console.settings()
    _seed(settings)
    if seed_only:
        return
    if url:
        _show(url, settings.demo_password, events, settings.var_dir / "demo")
        return
    log = (settings.var_dir / "demo-serve.log").resolve()
    click.echo(f"starting summit serve for the demo on the loopback (its log: {log})")
    with serving(log=log) as own:
        _show(own, settings.demo_password, events, settings.var_dir / "demo")


def _seed(settings: Settings) -> None:
    if not settings.demo_mode and settings.demo_password == DEMO_DEFAULT_PASSWORD:
        raise console.ConfigurationError(
            f"SUMMIT_DEMO_PASSWORD: the default demo password is refused outside demo mode "
            f"(SUMMIT_ENV={settings.env}); set another one"
        )
    console.migrate(settings)
    db = Database(settings.resolved_database_url)
    try:
        with console.status("seeding the demo data (tenants, users, entities, edges)"):
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


def _show(url: str, password: str, events: int, report_dir: Path) -> None:
    demo = Demo(url=url.rstrip("/"), password=password, echo=click.echo, events=events,
                report_dir=report_dir)  # fmt: skip
    if not demo.run():
        sys.exit(1)


@click.command()
@click.option(
    "--url",
    default="",
    help="The control plane to drill [default: the demo data on a summit serve of its own].",
)
@click.option("--tenant", default="", help="The probe tenant [default: SUMMIT_PROBE_TENANT].")
@click.option("--admin", default="alice", show_default=True, help="An admin of that tenant.")
@click.option("--operator", default="ops", show_default=True, help="An operator (runs probes).")
@click.option("--admin-password", envvar="SUMMIT_DRILL_ADMIN_PASSWORD", default="",
              show_envvar=True, help="[default: the demo password]")  # fmt: skip
@click.option("--operator-password", envvar="SUMMIT_DRILL_OPERATOR_PASSWORD", default="",
              show_envvar=True, help="[default: the demo password]")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The after-action report [default: <var>/drills/drill-<time>.md].")  # fmt: skip
@click.option("--timeout", type=click.IntRange(30, 3600), default=600, show_default=True,
              help="Seconds the whole drill may take.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask before paging a --url control plane.")
def drill(
    url: str, tenant: str, admin: str, operator: str, admin_password: str,
    operator_password: str, out: Path | None, timeout: int, yes: bool,
) -> None:  # fmt: skip
    """Game day: break the golden path on purpose (rename the probe tenant's
    synthetic record), wait for the incident and its page, heal it, wait for the
    resolve, and write an after-action report with detection, paging and recovery
    times. Exits 1 when Summit did not detect, page or recover."""
    settings = console.settings()
    target = Target(
        tenant=tenant or settings.probe_tenant, admin=admin,
        admin_password=admin_password or settings.demo_password, operator=operator,
        operator_password=operator_password or settings.demo_password,
        entity_name=settings.probe_entity_name, search_query=settings.probe_search_query,
    )  # fmt: skip
    now = datetime.now(UTC)
    out = out or settings.var_dir / "drills" / f"drill-{now:%Y%m%dT%H%M%SZ}.md"
    if url:
        if not yes:
            click.confirm(f"This breaks the golden path of {url} and pages its on-call. Go on?",
                          abort=True)  # fmt: skip
        passed = _drill(url.rstrip("/"), target, out, timeout)
    else:
        _seed(settings)
        log = (settings.var_dir / "drill-serve.log").resolve()
        click.echo(f"starting summit serve for the drill on the loopback (its log: {log})")
        # Its scheduler sends the outbox; the drill asks for the probe runs itself.
        sender = {"SUMMIT_SCHEDULER": "true", "SUMMIT_PAGING_OUTBOX_INTERVAL_SECONDS": "1"}
        with serving(log=log, env=sender) as own:
            passed = _drill(own, target, out, timeout)
    if not passed:
        sys.exit(1)


def _drill(url: str, target: Target, out: Path, timeout: int) -> bool:
    game = Drill(url=url, password="", target=target, echo=click.echo, timeout=timeout)
    click.echo(f"Game day against {url}")
    try:
        game.run()
    except StepFailed as exc:
        click.echo(f"✗ the drill did not start: {exc}", err=True)
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(game, now=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"))
    click.echo(f"\nafter-action report: {out}")
    click.echo(out.read_text())
    return drill_passed(game.timeline)
