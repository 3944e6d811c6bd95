"""Policy decision latency: in-process, and over HTTP under `summit serve`.

In-process, over N decisions each (default 20,000):
- ceiling: cedarpy.is_authorized with pre-parsed policies, schema and entities
  (the engine alone, nothing of ours);
- PolicyEngine.decide: ours (reload check, cached entity sets, @id reasons);
- the route guard, authz.authorize: decide + metrics + decision-log enqueue.

Over HTTP: `hey` at 50 concurrent clients (closed loop) against
POST /api/v1/policy/decide, beside GET /healthz on the same server (the
framework floor). Loopback only; the server is stopped by PID.

    .venv/bin/python benchmarks/policy.py [--decisions 20000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cedarpy
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
from read_path import free_port, hey, raise_rate_limit, wait_ready  # noqa: E402

from app.core.db import Database, utcnow  # noqa: E402
from app.core.metrics import Metrics  # noqa: E402
from app.identity.service import Principal  # noqa: E402
from app.policy.authz import authorize  # noqa: E402
from app.policy.engine import PolicyEngine, Request  # noqa: E402
from app.policy.log import DecisionLog  # noqa: E402

PASSWORD = "bench-password"
BODY = {
    "principal": {"id": "carol", "role": "admin", "tenant": "globex"},
    "action": "read",
    "resource": {"type": "entity", "id": "e-1", "tenant": "acme"},
    "context": {},
}


def timed(fn: Callable[[], object], n: int) -> tuple[float, float, float]:
    """In microseconds."""
    p50, p95, p99 = common.timed(fn, n, warmup=1000)
    return p50 * 1e6, p95 * 1e6, p99 * 1e6


def in_process(n: int) -> dict[str, tuple[float, float, float]]:
    engine = PolicyEngine()
    loaded = engine._loaded  # the same parsed handles the engine uses
    entities = cedarpy.Entities.from_json_str(
        json.dumps(
            [
                {
                    "uid": {"type": "User", "id": "alice"},
                    "attrs": {"role": "admin", "tenant": "acme"},
                    "parents": [],
                },
                {
                    "uid": {"type": "Resource", "id": "tenant:acme"},
                    "attrs": {"kind": "tenant_data", "tenant": "acme", "legal_hold": False},
                    "parents": [],
                },
            ]
        ),
        loaded.schema,
    )
    raw = {
        "principal": {"type": "User", "id": "alice"},
        "action": {"type": "Action", "id": "read"},
        "resource": {"type": "Resource", "id": "tenant:acme"},
        "context": {},
    }
    request = Request(
        principal_id="alice",
        role="admin",
        tenant="acme",
        action="read",
        resource_type="Resource",
        resource_id="tenant:acme",
        resource_tenant="acme",
    )
    with tempfile.TemporaryDirectory() as work:
        db = Database(f"sqlite:///{work}/x.db")
        log = DecisionLog(db, clock=utcnow, flush_every=3600)  # queue only: no DB in the loop
        metrics = Metrics(__import__("prometheus_client").CollectorRegistry())
        alice = Principal(1, "alice", "admin", 1, "acme", 1)
        results = {
            "ceiling: cedarpy.is_authorized": timed(
                lambda: cedarpy.is_authorized(raw, loaded.policies, entities, schema=loaded.schema),
                n,
            ),
            "PolicyEngine.decide": timed(lambda: engine.decide(request), n),
            "route guard (decide + metrics + log)": timed(
                lambda: authorize(
                    engine=engine,
                    log=log,
                    metrics=metrics,
                    principal=alice,
                    action="read",
                    now=utcnow(),
                ),
                n,
            ),
        }
        log._queue.clear()
        db.dispose()
    return results


def over_http(seconds: int, clients: int) -> dict[str, dict[str, float]]:
    var = Path(tempfile.mkdtemp(prefix="summit-bench-policy-"))
    port = free_port()
    env = {
        **os.environ,
        "SUMMIT_VAR_DIR": str(var),
        "SUMMIT_PORT": str(port),
        "SUMMIT_LOG_LEVEL": "WARNING",
        "SUMMIT_DEMO_PASSWORD": PASSWORD,
        "SUMMIT_ENV": "demo",
        "SUMMIT_SCHEDULER": "false",  # no background probe traffic in the figures
    }
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--seed-only"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        raise_rate_limit(base)
        token = requests.post(
            f"{base}/api/v1/auth/login",
            timeout=10,
            json={"tenant": "acme", "username": "alice", "password": PASSWORD},
        ).json()["token"]
        hey(f"{base}/healthz", None, 2, clients)
        floor = hey(f"{base}/healthz", None, seconds, clients)
        body_file = var / "body.json"
        body_file.write_text(json.dumps(BODY))
        cmd = [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(clients),
            "-m",
            "POST",
            "-T",
            "application/json",
            "-D",
            str(body_file),
            "-H",
            f"Authorization: Bearer {token}",
            f"{base}/api/v1/policy/decide",
        ]
        decide = _parse(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return {"floor: GET /healthz": _flat(floor), "POST /api/v1/policy/decide": decide}


def _flat(result: dict[str, object]) -> dict[str, float]:
    pct = result["pct"]  # type: ignore[index]
    return {
        "rps": result["rps"],
        "p50": pct[50],
        "p95": pct[95],
        "p99": pct[99],  # type: ignore[dict-item,index]
        "non200": sum(v for k, v in result["codes"].items() if k != 200),
    }  # type: ignore[attr-defined]


def _parse(out: str) -> dict[str, float]:
    import re

    pct = {int(m[0]): float(m[1]) * 1000 for m in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return _flat({"pct": pct, "codes": codes, "rps": rps})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    print(f"in-process, {args.decisions:,} decisions each (µs):")
    results = in_process(args.decisions)
    ceiling = results["ceiling: cedarpy.is_authorized"][1]
    for name, (p50, p95, p99) in results.items():
        print(
            f"  {name:<40} p50 {p50:7.1f}  p95 {p95:7.1f}  p99 {p99:7.1f}   "
            f"p95 {p95 / ceiling:4.2f}x the ceiling"
        )
    for clients in (args.clients, 1):
        print(f"\nover HTTP, {clients} client(s), {args.seconds}s each (ms):")
        http = over_http(args.seconds, clients)
        floor = http["floor: GET /healthz"]
        for name, row in http.items():
            print(
                f"  {name:<40} {row['rps']:7.0f} req/s  p50 {row['p50']:6.2f}  "
                f"p95 {row['p95']:6.2f}  p99 {row['p99']:6.2f}  non-200 {row['non200']:.0f}  "
                f"p95 {row['p95'] / floor['p95']:4.2f}x the floor"
            )


if __name__ == "__main__":
    main()
