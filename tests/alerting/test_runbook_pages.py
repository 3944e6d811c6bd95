"""Runbooks rendered at /runbooks/<slug> for signed-in operators."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.support.web import web_login
from tests.support.world import World, seed_world

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def operator(world: World) -> FlaskClient:
    client = world.app.test_client()
    web_login(client, "", "ops")
    return client


def test_every_runbook_renders_for_an_operator(world: World) -> None:
    client = operator(world)
    for path in RUNBOOKS.glob("*.md"):
        page = client.get(f"/runbooks/{path.stem}")
        assert page.status_code == 200, path.name
        html = page.get_data(as_text=True)
        first = path.read_text().splitlines()[0].removeprefix("# ")
        assert f"<h1>{first}</h1>" in html
        assert f"<title>{first} · Summit</title>" in html


def test_markdown_becomes_html_and_links_between_runbooks_become_pages(world: World) -> None:
    html = operator(world).get("/runbooks/summit-availability-budget-burn").get_data(as_text=True)
    assert "<table>" in html
    assert "<th>severity</th>" in html
    assert "<h2>Confirm</h2>" in html
    assert '<a href="/runbooks/bcdr">BC/DR</a>' in html
    assert '<a href="/runbooks/incident-response">incident response</a>' in html


def test_raw_html_in_a_runbook_is_escaped_not_run(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "evil.md").write_text(
        "# Evil\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n"
    )
    world = seed_world(make_app(SUMMIT_RUNBOOKS_DIR=str(folder)))
    html = operator(world).get("/runbooks/evil").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html


def test_runbooks_need_an_operator_session(world: World) -> None:
    anonymous = world.app.test_client()
    response = anonymous.get("/runbooks/bcdr")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    analyst = world.app.test_client()
    web_login(analyst, "acme", "bob")
    assert analyst.get("/runbooks/bcdr").status_code == 403


def test_an_unknown_or_crafted_slug_is_not_found(world: World) -> None:
    client = operator(world)
    for slug in ("no-such-runbook", "..%2Fpyproject", "BCDR", "bcdr.md"):
        assert client.get(f"/runbooks/{slug}").status_code == 404, slug
