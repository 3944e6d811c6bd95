"""/metrics, /healthz, /readyz, request ids and structured logs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from pythonjsonlogger.json import JsonFormatter

from app import create_app
from tests.support.metrics import labels, samples
from tests.support.web import web_login
from tests.support.world import PASSWORD, World, app_config, services


def test_requests_are_counted_per_route_template_and_tenant(world: World) -> None:
    world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))
    world.client.get("/api/v1/entities/nope", headers=world.headers("carol"))
    seen = samples(world)
    search = labels(route="/api/v1/search", method="GET", tenant="acme", traffic="user")
    assert seen[("summit_http_requests_total", search | {("status", "200")})] == 1
    fetch = labels(
        route="/api/v1/entities/<entity_id>", method="GET", tenant="globex", traffic="user"
    )
    assert seen[("summit_http_requests_total", fetch | {("status", "404")})] == 1
    assert seen[("summit_http_request_duration_seconds_count", search)] == 1


def test_latency_buckets_sit_on_the_slo_thresholds(world: World) -> None:
    world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))
    search = labels(route="/api/v1/search", method="GET", tenant="acme", traffic="user")
    buckets = {
        dict(key[1])["le"]
        for key in samples(world)
        if key[0] == "summit_http_request_duration_seconds_bucket" and search <= key[1]
    }
    assert {"0.01", "0.3", "1.5"} <= buckets


def test_error_series_exist_at_zero_before_any_error(world: World, app: Flask) -> None:
    seen = samples(app)
    for tenant in ("-",):
        key = labels(route="/api/v1/search", method="GET", tenant=tenant, traffic="user")
        assert seen[("summit_http_errors_total", key)] == 0
        assert seen[("summit_http_requests_total", key | {("status", "500")})] == 0


def test_tenants_known_at_start_up_get_zero_error_series(
    world: World, make_app: Callable[..., Flask]
) -> None:
    restarted = make_app()  # acme and globex now exist in the database
    key = labels(route="/api/v1/entities/<entity_id>", method="GET", tenant="acme", traffic="user")
    assert samples(restarted)[("summit_http_errors_total", key)] == 0


def test_probe_traffic_is_labelled_synthetic(world: World) -> None:
    token = world.client.post(
        "/api/v1/auth/login",
        json={"tenant": "acme", "username": "synthetic", "password": PASSWORD},
    ).get_json()["token"]
    world.client.get("/api/v1/search?q=rocket", headers={"Authorization": f"Bearer {token}"})
    key = labels(route="/api/v1/search", method="GET", tenant="acme", traffic="synthetic")
    assert samples(world)[("summit_http_requests_total", key | {("status", "200")})] == 1


def test_a_request_id_is_generated_or_echoed(world: World) -> None:
    generated = world.client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    echoed = world.client.get("/healthz", headers={"X-Request-ID": "probe-123.a_b"})
    assert echoed.headers["X-Request-ID"] == "probe-123.a_b"
    hostile = world.client.get("/healthz", headers={"X-Request-ID": 'x" onload=alert(1)'})
    assert hostile.headers["X-Request-ID"] != 'x" onload=alert(1)'


def test_access_log_is_one_json_object_with_the_request_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="summit.access"):
        response = world.client.get(
            "/api/v1/search?q=rocket", headers=world.headers("bob") | {"X-Request-ID": "trace-1"}
        )
    assert response.status_code == 200
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-1"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["route"] == "/api/v1/search"
    assert line["status"] == 200
    assert line["tenant"] == "acme"
    assert line["user"] == "bob"
    assert "rocket" not in json.dumps(line)  # the query string is not logged


def test_healthz_and_readyz(world: World) -> None:
    assert world.client.get("/healthz").get_json() == {"status": "ok"}
    ready = world.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "scheduler": "disabled"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    broken = create_app(app_config("sqlite:////nonexistent/dir/summit.db", tmp_path))
    response = broken.test_client().get("/readyz")
    # Closed now, not at interpreter exit, where its writers' last flush would
    # log into a closed stream.
    services(broken).close()
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("unreachable")


def test_readyz_is_503_while_migrations_are_pending(tmp_path: Path) -> None:
    app = create_app(app_config(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path))
    response = app.test_client().get("/readyz")
    services(app).close()
    assert response.status_code == 503
    assert "migrations pending" in response.get_json()["checks"]["database"]


def test_html_pages_carry_security_headers(world: World) -> None:
    page = world.client.get("/login")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    api = world.client.get("/healthz")
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_authenticated_answers_are_never_stored(world: World) -> None:
    api = world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))
    assert api.headers["Cache-Control"] == "no-store"
    web_login(world.client, "acme", "alice")
    page = world.client.get("/search?q=rocket")
    assert page.headers["Cache-Control"] == "no-store"
    refused = world.app.test_client().get(
        "/api/v1/search?q=rocket", headers={"Authorization": "Bearer x"}
    )
    assert refused.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in world.app.test_client().get("/healthz").headers


def test_metrics_are_refused_to_strangers_by_default(world: World) -> None:
    """Regression: /metrics was public and listed tenant names and volumes."""
    world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))
    remote = world.client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 403
    assert "acme" not in remote.get_data(as_text=True)
    proxied = world.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403  # a proxy on the loopback is not the loopback
    assert world.client.get("/metrics").status_code == 200  # the local Prometheus


def test_a_scrape_token_opens_metrics_to_whoever_holds_it(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    token = tmp_path / "scrape-token"
    token.write_text("scrape-secret\n")
    app = make_app(SUMMIT_METRICS_TOKEN=token.read_text().strip())
    client = app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=remote).status_code == 401
    assert client.get("/metrics").status_code == 401  # the loopback needs it too, once set
    wrong = {"Authorization": "Bearer guess"}
    assert client.get("/metrics", headers=wrong, environ_base=remote).status_code == 401
    right = {"Authorization": "Bearer scrape-secret"}
    assert client.get("/metrics", headers=right, environ_base=remote).status_code == 200


def test_a_trusted_proxy_passes_on_the_clients_address(make_app: Callable[..., Flask]) -> None:
    client = make_app(SUMMIT_TRUSTED_PROXIES=1).test_client()
    outside = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 403
    inside = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert inside.status_code == 200


def test_readyz_writes_no_migration_log_lines(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert world.client.get("/readyz").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []


def test_metrics_include_this_processes_cpu_and_memory(world: World) -> None:
    seen = samples(world)
    pid = str(os.getpid())
    assert seen[("summit_process_resident_memory_bytes", labels(pid=pid))] > 0
    assert ("summit_process_cpu_seconds_total", labels(pid=pid)) in seen
