"""The demo data of SPEC.md, seeded idempotently: a second run changes nothing.

Entities get stable UUIDs (uuid5 of tenant and number), so a second run finds
every row it would insert already there. Users that exist keep their
password. Imports no Flask.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.core.db import Database
from app.core.tenancy import ALL_TENANTS, SYNTHETIC_DATASET
from app.graph.models import Edge, Entity
from app.graph.service import edge_bytes, entity_bytes, flatten_attributes
from app.identity.models import Tenant, User
from app.identity.service import Passwords
from app.quotas import ascode
from app.quotas.service import charge, ensure_rows
from probes.journeys.governance import SUBJECT as SYNTHETIC_SUBJECT

NAMESPACE = uuid.UUID("5d1c1a52-3b7e-4c5e-9c66-7f3a8f1e2b10")
TENANTS = {"acme": "Acme Corporation", "globex": "Globex Corporation"}
USERS = (
    ("acme", "alice", "admin"),
    ("acme", "bob", "analyst"),
    ("acme", "synthetic", "synthetic"),
    ("globex", "carol", "admin"),
    ("globex", "synthetic", "synthetic"),
    (None, "ops", "operator"),
)
# Named first, so the golden path and the isolation checks have fixed targets.
ANCHORS = {
    "acme": [
        ("organization", "Acme Rocket Works", "registry", {"sector": "aerospace", "country": "US"}),
        ("facility", "Acme Launch Complex 7", "osint", {"country": "US", "status": "active"}),
        ("person", "Wile E. Coyote", "osint", {"role": "chief customer", "country": "US"}),
    ],
    "globex": [
        ("organization", "Globex Rocket Testing Range", "registry", {"sector": "aerospace"}),
        ("person", "Hank Scorpio", "osint", {"role": "chief executive", "country": "US"}),
    ],
}
KINDS = ("organization", "person", "facility", "vessel", "aircraft", "location", "event")
DATASETS = ("osint", "registry", "sanctions")
WORDS = [
    "Amber",
    "Atlas",
    "Beacon",
    "Borealis",
    "Cascade",
    "Cedar",
    "Cobalt",
    "Comet",
    "Condor",
    "Crescent",
    "Delta",
    "Ember",
    "Falcon",
    "Fjord",
    "Granite",
    "Harbor",
    "Helix",
    "Horizon",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Onyx",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Raven",
    "Sable",
    "Sierra",
    "Solstice",
    "Summit",
    "Tundra",
    "Vertex",
    "Willow",
    "Zephyr",
]
SUFFIXES = {
    "organization": ("Holdings", "Logistics", "Industries", "Trading", "Systems", "Capital"),
    "person": ("Adams", "Baker", "Chen", "Diaz", "Okafor", "Novak", "Silva", "Tanaka"),
    "facility": ("Depot", "Plant", "Terminal", "Warehouse", "Yard"),
    "vessel": ("Star", "Spirit", "Voyager", "Trader"),
    "aircraft": ("One", "Express", "Cargo"),
    "location": ("Port", "Bay", "Valley", "Ridge"),
    "event": ("Summit", "Meeting", "Shipment", "Transfer"),
}
COUNTRIES = ("US", "GB", "DE", "FR", "JP", "BR", "NG", "IN", "SG", "CA")
EDGE_KINDS = ("owns", "employs", "located_at", "shipped_via", "associated_with")


@dataclass
class SeedReport:
    tenants: int = 0
    users: int = 0
    entities: int = 0
    edges: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any((self.tenants, self.users, self.entities, self.edges))


def entity_id(tenant: str, n: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{tenant}/entity/{n}"))


def generate_entities(tenant: str, count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Deterministic rows: the anchors, then generated names and attributes."""
    rng = random.Random(f"{seed}/{tenant}")
    anchors = ANCHORS.get(tenant, [])
    for n in range(count):
        if n < len(anchors):
            kind, name, dataset, attributes = anchors[n]
        else:
            kind = rng.choice(KINDS)
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES[kind])}"
            dataset = rng.choice(DATASETS)
            attributes = {
                "country": rng.choice(COUNTRIES),
                "risk": rng.choice(("low", "medium", "high")),
                "reference": f"{tenant[:2].upper()}-{n:06d}",
            }
        yield {
            "id": entity_id(tenant, n),
            "kind": kind,
            "name": name,
            "dataset": dataset,
            "attributes": attributes,
        }


# The probes' own records, one set per tenant: the golden path searches and opens
# these, and probe users see nothing else (app.graph.service.dataset_scope), so a
# failed run's screenshot or trace never shows a tenant's real data to operators.
SYNTHETIC = (
    ("organization", "Summit Probe Target", {"purpose": "synthetic probe", "owner": "summit"}),
    ("facility", "Summit Probe Depot", {"purpose": "synthetic probe", "owner": "summit"}),
)


def synthetic_id(tenant: str, n: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{tenant}/synthetic/{n}"))


def synthetic_entities(tenant: str) -> list[dict[str, Any]]:
    return [
        {"id": synthetic_id(tenant, n), "kind": kind, "name": name,
         "dataset": SYNTHETIC_DATASET, "attributes": attributes}
        for n, (kind, name, attributes) in enumerate(SYNTHETIC)
    ]  # fmt: skip


def synthetic_edges(tenant: str) -> list[dict[str, Any]]:
    edge = str(uuid.uuid5(NAMESPACE, f"{tenant}/synthetic-edge/0"))
    return [{"id": edge, "source_id": synthetic_id(tenant, 0),
             "target_id": synthetic_id(tenant, 1), "kind": "located_at"}]  # fmt: skip


def generate_edges(tenant: str, count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """About 1.3 edges per entity, always between two of the tenant's own entities."""
    rng = random.Random(f"{seed}/{tenant}/edges")
    for n in range(1, count):
        links = 2 if n % 3 == 0 else 1
        for k in range(links):
            other = rng.randrange(0, n)
            yield {
                "id": str(uuid.uuid5(NAMESPACE, f"{tenant}/edge/{n}/{k}")),
                "source_id": entity_id(tenant, n),
                "target_id": entity_id(tenant, other),
                "kind": rng.choice(EDGE_KINDS),
            }


def seed(
    *,
    db: Database,
    passwords: Passwords,
    password: str,
    now: datetime,
    entities_per_tenant: int = 300,
    quotas: Path = ascode.SHIPPED,
) -> SeedReport:
    """The demo tenants get their limits from ``quotas`` (quotas as code) when
    their quota rows are created; rows that exist are left as they are."""
    report = SeedReport()
    limits = ascode.load(quotas)
    with db.session(tenant_id=ALL_TENANTS, write=True) as session:
        tenant_ids = _seed_tenants(session, now, report)
        for slug, tenant_id in tenant_ids.items():
            wanted = limits.wanted(slug)
            ensure_rows(session=session, tenant_id=tenant_id, defaults=wanted, now=now)
        _seed_users(session, tenant_ids, passwords, password, now, report)
        for slug, tenant_id in tenant_ids.items():
            entities = list(generate_entities(slug, entities_per_tenant))
            entities += synthetic_entities(slug)
            edges = [*generate_edges(slug, entities_per_tenant), *synthetic_edges(slug)]
            _seed_graph(session, tenant_id, entities, edges, now, report)
            _seed_synthetic(session, slug, tenant_id, now, report)
        session.commit()
    if report.entities >= 10_000:
        db.refresh_statistics(("entities", "edges"))
    return report


def _seed_tenants(session: Session, now: datetime, report: SeedReport) -> dict[str, int]:
    existing = dict(session.execute(select(Tenant.slug, Tenant.id)).all())
    for slug, name in TENANTS.items():
        if slug not in existing:
            tenant = Tenant(slug=slug, name=name, created_at=now)
            session.add(tenant)
            session.flush()
            existing[slug] = tenant.id
            report.tenants += 1
    return {slug: existing[slug] for slug in TENANTS}


def _seed_users(
    session: Session,
    tenant_ids: dict[str, int],
    passwords: Passwords,
    password: str,
    now: datetime,
    report: SeedReport,
) -> None:
    present = set(session.execute(select(User.tenant_id, User.username)).all())
    for slug, username, role in USERS:
        tenant_id = tenant_ids[slug] if slug else None
        if (tenant_id, username) in present:
            continue
        session.add(
            User(
                tenant_id=tenant_id,
                username=username,
                password_hash=passwords.hash(password),
                role=role,
                created_at=now,
            )
        )
        report.users += 1
    session.flush()


def synthetic_record_id(tenant: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{tenant}/synthetic/governance"))


def _seed_synthetic(
    session: Session, slug: str, tenant_id: int, now: datetime, report: SeedReport
) -> None:
    """The governance probe's own record: dataset "synthetic", subject
    "synthetic-probe". The probe holds and exports it, and touches nothing else."""
    record_id = synthetic_record_id(slug)
    if session.scalar(select(Entity.id).where(Entity.id == record_id)) is not None:
        return
    attributes = {"purpose": "governance probe"}
    session.add(
        Entity(
            id=record_id, tenant_id=tenant_id, kind="synthetic", name="Synthetic governance record",
            dataset=SYNTHETIC_DATASET, subject=SYNTHETIC_SUBJECT, attributes=attributes,
            search_text=flatten_attributes(attributes), source="demo", created_by="demo",
            updated_by="demo", created_at=now, updated_at=now,
        )
    )  # fmt: skip
    session.flush()
    report.entities += 1


def _seed_graph(
    session: Session,
    tenant_id: int,
    entities: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    now: datetime,
    report: SeedReport,
) -> None:
    present = set(session.scalars(select(Entity.id).where(Entity.tenant_id == tenant_id)))
    stamp = {
        "tenant_id": tenant_id,
        "source": "demo",
        "created_by": "demo",
        "created_at": now,
        "updated_at": now,
    }
    rows = [
        {**row, **stamp, "updated_by": "demo", "search_text": flatten_attributes(row["attributes"])}
        for row in entities
        if row["id"] not in present
    ]
    if rows:
        session.execute(insert(Entity), rows)
        report.entities += len(rows)
        used = sum(
            entity_bytes(r["kind"], r["name"], r["dataset"], r["attributes"], None) for r in rows
        )
        charge(session=session, tenant_id=tenant_id, delta=used, enforce=False)
    edges_present = set(session.scalars(select(Edge.id).where(Edge.tenant_id == tenant_id)))
    edge_rows = [
        {
            **edge,
            "tenant_id": tenant_id,
            "attributes": {},
            "source": "demo",
            "created_by": "demo",
            "created_at": now,
        }
        for edge in edges
        if edge["id"] not in edges_present
    ]
    if edge_rows:
        session.execute(insert(Edge), edge_rows)
        report.edges += len(edge_rows)
        used = sum(edge_bytes(e["source_id"], e["target_id"], e["kind"], {}) for e in edge_rows)
        charge(session=session, tenant_id=tenant_id, delta=used, enforce=False)
