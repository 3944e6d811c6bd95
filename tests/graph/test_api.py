"""The graph API: entities, edges, search — per tenant, with provenance."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import World


def create(world: World, user: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"kind": "organization", "name": "Initech", "dataset": "registry", **fields}
    response = world.client.post("/api/v1/entities", json=body, headers=world.headers(user))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def search(world: World, q: str, user: str = "alice", **params: Any) -> list[dict[str, Any]]:
    response = world.client.get(
        "/api/v1/search", query_string={"q": q, **params}, headers=world.headers(user)
    )
    assert response.status_code == 200, response.get_json()
    results: list[dict[str, Any]] = response.get_json()["results"]
    return results


def test_created_entity_carries_provenance(world: World) -> None:
    entity = create(world, attributes={"country": "US", "employees": 120}, subject="s-1")
    assert entity["created_by"] == entity["updated_by"] == "alice"
    assert entity["source"] == "api"
    assert entity["created_at"] == entity["updated_at"]
    fetched = world.client.get(f"/api/v1/entities/{entity['id']}", headers=world.headers("bob"))
    assert fetched.status_code == 200
    assert fetched.get_json()["attributes"] == {"country": "US", "employees": 120}
    assert fetched.get_json()["edges"] == []


def test_patch_changes_only_given_fields_and_records_who(world: World) -> None:
    entity = create(world, attributes={"a": "x"})
    response = world.client.patch(
        f"/api/v1/entities/{entity['id']}",
        json={"name": "Initrode"},
        headers=world.headers("alice"),
    )
    changed = response.get_json()
    assert changed["name"] == "Initrode"
    assert changed["attributes"] == {"a": "x"}
    assert changed["updated_at"] >= entity["updated_at"]
    assert [hit["name"] for hit in search(world, "initrode")] == ["Initrode"]
    assert search(world, "initech") == []


def test_soft_deleted_entity_is_hidden_at_once(world: World) -> None:
    entity = create(world, name="Vanishing Ventures")
    assert search(world, "vanishing")
    deleted = world.client.delete(
        f"/api/v1/entities/{entity['id']}", headers=world.headers("alice")
    )
    assert deleted.status_code == 204
    assert search(world, "vanishing") == []
    again = world.client.get(f"/api/v1/entities/{entity['id']}", headers=world.headers("alice"))
    assert again.status_code == 404
    listed = world.client.get("/api/v1/entities", headers=world.headers("alice")).get_json()
    assert entity["id"] not in [row["id"] for row in listed["entities"]]


def test_entity_fetch_includes_edges_both_ways(world: World) -> None:
    a = create(world, name="Parent Co")
    b = create(world, name="Child Co")
    edge = world.client.post(
        "/api/v1/edges",
        json={"source_id": a["id"], "target_id": b["id"], "kind": "owns"},
        headers=world.headers("alice"),
    )
    assert edge.status_code == 201
    assert edge.get_json()["created_by"] == "alice"
    out = world.client.get(f"/api/v1/entities/{a['id']}", headers=world.headers("alice")).get_json()
    into = world.client.get(f"/api/v1/entities/{b['id']}", headers=world.headers("alice"))
    assert [(e["direction"], e["entity"]["name"]) for e in out["edges"]] == [("out", "Child Co")]
    assert [(e["direction"], e["entity"]["name"]) for e in into.get_json()["edges"]] == [
        ("in", "Parent Co")
    ]
    world.client.delete(f"/api/v1/entities/{b['id']}", headers=world.headers("alice"))
    out = world.client.get(f"/api/v1/entities/{a['id']}", headers=world.headers("alice")).get_json()
    assert out["edges"] == []  # an edge to a deleted entity is hidden with it


def test_search_matches_names_attributes_and_prefixes(world: World) -> None:
    create(world, name="Blue Harbor Shipping", attributes={"port": "Rotterdam"})
    assert [h["name"] for h in search(world, "harbor")] == ["Blue Harbor Shipping"]
    assert [h["name"] for h in search(world, "rotter")] == ["Blue Harbor Shipping"]
    assert [h["name"] for h in search(world, "BLUE harb")] == ["Blue Harbor Shipping"]
    assert search(world, "harbor rotterdam nothere") == []
    hit = search(world, "rocket")[0]
    assert set(hit) == {"id", "name", "kind", "dataset", "score"}
    assert hit["name"] == "Acme Rocket Works"


def test_search_ranks_name_matches_above_attribute_matches(world: World) -> None:
    create(world, name="Quiet Things", attributes={"note": "zephyrine"})
    create(world, name="Zephyrine Holdings")
    assert [h["name"] for h in search(world, "zephyrine")] == ["Zephyrine Holdings", "Quiet Things"]


def test_search_filters_by_dataset(world: World) -> None:
    create(world, name="Kestrel One", dataset="osint")
    create(world, name="Kestrel Two", dataset="registry")
    assert [h["name"] for h in search(world, "kestrel", dataset="osint")] == ["Kestrel One"]


def test_search_pages_with_a_cursor(world: World) -> None:
    for n in range(5):
        create(world, name=f"Pagewise {n}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "pagewise", "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = world.client.get(
            "/api/v1/search", query_string=params, headers=world.headers("alice")
        ).get_json()
        seen += [hit["name"] for hit in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"Pagewise {n}" for n in range(5)]


def test_entity_list_pages_with_a_cursor(world: World) -> None:
    created = [create(world, name=f"Listed {n}", dataset="paging")["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"dataset": "paging", "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = world.client.get(
            "/api/v1/entities", query_string=params, headers=world.headers("alice")
        ).get_json()
        seen += [row["id"] for row in body["entities"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == created


# --- isolation: the outsider is refused everywhere, and learns nothing ------------------


def test_other_tenants_entity_is_404_everywhere(world: World) -> None:
    secret = create(world, name="Acme Secret Project", attributes={"code": "skunkworks"})
    mine = create(world, user="carol", name="Globex Thing")
    carol = world.headers("carol")
    url = f"/api/v1/entities/{secret['id']}"
    assert world.client.get(url, headers=carol).status_code == 404
    assert world.client.patch(url, json={"name": "pwned"}, headers=carol).status_code == 404
    assert world.client.delete(url, headers=carol).status_code == 404
    for ends in ((mine["id"], secret["id"]), (secret["id"], mine["id"])):
        edge = world.client.post(
            "/api/v1/edges",
            json={"source_id": ends[0], "target_id": ends[1], "kind": "owns"},
            headers=carol,
        )
        assert edge.status_code == 404
    assert world.client.get(url, headers=world.headers("alice")).get_json()["name"] == (
        "Acme Secret Project"
    )


def test_not_found_answers_do_not_depend_on_whether_the_id_exists(world: World) -> None:
    secret = create(world)
    carol = world.headers("carol")
    theirs = world.client.get(f"/api/v1/entities/{secret['id']}", headers=carol)
    nobodys = world.client.get("/api/v1/entities/" + "1" * 36, headers=carol)
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.get_json()["error"]["code"] == nobodys.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["rocket", "acme", "skunkworks", "secret"])
def test_outsider_search_never_shows_other_tenants_entities(world: World, query: str) -> None:
    create(world, name="Acme Secret Project", attributes={"code": "skunkworks"})
    names = [hit["name"] for hit in search(world, query, user="carol")]
    assert not any(name.startswith(("Acme", "Wile")) for name in names)
    if query == "rocket":
        assert names == ["Globex Rocket Testing Range"]  # carol does get her own


def test_analyst_reads_but_may_not_write(world: World) -> None:
    bob = world.headers("bob")
    assert search(world, "rocket", user="bob")
    response = world.client.post(
        "/api/v1/entities", json={"kind": "x", "name": "y", "dataset": "d"}, headers=bob
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_operator_reads_no_tenant_data(world: World) -> None:
    ops = world.headers("ops")
    rocket = search(world, "rocket")[0]
    for url in ("/api/v1/search?q=rocket", f"/api/v1/entities/{rocket['id']}", "/api/v1/entities"):
        assert world.client.get(url, headers=ops).status_code == 403, url


def test_probe_users_see_only_the_probes_synthetic_records(world: World) -> None:
    """What a failed probe run shows operators (its screenshot, its trace) is the
    probes' own records, never a tenant's data."""
    probe = {"Authorization": f"Bearer {world.login('synthetic', 'acme')['token']}"}
    assert world.client.get("/api/v1/search?q=rocket", headers=probe).get_json()["results"] == []
    own = world.client.get("/api/v1/search?q=summit+probe+target", headers=probe).get_json()
    assert [hit["name"] for hit in own["results"]] == ["Summit Probe Target"]
    rocket = world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))
    rocket_id = rocket.get_json()["results"][0]["id"]
    assert world.client.get(f"/api/v1/entities/{rocket_id}", headers=probe).status_code == 404
    target = world.client.get(f"/api/v1/entities/{own['results'][0]['id']}", headers=probe)
    assert [edge["entity"]["name"] for edge in target.get_json()["edges"]] == ["Summit Probe Depot"]
    asked_outside = world.client.get("/api/v1/entities?dataset=osint", headers=probe).get_json()
    assert asked_outside["entities"] == []
