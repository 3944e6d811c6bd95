"""A `summit serve` of the demo's own, on a free loopback port, stopped by PID."""

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

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(*, log: Path, timeout: float = 60, env: dict[str, str] | None = None) -> Iterator[str]:
    """`summit serve` with this process's settings on 127.0.0.1, its scheduler off
    unless ``env`` says otherwise (the demo runs each check itself); yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "SUMMIT_SCHEDULER": "false",
        **(env or {}),
        "SUMMIT_PORT": str(port),
        "SUMMIT_HOST": "127.0.0.1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, timeout)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"summit serve exited with {process.returncode}: see its log")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"summit serve not ready after {timeout:.0f} s")
