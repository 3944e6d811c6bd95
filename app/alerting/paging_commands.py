"""``summit paging plan|sync|test|who``: escalation as code and test pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from alerts import escalation, escalation_sync, incidents, oncall
from alerts.escalation import DEFAULT_SERVICE, Escalation, EscalationError
from alerts.pagerduty import PagerDuty, PagingError
from app import console
from app.alerting import paging
from app.core.db import Database, utcnow
from app.settings import Settings

SYMBOLS = {"create": "+", "update": "~", "unchanged": "="}


@console.explains(EscalationError)
def _bad_file(exc: EscalationError) -> click.ClickException:
    return console.ConfigurationError(str(exc))


@console.explains(PagingError)
def _pagerduty(exc: PagingError) -> click.ClickException:
    return click.ClickException(str(exc))


@console.explains(escalation_sync.SyncError)
def _sync(exc: escalation_sync.SyncError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("paging")
def paging_group() -> None:
    """PagerDuty: escalation as code, who is on call, test pages."""


FILE = click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The escalation file [default: SUMMIT_ESCALATION_FILE or alerts/escalation.yaml].",
)


def _load(settings: Settings, path: Path | None) -> Escalation:
    return escalation.load(path or paging.escalation_file(settings))


@paging_group.command("plan")
@FILE
def plan_command(path: Path | None) -> None:
    """Show what `sync` would change in PagerDuty, and what was changed there by hand."""
    settings = console.settings()
    client = PagerDuty(paging.endpoints(settings))
    try:
        found = escalation_sync.plan(_load(settings, path), client)
    finally:
        client.close()
    _show(found)
    if found.problems:
        raise click.ClickException("\n".join(found.problems))


@paging_group.command("sync")
@FILE
def sync_command(path: Path | None) -> None:
    """Make PagerDuty match the escalation file (a second run changes nothing)."""
    settings = console.settings()
    client = PagerDuty(paging.endpoints(settings))
    try:
        applied = escalation_sync.sync(_load(settings, path), client)
    finally:
        client.close()
    _show(applied)
    click.echo("applied" if applied.pending else "nothing to change")


def _show(found: escalation_sync.Plan) -> None:
    for change in found.changes:
        drift = "  DRIFT: changed by hand in PagerDuty" if change.drift else ""
        click.echo(f"{SYMBOLS[change.action]} {change.resource} {change.name}{drift}")
        if change.action != "unchanged":
            for line in change.differences:
                click.echo(f"    {line}")
    creates = sum(c.action == "create" for c in found.changes)
    updates = sum(c.action == "update" for c in found.changes)
    click.echo(
        f"{creates} to create, {updates} to update, {len(found.drifted)} drifted, "
        f"{len(found.changes) - creates - updates} unchanged"
    )


@paging_group.command("who")
@click.option("--service", default=DEFAULT_SERVICE, show_default=True)
@click.option(
    "--at",
    "at_text",
    help="ISO time; without an offset, the service's quiet-hours zone (else UTC). Default: now.",
)
@FILE
def who_command(service: str, at_text: str | None, path: Path | None) -> None:
    """Who is paged for SERVICE at a moment, per level, in their own time zone."""
    found = _load(console.settings(), path)
    try:
        quiet = found.service(service).quiet_hours
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    at = utcnow()
    if at_text:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise click.ClickException(f"--at: {at_text!r} is not an ISO time") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo(quiet.time_zone) if quiet else UTC)
    _print_who(oncall.who(found, service=service, at=at))


def _print_who(answer: oncall.Answer) -> None:
    click.echo(
        f"{answer.service} at {answer.at:%Y-%m-%dT%H:%MZ} "
        f"(policy {answer.policy}, repeats {answer.loops}x)"
    )
    for level in answer.levels:
        who = (
            ", ".join(
                f"{p.name} <{p.email}> ({p.local_time:%a %H:%M} {p.time_zone}; {p.via})"
                for p in level.people
            )
            or "nobody"
        )
        gaps = f"  [no one on call in {', '.join(level.gaps)}]" if level.gaps else ""
        click.echo(f"  level {level.number} (after {level.after_minutes} min): {who}{gaps}")
    if answer.held_until is not None:
        local = answer.held_until.astimezone(ZoneInfo(answer.quiet_time_zone or "UTC"))
        click.echo(
            f"  quiet hours: a non-critical page is held until {local:%a %Y-%m-%d %H:%M} "
            f"{answer.quiet_time_zone}; critical pages go now"
        )
    else:
        click.echo("  quiet hours: none now; every page goes now")


@paging_group.command("test")
@click.option("--service", default=DEFAULT_SERVICE, show_default=True)
def test_command(service: str) -> None:
    """Trigger a test page, confirm PagerDuty accepted it (202), then resolve it."""
    settings = console.settings()
    if paging.routing_key(settings, service) is None:
        raise console.ConfigurationError(
            f"no routing key for service {service}: set "
            "PAGERDUTY_ROUTING_KEY or PAGERDUTY_ROUTING_KEYS"
        )
    db = Database(settings.resolved_database_url)
    try:
        notifiers = incidents.load_notifiers(
            settings.incident_notifier_names, paging.notifier_options(settings)
        )
        sent = paging.send_test_page(
            settings=settings, db=db, service=service, by="cli", notifiers=notifiers
        )
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    finally:
        db.dispose()
    if sent.trigger != "sent":
        raise click.ClickException(
            f"PagerDuty did not accept the test page: {sent.error} "
            f"(kept in the outbox; incident {sent.incident_id})"
        )
    click.echo(
        f"test page accepted by PagerDuty (202), dedup key {sent.dedup_key}; "
        f"resolve {sent.resolve}; incident {sent.incident_id}"
    )
