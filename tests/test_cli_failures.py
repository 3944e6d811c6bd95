"""Every expected failure of the `summit` command is one clear line on stderr, no
traceback, and exit 2 (usage, configuration) or 1 (a check that failed).

Run as real processes: a traceback is what Python prints when nothing caught
the exception, and only a real process shows that."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import free_port


def summit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUMMIT_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The failure as the user sees it: exit ``code``, one line naming ``words``."""
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert done.returncode == code, (done.returncode, done.stderr)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def var(tmp_path: Path) -> dict[str, str]:
    return {"SUMMIT_VAR_DIR": str(tmp_path / "var"), "SUMMIT_ENV": "test"}


def test_an_unreachable_database(var: dict[str, str]) -> None:
    url = f"postgresql://summit:hunter2@127.0.0.1:{free_port()}/summit"
    line = one_line(summit("init", env={**var, "DATABASE_URL": url}), 2, "DATABASE_URL", "refused")
    assert "hunter2" not in line


def test_a_missing_sqlite_folder(var: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/folder/summit.db"
    done = summit("jobs", "list", env={**var, "DATABASE_URL": url})
    one_line(done, 2, f"{tmp_path}/no/such/folder does not exist", "mkdir -p")


def test_a_database_with_no_schema_says_run_init(var: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    one_line(summit("jobs", "list", env={**var, "DATABASE_URL": url}), 2, "summit init")


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"SUMMIT_PORT": "x"}, "SUMMIT_PORT"),
        ({"SUMMIT_ENV": "production", "SUMMIT_PASSWORD_HASH_PROFILE": "cheapest"},
         "SUMMIT_PASSWORD_HASH_PROFILE"),
        ({"SUMMIT_PROBE_FAIL_THRESHOLD": "5"}, "SUMMIT_PROBE_FAIL_WINDOW"),
    ],
)  # fmt: skip
def test_a_bad_setting(var: dict[str, str], variables: dict[str, str], named: str) -> None:
    line = one_line(summit("jobs", "list", env={**var, **variables}), 2, named)
    assert "{" not in line  # not pydantic's dump of every setting


def test_a_refused_url(var: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = summit("preflight", "isolation", "--url", url, env=var)
    one_line(done, 2, f"cannot connect to {url}", "is Summit running there")


def test_a_malformed_url(var: dict[str, str]) -> None:
    done = summit("preflight", "isolation", "--url", "localhost:8000", env=var)
    one_line(done, 2, "'localhost:8000' is not an http(s) URL")


@pytest.fixture
def not_summit() -> Iterator[str]:
    """Something else on the loopback: a plain file server (404 for /openapi.json)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_url_that_is_not_summit(var: dict[str, str], not_summit: str) -> None:
    done = summit("preflight", "isolation", "--url", not_summit, env=var)
    one_line(done, 2, f"{not_summit} is not a Summit server", "404")


def test_a_port_in_use(var: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = summit("serve", "--port", port, env=var)
    one_line(done, 2, f"127.0.0.1:{port}", "--port")


def test_an_unknown_probe_is_a_usage_error(var: dict[str, str]) -> None:
    one_line(summit("probes", "run", "nope", env=var), 2, "no probe named 'nope'", "golden-path")


def test_a_failed_job_is_a_failed_check(var: dict[str, str]) -> None:
    target = {"SUMMIT_PROBE_TARGET_URL": f"http://127.0.0.1:{free_port()}"}
    assert summit("init", env=var).returncode == 0
    done = summit("jobs", "run", "policy", env={**var, **target})
    one_line(done, 1, "job policy failed", "at login")
    assert "✗ login" in done.stdout
