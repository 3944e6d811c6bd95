"""The demo script (``summit demo``): the golden path and tenant isolation, step by step.

It drives the real app in-process through Flask's test client, against the
configured database, and stops at the first step that does not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import click

from app.factory import create_app


class DemoFailed(click.ClickException):
    pass


def _json(response: Any) -> Any:
    return cast(Any, response.get_json())


def run(*, echo: Callable[[str], Any], password: str) -> None:
    logging.getLogger("summit.access").setLevel(logging.WARNING)  # the steps say it all
    client = create_app().test_client()

    def login(tenant: str | None, username: str) -> dict[str, str]:
        response = client.post(
            "/api/v1/auth/login",
            json={"tenant": tenant, "username": username, "password": password},
        )
        _expect(response.status_code == 200, f"{username} could not log in: {response.json}")
        return {"Authorization": f"Bearer {_json(response)['token']}"}

    def step(text: str) -> None:
        echo(f"  ✓ {text}")

    echo("demo script:")
    alice = login("acme", "alice")
    step("alice (admin, acme) logs in and gets a bearer token")
    found = _json(client.get("/api/v1/search?q=rocket", headers=alice))["results"]
    rocket = next((hit for hit in found if hit["name"] == "Acme Rocket Works"), None)
    _expect(rocket is not None, f"searching 'rocket' as alice did not find it: {found}")
    assert rocket is not None
    step(f"alice searches 'rocket': {len(found)} results, 'Acme Rocket Works' among them")
    entity = client.get(f"/api/v1/entities/{rocket['id']}", headers=alice)
    _expect(entity.status_code == 200, f"alice could not open the entity: {entity.status_code}")
    step(f"alice opens 'Acme Rocket Works': {len(_json(entity)['edges'])} connections")

    carol = login("globex", "carol")
    step("carol (admin, globex) logs in")
    other = client.get(f"/api/v1/entities/{rocket['id']}", headers=carol)
    _expect(other.status_code == 404, f"carol got {other.status_code} for acme's entity")
    step("carol asks for acme's entity by id: 404, as if it did not exist")
    names = [
        hit["name"]
        for hit in _json(client.get("/api/v1/search?q=rocket", headers=carol))["results"]
    ]
    _expect("Acme Rocket Works" not in names, "carol's search shows acme's entity")
    step(f"carol searches 'rocket': sees only globex's {names}")

    ops = login(None, "ops")
    denied = client.get("/api/v1/search?q=rocket", headers=ops)
    _expect(denied.status_code == 403, f"the operator got {denied.status_code} searching")
    step("ops (platform operator) logs in without a tenant and is refused tenant data: 403")
    echo("demo script: all steps passed")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(f"demo step failed: {message}")
