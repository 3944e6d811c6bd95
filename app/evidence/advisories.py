"""Known vulnerabilities of the installed packages. Imports no Flask.

Two sources, in the order the build tries them:

- a local advisory snapshot in OSV format (a checkout of the PyPA advisory
  database, or any folder of OSV ``.json``/``.yaml`` files), matched here with
  ``packaging``'s version logic: pip-audit only queries online services;
- pip-audit against the OSV service, when it is reachable; the severities of
  what it finds are read from the same OSV records.

Neither available: the report says "not checked", never "no vulnerabilities".
A severity comes from the advisory's own label (GitHub's ``database_specific``),
else its CVSS vector's base score, else an alias's in the same snapshot, else
it is UNKNOWN and the report says so.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
import yaml
from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

SEVERITIES = ("NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # ascending; UNKNOWN apart
GITHUB_LABELS = {"MODERATE": "MEDIUM"}
OSV_URL = "https://api.osv.dev"  # pip-audit asks /v1/query; we read /v1/vulns/{id}


class AdvisoryError(Exception):
    """The snapshot cannot be read (no such folder, nothing in OSV format)."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str


@dataclass
class Finding:
    package: str
    version: str
    id: str
    severity: str  # one of SEVERITIES or UNKNOWN
    summary: str
    aliases: list[str] = field(default_factory=list)
    fixed_in: list[str] = field(default_factory=list)
    source: str = ""  # the advisory file, or the service


@dataclass
class Report:
    """What was checked, against what, and what was found."""

    status: str  # "checked" | "not checked"
    source: str  # what the packages were checked against, or why not
    packages: int = 0
    advisories: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def critical(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "CRITICAL"]

    def as_json(self) -> dict[str, Any]:
        counts = dict.fromkeys((*reversed(SEVERITIES), "UNKNOWN"), 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return {
            "status": self.status,
            "source": self.source,
            "packages_checked": self.packages,
            "advisories_read": self.advisories,
            "by_severity": counts if self.status == "checked" else None,
            "findings": [asdict(f) for f in self.findings],
            "notes": self.notes,
        }

    def headline(self) -> str:
        if self.status != "checked":
            return f"NOT CHECKED: {self.source}"
        if not self.findings:
            return (f"checked {self.packages} packages against {self.source}: "
                    "no known vulnerabilities in it")  # fmt: skip
        worst = ", ".join(f"{n} {s}" for s, n in self.as_json()["by_severity"].items() if n)
        return f"checked {self.packages} packages against {self.source}: {worst}"


def installed() -> list[Package]:
    """The distributions installed in this interpreter's environment, except the
    ones installed from a working tree (Summit itself: it has no advisories)."""
    dists = [(canonicalize_name(d.metadata["Name"] or ""), d) for d in metadata.distributions()]
    # A working tree on sys.path shows its own *.egg-info too: drop the name, not the copy.
    editable = {name for name, dist in dists if _editable(dist)}
    found = {name: Package(name, dist.version) for name, dist in dists
             if name and name not in editable}  # fmt: skip
    return sorted(found.values(), key=lambda p: p.name)


def _editable(dist: metadata.Distribution) -> bool:
    direct = dist.read_text("direct_url.json")
    return bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))


# --- the local snapshot -----------------------------------------------------------------


def read_snapshot(directory: Path) -> list[dict[str, Any]]:
    """Every OSV record (``.json``, ``.yaml``, ``.yml``) under ``directory``."""
    if not directory.is_dir():
        raise AdvisoryError(f"{directory}: no such folder")
    records = []
    for path in sorted(directory.rglob("*")):
        if path.suffix not in (".json", ".yaml", ".yml") or not path.is_file():
            continue
        record = _load(path)
        if isinstance(record, dict) and "id" in record and "affected" in record:
            record["_path"] = str(path.relative_to(directory))
            records.append(record)
    if not records:
        raise AdvisoryError(f"{directory}: no OSV advisories (.json or .yaml with id, affected)")
    return records


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return None  # not an advisory (a README, a schema, a broken file): not ours to read


def check_snapshot(packages: Iterable[Package], records: list[dict[str, Any]], *,
                   source: str) -> Report:  # fmt: skip
    """Match ``packages`` against the OSV ``records``."""
    packages = list(packages)
    by_id = _index(records)
    wanted = {p.name: p for p in packages}
    report = Report(status="checked", source=source, packages=len(packages),
                    advisories=len(records))  # fmt: skip
    for record in records:
        if record.get("withdrawn"):
            continue
        for affected in record.get("affected") or []:
            pkg = affected.get("package") or {}
            if pkg.get("ecosystem") != "PyPI" or not pkg.get("name"):
                continue
            mine = wanted.get(canonicalize_name(pkg["name"]))
            if mine is not None and affects(affected, mine.version):
                report.findings.append(_finding(record, mine, by_id, affected))
    report.findings.sort(key=lambda f: (-_rank(f.severity), f.package, f.id))
    return report


def _index(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by id and alias, so an advisory without a severity can borrow its
    alias's (a PYSEC entry and the GHSA that rates the same flaw)."""
    index = {record["id"]: record for record in records}  # a record's own id first
    for record in records:
        for alias in record.get("aliases") or []:
            index.setdefault(alias, record)
    return index


def _finding(record: dict[str, Any], package: Package, by_id: dict[str, dict[str, Any]],
             affected: dict[str, Any]) -> Finding:  # fmt: skip
    aliases = list(record.get("aliases") or [])
    severity = severity_of(record)
    for alias in aliases:
        if severity != "UNKNOWN":
            break
        other = by_id.get(alias)
        severity = severity_of(other) if other is not None else severity
    return Finding(
        package=package.name, version=package.version, id=record["id"], severity=severity,
        summary=(record.get("summary") or record.get("details") or "")[:300].strip(),
        aliases=aliases, fixed_in=fixed_versions(affected), source=record.get("_path", ""),
    )  # fmt: skip


def affects(affected: dict[str, Any], version: str) -> bool:
    """Whether ``version`` is in an OSV ``affected`` entry: listed in its ``versions``
    or inside one of its ECOSYSTEM ranges (the OSV spec's evaluation)."""
    try:
        mine = Version(version)
    except InvalidVersion:
        return version in (affected.get("versions") or [])
    for listed in affected.get("versions") or []:
        if _same(listed, mine):
            return True
    ranges = affected.get("ranges") or []
    return any(_in_range(r, mine) for r in ranges if r.get("type") == "ECOSYSTEM")


def _same(listed: str, mine: Version) -> bool:
    try:
        return Version(listed) == mine
    except InvalidVersion:
        return False


def _in_range(osv_range: dict[str, Any], mine: Version) -> bool:
    events = []
    for event in osv_range.get("events") or []:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                at = _version(event[kind])
                if at is not None:
                    events.append((at, kind))
    events.sort(key=lambda e: (e[0], e[1] != "introduced"))
    hit = False
    for at, kind in events:
        if kind == "introduced" and mine >= at:
            hit = True
        elif (kind == "fixed" and mine >= at) or (kind == "last_affected" and mine > at):
            hit = False
    return hit


def _version(text: str) -> Version | None:
    try:
        return Version("0" if text == "0" else text)
    except InvalidVersion:
        return None


def fixed_versions(affected: dict[str, Any]) -> list[str]:
    return [e["fixed"] for r in affected.get("ranges") or [] for e in r.get("events") or []
            if "fixed" in e]  # fmt: skip


# --- severity ---------------------------------------------------------------------------


def severity_of(record: dict[str, Any]) -> str:
    """The advisory's severity: its label, else the highest of its CVSS scores."""
    label = str((record.get("database_specific") or {}).get("severity") or "").upper()
    label = GITHUB_LABELS.get(label, label)
    if label in SEVERITIES:
        return label
    rated = [_cvss(s) for s in record.get("severity") or [] if isinstance(s, dict)]
    known = [r for r in rated if r is not None]
    return max(known, key=_rank) if known else "UNKNOWN"


def _cvss(entry: dict[str, Any]) -> str | None:
    kinds = {"CVSS_V2": CVSS2, "CVSS_V3": CVSS3, "CVSS_V4": CVSS4}
    kind = kinds.get(str(entry.get("type")))
    if kind is None:
        return None
    try:
        score = float(kind(str(entry.get("score", ""))).base_score)
    except (CVSSError, ValueError, KeyError, TypeError):
        return None
    return rating(score)


def rating(score: float) -> str:
    """CVSS v3/v4 qualitative rating of a base score."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    return "LOW" if score > 0 else "NONE"


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


# --- pip-audit against the online service -----------------------------------------------


def check_service(packages: list[Package], *, pip_audit: Path, osv_url: str = OSV_URL,
                  timeout: float = 15.0) -> Report:  # fmt: skip
    """pip-audit (``-s osv``) over exactly ``packages``; "not checked" when it cannot
    reach the service. Severities come from each finding's OSV record."""
    with tempfile.TemporaryDirectory(prefix="summit-pip-audit-") as work:
        requirements = Path(work) / "requirements.txt"
        requirements.write_text("".join(f"{p.name}=={p.version}\n" for p in packages))
        argv = [str(pip_audit), "-r", str(requirements), "--no-deps", "--disable-pip",
                "-s", "osv", "--osv-url", f"{osv_url}/v1/query", "--cache-dir", work, "-f",
                "json", "--progress-spinner", "off", "--timeout", str(int(timeout))]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        reason = _last_line(done.stderr) or f"pip-audit exited {done.returncode}"
        return Report(status="not checked", source=f"the OSV service via pip-audit: {reason}")
    report = Report(status="checked", source=f"the OSV service at {osv_url} (pip-audit -s osv)",
                    packages=len(packages))  # fmt: skip
    report.findings = list(_service_findings(answer, report, osv_url, timeout))
    report.findings.sort(key=lambda f: (-_rank(f.severity), f.package, f.id))
    return report


def _service_findings(answer: dict[str, Any], report: Report, osv_url: str,
                      timeout: float) -> Iterator[Finding]:  # fmt: skip
    for dep in answer.get("dependencies") or []:
        if dep.get("skip_reason"):
            report.notes.append(f"{dep.get('name')}: skipped by pip-audit: {dep['skip_reason']}")
        for vuln in dep.get("vulns") or []:
            record = _osv_record(osv_url, vuln["id"], timeout)
            severity = severity_of(record) if record is not None else "UNKNOWN"
            if record is None:
                report.notes.append(f"{vuln['id']}: its OSV record could not be read: "
                                    "severity UNKNOWN, review it by hand")  # fmt: skip
            yield Finding(
                package=canonicalize_name(dep["name"]), version=dep["version"], id=vuln["id"],
                severity=severity, summary=(vuln.get("description") or "")[:300].strip(),
                aliases=list(vuln.get("aliases") or []),
                fixed_in=list(vuln.get("fix_versions") or []), source="pip-audit",
            )  # fmt: skip


def _osv_record(osv_url: str, vuln_id: str, timeout: float) -> dict[str, Any] | None:
    try:
        answer = requests.get(f"{osv_url}/v1/vulns/{vuln_id}", timeout=timeout)
        answer.raise_for_status()
        record: dict[str, Any] = answer.json()
    except (requests.RequestException, ValueError):
        return None
    return record


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
