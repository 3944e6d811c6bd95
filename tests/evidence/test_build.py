"""`summit evidence build`: a pack whose manifest digests match its files, with every
part present and saying what it did; the full build (SBOM, embedded server,
screenshots in Chromium) as CI runs it from the README's setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from app.core.db import utcnow
from app.evidence.service import sha256
from probes.models import ProbeRun
from tests.governance.helpers import create, hold
from tests.support.live import CHROMIUM, free_port
from tests.support.services import require_service
from tests.support.world import World, services

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-tools" / "bin"
PARTS = ["vulnerabilities", "ssdf", "policy decisions", "slo report", "probe results",
         "audit verification", "dpia inventory", "screenshots", "sbom"]  # fmt: skip


def assert_manifest_matches(out: Path) -> dict[str, Any]:
    """Every file is in the manifest with its real SHA-256 and size, and nothing else is."""
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    listed = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"manifest.json"}
    for path, entry in listed.items():
        assert entry["sha256"] == sha256(out / path), path
        assert entry["size"] == (out / path).stat().st_size, path
    for part in manifest["parts"]:
        assert set(part["files"]) <= set(listed), part["name"]
    assert [p["name"] for p in manifest["parts"]] == PARTS
    return manifest


def traffic(world: World) -> None:
    """Decisions (one denied), audited holds, and a probe run to show."""
    decide = {"principal": {"id": "carol", "role": "admin", "tenant": "globex"},
              "action": "read", "resource": {"type": "entity", "id": "e-1", "tenant": "acme"},
              "context": {}}  # fmt: skip
    world.client.post("/api/v1/policy/decide", json=decide, headers=world.headers("alice"))
    entity = create(world)
    assert hold(world, [entity["id"]]).status_code == 201
    world.client.get("/api/v1/search?q=rocket", headers=world.headers("bob"))
    services(world.app).decisions.flush()
    services(world.app).decisions.flush_counts()
    now = utcnow()
    with services(world.app).db.session(tenant_id=None, write=True) as session:
        session.add(ProbeRun(
            id=str(uuid.uuid4()), probe="policy", trigger="schedule", status="pass",
            started_at=now, recorded_at=now, duration_ms=42.0,
            steps=[{"name": "decide", "ms": 40.0, "ok": True, "error": None}],
            failed_step=None, error=None, artifacts=[],
        ))  # fmt: skip
        session.commit()


def build(world: World, tmp_path: Path, *args: str) -> tuple[Result, Path]:
    settings = services(world.app).settings
    env = {"DATABASE_URL": settings.resolved_database_url, "SUMMIT_VAR_DIR": str(tmp_path / "var"),
           "SUMMIT_ENV": "test", "SUMMIT_SECRET_KEY": "test-secret-key"}  # fmt: skip
    out = tmp_path / "pack"
    result = CliRunner().invoke(main, ["evidence", "build", "--out", str(out), *args], env=env)
    return result, out


def test_the_pack_has_every_part_and_its_manifest_matches_the_files(
    world: World, tmp_path: Path
) -> None:
    traffic(world)
    result, out = build(world, tmp_path, "--offline", "--no-screenshots",
                        "--tools", str(tmp_path / "no-tools"))  # fmt: skip
    assert result.exit_code == 0, result.output
    for number, name in enumerate(PARTS, start=1):
        assert f"[{number}/9] {name}: " in result.output  # a progress line per step
    manifest = assert_manifest_matches(out)
    assert manifest["passed"] is True
    assert len(manifest["source_commit"]) == 40  # this checkout's HEAD
    status = {p["name"]: (p["status"], p["detail"]) for p in manifest["parts"]}
    assert status["screenshots"] == ("skipped", "--no-screenshots")
    assert status["sbom"][0] == "skipped"
    assert "no cyclonedx-py at" in status["sbom"][1]
    assert status["vulnerabilities"][0] == "not checked"
    for name in ("ssdf", "policy decisions", "slo report", "probe results",
                 "audit verification", "dpia inventory"):  # fmt: skip
        assert status[name][0] == "ok", (name, status[name])

    decisions = [json.loads(line) for line in (out / "policy-decisions.jsonl").open()]
    assert {(d["tenant"], d["caller"], d["principal_id"], d["decision"]) for d in decisions} >= {
        ("acme", "alice", "carol", "deny")
    }
    counts = json.loads((out / "policy-decision-counts.json").read_text())
    assert any(c["action"] == "search" and c["tenant"] == "acme" for c in counts)
    audit = json.loads((out / "audit-verification.json").read_text())
    assert audit["acme"]["ok"] is True
    assert audit["acme"]["checked"] >= 1
    probes = json.loads((out / "probe-results.json").read_text())
    assert probes["policy"]["status"] == "green"
    assert len(probes["policy"]["runs"]) == 1
    slo = json.loads((out / "slo-report.json").read_text())
    assert slo["source"] == "local"
    assert slo["slos"]
    assert {"id", "objective", "sli", "error_budget_remaining", "alerts"} <= set(slo["slos"][0])
    dpia = json.loads((out / "dpia-inventory.json").read_text())
    assert dpia["unclassified"] == []
    assert dpia["personal_tables"] > 10
    entities = next(t for t in dpia["tables"] if t["table"] == "entities")
    assert entities["per_tenant_days"] == {"acme": 365, "globex": 365}
    assert (out / "ssdf.md").read_text() == (ROOT / "docs/evidence/ssdf.md").read_text()
    summary = (out / "SUMMARY.md").read_text()
    assert summary.startswith("# Summit evidence pack: PASSED")
    assert "| screenshots | skipped | --no-screenshots |" in summary
    assert not list(tmp_path.glob(".pack.partial*"))  # the staging folder is gone


def test_a_tampered_file_no_longer_matches_its_digest(world: World, tmp_path: Path) -> None:
    result, out = build(world, tmp_path, "--offline", "--no-screenshots",
                        "--tools", str(tmp_path / "no-tools"))  # fmt: skip
    assert result.exit_code == 0, result.output
    (out / "slo-report.json").write_text("{}")
    with pytest.raises(AssertionError, match=r"slo-report\.json"):
        assert_manifest_matches(out)


def test_a_folder_in_use_is_refused_and_left_alone(world: World, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result, _ = build(world, tmp_path, "--offline", "--no-screenshots")
    assert result.exit_code == 2
    assert "exists and is not an empty folder" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.slow
def test_the_full_build_from_the_readme_setup(tmp_path: Path) -> None:
    """The SBOM from the tools' venv, the embedded server and real Chromium."""
    require_service("Chromium", None if Path(CHROMIUM).exists() else f"no {CHROMIUM}")
    assert (TOOLS / "cyclonedx-py").exists(), "scripts/setup installs .venv-tools"
    env = {**os.environ, "SUMMIT_VAR_DIR": str(tmp_path / "var"), "SUMMIT_LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "REDIS_URL", "SUMMIT_DEMO_PASSWORD", "SUMMIT_ENV"):
        env.pop(name, None)  # the README's embedded default
    summit = [sys.executable, "-m", "app.cli"]
    subprocess.run([*summit, "demo", "--seed-only"], env=env, check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    out = tmp_path / "pack"
    argv = [*summit, "evidence", "build", "--out", str(out), "--offline", "--run-probes"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "starting summit serve on the loopback" in done.stdout  # no --url: its own
    manifest = assert_manifest_matches(out)
    status = {p["name"]: p["status"] for p in manifest["parts"]}
    assert set(status.values()) == {"ok", "not checked"}, done.stdout
    assert status["vulnerabilities"] == "not checked"  # --offline, no snapshot
    probes = json.loads((out / "probe-results.json").read_text())
    assert {name: p["status"] for name, p in probes.items()} == {
        "golden-path": "green", "governance": "green", "policy": "green"
    }, done.stdout  # fmt: skip
    assert "ran now: golden-path pass in" in done.stdout
    bom = json.loads((out / "sbom.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.6"
    names = {c["name"].lower() for c in bom["components"]}
    assert {"flask", "sqlalchemy", "cedarpy", "playwright"} <= names
    assert not {"cyclonedx-bom", "pip-audit"} & names  # the tools stay out of the product's SBOM
    assert bom["metadata"]["component"]["name"] == "summit"
    for shot in ("screenshots/ops-slo.png", "screenshots/ops.png"):
        data = (out / shot).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), shot
        assert len(data) > 20_000, shot  # a page, not a blank


def test_screenshots_from_a_url_that_answers_nothing_fail_the_build_saying_so(
    world: World, tmp_path: Path
) -> None:
    require_service("Chromium", None if Path(CHROMIUM).exists() else f"no {CHROMIUM}")
    result, out = build(world, tmp_path, "--offline", "--tools", str(tmp_path / "no-tools"),
                        "--url", f"http://127.0.0.1:{free_port()}")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "screenshots failed: ScreenshotError: " in result.output
    assert "ERR_CONNECTION_REFUSED" in result.output
    manifest = assert_manifest_matches(out)
    assert manifest["passed"] is False
    assert not (out / "screenshots").exists() or not any((out / "screenshots").iterdir())
