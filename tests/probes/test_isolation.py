"""The isolation preflight: it must catch a leaky route, and pass on ours (see e2e)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from apiflask import APIBlueprint
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from app.core.tenancy import ALL_TENANTS
from app.graph.models import Entity
from app.web.guard import requires
from probes.isolation import Credentials, Preflight
from tests.support.world import PASSWORD, seed_world, services


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 (an ephemeral port) in a thread, shut down after."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def leaky_blueprint(app: Flask) -> APIBlueprint:
    """Routes that forget tenancy on purpose, by reading with ALL_TENANTS."""
    leaky = APIBlueprint("leaky", __name__, url_prefix="/api/v1/leaky")

    def everything() -> Any:
        return services(app).db.session(tenant_id=ALL_TENANTS)

    @leaky.get("/entities/<entity_id>")
    @requires("read")
    def by_id(entity_id: str) -> Any:
        with everything() as session:
            entity = session.scalars(select(Entity).where(Entity.id == entity_id)).first()
            return {"name": entity.name if entity else None}

    @leaky.get("/names")
    @requires("search")
    def names() -> Any:
        with everything() as session:
            return {"names": list(session.scalars(select(Entity.name)))}

    return leaky


def sweep(url: str) -> Preflight:
    preflight = Preflight(url, Credentials(PASSWORD))
    preflight.run()
    return preflight


def test_the_preflight_catches_routes_that_leak(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    app.register_blueprint(leaky_blueprint(app))
    seed_world(app)
    with serving(app) as url:
        preflight = sweep(url)
    leaks = {(f.path, f.persona) for f in preflight.findings}
    assert ("/api/v1/leaky/entities/{entity_id}", "tenant-b") in leaks
    assert ("/api/v1/leaky/names", "tenant-b") in leaks
    assert {path for path, _ in leaks} == {
        "/api/v1/leaky/entities/{entity_id}",
        "/api/v1/leaky/names",
    }, preflight.findings


def test_the_preflight_passes_on_our_routes_and_covers_them_all(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    seed_world(app)
    with serving(app) as url:
        preflight = sweep(url)
    assert preflight.findings == []
    routes = [r for r in app.url_map.iter_rules() if r.endpoint not in ("static",)]
    calls = sum(len((r.methods or set()) - {"HEAD", "OPTIONS"}) for r in routes)
    assert preflight.checked >= 3 * (calls - 2 - 1)  # all but EXEMPT and openapi.json itself


def test_a_route_the_sweep_cannot_exercise_must_be_listed(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    odd = APIBlueprint("odd", __name__)

    @odd.get("/api/v1/widgets/<widget_key>")
    @requires("read")
    def widget(widget_key: str) -> Any:
        return {"key": widget_key}

    app.register_blueprint(odd)
    seed_world(app)
    with serving(app) as url:
        preflight = sweep(url)
    [finding] = preflight.findings
    assert finding.path == "/api/v1/widgets/{widget_key}"
    assert "cannot be exercised" in finding.problem


def live_entities(app: Flask) -> dict[str, list[str]]:
    """Every tenant's entities that any read would still show, by tenant id."""
    with services(app).db.session(tenant_id=ALL_TENANTS) as session:
        rows = session.execute(
            select(Entity.tenant_id, Entity.name).where(Entity.deleted_at.is_(None))
        )
        found: dict[str, list[str]] = {}
        for tenant_id, name in rows:
            found.setdefault(str(tenant_id), []).append(name)
    return {tenant: sorted(names) for tenant, names in found.items()}


def test_the_preflight_leaves_no_residue_in_tenant_data(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    seed_world(app)
    before = live_entities(app)
    with serving(app) as url:
        preflight = sweep(url)
    assert preflight.findings == []
    assert live_entities(app) == before
    made = {(item.persona, item.collection) for item in preflight.created}
    assert ("tenant-a", "/api/v1/entities") in made
    assert ("tenant-b", "/api/v1/entities") in made  # the sweep's own POST as tenant B
    expiring = [item for item, _why in preflight.left]
    assert all(item.collection == "/api/v1/governance/exports" for item in expiring)
    assert preflight.removed == [i for i in reversed(preflight.created) if i not in expiring]
    assert preflight.cleanup_report().startswith(
        f"{len(preflight.removed)} of {len(preflight.created)} records the preflight made removed"
    )
