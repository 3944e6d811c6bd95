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
from dataclasses import dataclass
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
        capture_output=True,
        text=True,
        **{"check": True, "timeout": 120, **kwargs},
    )


def wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:  # refused, or accepted before a worker is up
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    wait_http(f"{url}/readyz", process, "summit serve", timeout)


@dataclass(frozen=True)
class Server:
    url: str
    pid: int  # gunicorn's master; its workers are its children


@contextmanager
def summit_server(
    env: dict[str, str], *, workers: int | None = 2, threads: int = 1, log: Path | None = None
) -> Iterator[Server]:
    """`summit serve` (gunicorn) with ``env`` (which names SUMMIT_VAR_DIR and
    SUMMIT_PORT); yields it once ready and stops it by PID when done.
    ``workers=None`` keeps serve's default (cores + 1)."""
    argv = [sys.executable, "-m", "app.cli", "serve", "--threads", str(threads)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{env['SUMMIT_PORT']}"
    try:
        wait_ready(url, process)
        yield Server(url, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if log is not None and not isinstance(out, int):
            out.close()


def server_env(var: Path, **extra_env: str) -> dict[str, str]:
    """The environment of a test server: its own var dir and port, quiet logs, the
    test demo password; SQLite under ``var`` unless ``extra_env`` names a DATABASE_URL."""
    env = {
        **os.environ,
        "SUMMIT_VAR_DIR": str(var),
        "SUMMIT_PORT": str(free_port()),
        "SUMMIT_DEMO_PASSWORD": DEMO_PASSWORD,
        "SUMMIT_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    return {**env, **extra_env}


@contextmanager
def serving(var: Path, *, workers: int = 2, **extra_env: str) -> Iterator[str]:
    """`summit demo --seed-only`, then `summit serve` (gunicorn, 2 workers) with
    ``extra_env``; yields its URL and stops it by PID when done."""
    env = server_env(var, **extra_env)
    summit("demo", "--seed-only", env=env)
    with summit_server(env, workers=workers, log=var / "serve.log") as server:
        yield server.url


def api_login(url: str, tenant: str | None, username: str) -> dict[str, str]:
    response = requests.post(
        f"{url}/api/v1/auth/login",
        json={"tenant": tenant, "username": username, "password": DEMO_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
