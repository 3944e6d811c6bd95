"""``summit audit``: verify the audit chains, sign and export checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app import console
from app.core.db import Database, utcnow
from app.governance import jobs
from governance import audit
from governance.audit import Checkpoint


def _chosen(db: Database, tenant: str | None) -> list[tuple[int, str]]:
    known = jobs.tenants(db)
    if tenant is None:
        return known
    chosen = [(tid, slug) for tid, slug in known if slug == tenant]
    if not chosen:
        raise click.ClickException(f"no tenant {tenant!r}; known: {', '.join(s for _, s in known)}")
    return chosen


def _read_checkpoints(path: Path | None) -> list[Checkpoint]:
    if path is None:
        return []
    try:
        lines = path.read_text().splitlines()
        return [Checkpoint.from_json(json.loads(line)) for line in lines if line.strip()]
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"{path}: not a checkpoint export ({exc})") from None


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log: one hash chain per tenant."""


@audit_group.command("verify")
@click.option("--tenant", help="Only this tenant (slug) [default: every tenant].")
@click.option(
    "--checkpoints",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also hold the chains against checkpoints exported earlier (kept off the database).",
)
def verify(tenant: str | None, checkpoints: Path | None) -> None:
    """Recompute every chain; exit 1 naming the first bad seq of a broken one."""
    extra = _read_checkpoints(checkpoints)
    broken = 0
    with console.database() as (settings, db):
        for tenant_id, slug in _chosen(db, tenant):
            result = jobs.verify_tenant(
                db=db, settings=settings, metrics=None, tenant_id=tenant_id, tenant=slug,
                extra=[c for c in extra if c.tenant_id == tenant_id],
            )  # fmt: skip
            if result.ok:
                click.echo(f"{slug}: ok, {result.checked} entries")
            else:
                broken += 1
                click.echo(f"{slug}: BROKEN at seq {result.first_bad_seq}: {result.reason}")
    if broken:
        sys.exit(1)


@audit_group.command("checkpoint")
def checkpoint() -> None:
    """Sign every tenant's chain head now (the audit-checkpoint job does it on schedule)."""
    with console.database() as (settings, db):
        made = jobs.checkpoint_all(db=db, settings=settings, metrics=None, now=utcnow)
    click.echo(f"checkpoints signed: {made}")


@audit_group.command("export-checkpoints")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tenant", help="Only this tenant (slug).")
def export_checkpoints(out: Path, tenant: str | None) -> None:
    """Write the signed checkpoints as JSON lines, to keep where the database cannot
    reach (a rolled-back database cannot match them); check with the public key."""
    rows = []
    with console.database() as (_settings, db), db.session(tenant_id=None) as session:
        for tenant_id, slug in _chosen(db, tenant):
            for mark in audit.checkpoints(session=session, tenant_id=tenant_id):
                rows.append(json.dumps(mark.as_json() | {"tenant": slug}, sort_keys=True))
    out.write_text("".join(f"{row}\n" for row in rows))
    click.echo(f"{len(rows)} checkpoints written to {out}")


@audit_group.command("public-key")
def public_key() -> None:
    """The public key (PEM) that checks the checkpoints' signatures."""
    click.echo(jobs.signer(console.settings()).public_pem, nl=False)
