"""The evidence pack (``summit evidence build``): what an auditor signs off on, in
one folder with a manifest of SHA-256 digests. Imports no Flask or click.

Each part is produced by one function that writes its files and says what it
did: ``ok``, ``skipped: why``, ``not checked: why`` (the vulnerability report
with nothing to check against), or ``failed: why``. No part is left out
silently. The pack is written to a staging folder beside ``out`` and moved into
place whole, so a crashed build leaves no pack that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts import rules
from app import schema  # noqa: F401 - every model, so Base.metadata is complete
from app.alerting import service as alerting
from app.core.db import Base, Database
from app.core.tenancy import ALL_TENANTS
from app.evidence import advisories, inventory
from app.evidence.advisories import OSV_URL
from app.governance import jobs
from app.policy.models import PolicyDecision, PolicyDecisionCount
from app.settings import Settings
from governance import retention
from probes import service as probes
from probes.journeys import JOURNEYS

SSDF_DOC = Path("docs/evidence/ssdf.md")
# A path the SSDF mapping cites: in backticks, under one of the repository's folders.
CITED = re.compile(
    r"`((?:app|tests|docs|scripts|runbooks|alerts|probes|governance|dashboards|benchmarks|"
    r"\.ci)/[^`\s]*|pyproject\.toml|README\.md)`"
)
Echo = Callable[[str], Any]
Shots = Callable[[Path], list[Path]]


class EvidenceError(Exception):
    """The pack cannot be built at all (the output folder is taken)."""


class PartUnavailable(Exception):
    """A part cannot be produced here (no browser, say): it is skipped, saying why."""


@dataclass
class Part:
    name: str
    status: str  # ok | skipped | not checked | failed
    detail: str
    files: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.name}: {self.status}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Inputs:
    settings: Settings
    db: Database
    root: Path  # the repository (SSDF mapping)
    tools: Path  # the folder with cyclonedx-py and pip-audit (.venv-tools/bin)
    advisories: Path | None = None
    offline: bool = False
    osv_url: str = OSV_URL
    shots: Shots | str | None = None  # a camera, or why there are no screenshots
    run_probes: Callable[[], list[str]] | None = None  # runs each probe once, says how it went
    now: Callable[[], datetime] = datetime.now


@dataclass
class Pack:
    out: Path
    parts: list[Part]
    blocking: list[str]  # why the build fails (a known critical vulnerability, a failed part)

    @property
    def passed(self) -> bool:
        return not self.blocking


def build(*, out: Path, inputs: Inputs, echo: Echo = print) -> Pack:
    """Build the pack into ``out`` (a new or empty folder)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EvidenceError(f"{out} exists and is not an empty folder: choose a new --out")
    stage = out.parent / f".{out.name}.partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        pack = _build(stage, inputs, echo)
        if out.exists():
            out.rmdir()
        stage.rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    pack.out = out
    return pack


def _build(stage: Path, inputs: Inputs, echo: Echo) -> Pack:
    sbom = _start_sbom(stage, inputs)  # the slowest part runs while the others do
    steps: list[tuple[str, Callable[[Path, Inputs], Part]]] = [
        ("vulnerabilities", vulnerabilities), ("ssdf", ssdf), ("policy decisions", decisions),
        ("slo report", slo_report), ("probe results", probe_results),
        ("audit verification", audit_verification), ("dpia inventory", dpia),
        ("screenshots", screenshots),
    ]  # fmt: skip
    total = len(steps) + 1
    parts: list[Part] = []
    for number, (name, step) in enumerate(steps, start=1):
        parts.append(_run(number, total, name, partial(step, stage, inputs), echo))
    parts.append(_run(total, total, "sbom", lambda: _finish_sbom(stage, sbom), echo))
    blocking = [f"{p.name} failed: {p.detail}" for p in parts if p.status == "failed"]
    report = stage / "vulnerabilities.json"
    findings = json.loads(report.read_text())["findings"] if report.exists() else []
    critical = [f for f in findings if f["severity"] == "CRITICAL"]
    blocking += [f"known CRITICAL vulnerability {f['id']} in {f['package']} {f['version']}"
                 + (f" (fixed in {', '.join(f['fixed_in'])})" if f["fixed_in"] else "")
                 for f in critical]  # fmt: skip
    pack = Pack(out=stage, parts=parts, blocking=blocking)
    _write_summary(stage, pack, inputs)
    write_manifest(stage, pack, now=inputs.now())
    return pack


def _run(number: int, total: int, name: str, step: Callable[[], Part], echo: Echo) -> Part:
    started = time.monotonic()
    try:
        part = step()
    except PartUnavailable as exc:
        part = Part(name, "skipped", str(exc))
    except Exception as exc:  # a part that breaks is reported, never left out
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        part = Part(name, "failed", f"{type(exc).__name__}: {first}")
    echo(f"[{number}/{total}] {part.line()} in {time.monotonic() - started:.1f} s")
    return part


# --- parts ------------------------------------------------------------------------------


@dataclass
class _Sbom:
    process: subprocess.Popen[str] | None
    reason: str = ""


def _start_sbom(stage: Path, inputs: Inputs) -> _Sbom:
    tool = inputs.tools / "cyclonedx-py"
    if not tool.exists():
        return _Sbom(None, f"no cyclonedx-py at {tool} (scripts/setup installs it)")
    pyproject = inputs.root / "pyproject.toml"
    argv = [str(tool), "environment", "--output-format", "JSON", "--output-reproducible",
            "--output-file", str(stage / "sbom.cdx.json"), sys.executable]  # fmt: skip
    if pyproject.exists():
        argv[2:2] = ["--pyproject", str(pyproject)]
    process = subprocess.Popen(  # noqa: S603 - our own tool, by path
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return _Sbom(process)


def _finish_sbom(stage: Path, sbom: _Sbom) -> Part:
    if sbom.process is None:
        return Part("sbom", "skipped", sbom.reason)
    output, _ = sbom.process.communicate(timeout=600)
    target = stage / "sbom.cdx.json"
    if sbom.process.returncode != 0 or not target.exists():
        tail = " ".join(output.strip().splitlines()[-2:])[:300]
        return Part("sbom", "failed", f"cyclonedx-py exited {sbom.process.returncode}: {tail}")
    bom = json.loads(target.read_text())
    count = len(bom.get("components", []))
    detail = (f"CycloneDX {bom.get('specVersion')} of {sys.executable}'s environment, "
              f"{count} components, validated by cyclonedx-py")  # fmt: skip
    return Part("sbom", "ok", detail, ["sbom.cdx.json"])


def vulnerabilities(stage: Path, inputs: Inputs) -> Part:
    packages = advisories.installed()
    report = _vulnerability_report(inputs, packages)
    (stage / "vulnerabilities.json").write_text(_json(report.as_json()))
    status = "ok" if report.status == "checked" else "not checked"
    detail = report.headline() if status == "ok" else report.source
    return Part("vulnerabilities", status, detail, ["vulnerabilities.json"])


def _vulnerability_report(inputs: Inputs, packages: list[advisories.Package]) -> advisories.Report:
    if inputs.advisories is not None:
        records = advisories.read_snapshot(inputs.advisories)
        return advisories.check_snapshot(
            packages, records, source=f"the local OSV snapshot {inputs.advisories}"
        )
    why = "no local advisory snapshot (--advisories DIR)"
    if inputs.offline:
        return advisories.Report("not checked", f"{why}, and the online service is off (--offline)")
    pip_audit = inputs.tools / "pip-audit"
    if not pip_audit.exists():
        return advisories.Report("not checked", f"{why}, and no pip-audit at {pip_audit}")
    report = advisories.check_service(packages, pip_audit=pip_audit, osv_url=inputs.osv_url)
    if report.status != "checked":
        report.source = f"{why}, and {report.source}"
    return report


def ssdf(stage: Path, inputs: Inputs) -> Part:
    doc = inputs.root / SSDF_DOC
    if not doc.exists():
        return Part("ssdf", "skipped", f"no {doc} (build from a checkout of the repository)")
    text = doc.read_text()
    missing = [p for p in cited_paths(text) if not (inputs.root / p).exists()]
    shutil.copyfile(doc, stage / "ssdf.md")
    if missing:
        return Part("ssdf", "failed", f"cites paths that do not exist: {', '.join(missing)}",
                    ["ssdf.md"])  # fmt: skip
    practices = len(practices_in(text))
    return Part("ssdf", "ok", f"{practices} SSDF v1.1 practices mapped, "
                f"{len(cited_paths(text))} cited paths all exist", ["ssdf.md"])  # fmt: skip


def practices_in(text: str) -> list[str]:
    """The practices (PO.1 … RV.3) the mapping's table has a row for."""
    return re.findall(r"^\| ((?:PO|PS|PW|RV)\.\d+) \|", text, flags=re.MULTILINE)


def cited_paths(text: str) -> list[str]:
    return sorted({match.rstrip("/") for match in CITED.findall(text)})


def decisions(stage: Path, inputs: Inputs) -> Part:
    """The decision log, every tenant's and the operators', oldest first (JSON lines),
    and the allowed route decisions it counts instead of keeping, summed."""
    slugs = dict(jobs.tenants(inputs.db))
    with inputs.db.session(tenant_id=ALL_TENANTS) as session:
        rows = 0
        with (stage / "policy-decisions.jsonl").open("w") as out:
            query = select(PolicyDecision).order_by(PolicyDecision.id)
            for row in session.scalars(query.execution_options(yield_per=1000)):
                out.write(json.dumps(_decision(row, slugs), sort_keys=True, default=str) + "\n")
                rows += 1
        counted = _counts(session, slugs)
    (stage / "policy-decision-counts.json").write_text(_json(counted))
    allowed = sum(c["count"] for c in counted)
    detail = (f"{rows} decisions kept one by one, {allowed} allowed route decisions counted; "
              f"retention {inputs.settings.decision_log_retention_days} days")  # fmt: skip
    return Part("policy decisions", "ok", detail,
                ["policy-decisions.jsonl", "policy-decision-counts.json"])  # fmt: skip


def _decision(row: PolicyDecision, slugs: dict[int, str]) -> dict[str, Any]:
    names = ("id", "at", "source", "caller", "principal_id", "principal_role", "principal_tenant",
             "action", "resource_type", "resource_id", "resource_tenant", "decision", "reasons",
             "elapsed_ms")  # fmt: skip
    return {n: getattr(row, n) for n in names} | {"tenant": slugs.get(row.tenant_id or 0)}


def _counts(session: Any, slugs: dict[int, str]) -> list[dict[str, Any]]:
    c = PolicyDecisionCount
    query = (select(c.tenant_id, c.action, c.principal_role, c.decision, func.sum(c.count),
                    func.min(c.minute), func.max(c.minute))
             .group_by(c.tenant_id, c.action, c.principal_role, c.decision)
             .order_by(c.tenant_id, c.action, c.principal_role))  # fmt: skip
    return [{"tenant": slugs.get(t or 0), "action": a, "principal_role": r, "decision": d,
             "count": int(n), "first_minute": str(first), "last_minute": str(last)}
            for t, a, r, d, n, first, last in session.execute(query)]  # fmt: skip


def slo_report(stage: Path, inputs: Inputs) -> Part:
    """What GET /api/v1/slo answers, from the same service functions."""
    now = inputs.now()
    found = alerting.statuses(settings=inputs.settings, db=inputs.db, now=now)
    specs = {one.id: one for one in alerting.specs(inputs.settings)}
    body = {
        "period_days": rules.DEFAULT_PERIOD.days, "generated_at": now,
        "source": "prometheus" if inputs.settings.prometheus_url else "local",
        "slos": [vars(s) | {"alerts": alerting.alert_states(specs[s.id], s),
                            "runbook": _runbook(specs[s.id])} for s in found],
    }  # fmt: skip
    (stage / "slo-report.json").write_text(_json(body))
    known = [s for s in found if s.sli is not None]
    return Part("slo report", "ok", f"{len(found)} SLOs from {body['source']} data, "
                f"{len(known)} with events in the period", ["slo-report.json"])  # fmt: skip


def _runbook(spec: Any) -> str | None:
    slug = alerting.runbook_slug(spec)
    return f"/runbooks/{slug}" if slug else None


def probe_results(stage: Path, inputs: Inputs) -> Part:
    """Each probe's status and its latest runs (artifacts by name, not content),
    after running each once when asked to."""
    ran = inputs.run_probes() if inputs.run_probes is not None else []
    out, runs = {}, 0
    with inputs.db.session(tenant_id=None) as session:
        for name in sorted(JOURNEYS):
            state, incident = probes.status(session=session, probe=name)
            latest = probes.recent_runs(session=session, probe=name, limit=20)
            runs += len(latest)
            out[name] = {"status": state, "open_incident": incident.id if incident else None,
                         "runs": [_run_json(r) for r in latest]}  # fmt: skip
    (stage / "probe-results.json").write_text(_json(out))
    if not runs:
        return Part("probe results", "skipped", "no probe has run on this database yet "
                    "(summit probes run NAME)", ["probe-results.json"])  # fmt: skip
    states = ", ".join(f"{name} {body['status']}" for name, body in out.items())
    fresh = f"; ran now: {', '.join(ran)}" if ran else ""
    return Part("probe results", "ok", f"{runs} runs: {states}{fresh}", ["probe-results.json"])


def _run_json(run: Any) -> dict[str, Any]:
    names = ("id", "trigger", "status", "started_at", "duration_ms", "steps", "failed_step",
             "error", "artifacts")  # fmt: skip
    return {n: getattr(run, n) for n in names}


def audit_verification(stage: Path, inputs: Inputs) -> Part:
    """Every tenant's audit chain recomputed and held against its signed checkpoints
    (as ``summit audit verify``; the result is recorded too)."""
    results = {}
    for tenant_id, slug in jobs.tenants(inputs.db):
        result = jobs.verify_tenant(db=inputs.db, settings=inputs.settings, metrics=None,
                                    tenant_id=tenant_id, tenant=slug)  # fmt: skip
        results[slug] = result.as_json()
    (stage / "audit-verification.json").write_text(_json(results))
    broken = [slug for slug, r in results.items() if not r["ok"]]
    if broken:
        return Part("audit verification", "failed", f"broken chains: {', '.join(broken)}",
                    ["audit-verification.json"])  # fmt: skip
    checked = sum(r["checked"] for r in results.values())
    return Part("audit verification", "ok", f"{len(results)} tenants' chains verify, "
                f"{checked} entries", ["audit-verification.json"])  # fmt: skip


def dpia(stage: Path, inputs: Inputs) -> Part:
    found = inventory.inventory(Base.metadata, inputs.settings, tenant_days=_tenant_days(inputs))
    (stage / "dpia-inventory.json").write_text(_json(found))
    (stage / "dpia-inventory.md").write_text(inventory.as_markdown(found))
    files = ["dpia-inventory.json", "dpia-inventory.md"]
    detail = f"{found['personal_tables']} of {len(found['tables'])} tables hold personal data"
    if found["unclassified"]:
        unknown = ", ".join(found["unclassified"])
        return Part("dpia inventory", "failed", f"{detail}; not classified: {unknown}", files)
    return Part("dpia inventory", "ok", detail, files)


def _tenant_days(inputs: Inputs) -> dict[str, int]:
    """Each tenant's retention in force (its policy, else the default)."""
    days = {}
    for tenant_id, slug in jobs.tenants(inputs.db):
        with inputs.db.session(tenant_id=tenant_id) as session:
            days[slug] = retention.days_for(
                session=session, default_days=inputs.settings.retention_default_days
            )
    return days


def screenshots(stage: Path, inputs: Inputs) -> Part:
    if inputs.shots is None or isinstance(inputs.shots, str):
        return Part("screenshots", "skipped", inputs.shots or "no server to shoot")
    taken = inputs.shots(stage / "screenshots")
    return Part("screenshots", "ok", "the SLO view and the ops page in headless Chromium",
                [str(p.relative_to(stage)) for p in taken])  # fmt: skip


# --- summary and manifest ---------------------------------------------------------------


def _write_summary(stage: Path, pack: Pack, inputs: Inputs) -> None:
    verdict = "PASSED" if pack.passed else "FAILED"
    lines = [f"# Summit evidence pack: {verdict}", "",
             f"Summit {_version()}, built {inputs.now():%Y-%m-%d %H:%M:%S %Z}.", "",
             "| part | status | detail |", "| --- | --- | --- |"]  # fmt: skip
    lines += [f"| {p.name} | {p.status} | {p.detail.replace('|', '/')} |" for p in pack.parts]
    if pack.blocking:
        lines += ["", "## Why the build failed", ""] + [f"- {b}" for b in pack.blocking]
    lines += ["", "Every file's SHA-256 and size: manifest.json."]
    (stage / "SUMMARY.md").write_text("\n".join(lines) + "\n")


def write_manifest(stage: Path, pack: Pack, *, now: datetime) -> Path:
    files = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "summit_version": _version(), "generated_at": now, "passed": pack.passed,
        "blocking": pack.blocking,
        "parts": [{"name": p.name, "status": p.status, "detail": p.detail, "files": p.files}
                  for p in pack.parts],
        "files": [{"path": p.relative_to(stage).as_posix(), "sha256": sha256(p),
                   "size": p.stat().st_size} for p in files],
    }  # fmt: skip
    target = stage / "manifest.json"
    target.write_text(_json(manifest))
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _version() -> str:
    try:
        return metadata.version("summit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _json(body: Any) -> str:
    return json.dumps(body, sort_keys=True, indent=2, default=str) + "\n"
