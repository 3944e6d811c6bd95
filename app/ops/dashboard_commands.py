"""``summit dashboards build`` and ``summit dashboards push``: thin adapters over
``dashboards.build`` and ``dashboards.publish``."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from app import console
from dashboards import build, publish
from dashboards.schema import DashboardInvalid

SUMMIT_URL_HELP = (
    "Summit's URL for the dashboards' links to /ops and /runbooks "
    "[default: SUMMIT_PUBLIC_URL, else http://127.0.0.1:SUMMIT_PORT]."
)


def _summit_url(given: str | None, default: str) -> str:
    if given and not given.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--summit-url")
    return given or default


@click.group()
def dashboards() -> None:
    """Grafana dashboards as code: build the JSON files, push them to a Grafana."""


@dashboards.command("build")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for <uid>.json and provisioning.yaml.",
)
@click.option("--summit-url", help=SUMMIT_URL_HELP)
@click.option(
    "--provision-path",
    default=build.DEFAULT_PROVISION_PATH,
    show_default=True,
    help="Where the JSON files live on Grafana's host (written into provisioning.yaml).",
)
def build_command(out: Path, summit_url: str | None, provision_path: str) -> None:
    """Write every dashboard, checked against Grafana's schema, and a provisioning file."""
    settings = console.settings()
    try:
        written = build.write(
            out,
            summit_url=_summit_url(summit_url, settings.summit_url),
            provision_path=provision_path,
            folder_uid=settings.grafana_folder_uid,
        )
    except DashboardInvalid as exc:
        raise click.ClickException(str(exc)) from None
    for item in written:
        click.echo(f"wrote {item.path}  ({item.title})")


@dashboards.command("push")
@click.option("--url", help="Grafana's base URL [default: GRAFANA_URL].")
@click.option("--folder-uid", help="Folder to publish into [default: GRAFANA_FOLDER_UID].")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding a Grafana service-account token [default: GRAFANA_TOKEN_FILE].",
)
@click.option("--summit-url", help=SUMMIT_URL_HELP)
@click.option(
    "--message",
    default="summit dashboards push",
    show_default=True,
    help="Grafana's version-history note for each change.",
)
@click.option("--dry-run", is_flag=True, help="Show the diffs; change nothing.")
@click.option("--diff/--no-diff", "show_diff", default=True, show_default=True)
def push_command(
    url: str | None,
    folder_uid: str | None,
    token_file: Path | None,
    summit_url: str | None,
    message: str,
    dry_run: bool,
    show_diff: bool,
) -> None:
    """Publish every dashboard through Grafana's HTTP API, showing each diff.

    Exits 1 when any dashboard failed.
    """
    settings = console.settings()
    base_url = url or settings.grafana_url
    if not base_url:
        raise click.ClickException("no Grafana URL: pass --url or set GRAFANA_URL")
    token = token_file.read_text().strip() if token_file else settings.grafana_token
    if not token:
        raise click.ClickException("no Grafana token: pass --token-file or set GRAFANA_TOKEN_FILE")
    folder = folder_uid or settings.grafana_folder_uid
    report = publish.push(
        publish.GrafanaClient(base_url, token),
        build.build_all(summit_url=_summit_url(summit_url, settings.summit_url)),
        folder_uid=folder,
        folder_title=build.FOLDER_TITLE,
        message=message,
        dry_run=dry_run,
    )
    click.echo(f"folder {folder}: {report.folder}")
    for result in report.results:
        _echo(result, show_diff=show_diff)
    counts = Counter(result.outcome for result in report.results)
    click.echo(", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())))
    if report.failed:
        sys.exit(1)


def _echo(result: publish.PushResult, *, show_diff: bool) -> None:
    if show_diff:
        for line in result.diff:
            click.echo(line)
    detail = result.error or " ".join(
        part
        for part in (f"version {result.version}" if result.version else "", result.url or "")
        if part
    )
    click.echo(f"{result.outcome:<14} {result.uid:<22} {result.title}  {detail}".rstrip())
