"""``summit demo``."""

from __future__ import annotations

import click

from app import console
from app.core.db import Database, utcnow
from app.demo.seed import seed
from app.identity.service import Passwords
from app.settings import DEMO_DEFAULT_PASSWORD


@click.command()
@click.option("--seed-only", is_flag=True, help="Seed the demo data and stop.")
def demo(seed_only: bool) -> None:
    """Seed the demo tenants, users and graph (idempotent), then run the demo script."""
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
    if not seed_only:
        from app.demo.script import run  # builds an app: only when asked

        run(echo=click.echo, password=settings.demo_password)
