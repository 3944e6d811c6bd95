"""Backup and restore: RPO and RTO figures for the demo data set, on SQLite and PostgreSQL.

    python -m benchmarks.backup                      # the demo data set (300 entities a tenant)
    python -m benchmarks.backup --entities 100000    # the read-path benchmark's size
    python -m benchmarks.backup --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Every step runs as the operator runs it: the `summit` command in a process of
its own (interpreter start-up and imports included), --runs times, the median
shown. Beside them, in the same run: the floor (`summit --version`, a process
that does nothing) and the raw ceiling (a plain copy of the SQLite file;
`pg_dump` alone). RTO here is the data part of a recovery: `summit restore`
into a destroyed database, `summit audit verify`, and `summit serve` until
/readyz answers; RPO is the backup interval plus the backup's own duration.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.backup import service
from app.backup.service import read_manifest
from app.core.db import Database, utcnow
from benchmarks.common import bench_env, seed_entities
from tests.backup.helpers import destroy, place_holds
from tests.support.live import summit_server


def run(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, check=True, capture_output=True,
        timeout=3600,
    )  # fmt: skip
    return time.perf_counter() - started


def median(times: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(times))


def ceiling(url: str, out: Path) -> float:
    started = time.perf_counter()
    if url.startswith("sqlite"):
        shutil.copyfile(str(make_url(url).database), out)
    else:
        parts = make_url(url)
        options = str(parts.query.get("options", ""))
        schema = options.split("=", 1)[1] if "search_path" in options else "public"
        subprocess.run(
            ["pg_dump", "--format=custom", f'--schema="{schema}"', f"--file={out}",
             f"--host={parts.host}", f"--port={parts.port or 5432}",
             f"--username={parts.username}", str(parts.database)],
            check=True, capture_output=True,
        )  # fmt: skip
    return time.perf_counter() - started


def bench(kind: str, url: str, work: Path, entities: int, runs: int, interval_min: float) -> None:
    env = bench_env(work / "var", DATABASE_URL=url, SUMMIT_PASSWORD_HASH_PROFILE="cheapest")
    seconds = seed_entities(env, entities)
    db = Database(url)
    for slug in ("acme", "globex"):
        place_holds(db, slug, count=20)
    db.dispose()
    run(env, "audit", "checkpoint")
    out = work / f"{kind}.backup"
    floor = median(runs, lambda: run(env, "--version"))
    raw = median(runs, lambda: ceiling(url, work / f"{kind}.raw"))
    took = median(runs, lambda: run(env, "backup", "--out", str(out)))
    manifest = read_manifest(out)
    inner = median(runs, lambda: timed(lambda: service.backup(url=url, out=out, now=utcnow())))

    def recover() -> float:
        destroy(url)
        return run(env, "restore", str(out))

    def recover_inner() -> float:
        destroy(url)
        return timed(lambda: service.restore(url=url, path=out, force=False))

    restore = median(runs, recover)
    restore_inner = median(runs, recover_inner)
    over = median(runs, lambda: timed(lambda: service.restore(url=url, path=out, force=True)))
    verify = median(runs, lambda: run(env, "audit", "verify"))
    started = time.perf_counter()
    with summit_server(env):
        serve = time.perf_counter() - started
    rto = restore + verify + serve
    print(
        f"\n{kind}: {entities:,} entities a tenant, {manifest.rows:,} rows in "
        f"{len(manifest.tables)} tables (seeded in {seconds:.1f} s); medians of {runs} runs"
    )
    rows = [
        ("floor: `summit --version`", floor, None),
        ("raw ceiling: " + ("file copy" if kind == "sqlite" else "pg_dump alone"), raw, None),
        ("`summit backup`", took, inner),
        ("`summit restore` (destroyed database)", restore, restore_inner),
        ("`summit restore --force` (over live data)", None, over),
        ("`summit audit verify`", verify, None),
        ("`summit serve` until /readyz", serve, None),
    ]
    print(f"  {'step':<44} {'command s':>10} {'in process s':>13}")
    for name, command, work_only in rows:
        shown = [f"{v:.2f}" if v is not None else "-" for v in (command, work_only)]
        print(f"  {name:<44} {shown[0]:>10} {shown[1]:>13}")
    print(f"  backup file: {out.stat().st_size / 1024**2:.2f} MiB")
    print(f"  RTO (restore + audit verify + serve ready): {rto:.1f} s")
    print(f"  RPO (backup every {interval_min:g} min): {interval_min:g} min + {took:.1f} s")


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def postgres_schema(base: str) -> tuple[str, Callable[[], None]]:
    schema = f"bench_backup_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    return f"{base}?options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=300, help="entities a tenant (demo: 300)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval-minutes", type=float, default=60, help="backup interval")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("SUMMIT_TEST_POSTGRES_URL", ""),
        help="a database to make a scratch schema in [default: SUMMIT_TEST_POSTGRES_URL]",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        sqlite_dir = Path(work) / "sqlite"
        sqlite_dir.mkdir()
        url = f"sqlite:///{sqlite_dir / 'var' / 'summit.db'}"
        bench("sqlite", url, sqlite_dir, args.entities, args.runs, args.interval_minutes)
        if args.postgres_url:
            pg_dir = Path(work) / "postgresql"
            pg_dir.mkdir()
            url, drop = postgres_schema(args.postgres_url)
            try:
                bench("postgresql", url, pg_dir, args.entities, args.runs, args.interval_minutes)
            finally:
                drop()


if __name__ == "__main__":
    main()
