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
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from app.evidence import advisories, records
from app.evidence.parts import EvidenceError, Inputs, Part, PartUnavailable, Shots
from app.evidence.parts import as_json as _json

__all__ = ["EvidenceError", "Inputs", "Part", "PartUnavailable", "Shots", "build"]

SSDF_DOC = Path("docs/evidence/ssdf.md")
# A path the SSDF mapping cites: in backticks, under one of the repository's folders.
CITED = re.compile(
    r"`((?:app|tests|docs|scripts|runbooks|alerts|probes|governance|dashboards|benchmarks|"
    r"\.ci)/[^`\s]*|pyproject\.toml|README\.md)`"
)
Echo = Callable[[str], Any]


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
        ("vulnerabilities", vulnerabilities), ("ssdf", ssdf),
        ("policy decisions", records.decisions), ("slo report", records.slo_report),
        ("probe results", records.probe_results),
        ("audit verification", records.audit_verification), ("dpia inventory", records.dpia),
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
    write_manifest(stage, pack, now=inputs.now(), root=inputs.root)
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


def write_manifest(stage: Path, pack: Pack, *, now: datetime, root: Path) -> Path:
    files = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "summit_version": _version(), "source_commit": source_commit(root),
        "generated_at": now, "passed": pack.passed,
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


def source_commit(root: Path) -> str | None:
    """The checkout's commit (None outside a git checkout, or without git)."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S603, S607
                              capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _version() -> str:
    try:
        return metadata.version("summit")
    except metadata.PackageNotFoundError:
        return "unknown"
