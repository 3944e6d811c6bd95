"""Operators download each dashboard's JSON from the control plane (web session,
action view_ops); everybody else is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from app.ops.dashboard_views import dashboard_links
from dashboards import build, style
from tests.support.web import web_login
from tests.support.world import World, seed_world


def logged_in(world: World, username: str) -> World:
    tenant = {"alice": "acme", "bob": "acme", "carol": "globex", "ops": ""}[username]
    response: Any = web_login(world.client, tenant, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return world


@pytest.mark.parametrize("uid", list(build.DEFINITIONS))
def test_an_operator_downloads_each_dashboard_with_links_to_this_server(
    world: World, uid: str
) -> None:
    response = logged_in(world, "ops").client.get(f"/ops/dashboards/{uid}.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{uid}.json"'
    body = response.get_data(as_text=True)
    assert body == style.render(build.build_one(uid, summit_url="http://localhost"))
    variables = {v["name"]: v for v in json.loads(body)["templating"]["list"]}
    assert variables["summit_url"]["query"] == "http://localhost"


def test_the_public_url_setting_wins_over_the_request_host(
    make_app: Callable[..., Flask],
) -> None:
    world = seed_world(make_app(SUMMIT_PUBLIC_URL="https://summit.example.org/"))
    response = logged_in(world, "ops").client.get("/ops/dashboards/summit-probes.json")
    variables = {v["name"]: v for v in response.get_json()["templating"]["list"]}
    assert variables["summit_url"]["query"] == "https://summit.example.org"
    assert [link["url"] for link in response.get_json()["links"]] == ["${summit_url}/ops"]


@pytest.mark.parametrize("username", ["alice", "bob", "carol"])
def test_tenant_users_may_not_download_dashboards(world: World, username: str) -> None:
    response = logged_in(world, username).client.get("/ops/dashboards/summit-probes.json")
    assert response.status_code == 403


def test_without_a_session_the_browser_is_sent_to_login(world: World) -> None:
    response = world.client.get(
        "/ops/dashboards/summit-probes.json", headers=world.headers("ops")
    )  # a bearer token is not a web session
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_an_unknown_dashboard_is_404(world: World) -> None:
    response = logged_in(world, "ops").client.get("/ops/dashboards/summit-nope.json")
    assert response.status_code == 404


def test_the_links_for_ops_list_every_dashboard(app: Flask) -> None:
    with app.test_request_context():
        links = dashboard_links()
    assert [(link["uid"], link["url"]) for link in links] == [
        (uid, f"/ops/dashboards/{uid}.json") for uid in build.DEFINITIONS
    ]
    assert [link["title"] for link in links] == list(build.titles().values())
