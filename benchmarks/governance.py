"""Governance benchmarks: the retention purge, a subject export, audit verification.

    python -m benchmarks.governance                    # full size (the lead's quiet machine)
    python -m benchmarks.governance --entities 2000 --export-records 500 --audit-entries 20000

Each figure is printed beside a raw ceiling measured in the same run on the same
data: plain sqlite3 DELETEs for the purge, a plain SELECT of the same rows for the
export and for verification. Peak memory (tracemalloc) is taken at a tenth of the
size and at full size: "flat" means the second is not ten times the first.
Bars (issue 14): purge >= 20,000 entities/s, verify >= 200,000 entries/s.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from app.core.db import Database
from app.core.migrate import upgrade
from app.core.tenancy import ALL_TENANTS
from app.governance.decide import job_purge
from app.graph.models import Edge, Entity
from app.identity.models import Tenant
from app.quotas.service import DEFAULT_LIMITS, ensure_rows
from governance import audit, export, retention
from governance.models import AuditEntry, AuditHead, AuditPayload

T0 = datetime(2026, 11, 27, tzinfo=UTC)
CHUNK = 5000


def fresh(directory: Path, name: str) -> tuple[Database, int]:
    db = Database(f"sqlite:///{directory / name}")
    upgrade(db.engine)
    with db.session(tenant_id=ALL_TENANTS, write=True) as session:
        tenant = Tenant(slug="bench", name="Bench", created_at=T0)
        session.add(tenant)
        session.flush()
        ensure_rows(session=session, tenant_id=tenant.id, defaults=DEFAULT_LIMITS, now=T0)
        session.commit()
        return db, tenant.id


def entities(db: Database, tenant: int, n: int, *, deleted: bool, subject: str | None) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    gone = T0 - timedelta(days=400) if deleted else None
    with db.session(tenant_id=ALL_TENANTS, write=True) as session:
        for start in range(0, n, CHUNK):
            rows = [
                {"id": i, "tenant_id": tenant, "kind": "person", "name": f"Person {k}",
                 "dataset": "osint", "attributes": {"k": k, "country": "US"}, "subject": subject,
                 "search_text": f"{k} US", "source": "bench", "created_by": "bench",
                 "updated_by": "bench", "created_at": T0, "updated_at": T0, "deleted_at": gone}
                for k, i in enumerate(ids[start : start + CHUNK], start)
            ]  # fmt: skip
            session.execute(insert(Entity), rows)
        edges = [
            {"id": str(uuid.uuid4()), "tenant_id": tenant, "source_id": ids[k],
             "target_id": ids[k - 1], "kind": "knows", "attributes": {}, "source": "bench",
             "created_by": "bench", "created_at": T0}
            for k in range(1, n)
        ]  # fmt: skip
        for start in range(0, len(edges), CHUNK):
            session.execute(insert(Edge), edges[start : start + CHUNK])
        session.commit()
    return ids


def peak(work: Callable[[], Any]) -> tuple[float, float]:
    """(seconds, peak MiB allocated by Python) of one call."""
    tracemalloc.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, top / 2**20


# --- purge ------------------------------------------------------------------------------


def bench_purge(directory: Path, n: int) -> None:
    db, tenant = fresh(directory, "purge.db")
    entities(db, tenant, n, deleted=True, subject=None)
    raw = directory / "purge-raw.db"
    sqlite3.connect(directory / "purge.db").execute(f"VACUUM INTO '{raw}'")

    def run() -> retention.PurgeOutcome:
        return retention.purge_expired(
            db=db, tenant_id=tenant, holder="bench", actor="bench", decide=job_purge("bench"),
            default_days=365, batch_size=1000, now=lambda: T0,
        )  # fmt: skip

    started = time.perf_counter()
    outcome = run()
    seconds = time.perf_counter() - started
    assert outcome.purged == n, outcome
    ceiling = raw_purge(raw, n)
    print(f"purge: {n:,} entities + {outcome.edges:,} edges in {seconds:.2f} s = "
          f"{n / seconds:,.0f} entities/s (bar 20,000); raw sqlite3 batches: "
          f"{n / ceiling:,.0f}/s; ratio {ceiling / seconds:.2f}")  # fmt: skip
    db.dispose()


def raw_purge(path: Path, n: int) -> float:
    """The same batches with plain sqlite3: select 1000, delete their edges and them."""
    connection = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    while True:
        connection.execute("BEGIN IMMEDIATE")
        query = "SELECT id FROM entities WHERE deleted_at IS NOT NULL ORDER BY deleted_at, pk"
        ids = [r[0] for r in connection.execute(f"{query} LIMIT 1000")]
        if not ids:
            connection.execute("COMMIT")
            break
        marks = ",".join("?" * len(ids))
        connection.execute(
            f"DELETE FROM edges WHERE source_id IN ({marks}) OR target_id IN ({marks})", ids + ids
        )
        connection.execute(f"DELETE FROM entities WHERE id IN ({marks})", ids)
        connection.execute("COMMIT")
    return time.perf_counter() - started


# --- export -----------------------------------------------------------------------------


def bench_export(directory: Path, n: int) -> None:
    for size in (max(1, n // 10), n):
        db, tenant = fresh(directory, f"export-{size}.db")
        entities(db, tenant, size, deleted=False, subject="subject-1")
        target = directory / f"export-{size}"

        def build(db: Database = db, tenant: int = tenant, target: Path = target) -> export.Built:
            return export._build(db, tenant, "bench", "subject-1", target / "x.zip", 365, T0)

        seconds, mib = peak(build)
        raw = raw_select(directory / f"export-{size}.db")
        records = 2 * size - 1
        print(f"export: {records:,} records (entities + edges) in {seconds:.2f} s = "
              f"{records / seconds:,.0f} records/s, peak {mib:.1f} MiB; raw SELECT of the rows "
              f"{raw:.2f} s")  # fmt: skip
        db.dispose()


def raw_select(path: Path) -> float:
    connection = sqlite3.connect(path)
    started = time.perf_counter()
    for _ in connection.execute("SELECT * FROM entities WHERE subject = 'subject-1'"):
        pass
    for _ in connection.execute("SELECT * FROM edges"):
        pass
    return time.perf_counter() - started


# --- audit verify -----------------------------------------------------------------------


def chain(db: Database, tenant: int, n: int) -> None:
    """n entries, hashed as append() does, written in bulk (append is one by one)."""
    prev = audit.GENESIS
    with db.session(tenant_id=None, write=True) as session:
        for start in range(1, n + 1, CHUNK):
            rows, payloads = [], []
            for seq in range(start, min(n, start + CHUNK - 1) + 1):
                at = T0 + timedelta(microseconds=seq)
                payload = {"entity_ids": [f"e{seq}"], "n": seq}
                digest = audit.digest(payload)
                link = audit.entry_hash(
                    tenant_id=tenant, seq=seq, at=at, actor="bench", action="bench.step",
                    target=f"entity:e{seq}", payload_sha256=digest, prev_hash=prev,
                )  # fmt: skip
                rows.append({"id": seq, "tenant_id": tenant, "seq": seq, "at": at,
                             "actor": "bench", "action": "bench.step",
                             "target": f"entity:e{seq}", "payload_sha256": digest,
                             "prev_hash": prev, "hash": link})  # fmt: skip
                payloads.append(
                    {"entry_id": seq, "tenant_id": tenant, "at": at, "payload": payload}
                )
                prev = link
            session.execute(insert(AuditEntry), rows)
            session.execute(insert(AuditPayload), payloads)
        session.execute(insert(AuditHead).values(tenant_id=tenant, seq=n, hash=prev))
        session.commit()


def bench_verify(directory: Path, n: int) -> None:
    from app.governance.jobs import _signer

    db, tenant = fresh(directory, "audit.db")
    chain(db, tenant, n)
    signer = _signer(b"\x01" * 32)
    with db.session(tenant_id=None) as session:
        started = time.perf_counter()
        result = audit.verify(session=session, tenant_id=tenant, signer=signer)
        seconds = time.perf_counter() - started
    assert result.ok, result
    assert result.checked == n, result
    connection = sqlite3.connect(directory / "audit.db")
    started = time.perf_counter()
    for _ in connection.execute(
        "SELECT e.seq, e.at, e.actor, e.action, e.target, e.payload_sha256, e.prev_hash, e.hash,"
        " p.payload FROM audit_entries e LEFT JOIN audit_payloads p ON p.entry_id = e.id"
        " ORDER BY e.seq"
    ):
        pass
    raw = time.perf_counter() - started
    print(f"audit verify: {n:,} entries in {seconds:.2f} s = {n / seconds:,.0f} entries/s "
          f"(bar 200,000); raw SELECT of the same rows {n / raw:,.0f}/s; "
          f"ratio {raw / seconds:.2f}")  # fmt: skip
    with db.session(tenant_id=None) as session:
        assert session.scalar(select(AuditHead.seq)) == n
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000, help="expired entities to purge")
    parser.add_argument("--export-records", type=int, default=10_000, help="subject's entities")
    parser.add_argument("--audit-entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        bench_purge(directory, args.entities)
        bench_export(directory, args.export_records)
        bench_verify(directory, args.audit_entries)


if __name__ == "__main__":
    main()
