"""``summit evidence build``: the evidence pack an auditor signs off on."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click

from app import console
from app.core.db import Database, utcnow
from app.demo.client import Client, StepFailed
from app.demo.server import serving
from app.evidence import screens
from app.evidence.advisories import OSV_URL
from app.evidence.service import EvidenceError, Inputs, Pack, PartUnavailable, Shots, build
from app.governance import jobs
from app.settings import Settings
from probes.journeys import JOURNEYS

ROOT = Path(__file__).resolve().parents[2]  # the checkout: docs/evidence, .venv-tools


@click.group("evidence")
def evidence() -> None:
    """The evidence pack: SBOM, vulnerabilities, SSDF, decisions, SLOs, probes, audit, DPIA."""


@evidence.command("build")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) folder for the pack.")  # fmt: skip
@click.option("--advisories", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A local advisory snapshot in OSV format (e.g. a checkout of the PyPA "
                   "advisory database) [default: pip-audit against the OSV service].")  # fmt: skip
@click.option("--osv-url", envvar="SUMMIT_OSV_URL", show_envvar=True, default=OSV_URL,
              show_default=True, help="The OSV service pip-audit asks (or a mirror).")  # fmt: skip
@click.option("--offline", is_flag=True,
              help="Do not try the online vulnerability service (no --advisories: "
                   "the report says not checked).")  # fmt: skip
@click.option("--url", default="",
              help="A running Summit for the screenshots and --run-probes [default: start "
                   "one on a free loopback port, on this database].")  # fmt: skip
@click.option("--tenant", default="", help="Log in to that tenant [default: none, an operator].")
@click.option("--username", default="ops", show_default=True, help="Who may see /ops.")
@click.option("--password", envvar="SUMMIT_EVIDENCE_PASSWORD", show_envvar=True, default="",
              help="Prefer the variable to the option [default: the demo password]")  # fmt: skip
@click.option("--no-screenshots", is_flag=True, help="Skip the browser (the pack says so).")
@click.option("--run-probes", is_flag=True,
              help="Run each probe once on the server first (fresh runs in the pack).")  # fmt: skip
@click.option("--tools", envvar="SUMMIT_EVIDENCE_TOOLS", show_envvar=True,
              type=click.Path(file_okay=False, path_type=Path), default=ROOT / ".venv-tools/bin",
              help="Where cyclonedx-py and pip-audit are [default: .venv-tools/bin].")  # fmt: skip
@click.option("--strict", is_flag=True,
              help="Exit 1 also when a part was skipped or not checked (releases).")  # fmt: skip
def build_command(
    out: Path, advisories: Path | None, osv_url: str, offline: bool, url: str, tenant: str,
    username: str, password: str, no_screenshots: bool, run_probes: bool, tools: Path,
    strict: bool,
) -> None:  # fmt: skip
    """Build the evidence pack into OUT, with manifest.json (every file's SHA-256
    and size) and SUMMARY.md. Exits 1 on a known CRITICAL vulnerability or a part
    that failed (the pack is still written, saying why)."""
    settings = console.settings()
    db = Database(settings.resolved_database_url)
    inputs = Inputs(settings=settings, db=db, root=ROOT, tools=tools.resolve(),
                    advisories=advisories, offline=offline, osv_url=osv_url.rstrip("/"),
                    now=utcnow)  # fmt: skip
    login = screens.Login(url="", tenant=tenant, username=username,
                          password=password or settings.demo_password)  # fmt: skip
    try:
        jobs.tenants(db)  # no database or no schema: one clear line (console), not nine failures
        with ExitStack() as stack:
            server = _Server(stack, settings, url=url.rstrip("/"))
            inputs.shots = _camera(server, login, no_screenshots)
            inputs.run_probes = _prober(server, login) if run_probes else None
            click.echo(f"building the evidence pack in {out}")
            pack = build(out=out, inputs=inputs, echo=click.echo)
    except EvidenceError as exc:
        raise console.ConfigurationError(str(exc)) from None
    finally:
        db.dispose()
    _verdict(pack, strict)


@dataclass
class _Server:
    """The --url server, or a `summit serve` of our own on this database, started on
    first use (the SBOM is being written meanwhile) and stopped with the build."""

    stack: ExitStack
    settings: Settings
    url: str = ""
    failed: str = ""

    def base(self) -> str:
        if self.url or self.failed:
            if self.failed:
                raise PartUnavailable(self.failed)
            return self.url
        log = (self.settings.var_dir / "evidence-serve.log").resolve()
        log.parent.mkdir(parents=True, exist_ok=True)
        click.echo(f"  starting summit serve on the loopback (its log: {log})")
        try:  # one worker is plenty for a few pages and probe runs, and starts sooner
            self.url = self.stack.enter_context(serving(log=log, env={"SUMMIT_WORKERS": "1"}))
        except RuntimeError as exc:
            self.failed = f"the embedded server did not start: {exc}"
            raise PartUnavailable(self.failed) from None
        return self.url


def _camera(server: _Server, login: screens.Login, skip: bool) -> Shots | str:
    """Screenshots of the server's SLO view and ops page, as ``login`` sees them."""
    if skip:
        return "--no-screenshots"

    def shoot(folder: Path) -> list[Path]:
        target = screens.Login(server.base(), login.tenant, login.username, login.password)
        chromium = server.settings.chromium_path
        return screens.capture(login=target, out=folder, chromium_path=chromium)

    return shoot


def _prober(server: _Server, login: screens.Login) -> Callable[[], list[str]]:
    """Run each probe once on the server, as ``login`` (an operator), and wait for
    its run to be recorded: the pack then shows this build's own runs."""

    def run() -> list[str]:
        client = Client(url=server.base(), password=login.password)
        who = client.as_(login.tenant or None, login.username)
        try:
            runs = [(name, client.run_probe(name, who)) for name in sorted(JOURNEYS)]
        except StepFailed as exc:
            raise RuntimeError(f"could not run the probes: {exc}") from None
        finally:
            client.logout()
        return [f"{name} {r['status']} in {r['duration_ms']:.0f} ms" for name, r in runs]

    return run


def _verdict(pack: Pack, strict: bool) -> None:
    manifest = pack.out / "manifest.json"
    if pack.blocking:
        raise console.CheckFailed(
            f"evidence build FAILED: {'; '.join(pack.blocking)} (the pack, saying so: {manifest})"
        )
    missing = [p.line() for p in pack.parts if p.status in ("skipped", "not checked")]
    if strict and missing:
        raise console.CheckFailed(f"evidence build incomplete (--strict): {'; '.join(missing)}")
    click.echo(f"evidence pack: {pack.out} ({len(pack.parts)} parts"
               + (f", {len(missing)} skipped or not checked" if missing else "")
               + f"); manifest: {manifest}")  # fmt: skip
