"""Helpers for the governance tests: entities made and deleted through the API,
exports waited for, and direct database access (as an attacker would have)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from tests.support.world import World, services


def create(world: World, user: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"kind": "person", "name": "Jane Roe", "dataset": "osint", **fields}
    response = world.client.post("/api/v1/entities", json=body, headers=world.headers(user))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def delete(world: World, entity_id: str, user: str = "alice") -> None:
    response = world.client.delete(f"/api/v1/entities/{entity_id}", headers=world.headers(user))
    assert response.status_code == 204, response.get_json()


def link(world: World, source: str, target: str, user: str = "alice") -> Any:
    return world.client.post(
        "/api/v1/edges",
        json={"source_id": source, "target_id": target, "kind": "knows"},
        headers=world.headers(user),
    )


def call(world: World, method: str, path: str, user: str = "alice", **kwargs: Any) -> Any:
    return world.client.open(path, method=method, headers=world.headers(user), **kwargs)


def hold(world: World, ids: list[str], user: str = "alice", **fields: Any) -> Any:
    body = {"entity_ids": ids, "reason": "litigation", "case_id": "C-1", **fields}
    return call(world, "POST", "/api/v1/governance/holds", user, json=body)


def release(world: World, hold_id: str, reason: str = "case closed", user: str = "alice") -> Any:
    path = f"/api/v1/governance/holds/{hold_id}/release"
    return call(world, "POST", path, user, json={"reason": reason})


def purge(world: World, ids: list[str] | None = None, user: str = "alice") -> Any:
    body = {} if ids is None else {"entity_ids": ids}
    return call(world, "POST", "/api/v1/governance/purge", user, json=body)


def audit_entries(world: World, user: str = "alice", **filters: Any) -> list[dict[str, Any]]:
    response = call(world, "GET", "/api/v1/audit", user, query_string=filters)
    assert response.status_code == 200, response.get_json()
    entries: list[dict[str, Any]] = response.get_json()["entries"]
    return entries


def wait_for_export(world: World, export_id: str, user: str = "alice") -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = call(
            world, "GET", f"/api/v1/governance/exports/{export_id}", user
        ).get_json()
        if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def tenant_id(app: Flask, slug: str) -> int:
    with services(app).db.session(tenant_id=ALL_TENANTS) as session:
        return session.execute(select(Tenant.id).where(Tenant.slug == slug)).scalar_one()
