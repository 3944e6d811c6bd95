"""``summit backup`` and ``summit restore``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from app import console
from app.backup import service
from app.backup.errors import Corrupt, Refused
from app.core.db import utcnow


@console.explains(Refused)
def _refused(exc: Refused) -> click.ClickException:
    return console.ConfigurationError(str(exc))


@console.explains(Corrupt)
def _corrupt(exc: Corrupt) -> click.ClickException:
    return console.CheckFailed(str(exc))


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (replaced atomically if it exists).",
)
def backup(out: Path) -> None:
    """Back up the database (DATABASE_URL, or SQLite in SUMMIT_VAR_DIR) to one file
    with a checksum: SQLite's online backup, or pg_dump for PostgreSQL. Safe
    while `summit serve` runs."""
    url = console.settings().resolved_database_url
    started = time.perf_counter()
    with console.status("backing up") as progress:
        manifest = service.backup(url=url, out=out, now=utcnow(), step=progress.update)
    took = time.perf_counter() - started
    click.echo(
        f"backed up the {manifest.kind} database ({console.redacted(url)}) to {out}: "
        f"{len(manifest.tables)} tables, {manifest.rows:,} rows, {_size(out.stat().st_size)}, "
        f"in {took:.2f} s"
    )
    click.echo(f"sha256 {manifest.sha256}; schema revisions {', '.join(manifest.revisions)}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace a database that holds data (stop Summit first).",
)
def restore(file: Path, force: bool) -> None:
    """Restore the database from FILE (made by `summit backup`): checks the checksum,
    the database kind and the schema version first, replaces the database in one
    transaction, then checks every table's row count against the backup's.
    Refuses a database that holds data unless --force. Exits 1 on a corrupt file."""
    settings = console.settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)  # a new host: as `summit init` does
    url = settings.resolved_database_url
    started = time.perf_counter()
    with console.status("restoring") as progress:
        done = service.restore(url=url, path=file, force=force, step=progress.update)
    took = time.perf_counter() - started
    made = done.manifest
    click.echo(
        f"restored the {made.kind} database ({console.redacted(url)}) from {file} "
        f"(made {made.created_at}): checksum ok, {len(done.tables)} tables and "
        f"{sum(done.tables.values()):,} rows, every count as in the backup, in {took:.2f} s"
    )
    if done.migrate:
        click.echo("the backup's schema is older than this Summit's: run `summit init` next")
    click.echo("next: `summit audit verify`, then start Summit (see runbooks/bcdr.md)")


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:,.1f} KiB"
    return f"{size / 1024**2:,.1f} MiB"
