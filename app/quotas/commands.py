"""``summit quotas plan|apply FILE``: every tenant's limits from one versioned file.

``plan`` exits like ``terraform plan -detailed-exitcode``: 0 nothing to do,
2 changes pending, 1 anything that went wrong (an invalid file, an unknown
tenant, a database that cannot be reached, a usage mistake) — so that CI
never reads a failure as "changes pending", nor the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from app import console
from app.core.db import utcnow
from app.core.gcra import open_store
from app.core.tenancy import ALL_TENANTS
from app.quotas import ascode
from app.quotas.ratelimit import TenantRateLimiter
from app.quotas.service import Limits
from app.settings import Settings

PENDING = 2  # plan's exit status when apply would change something


class _UsageError(click.UsageError):
    exit_code = 1


class _ExitOneOnError(click.Command):
    """A usage mistake exits 1, not click's 2: 2 means "changes pending" here."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), exc.ctx) from None


@contextmanager
def _failures_exit_one() -> Iterator[None]:
    """Every failure, explained as the other commands explain it, exits 1."""
    try:
        yield
    except click.ClickException as exc:
        raise console.CheckFailed(exc.format_message()) from None
    except Exception as exc:
        known = console.explain(exc)
        if known is None:
            raise
        raise console.CheckFailed(known.format_message()) from None


@console.explains(ascode.QuotasFileError)
def _refused(exc: ascode.QuotasFileError) -> click.ClickException:
    """In any command (the demo seed reads the shipped file too)."""
    return console.CheckFailed("\n".join(["quotas file refused, nothing applied:", *exc.lines()]))


def _app_defaults(settings: Settings) -> Limits:
    """The limits of a tenant without a quota row (what the app assumes too)."""
    return Limits(
        settings.default_qps,
        settings.default_burst,
        settings.default_concurrent_jobs,
        settings.default_storage_bytes,
    )


@click.group("quotas")
def quotas_group() -> None:
    """Rate limits and quotas as code: one versioned YAML file (docs/quotas.md)."""


FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


@quotas_group.command("plan", cls=_ExitOneOnError)
@FILE
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON (for CI), same exits.")
def plan_command(file: Path, as_json: bool) -> None:
    """Show what `apply FILE` would change per tenant and field (old → new), and
    where the database drifted from the last apply (an operator's PATCH since).
    Exit 0: nothing to do; 2: changes pending; 1: an error."""
    with _failures_exit_one():
        wanted = ascode.load(file)
        with console.database() as (settings, db), db.session(tenant_id=ALL_TENANTS) as session:
            plan = ascode.plan(session=session, wanted=wanted, defaults=_app_defaults(settings))
    if as_json:
        click.echo(json.dumps(_as_json(plan, wanted), indent=2, sort_keys=True))
    else:
        _show(plan, wanted, applied=False)
    if plan.pending:
        raise click.exceptions.Exit(PENDING)


@quotas_group.command("apply", cls=_ExitOneOnError)
@FILE
@click.option("--actor", default="quotas-as-code", show_default=True,
              help="Who the audit of quota changes names (e.g. your operator name).")  # fmt: skip
@click.option("--reason", default="", help="Why, added to the audit entry (e.g. a ticket).")
def apply_command(file: Path, actor: str, reason: str) -> None:
    """Make every tenant's limits what FILE says, in one transaction (all or
    nothing), each change audited like the operator's PATCH; drift is reverted.
    A second apply of the same file changes nothing. Exit 0, or 1 on an error."""
    with _failures_exit_one():
        if not 1 <= len(actor) <= 64:
            raise console.CheckFailed("--actor: 1 to 64 characters")
        wanted = ascode.load(file)
        with console.database() as (settings, db):
            with db.session(tenant_id=ALL_TENANTS, write=True) as session:
                plan = ascode.apply(
                    session=session, wanted=wanted, defaults=_app_defaults(settings),
                    actor=actor, why=reason, now=utcnow(),
                )  # fmt: skip
                session.commit()
            _forget_buckets(settings, plan)
    _show(plan, wanted, applied=True)


def _forget_buckets(settings: Settings, plan: ascode.Plan) -> None:
    """As the PATCH does: start each changed tenant's rate bucket afresh in the
    shared store, so no worker keeps refusing on the old limits' bucket. (Every
    worker reads the limits from the database on each request already.)"""
    limiter = TenantRateLimiter(open_store(redis_url=settings.redis_url, var_dir=settings.var_dir))
    for tenant in plan.pending:
        limiter.forget(tenant=str(tenant.tenant_id))


def _show(plan: ascode.Plan, wanted: ascode.QuotasFile, *, applied: bool) -> None:
    click.echo(f"{wanted.name} (sha256 {wanted.sha256[:12]}), {len(plan.tenants)} tenants")
    for tenant in plan.tenants:
        if not tenant.changes:
            click.echo(f"  {tenant.tenant}: no changes")
            continue
        click.echo(f"  {tenant.tenant}:")
        for change in tenant.changes:
            click.echo(f"    ~ {change.field}: {change.old} → {change.new}{_drift(tenant, change)}")
    pending, drifted = len(plan.pending), len(plan.drifted)
    fields = sum(len(t.changes) for t in plan.pending)
    if not pending:
        click.echo("No changes: the database holds what the file says." + (
            " Nothing applied." if applied else ""))  # fmt: skip
        return
    did = "Applied" if applied else "Plan"
    click.echo(
        f"{did}: {pending} tenant(s), {fields} field(s) changed"
        + (f"; {drifted} tenant(s) had drifted (reverted to the file)" if drifted and applied
           else f"; {drifted} tenant(s) drifted since the last apply" if drifted else "")
        + ("." if applied else ". Run `summit quotas apply` to apply.")
    )  # fmt: skip


def _as_json(plan: ascode.Plan, wanted: ascode.QuotasFile) -> dict[str, Any]:
    return {
        "file": wanted.name,
        "sha256": wanted.sha256,
        "pending": bool(plan.pending),
        "tenants": [
            {
                "tenant": t.tenant,
                "changes": [asdict(c) for c in t.changes],
                "last_applied": t.last_applied,
                "changed_since": None if t.changed_since is None else {
                    "by": t.changed_since.changed_by,
                    "at": t.changed_since.at.isoformat(),
                    "reason": t.changed_since.reason,
                },
            }
            for t in plan.tenants
        ],
    }  # fmt: skip


def _drift(tenant: ascode.TenantPlan, change: ascode.Change) -> str:
    if not change.drifted or tenant.last_applied is None:
        return ""
    said = f"   (drift: last applied {tenant.last_applied[change.field]}"
    by = tenant.changed_since
    if by is not None:
        said += f"; changed since by {by.changed_by} at {by.at:%Y-%m-%d %H:%M} UTC: {by.reason}"
    return said + ")"
