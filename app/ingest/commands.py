"""``summit ingest load``: the load harness, with a progress bar and a reconciliation."""

from __future__ import annotations

import os
import sys

import click

from app.ingest.loadgen import Load, LoadError, LoadPlan, LoadReport, login
from app.settings import DEMO_DEFAULT_PASSWORD


@click.group()
def ingest() -> None:
    """Event ingest: load testing against a running server."""


@ingest.command("load")
@click.option("--events", type=click.IntRange(1), required=True, help="How many events to send.")
@click.option("--url", required=True, help="Base URL of the running server.")
@click.option(
    "--batch",
    type=click.IntRange(1, 100_000),
    default=5000,
    show_default=True,
    help="Events per request.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Requests in flight.",
)
@click.option(
    "--invalid-ratio",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of events sent invalid (they must land in the DLQ).",
)
@click.option("--source", default="", help="The events' source [default: load-<run id>].")
@click.option("--gzip", "use_gzip", is_flag=True, help="Send gzip-compressed bodies.")
@click.option("--tenant", default="acme", show_default=True)
@click.option("--username", default="alice", show_default=True, help="A tenant admin.")
@click.option(
    "--password-env",
    default="SUMMIT_DEMO_PASSWORD",
    show_default=True,
    help="Environment variable holding the password.",
)
@click.option(
    "--give-up-after",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Seconds one batch may keep being retried.",
)
def load(
    events: int,
    url: str,
    batch: int,
    concurrency: int,
    invalid_ratio: float,
    source: str,
    use_gzip: bool,
    tenant: str,
    username: str,
    password_env: str,
    give_up_after: float,
) -> None:
    """Send EVENTS events to URL and reconcile every count with the server's.

    Exits 1 when the counts differ, or when a batch cannot be delivered."""
    plan = LoadPlan(
        url=url,
        events=events,
        batch=batch,
        concurrency=concurrency,
        invalid_ratio=invalid_ratio,
        source=source,
        gzip=use_gzip,
        give_up_after=give_up_after,
    )
    try:
        headers = login(url, tenant=tenant, username=username, password=_password(password_env))
        with click.progressbar(length=events, label=f"run {plan.run_id}", file=sys.stderr) as bar:
            report = Load(plan, headers, progress=bar.update).run()
    except LoadError as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary(report):
        click.echo(line)
    if report.mismatches():
        sys.exit(1)


def _password(name: str) -> str:
    password = os.environ.get(name)
    if password:
        return password
    if name == "SUMMIT_DEMO_PASSWORD":
        return DEMO_DEFAULT_PASSWORD
    raise click.ClickException(f"{name} is not set")


def summary(report: LoadReport) -> list[str]:
    """What the run did, in the words the report owes the operator."""
    plan, sent = report.plan, report.valid + report.invalid
    rate = sent / report.seconds if report.seconds else 0.0
    ms = [report.percentile(q) * 1000 for q in (0.50, 0.95, 0.99)]
    dlq_share = report.invalid / sent * 100 if sent else 0.0
    codes = ", ".join(f"{code} {n}" for code, n in sorted(report.refusal_codes.items()))
    lines = [
        f"sent {sent:,} events in {plan.batches:,} batches of {plan.batch:,} "
        f"({plan.concurrency} in flight) in {report.seconds:.2f} s: {rate:,.0f} events/s",
        f"batch latency: P50 {ms[0]:.1f} ms, P95 {ms[1]:.1f} ms, P99 {ms[2]:.1f} ms",
        f"backpressure: {report.refusals.get(429, 0)} x 429, {report.refusals.get(503, 0)} x 503 "
        f"({codes or 'none'}; Retry-After honoured); {report.retries} retries in all "
        f"({report.connection_retries} after connection errors, "
        f"{report.server_error_retries} after 5xx); {report.replayed_answers} answers replayed",
        f"DLQ: {report.delta('dlq'):,} events ({dlq_share:.3f} % of those sent)",
    ]
    problems = report.mismatches()
    if problems:
        lines += ["NOT RECONCILED:", *(f"  {problem}" for problem in problems)]
    else:
        lines.append(
            f"reconciled exactly with the server (source {plan.source_name}): received "
            f"{report.delta('received'):,} = stored {report.delta('stored'):,} + duplicates "
            f"{report.delta('duplicates'):,} + DLQ {report.delta('dlq'):,}; stored rows "
            f"{report.after['rows']['events']:,}; answers: accepted {report.accepted:,}, "
            f"rejected {report.rejected:,}, duplicates {report.duplicates:,}"
        )
    return lines
