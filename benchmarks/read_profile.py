"""Where one read request's time goes: the entity fetch and a search, profiled in
process beside the framework floor (/healthz).

Seeds the demo tenants with N entities each (default 20,000) in a temporary
SQLite file, builds the app in this process with the HOT cache off (every read
goes to the database), and sends requests through Flask's test client, one at
a time (the 1-client case, without gunicorn's socket and HTTP parsing):

1. timing, no profiler: µs per request (median of 5 rounds) for the entity
   fetch, the search and /healthz, and the ratio to /healthz;
2. cProfile over the same requests: each part of the request's path (token
   lookup, rate limit, in-flight slot, policy decision, the view's queries,
   JSON shaping, the session, metrics and access log…) as a share of the
   profiled total, scaled to the unprofiled µs (the profiler inflates every
   call; the shares are what it tells). Parts nest: "of which" lines are
   inside the line above them.

    .venv/bin/python -m benchmarks.read_profile [--entities 20000] [--requests 2000]

Nothing listens on a port; the temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from app import create_app
from benchmarks.common import PASSWORD, seed_entities
from tests.support.live import server_env

# (label, depth, [(path suffix, function name)...]): cumulative time of the listed
# functions (summed), per request. Depth 1 lines are inside the depth 0 line above.
PARTS: list[tuple[str, int, list[tuple[str, str]]]] = [
    ("before the view: request id, body and form checks", 0,
     [("app/web/middleware.py", "_start"), ("app/web/bodies.py", "check_request"),
      ("app/web/forms.py", "protect_forms")]),
    ("token lookup (a query)", 0, [("app/web/guard.py", "_resolve")]),
    ("rate limit (GCRA, the host store)", 0, [("app/quotas/ratelimit.py", "hit")]),
    ("in-flight slot, take and give back", 0,
     [("app/quotas/ratelimit.py", "acquire"), ("app/quotas/ratelimit.py", "release")]),
    ("policy decision", 0, [("app/policy/authz.py", "authorize")]),
    ("of which Cedar itself", 1, [("cedarpy/__init__.py", "is_authorized")]),
    ("the view", 0, [("app/graph/views.py", "get_entity"), ("app/graph/views.py", "search")]),
    ("of which the queries (ORM)", 1,
     [("app/graph/service.py", "get_entity"), ("app/graph/service.py", "entity_edges"),
      ("app/graph/search.py", "search_entities")]),
    ("of which the input schema (query string)", 1,
     [("apiflask/scaffold.py", "_annotate"), ("webargs/core.py", "parse")]),
    ("of which JSON shaping", 1, [("app/web/shapes.py", "json_bytes")]),
    ("of which the session", 1, [("app/web/context.py", "read_session")]),
    ("closing the session", 0, [("app/web/context.py", "close_session")]),
    ("after the view: metrics, headers, access log", 0, [("app/web/middleware.py", "_finish")]),
    ("of which Prometheus metrics", 1, [("app/core/metrics.py", "observe")]),
    ("of which the SLO request counts", 1, [("app/alerting/service.py", "observe")]),
    ("of which the access log line", 1, [("logging/__init__.py", "info")]),
]  # fmt: skip
# Primitive (own) time of the database driver: what the database itself costs.
DRIVER = [("~", "<method 'execute' of 'sqlite3.Cursor' objects>")]


@dataclass
class Target:
    slug: str
    name: str
    path: str
    headers: dict[str, str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=20_000, help="per tenant")
    parser.add_argument("--requests", type=int, default=2_000, help="per round and target")
    parser.add_argument(
        "--dump", type=Path, help="also write each profile here (.prof, for pstats or snakeviz)"
    )
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="summit-read-profile-"))
    try:
        run(var, args)
    finally:
        shutil.rmtree(var, ignore_errors=True)


def run(var: Path, args: argparse.Namespace) -> None:
    env = server_env(var, SUMMIT_DEMO_PASSWORD=PASSWORD, SUMMIT_SCHEDULER="false")
    print(f"seeding {args.entities:,} entities a tenant…", flush=True)
    seed_entities(env, args.entities)
    names = ("SUMMIT_VAR_DIR", "SUMMIT_SCHEDULER")
    # The server's default log level (INFO: an access line a request), written
    # to /dev/null instead of this terminal: the line is built and written.
    app = create_app({name: env[name] for name in names} | {"SUMMIT_CACHE_TTL_SECONDS": "0"})
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed at exit with the process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    client = app.test_client()
    targets = make_targets(client)
    print(f"\n{args.requests:,} requests a round, one at a time, in process (cache off)\n")
    floor = 0.0
    for target in targets:
        us = per_request_us(client, target, args.requests)
        floor = floor or us
        print(f"{target.name:<28} {us:8.0f} µs a request   {us / floor:4.1f}× /healthz")
    for target in targets[1:]:
        unprofiled = per_request_us(client, target, args.requests)
        profile(client, target, args.requests, unprofiled, dump=args.dump)


def make_targets(client: FlaskClient) -> list[Target]:
    login = client.post(
        "/api/v1/auth/login", json={"tenant": "acme", "username": "alice", "password": PASSWORD}
    )
    assert login.status_code == 200, login.get_json()
    headers = {"Authorization": f"Bearer {login.get_json()['token']}"}
    ops = client.post(
        "/api/v1/auth/login", json={"tenant": None, "username": "ops", "password": PASSWORD}
    ).get_json()["token"]
    lifted = client.patch(
        "/api/v1/admin/tenants/acme/quotas",
        headers={"Authorization": f"Bearer {ops}"},
        json={"qps": 100_000, "burst": 100_000, "reason": "read profile"},
    )
    assert lifted.status_code == 200, lifted.get_json()
    found = client.get("/api/v1/search", query_string={"q": "rocket"}, headers=headers)
    assert found.status_code == 200, found.get_json()
    assert found.get_json()["results"], "the demo data has no rocket"
    entity = found.get_json()["results"][0]["id"]
    return [
        Target("healthz", "GET /healthz (the floor)", "/healthz", {}),
        Target("entity", "GET /api/v1/entities/{id}", f"/api/v1/entities/{entity}", headers),
        Target("search", "GET /api/v1/search?q=rocket", "/api/v1/search?q=rocket", headers),
    ]


def send(client: FlaskClient, target: Target) -> Callable[[], None]:
    def once() -> None:
        response = client.get(target.path, headers=target.headers)
        if response.status_code != 200:
            raise SystemExit(f"{target.name}: {response.status_code} {response.get_data()[:200]!r}")

    return once


def per_request_us(client: FlaskClient, target: Target, n: int) -> float:
    """Median over 5 rounds of the mean µs a request."""
    once = send(client, target)
    for _ in range(200):
        once()
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            once()
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def profile(
    client: FlaskClient, target: Target, n: int, unprofiled_us: float, *, dump: Path | None
) -> None:
    once = send(client, target)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        once()
    profiler.disable()
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(dump / f"{target.slug}.prof")
    stats: dict[tuple[str, int, str], Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in stats.values())
    scale = unprofiled_us / (total / n * 1e6)
    print(f"\n{target.name}: {unprofiled_us:.0f} µs a request, where it goes")
    print(f"  {'part':<52} {'µs':>6} {'share':>6}")
    accounted = 0.0
    for label, depth, functions in PARTS:
        seconds = cumulative(stats, functions)
        if seconds == 0:
            continue
        us = seconds / n * 1e6 * scale
        accounted += us if depth == 0 else 0
        indent = "  " * depth
        print(f"  {indent + label:<52} {us:6.0f} {us / unprofiled_us:6.1%}")
    driver = own_time(stats, DRIVER) / n * 1e6 * scale
    print(f"  {'sqlite3 executing statements (own time, all parts)':<52} {driver:6.0f} "
          f"{driver / unprofiled_us:6.1%}")  # fmt: skip
    rest = unprofiled_us - accounted
    print(f"  {'Flask, Werkzeug and the test client (the rest)':<52} {rest:6.0f} "
          f"{rest / unprofiled_us:6.1%}")  # fmt: skip
    print("  heaviest functions by own time:")
    for (path, line, name), (_, calls, own, _, _) in sorted(
        stats.items(), key=lambda item: -item[1][2]
    )[:8]:
        where = f"{shorten(path)}:{line}({name})" if path != "~" else name
        print(f"    {own / n * 1e6 * scale:6.0f} µs  {calls / n:5.1f} calls  {where[:90]}")


def cumulative(stats: dict[tuple[str, int, str], Any], functions: list[tuple[str, str]]) -> float:
    return float(
        sum(
            row[3]
            for (path, _, name), row in stats.items()
            if any(path.endswith(suffix) and name == fn for suffix, fn in functions)
        )
    )


def own_time(stats: dict[tuple[str, int, str], Any], functions: list[tuple[str, str]]) -> float:
    return float(
        sum(
            row[2]
            for (path, _, name), row in stats.items()
            if any(path == suffix and name == fn for suffix, fn in functions)
        )
    )


def shorten(path: str) -> str:
    for marker in ("site-packages/", f"{os.sep}app{os.sep}", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


if __name__ == "__main__":
    main()
