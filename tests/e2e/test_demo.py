"""`summit demo` end to end, as CI runs it from the README's setup: every step
that exists in this build passes, and a step that does not exist says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import CHROMIUM
from tests.support.services import require_service

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_step_it_has(tmp_path: Path) -> None:
    require_service("Chromium", None if Path(CHROMIUM).exists() else f"no {CHROMIUM}")
    env = {**os.environ, "SUMMIT_VAR_DIR": str(tmp_path / "var"), "SUMMIT_LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "REDIS_URL", "SUMMIT_DEMO_PASSWORD", "SUMMIT_ENV"):
        env.pop(name, None)  # the README's embedded default
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--events", "5000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.rstrip().endswith("demo: every step held")
    for shown in ("golden-path: pass", "404, as if it did not exist", "reconciled exactly",
                  "purge refused: 409 legal_hold", "429 with Retry-After",
                  "acme's branded slo report as PDF"):  # fmt: skip
        assert shown in out, shown
    saved = tmp_path / "var" / "demo" / "acme-slo-report.pdf"
    assert saved.read_bytes().startswith(b"%PDF")
    assert "✗" not in out
