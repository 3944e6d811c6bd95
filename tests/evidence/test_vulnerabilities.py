"""The vulnerability report: installed packages matched against a local OSV snapshot;
a known CRITICAL vulnerability fails the build; with nothing to check against the
report says "not checked", never "no vulnerabilities"."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from app.cli import main
from app.evidence import advisories
from app.evidence.advisories import Package

REQUESTS = metadata.version("requests")
CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
LOW_VECTOR = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8


def advisory(vuln_id: str, package: str, *, introduced: str = "0", fixed: str | None = None,
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    return {
        "id": vuln_id, "modified": "2026-11-01T00:00:00Z", "summary": f"planted {vuln_id}",
        "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        **extra,
    }  # fmt: skip


def plant(folder: Path, record: dict[str, Any], *, as_yaml: bool = False) -> Path:
    """Write ``record`` where the PyPA advisory database keeps it: vulns/<package>/<id>."""
    package: str = record["affected"][0]["package"]["name"]
    target = folder / "vulns" / package / f"{record['id']}.{'yaml' if as_yaml else 'json'}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(record) if as_yaml else json.dumps(record))
    return target


def build(tmp_path: Path, *args: str) -> tuple[Result, Path]:
    """`summit evidence build` on a fresh SQLite database, without the slow parts."""
    var = tmp_path / "var"
    env = {"SUMMIT_VAR_DIR": str(var), "SUMMIT_ENV": "test", "SUMMIT_SECRET_KEY": "k" * 32,
           "DATABASE_URL": f"sqlite:///{var / 'summit.db'}"}  # fmt: skip
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    out = tmp_path / "pack"
    result = CliRunner().invoke(
        main, ["evidence", "build", "--out", str(out), "--no-screenshots",
               "--tools", str(tmp_path / "no-tools"), *args], env=env,
    )  # fmt: skip
    return result, out


# --- through the command ----------------------------------------------------------------


def test_a_planted_critical_advisory_for_an_installed_package_fails_the_build(
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "advisory-database"
    plant(snapshot, advisory("PYSEC-2099-1", "requests", introduced="0", fixed="99.0",
                             database_specific={"severity": "CRITICAL"}))  # fmt: skip
    result, out = build(tmp_path, "--advisories", str(snapshot))
    assert result.exit_code == 1, result.output
    assert "evidence build FAILED" in result.output
    assert f"known CRITICAL vulnerability PYSEC-2099-1 in requests {REQUESTS}" in result.output
    assert "(fixed in 99.0)" in result.output
    report = json.loads((out / "vulnerabilities.json").read_text())
    assert report["status"] == "checked"
    assert report["by_severity"]["CRITICAL"] == 1
    [finding] = report["findings"]
    assert (finding["package"], finding["version"]) == ("requests", REQUESTS)
    assert finding["source"] == "vulns/requests/PYSEC-2099-1.json"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["passed"] is False
    assert any("PYSEC-2099-1" in why for why in manifest["blocking"])
    assert "FAILED" in (out / "SUMMARY.md").read_text()


def test_an_advisory_that_does_not_reach_the_installed_version_passes(tmp_path: Path) -> None:
    snapshot = tmp_path / "advisory-database"
    plant(snapshot, advisory("PYSEC-2000-1", "requests", introduced="0", fixed="1.0",
                             database_specific={"severity": "CRITICAL"}))  # fmt: skip
    plant(snapshot, advisory("GHSA-low", "requests", severity=[
        {"type": "CVSS_V3", "score": LOW_VECTOR}]), as_yaml=True)  # fmt: skip
    result, out = build(tmp_path, "--advisories", str(snapshot))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "vulnerabilities.json").read_text())
    assert [f["id"] for f in report["findings"]] == ["GHSA-low"]
    assert report["by_severity"]["LOW"] == 1
    assert report["advisories_read"] == 2
    assert "vulnerabilities: ok (checked" in result.output


def test_with_no_advisories_and_no_service_the_report_says_not_checked(tmp_path: Path) -> None:
    result, out = build(tmp_path, "--offline")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "vulnerabilities.json").read_text())
    assert report["status"] == "not checked"
    assert report["by_severity"] is None
    assert report["findings"] == []
    assert "vulnerabilities: not checked (no local advisory snapshot" in result.output
    summary = (out / "SUMMARY.md").read_text()
    assert "| vulnerabilities | not checked |" in summary
    for text in (result.output, summary, json.dumps(report)):
        assert "no known vulnerabilities" not in text.lower()
        assert "no vulnerabilities" not in text.lower()


def test_without_pip_audit_the_service_is_not_checked_either(tmp_path: Path) -> None:
    result, out = build(tmp_path)  # --tools points at a folder without pip-audit
    assert result.exit_code == 0, result.output
    report = json.loads((out / "vulnerabilities.json").read_text())
    assert report["status"] == "not checked"
    assert "no pip-audit at" in report["source"]


def test_strict_refuses_a_pack_with_parts_not_checked(tmp_path: Path) -> None:
    result, _ = build(tmp_path, "--offline", "--strict")
    assert result.exit_code == 1
    assert "evidence build incomplete (--strict)" in result.output
    assert "vulnerabilities: not checked" in result.output


def test_a_folder_with_no_osv_advisories_fails_the_part(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("not an advisory")
    result, out = build(tmp_path, "--advisories", str(empty))
    assert result.exit_code == 1
    assert "vulnerabilities failed: AdvisoryError" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"name": "vulnerabilities", "status": "failed"}.items() <= manifest["parts"][0].items()


# --- the matching -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "version", "hit"),
    [
        ([{"introduced": "0"}, {"fixed": "2.0"}], "1.9.9", True),
        ([{"introduced": "0"}, {"fixed": "2.0"}], "2.0", False),
        ([{"introduced": "1.5"}, {"fixed": "2.0"}], "1.4", False),
        ([{"introduced": "1.5"}, {"last_affected": "1.7"}], "1.7", True),
        ([{"introduced": "1.5"}, {"last_affected": "1.7"}], "1.7.1", False),
        ([{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.1"}],
         "2.0.5", True),
        ([{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.1"}],
         "1.5", False),
        ([{"fixed": "2.0"}, {"introduced": "0"}], "1.0", True),  # events in any order
        ([{"introduced": "0"}, {"fixed": "2.0"}], "2.0rc1", True),  # a pre-release is before
    ],
)  # fmt: skip
def test_osv_ranges_follow_the_spec(events: list[dict[str, str]], version: str, hit: bool) -> None:
    affected = {"package": {"ecosystem": "PyPI", "name": "x"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}]}  # fmt: skip
    assert advisories.affects(affected, version) is hit


def test_listed_versions_match_by_value_and_names_by_pep_503() -> None:
    entry = {"package": {"ecosystem": "PyPI", "name": "Flask_WTF"}, "versions": ["1.3"]}
    record = {"id": "X-1", "affected": [entry]}
    found = advisories.check_snapshot([Package("flask-wtf", "1.3.0")], [record], source="t")
    assert [f.id for f in found.findings] == ["X-1"]
    npm = {
        "id": "X-1",
        "affected": [{**entry, "package": {"ecosystem": "npm", "name": "flask-wtf"}}],
    }
    found = advisories.check_snapshot([Package("flask-wtf", "1.3")], [npm], source="t")
    assert found.findings == []


def test_withdrawn_advisories_are_not_findings() -> None:
    record = advisory("X-2", "requests", withdrawn="2026-01-01T00:00:00Z")
    found = advisories.check_snapshot([Package("requests", "1.0")], [record], source="t")
    assert found.findings == []


@pytest.mark.parametrize(
    ("record", "severity"),
    [
        ({"database_specific": {"severity": "CRITICAL"}}, "CRITICAL"),
        ({"database_specific": {"severity": "MODERATE"}}, "MEDIUM"),  # GitHub's word
        ({"severity": [{"type": "CVSS_V3", "score": CRITICAL_VECTOR}]}, "CRITICAL"),
        ({"severity": [{"type": "CVSS_V3", "score": LOW_VECTOR}]}, "LOW"),
        ({"severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/"
                                                    "VI:H/VA:H/SC:N/SI:N/SA:N"}]}, "CRITICAL"),
        ({"severity": [{"type": "CVSS_V3", "score": "not a vector"}]}, "UNKNOWN"),
        ({}, "UNKNOWN"),
    ],
)  # fmt: skip
def test_severity_from_the_label_or_the_cvss_score(record: dict[str, Any], severity: str) -> None:
    assert advisories.severity_of(record) == severity


def test_an_advisory_without_severity_borrows_its_aliases() -> None:
    pysec = advisory("PYSEC-2099-7", "requests", aliases=["GHSA-aaaa"])
    ghsa = advisory("GHSA-aaaa", "requests", database_specific={"severity": "CRITICAL"})
    ghsa["affected"][0]["package"]["ecosystem"] = "PyPI-but-not-quite"  # matched only by alias
    report = advisories.check_snapshot([Package("requests", "1.0")], [pysec, ghsa], source="t")
    [finding] = report.findings
    assert (finding.id, finding.severity) == ("PYSEC-2099-7", "CRITICAL")
    assert report.critical == [finding]


def test_the_installed_packages_leave_out_summit_itself() -> None:
    names = {p.name for p in advisories.installed()}
    assert {"requests", "flask", "sqlalchemy"} <= names
    assert "summit" not in names  # installed from the working tree: no advisories apply
