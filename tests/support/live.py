"""One live-server harness for the end-to-end suites and the benchmarks: a real
`summit serve` (gunicorn) on 127.0.0.1 with the demo data, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DEMO_PASSWORD = "e2e-demo-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def summit(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"summit serve exited with {process.returncode}")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # refused, or accepted before a worker is up
            pass
        time.sleep(0.2)
    raise RuntimeError(f"summit serve not ready after {timeout}s")


@contextmanager
def serving(var: Path, **extra_env: str) -> Iterator[str]:
    """`summit demo --seed-only`, then `summit serve` (gunicorn, 2 workers) with
    ``extra_env``; yields its URL and stops it by PID when done."""
    port = free_port()
    env = {
        **os.environ,
        "SUMMIT_VAR_DIR": str(var),
        "SUMMIT_PORT": str(port),
        "SUMMIT_DEMO_PASSWORD": DEMO_PASSWORD,
        "SUMMIT_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    env.pop("DATABASE_URL", None)
    summit("demo", "--seed-only", env=env)
    log = (var / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def api_login(url: str, tenant: str | None, username: str) -> dict[str, str]:
    response = requests.post(
        f"{url}/api/v1/auth/login",
        json={"tenant": tenant, "username": username, "password": DEMO_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
