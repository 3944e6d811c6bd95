"""Debian's Prometheus and Alertmanager, started on 127.0.0.1 for a test and
stopped by PID: the real tools, never a fake. Tests that need them skip on a
laptop without the packages and fail in CI (scripts/setup installs them)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.live import free_port, wait_http
from tests.support.services import require_service

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name for the binary


def require_tools(*names: str) -> None:
    for name in names:
        require_service(name, None if shutil.which(name) else f"{name} is not installed")


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar) of ``expr`` now; raises on a query error."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scraped_cleanly(self, seconds: float) -> bool:
        """Every scrape of every target in the last ``seconds`` succeeded (the latest
        scrape too: a failed one marks all of the target's series stale, so an
        instant query then finds nothing whatever the query)."""
        window = max(1, round(seconds))
        return all(
            float(series["value"][1]) == 1 for series in self.query(f"min_over_time(up[{window}s])")
        ) and all(float(series["value"][1]) == 1 for series in self.query("up"))

    def scrape_errors(self) -> list[str]:
        """What each unhealthy target's last scrape said, for a failure message."""
        targets = requests.get(f"{self.url}/api/v1/targets", timeout=10).json()
        return [
            f"{target['scrapeUrl']}: {target['health']}: {target['lastError']}"
            f" (last scrape took {target['lastScrapeDuration']:.2f} s)"
            for target in targets["data"]["activeTargets"]
            if target["health"] != "up"
        ]

    def wait_for(
        self, expr: str, ok: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Poll ``expr`` until ``ok(result)``; target discovery alone takes ~6 s."""
        deadline, result = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if ok(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{expr!r} never held within {timeout} s; last: {result}")


@contextmanager
def _running(argv: list[str], url: str, log: Path, what: str) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{url}/-/ready", process, what, timeout=60)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_prometheus(
    workdir: Path,
    *,
    targets: list[str],
    rule_files: list[Path] = (),  # type: ignore[assignment]
    alertmanager: str | None = None,
    interval: str = "1s",
    bearer_token_file: Path | None = None,
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (host:port) every ``interval`` and evaluating
    ``rule_files`` as often; alerts go to ``alertmanager`` (a URL) when given."""
    require_tools(PROMETHEUS)
    workdir.mkdir(parents=True, exist_ok=True)
    scrape: dict[str, Any] = {"job_name": "summit", "static_configs": [{"targets": targets}]}
    if bearer_token_file is not None:
        scrape["authorization"] = {"type": "Bearer", "credentials_file": str(bearer_token_file)}
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [scrape],
        "rule_files": [str(path) for path in rule_files],
    }
    if alertmanager:
        host = alertmanager.split("://", 1)[-1].rstrip("/")
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        PROMETHEUS,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",
    ]
    with _running(argv, url, workdir / "prometheus.log", "prometheus"):
        yield Prometheus(url)


@contextmanager
def running_alertmanager(workdir: Path, config: Path) -> Iterator[str]:
    """Alertmanager with ``config`` on a free loopback port, its gossip port closed."""
    require_tools(ALERTMANAGER)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        f"--web.external-url={url}",
    ]
    with _running(argv, url, workdir / "alertmanager.log", "alertmanager"):
        yield url
