"""Policy decision latency: in-process, and over HTTP under `summit serve`.

In-process, over N decisions each (default 20,000):
- ceiling: cedarpy.is_authorized with pre-parsed policies, schema and entities
  (the engine alone, nothing of ours);
- PolicyEngine.decide: ours (reload check, cached entity sets, @id reasons);
- the route guard, authz.authorize: decide + metrics + decision-log enqueue.

Over HTTP: `hey` at 50 concurrent clients (closed loop) against
POST /api/v1/policy/decide, beside GET /healthz on the same server (the
framework floor). Loopback only; the server is stopped by PID.

    .venv/bin/python -m benchmarks.policy [--decisions 20000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy
from prometheus_client import CollectorRegistry

from app.core.db import Database, utcnow
from app.core.metrics import Metrics
from app.identity.service import Principal
from app.policy.authz import authorize
from app.policy.engine import PolicyEngine, Request
from app.policy.log import DecisionLog
from benchmarks import common
from benchmarks.common import bench_env, hey, login, raise_rate_limit, seed_demo
from tests.support.live import summit_server

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
    policies, schema = engine.parsed  # the same parsed handles the engine uses
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
        schema,
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
        metrics = Metrics(CollectorRegistry())
        alice = Principal(1, "alice", "admin", 1, "acme", 1)
        results = {
            "ceiling: cedarpy.is_authorized": timed(
                lambda: cedarpy.is_authorized(raw, policies, entities, schema=schema),
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
        db.dispose()
    return results


def over_http(seconds: int, clients: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="summit-bench-policy-") as work:
        var = Path(work)
        env = bench_env(var, SUMMIT_ENV="demo")
        seed_demo(env)
        body_file = var / "body.json"
        body_file.write_text(json.dumps(BODY))
        with summit_server(env, workers=None) as server:
            base = server.url
            raise_rate_limit(base)
            token = login(base, "acme", "alice")
            hey(f"{base}/healthz", None, 2, clients)  # warm every worker
            floor = hey(f"{base}/healthz", None, seconds, clients)
            decide = hey(f"{base}/api/v1/policy/decide", token, seconds, clients,
                         body_file=body_file)  # fmt: skip
    return {"floor: GET /healthz": _flat(floor), "POST /api/v1/policy/decide": _flat(decide)}


def _flat(result: dict[str, Any]) -> dict[str, float]:
    pct = result["pct"]
    non200 = sum(n for code, n in result["codes"].items() if code != 200)
    return {"rps": result["rps"], "p50": pct[50], "p95": pct[95], "p99": pct[99],
            "non200": float(non200)}  # fmt: skip


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
