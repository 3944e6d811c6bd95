"""Tenant fairness: one tenant floods past its limit while another reads.

Seeds the demo tenants (N entities each), starts `summit serve` (the embedded
default: SQLite, no Redis, cores + 1 sync workers, the in-flight cap it sets)
on 127.0.0.1, lowers the flooding tenant's limit (acme: --flood-qps, burst 10)
as an operator would, and measures the victim (globex, an entity fetch, hey at
--victim-clients closed-loop clients):

1. quiet: the victim alone;
2. under flood: the same while acme's --flood-clients hammer a search, far
   past their limit (most of their requests answered 429).

Prints both P95s and their ratio (our bar: under flood <= 2x quiet), the
flood's own answers by status, and the bare /healthz floor of the same
server. Traffic goes to 127.0.0.1 only; every run is bounded in time; the
server is stopped by PID at the end.

    .venv/bin/python -m benchmarks.fairness [--entities 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import bench_env, hey, login, seed_entities
from tests.support.live import summit_server


def set_limits(base: str, tenant: str, qps: int, burst: int) -> None:
    ops = login(base, None, "ops")
    response = requests.patch(
        f"{base}/api/v1/admin/tenants/{tenant}/quotas",
        headers={"Authorization": f"Bearer {ops}"},
        json={"qps": qps, "burst": burst, "reason": "fairness benchmark"},
        timeout=10,
    )
    response.raise_for_status()


def victim_target(base: str) -> tuple[str, str]:
    token = login(base, "globex", "carol")
    found = requests.get(
        f"{base}/api/v1/search?q=rocket", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    return f"{base}/api/v1/entities/{found['results'][0]['id']}", token


def flood(url: str, token: str, seconds: int, clients: int, out: dict[str, Any]) -> None:
    out.update(hey(url, token, seconds, clients))


def measure(args: argparse.Namespace, base: str) -> dict[str, Any]:
    set_limits(base, "globex", 100_000, 100_000)  # the victim is never over its own limit
    set_limits(base, "acme", args.flood_qps, 10)
    victim, victim_token = victim_target(base)
    flooder = login(base, "acme", "alice")
    hey(victim, victim_token, 2, args.victim_clients)  # warm every worker
    results: dict[str, Any] = {"floor": hey(f"{base}/healthz", None, args.seconds, 1)}
    results["quiet"] = hey(victim, victim_token, args.seconds, args.victim_clients)
    flooded: dict[str, Any] = {}
    attacker = threading.Thread(
        target=flood,
        args=(f"{base}/api/v1/search?q=falcon", flooder, args.seconds + 2, args.flood_clients,
              flooded),
    )  # fmt: skip
    attacker.start()
    try:
        results["flooded"] = hey(victim, victim_token, args.seconds, args.victim_clients)
    finally:
        attacker.join()
    results["flood"] = flooded
    return results


def p95(result: dict[str, Any]) -> float:
    """hey gives no 95th percentile for a handful of answers: the 90th, then."""
    pct = result["pct"]
    return float(pct.get(95, pct.get(90, 0.0)))


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    quiet, flooded = p95(results["quiet"]), p95(results["flooded"])
    print(f"\nvictim: globex entity fetch, {args.victim_clients} client(s), {args.seconds} s each")
    for name in ("floor", "quiet", "flooded"):
        row = results[name]
        label = {"floor": "floor: GET /healthz, 1 client", "quiet": "victim alone",
                 "flooded": "victim under acme's flood"}[name]  # fmt: skip
        pct = row["pct"]
        print(f"  {label:<34} {row['rps']:7.0f} req/s  p50 {pct.get(50, 0):6.2f} ms  "
              f"p95 {p95(row):6.2f} ms  {row['codes']}")  # fmt: skip
    flood_codes = results["flood"].get("codes", {})
    print(f"  acme's flood ({args.flood_clients} clients, limit {args.flood_qps}/s): "
          f"{results['flood'].get('rps', 0):.0f} req/s, answers {flood_codes}")  # fmt: skip
    verdict = "met" if flooded <= 2 * quiet else "NOT met"
    print(f"\nbar: victim P95 under flood <= 2x quiet: {verdict} ({flooded / quiet:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=10_000, help="per tenant")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--victim-clients", type=int, default=1)
    parser.add_argument("--flood-clients", type=int, default=50)
    parser.add_argument("--flood-qps", type=int, default=20)
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is missing: apt-get install hey (or ./scripts/bench)")
    var = Path(tempfile.mkdtemp(prefix="summit-bench-fair-"))
    try:
        env = bench_env(var, SUMMIT_ENV="development")
        env.pop("REDIS_URL", None)  # the embedded default
        seed_entities(env, args.entities)
        with summit_server(env, workers=None) as server:
            results = measure(args, server.url)
    finally:
        shutil.rmtree(var, ignore_errors=True)
    report(results, args)


if __name__ == "__main__":
    main()
