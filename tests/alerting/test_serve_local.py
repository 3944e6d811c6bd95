"""`summit alerts serve-local`: Debian's Prometheus and Alertmanager with the
generated files, on 127.0.0.1, stopped by PID on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.live import free_port
from tests.support.prometheus import ALERTMANAGER, PROMETHEUS, require_tools

pytestmark = pytest.mark.slow


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def scraped_urls(prom: str) -> list[str]:
    """The scrape targets, once discovery (every 5 s) has found them."""
    deadline, urls = time.monotonic() + 60, list[str]()
    while not urls and time.monotonic() < deadline:
        targets = requests.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]
        urls = [t["scrapeUrl"] for t in targets["activeTargets"]]
        time.sleep(0.5)
    return urls


def test_serve_local_runs_both_with_the_generated_files_and_stops_them(tmp_path: Path) -> None:
    require_tools(PROMETHEUS, ALERTMANAGER)
    prom_port, am_port = free_port(), free_port()
    env = {
        **os.environ,
        "SUMMIT_VAR_DIR": str(tmp_path),
        "SUMMIT_PORT": "8123",
        "SUMMIT_ALERTS_WEBHOOK_TOKEN": "serve-local-token",
        "PAGERDUTY_ROUTING_KEY": "",
    }
    # Started with SIGINT ignored, as a background job of a shell without job
    # control starts it (a CI runner may): serve-local must still stop on it.
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "alerts", "serve-local",
         f"--prometheus-port={prom_port}", f"--alertmanager-port={am_port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    prom, am = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
    try:
        deadline = time.monotonic() + 90
        while not (ready(prom) and ready(am)) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.3)
        assert ready(prom), "Prometheus not ready within 90 s"
        assert ready(am), "Alertmanager not ready within 90 s"
        groups = requests.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
        names = {g["name"] for g in groups}
        assert "sloth-slo-alerts-summit-availability" in names
        assert "summit-probe-alerts" in names
        assert scraped_urls(prom) == ["http://127.0.0.1:8123/metrics"]
        status = requests.get(f"{am}/api/v2/status", timeout=5).json()
        assert "quiet-hours" in status["config"]["original"]
        # The webhook's token comes from this server's settings, in a private folder.
        secrets = tmp_path / "alerting" / "secrets"
        assert (
            f"credentials_file: {secrets / 'summit-webhook-token'}"
            in (status["config"]["original"])
        )
        assert (secrets / "summit-webhook-token").read_text() == "serve-local-token"
        assert (secrets / "summit-webhook-token").stat().st_mode & 0o777 == 0o600
        assert not (secrets / "pagerduty-routing-key").exists()
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        # serve-local gives both 15 s in all, then kills them: 60 s leaves a
        # loaded machine room to start Python's exit too.
        try:
            output = process.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # serve-local and both servers
            output = process.communicate()[0]
            raise AssertionError(f"serve-local ignored Ctrl-C for 60 s:\n{output}") from None
    assert process.returncode == 0, output
    assert "stopping" in output
    assert "PAGERDUTY_ROUTING_KEY is not set" in output
    assert not ready(prom)
    assert not ready(am)
