"""The web UI: login with CSRF, search, entity page, isolation, logout."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.web import csrf_token, web_login
from tests.support.world import PASSWORD, World


def test_login_page_has_labelled_fields(world: World) -> None:
    page = world.client.get("/login").get_data(as_text=True)
    for label in ("Tenant", "Username", "Password"):
        field = label.lower()
        assert f'<label for="{field}">{label}</label>' in page
        assert f'id="{field}"' in page
    assert '<button type="submit">Log in</button>' in page


def test_alice_logs_in_searches_and_opens_the_entity(world: World) -> None:
    client = world.client
    response = web_login(client, "acme", "alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/search"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    results = client.get("/search?q=rocket").get_data(as_text=True)
    match = re.search(r'<a href="(/entities/[0-9a-f-]+)">Acme Rocket Works</a>', results)
    assert match, results
    entity = client.get(match.group(1))
    assert entity.status_code == 200
    assert '<h1 id="entity-name">Acme Rocket Works</h1>' in entity.get_data(as_text=True)


def test_wrong_password_shows_an_alert_and_no_session(world: World) -> None:
    response = web_login(world.client, "acme", "alice", password="nope")
    assert response.status_code == 401
    assert 'role="alert"' in response.get_data(as_text=True)
    assert world.client.get("/search").status_code == 302


def test_a_form_without_csrf_token_is_refused(world: World) -> None:
    response = world.client.post(
        "/login", data={"tenant": "acme", "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert world.client.get("/search").status_code == 302


def test_pages_send_anonymous_browsers_to_login_and_back(world: World) -> None:
    response = world.client.get("/search?q=rocket")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.path, parse_qs(location.query)) == ("/login", {"next": ["/search?q=rocket"]})
    back = web_login(world.client, "acme", "bob", next_path="/search?q=rocket")
    assert back.headers["Location"] == "/search?q=rocket"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%09/evil.example",  # regression: a tab browsers drop, leaving //evil.example
        "/%0d%0aLocation:%20https://evil.example",  # regression: a 500 after login
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "/%5cevil.example",
    ],
)
def test_next_never_leaves_the_site(world: World, target: str) -> None:
    response = web_login(world.app.test_client(), "acme", "alice", next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/search", target


def test_next_keeps_a_path_of_this_site(world: World) -> None:
    response = web_login(world.app.test_client(), "acme", "alice", next_path="/entities/x%3Fy")
    assert response.headers["Location"] == "/entities/x?y"


def test_carol_gets_404_for_acmes_entity_page(world: World) -> None:
    alice = world.app.test_client()
    web_login(alice, "acme", "alice")
    page = alice.get("/search?q=rocket").get_data(as_text=True)
    path = re.search(r'href="(/entities/[0-9a-f-]+)">Acme Rocket Works', page).group(1)  # type: ignore[union-attr]
    carol = world.app.test_client()
    web_login(carol, "globex", "carol")
    response = carol.get(path)
    assert response.status_code == 404
    assert "Acme Rocket Works" not in response.get_data(as_text=True)
    assert "Acme Rocket Works" not in carol.get("/search?q=rocket").get_data(as_text=True)


def test_logout_revokes_the_session(world: World) -> None:
    client = world.client
    web_login(client, "acme", "alice")
    stolen = client.get_cookie("summit_session")
    assert stolen is not None
    token = csrf_token(client, "/search")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = world.app.test_client()
    replay.set_cookie("summit_session", stolen.value)
    assert replay.get("/search").status_code == 302  # the old cookie no longer works


def test_operator_is_refused_tenant_pages(world: World) -> None:
    web_login(world.client, "", "ops")
    response = world.client.get("/search?q=rocket")
    assert response.status_code == 403
    assert "text/html" in response.headers["Content-Type"]


def test_entity_page_escapes_hostile_names(world: World) -> None:
    hostile = '<script>alert("x")</script>'
    created = world.client.post(
        "/api/v1/entities",
        json={"kind": "person", "name": hostile, "dataset": "d", "attributes": {"a": hostile}},
        headers=world.headers("alice"),
    ).get_json()
    web_login(world.client, "acme", "alice")
    page = world.client.get(f"/entities/{created['id']}").get_data(as_text=True)
    assert hostile not in page
    assert "&lt;script&gt;" in page
