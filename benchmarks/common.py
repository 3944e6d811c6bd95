"""What the benchmark scripts share: the test suite's live-server harness, seeding,
logging in, lifting a tenant's rate limit, the load generator and timing.

Run a benchmark from the project root as a module:
``.venv/bin/python -m benchmarks.read_path --help``.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from app.core.db import Database, utcnow
from app.core.migrate import upgrade
from app.demo.seed import seed
from app.identity.service import Passwords
from app.settings import load_settings
from tests.support.live import server_env, summit

PASSWORD = "bench-password"


def bench_env(var: Path, **extra: str) -> dict[str, str]:
    """A benchmark server's environment: no scheduler (no background probe traffic
    in the figures), quiet logs, its own var dir and port, SQLite unless given."""
    return server_env(var, SUMMIT_DEMO_PASSWORD=PASSWORD, SUMMIT_SCHEDULER="false", **extra)


def seed_demo(env: dict[str, str]) -> None:
    summit("demo", "--seed-only", env=env)


def seed_entities(env: dict[str, str], entities: int) -> float:
    """The demo tenants with ``entities`` each (in this process); seconds taken."""
    names = ("SUMMIT_VAR_DIR", "DATABASE_URL")
    settings = load_settings({name: env[name] for name in names if env.get(name)})
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    db = Database(settings.resolved_database_url)
    try:
        upgrade(db.engine)
        seed(db=db, passwords=Passwords(), password=PASSWORD, now=utcnow(),
             entities_per_tenant=entities)  # fmt: skip
    finally:
        db.dispose()
    return time.perf_counter() - started


def login(base: str, tenant: str | None, username: str) -> str:
    response = requests.post(
        f"{base}/api/v1/auth/login",
        json={"tenant": tenant, "username": username, "password": PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["token"])


def raise_rate_limit(base: str, tenant: str = "acme") -> None:
    """The load is one tenant's: lift its rate limit (as an operator would) so the
    benchmark measures the path itself, not 429s."""
    ops = login(base, None, "ops")
    response = requests.patch(
        f"{base}/api/v1/admin/tenants/{tenant}/quotas",
        timeout=10,
        headers={"Authorization": f"Bearer {ops}"},
        json={"qps": 100_000, "burst": 100_000, "reason": "benchmark"},
    )
    response.raise_for_status()


def hey(
    url: str,
    token: str | None,
    seconds: int,
    clients: int,
    *,
    body_file: Path | None = None,
) -> dict[str, Any]:
    """Drive ``url`` with hey (Debian package) for ``seconds`` at ``clients``
    closed-loop clients: throughput, latency percentiles (ms) and status counts."""
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(clients), "-disable-compression"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if body_file is not None:
        cmd += ["-m", "POST", "-T", "application/json", "-D", str(body_file)]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    pct = {int(m[0]): float(m[1]) * 1000 for m in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"pct": pct, "codes": codes, "rps": float(rps.group(1)) if rps else 0.0}


def timed(fn: Callable[[], object], n: int, *, warmup: int = 200) -> tuple[float, float, float]:
    """P50, P95 and P99 of ``n`` calls of ``fn``, in seconds, after ``warmup`` calls."""
    for _ in range(min(warmup, n)):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    p50, p95, p99 = (samples[min(n - 1, int(q * n))] for q in (0.50, 0.95, 0.99))
    return p50, p95, p99
