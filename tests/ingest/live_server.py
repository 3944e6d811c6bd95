"""A `summit serve` that can be killed with SIGKILL and started again on the same
port and database (SQLite under its var dir, or a PostgreSQL schema)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.live import DEMO_PASSWORD, free_port, summit, wait_ready
from tests.support.services import PG_URL, postgres_reachable, require_service


class Server:
    def __init__(self, var: Path, env: dict[str, str], workers: int, threads: int) -> None:
        self.var, self.env = var, env
        self.argv = [sys.executable, "-m", "app.cli", "serve", "--workers", str(workers),
                     "--threads", str(threads)]  # fmt: skip
        self.url = f"http://127.0.0.1:{env['SUMMIT_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.var / f"serve-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        wait_ready(self.url, self.process, timeout=60)

    def kill(self) -> None:
        """SIGKILL to gunicorn and every worker at once: no shutdown, no flush."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def postgres_schema() -> Iterator[str]:
    require_service("PostgreSQL", postgres_reachable())
    schema = f"summit_ingest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def live(
    var: Path, *, database: str, workers: int = 2, threads: int = 1, **extra: str
) -> Iterator[Server]:
    """Seeded demo data, then `summit serve` on ``database`` ("sqlite" or "postgresql")."""
    with postgres_schema() if database == "postgresql" else _nothing() as url:
        var.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ, "SUMMIT_VAR_DIR": str(var), "SUMMIT_PORT": str(free_port()),
            "SUMMIT_DEMO_PASSWORD": DEMO_PASSWORD, "SUMMIT_LOG_LEVEL": "WARNING",
            "SUMMIT_SCHEDULER": "false", "SUMMIT_ENV": "test", **extra,
        }  # fmt: skip
        env.pop("DATABASE_URL", None)
        if url:
            env["DATABASE_URL"] = url
        summit("demo", "--seed-only", env=env)
        server = Server(var, env, workers, threads)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""
