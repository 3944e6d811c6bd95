"""`summit preflight isolation` against the live gunicorn server (the CI run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.live import DEMO_PASSWORD

pytestmark = pytest.mark.slow


def test_isolation_preflight_passes_against_summit_serve(live_server: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "preflight", "isolation", "--url", live_server],
        env={**os.environ, "SUMMIT_DEMO_PASSWORD": DEMO_PASSWORD},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    *_, summary, cleaned = result.stdout.strip().splitlines()
    calls = int(summary.split(":")[1].split()[0])
    assert calls >= 60, summary  # every route x every persona, not a token few
    assert summary.endswith(" 0 problems")
    made = int(cleaned.split(" of ")[1].split()[0])
    assert cleaned == f"cleaned up: {made} of {made} records the preflight made removed"
