"""Read-path benchmark: search and entity fetch under `summit serve` at 50 clients.

Seeds the demo tenants with N entities each (default 100,000), starts
`summit serve` (gunicorn) on 127.0.0.1, and drives it with `hey` (a Go load
generator, Debian package `hey`) at 50 concurrent connections:

- 50 clients, closed loop (each sends its next request as soon as the last
  one answers): the server saturated, latency = queueing + service;
- 1 client: the service time of one request with no queue in front of it.

Each with the HOT cache off (SUMMIT_CACHE_TTL_SECONDS=0: every read goes to
the database — the read path itself) and on (the same request repeated: hits).

(hey's paced mode, -q, fires every client on the same tick, so its "paced"
latencies measure burst draining; it is not used.)

Beside each read endpoint it measures /healthz on the same server, the
framework floor (routing, metrics, access log, JSON), and prints the ratio.
Traffic goes to 127.0.0.1 only; every run is bounded in time; the server is
stopped by PID at the end.

    .venv/bin/python -m benchmarks.read_path [--entities 100000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from benchmarks.common import bench_env, hey, login, raise_rate_limit, seed_entities
from tests.support.live import summit_server


@dataclass
class Run:
    name: str
    mode: str
    rps: float
    p50: float
    p95: float
    p99: float
    ok: int
    errors: int


def measure(name: str, url: str, token: str | None, args: argparse.Namespace, clients: int) -> Run:
    result = hey(url, token, args.seconds, clients)
    ok = result["codes"].get(200, 0)
    return Run(
        name=name,
        mode=f"{clients} client" + ("s" if clients > 1 else ""),
        rps=result["rps"],
        p50=result["pct"][50],
        p95=result["pct"][95],
        p99=result["pct"][99],
        ok=ok,
        errors=sum(result["codes"].values()) - ok,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000, help="per tenant")
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0, help="default: cores + 1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--cache",
        choices=["off", "on", "both"],
        default="both",
        help="the HOT cache: off = every read hits the database",
    )
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is missing: apt-get install hey (or ./scripts/bench)")

    var = Path(tempfile.mkdtemp(prefix="summit-bench-"))
    extra = {"DATABASE_URL": args.database_url} if args.database_url else {}
    # One tenant's 50 clients measure the read path, not the fairness cap: with
    # summit serve's default cap (workers - 1 requests of one tenant in flight)
    # most of them would get a quick 429 (benchmarks/fairness.py measures that).
    env = bench_env(var, SUMMIT_ENV="development", SUMMIT_TENANT_MAX_INFLIGHT="0", **extra)
    seconds = seed_entities(env, args.entities)
    print(f"seeded {args.entities:,} entities per tenant (2 tenants) in {seconds:.1f}s")

    workers = args.workers or (os.cpu_count() or 1) + 1
    runs: list[Run] = []
    modes = {"off": ["off"], "on": ["on"], "both": ["off", "on"]}[args.cache]
    try:
        for cache in modes:
            ttl = "0" if cache == "off" else "30"
            runs += measure_server(
                {**env, "SUMMIT_CACHE_TTL_SECONDS": ttl}, args, workers, label=f"cache {cache}"
            )
    finally:
        shutil.rmtree(var, ignore_errors=True)
    report(runs, args, workers)


def measure_server(
    env: dict[str, str], args: argparse.Namespace, workers: int, *, label: str
) -> list[Run]:
    runs: list[Run] = []
    with summit_server(env, workers=workers, threads=args.threads) as server:
        base = server.url
        raise_rate_limit(base)
        token = login(base, "acme", "alice")
        rocket = requests.get(
            f"{base}/api/v1/search?q=rocket",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["results"][0]["id"]
        targets = [
            ("floor: GET /healthz", f"{base}/healthz", None),
            ("search, selective (q=rocket)", f"{base}/api/v1/search?q=rocket", token),
            ("search, two common words", f"{base}/api/v1/search?q=falcon%20harbor", token),
            ("entity fetch with edges", f"{base}/api/v1/entities/{rocket}", token),
        ]
        hey(targets[0][1], None, 2, args.clients)  # warm every worker
        for clients in (args.clients, 1):
            for name, url, auth in targets:
                run = measure(name, url, auth, args, clients)
                run.mode = f"{label}, {run.mode}"
                runs.append(run)
                print(format_run(run), flush=True)
    return runs


def format_run(run: Run) -> str:
    return (
        f"{run.mode:<22} {run.name:<30} {run.rps:8.0f} req/s  p50 {run.p50:6.1f} ms  "
        f"p95 {run.p95:6.1f} ms  p99 {run.p99:6.1f} ms  non-200: {run.errors}"
    )


def report(runs: list[Run], args: argparse.Namespace, workers: int) -> None:
    print(
        f"\n{args.clients} clients, {workers} gunicorn workers x {args.threads} threads, "
        f"{os.cpu_count()} cores shared with the load generator"
    )
    for mode in dict.fromkeys(run.mode for run in runs):
        floor = next(r for r in runs if r.mode == mode and r.name.startswith("floor"))
        for run in runs:
            if run.mode == mode and run is not floor:
                print(
                    f"{mode:<22} {run.name:<30} p95 {run.p95 / floor.p95:4.1f}x the floor, "
                    f"throughput {run.rps / floor.rps:4.2f}x the floor"
                )
    if args.json:
        args.json.write_text(json.dumps([run.__dict__ for run in runs], indent=2))


if __name__ == "__main__":
    main()
