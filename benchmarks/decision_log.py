"""Decision-log growth: rows and bytes a million requests leave behind.

In-process, on SQLite in a temporary folder: a million route checks through
the real DecisionLog (two tenants, five actions, two roles; one request per
millisecond of simulated time, so a million span ~17 minutes), of which 1 %
are denials and 0.1 % decision-API answers (both kept one by one); allowed
route checks are counted per tenant, minute, action and role. Beside it, the
design it replaced, one row per decision, measured on a sample and scaled.
Prints rows, bytes (SQLite pages in use) and rows per million requests.

    .venv/bin/python -m benchmarks.decision_log [--requests 1000000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from app.core.db import Database
from app.core.migrate import upgrade
from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.policy.log import DecisionLog
from app.policy.models import PolicyDecision, PolicyDecisionCount

START = datetime(2026, 11, 26, tzinfo=UTC)
ACTIONS = ("read", "search", "write", "export", "session")


def database(folder: Path, name: str) -> tuple[Database, list[int]]:
    db = Database(f"sqlite:///{folder / name}")
    upgrade(db.engine)
    with db.session(tenant_id=ALL_TENANTS, write=True) as session:
        for slug in ("acme", "globex"):
            session.add(Tenant(slug=slug, name=slug))
        session.commit()
        ids = list(session.scalars(select(Tenant.id)))
    return db, ids


def decision(rng: random.Random, tenants: list[int], at: datetime) -> dict[str, Any]:
    roll = rng.random()
    source = "api" if roll < 0.001 else "route"
    word = "deny" if roll < 0.011 else "allow"
    return {
        "tenant_id": rng.choice(tenants), "at": at, "source": source, "caller": "alice",
        "principal_id": "alice", "principal_role": rng.choice(("admin", "analyst")),
        "principal_tenant": "acme", "action": rng.choice(ACTIONS), "resource_type": "Resource",
        "resource_id": "tenant:acme", "resource_tenant": "acme", "decision": word,
        "reasons": ["tenant-isolation"] if word == "deny" else ["admin-manages-tenant-data"],
        "elapsed_ms": 0.03,
    }  # fmt: skip


def bytes_used(db: Database) -> int:
    with db.engine.connect() as connection:
        pages = connection.execute(text("PRAGMA page_count")).scalar() or 0
        free = connection.execute(text("PRAGMA freelist_count")).scalar() or 0
        size = connection.execute(text("PRAGMA page_size")).scalar() or 0
    return int((pages - free) * size)


def bounded(folder: Path, requests: int) -> dict[str, float]:
    db, tenants = database(folder, "bounded.db")
    now = {"at": START}
    log = DecisionLog(db, clock=lambda: now["at"], flush_every=3600)
    rng, baseline = random.Random(7), bytes_used(db)
    started = time.perf_counter()
    for n in range(requests):
        now["at"] = START + timedelta(milliseconds=n)
        log.record(decision(rng, tenants, now["at"]))
        if n % 50_000 == 49_999:
            log.flush()  # as the writer thread would, every half second
    recorded = time.perf_counter() - started
    log.close()
    with db.session(tenant_id=ALL_TENANTS) as session:
        rows = session.scalar(select(func.count()).select_from(PolicyDecision)) or 0
        counts = session.scalar(select(func.count()).select_from(PolicyDecisionCount)) or 0
    used = bytes_used(db) - baseline
    db.dispose()
    return {"rows": rows, "count_rows": counts, "bytes": used, "seconds": recorded}


def one_row_each(folder: Path, sample: int, requests: int) -> dict[str, float]:
    """The old design (a row per decision), measured on ``sample`` rows and scaled."""
    db, tenants = database(folder, "unbounded.db")
    rng, baseline = random.Random(7), bytes_used(db)
    rows = [decision(rng, tenants, START + timedelta(milliseconds=n)) for n in range(sample)]
    with db.engine.begin() as connection:
        connection.execute(insert(PolicyDecision), rows)
    per_row = (bytes_used(db) - baseline) / sample
    db.dispose()
    return {"rows": requests, "bytes": per_row * requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        now = bounded(Path(work), args.requests)
        before = one_row_each(Path(work), args.sample, args.requests)
    per_million = 1_000_000 / args.requests
    print(f"{args.requests:,} route checks over {args.requests / 60_000:.0f} simulated minutes "
          f"(1 % denied, 0.1 % decision API), recorded in {now['seconds']:.1f} s")  # fmt: skip
    print(f"  kept one by one (denies, API): {now['rows']:>10,.0f} rows")
    print(f"  per-minute counts of allows:   {now['count_rows']:>10,.0f} rows")
    total = now["rows"] + now["count_rows"]
    print(f"  per million requests: {total * per_million:,.0f} rows, "
          f"{now['bytes'] * per_million / 1e6:.1f} MB")  # fmt: skip
    print(
        f"  a row per decision (before):  {before['rows'] * per_million:,.0f} rows, "
        f"{before['bytes'] * per_million / 1e6:.1f} MB (measured on {args.sample:,} rows)"
    )
    print(f"  ratio: {before['bytes'] / max(1, now['bytes']):.0f}x fewer bytes")


if __name__ == "__main__":
    main()
