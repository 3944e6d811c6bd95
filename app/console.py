"""What every ``summit`` command shares: settings that fail with one clear line,
the database, and the schema migration. Imports no Flask."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from app.core.db import Database
from app.core.migrate import upgrade
from app.settings import Settings, SettingsError, load_settings


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def migrate(current: Settings) -> None:
    """Create or migrate the schema (every Alembic head)."""
    current.var_dir.mkdir(parents=True, exist_ok=True)
    db = Database(current.resolved_database_url)
    try:
        upgrade(db.engine)
    finally:
        db.dispose()
    click.echo(f"schema is current ({redacted(current.resolved_database_url)})")


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
