"""``summit demo``."""

from __future__ import annotations

import sys

import click

from app import console
from app.core.db import Database, utcnow
from app.demo.script import Demo
from app.demo.seed import seed
from app.demo.server import serving
from app.identity.service import Passwords
from app.settings import DEMO_DEFAULT_PASSWORD


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
    if seed_only:
        return
    if url:
        _show(url, settings.demo_password, events)
        return
    log = (settings.var_dir / "demo-serve.log").resolve()
    click.echo(f"starting summit serve for the demo on the loopback (its log: {log})")
    with serving(log=log) as own:
        _show(own, settings.demo_password, events)


def _show(url: str, password: str, events: int) -> None:
    if not Demo(url=url.rstrip("/"), password=password, echo=click.echo, events=events).run():
        sys.exit(1)
