"""Legal holds over the API: they freeze entities and their edges, stack, and
release only with a reason; every step is in the audit log."""

from __future__ import annotations

import pytest

from tests.governance.helpers import (
    audit_entries,
    call,
    create,
    delete,
    hold,
    link,
    purge,
    release,
)
from tests.support.world import World


def test_a_hold_freezes_its_entity_against_change_delete_and_new_edges(world: World) -> None:
    held, other = create(world), create(world, name="John Doe")
    placed = hold(world, [held["id"]])
    assert placed.status_code == 201, placed.get_json()
    body = placed.get_json()
    assert (body["owner"], body["reason"], body["case_id"]) == ("alice", "litigation", "C-1")
    assert body["status"] == "active"
    assert body["entity_ids"] == [held["id"]]
    path = f"/api/v1/entities/{held['id']}"
    changed = call(world, "PATCH", path, json={"name": "X"})
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "legal_hold"
    assert call(world, "DELETE", path).status_code == 409
    assert link(world, other["id"], held["id"]).get_json()["error"]["code"] == "legal_hold"
    assert call(world, "GET", path).get_json()["name"] == "Jane Roe"  # reads still work
    assert link(world, other["id"], create(world)["id"]).status_code == 201


def test_holds_stack_until_the_last_is_released(world: World) -> None:
    entity = create(world)
    first = hold(world, [entity["id"]]).get_json()
    second = hold(world, [entity["id"]], case_id="C-2").get_json()
    path = f"/api/v1/entities/{entity['id']}"
    assert release(world, first["id"]).status_code == 200
    assert call(world, "DELETE", path).status_code == 409  # the second still holds it
    listed = call(world, "GET", "/api/v1/governance/holds").get_json()["holds"]
    assert [h["id"] for h in listed] == [second["id"]]
    everything = call(world, "GET", "/api/v1/governance/holds?status=all").get_json()["holds"]
    assert {h["id"] for h in everything} == {first["id"], second["id"]}
    assert release(world, second["id"]).status_code == 200
    assert call(world, "DELETE", path).status_code == 204


def test_release_needs_a_reason_and_happens_once_and_is_audited(world: World) -> None:
    placed = hold(world, [create(world)["id"]]).get_json()
    for reason in ("", "   "):
        refused = release(world, placed["id"], reason=reason)
        assert refused.status_code == 400, refused.get_json()
    done = release(world, placed["id"]).get_json()
    assert (done["status"], done["released_by"], done["release_reason"]) == (
        "released", "alice", "case closed",
    )  # fmt: skip
    again = release(world, placed["id"])
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_released"
    actions = [e["action"] for e in audit_entries(world, target=f"hold:{placed['id']}")]
    assert actions == ["hold.release", "hold.place"]


@pytest.mark.parametrize(
    "body",
    [
        {"entity_ids": [], "reason": "x"},
        {"entity_ids": ["a"], "reason": ""},
        {"entity_ids": ["a"]},
        {"reason": "x"},
        {"entity_ids": "a", "reason": "x"},
        {"entity_ids": ["a"], "reason": "x", "owner": "mallory"},
    ],
)
def test_bad_hold_requests_are_400_and_place_nothing(world: World, body: dict[str, object]) -> None:
    response = call(world, "POST", "/api/v1/governance/holds", json=body)
    assert response.status_code == 400, response.get_json()
    assert call(world, "GET", "/api/v1/governance/holds").get_json()["holds"] == []


def test_unknown_or_other_tenants_entities_are_404_and_nothing_is_held(world: World) -> None:
    mine = create(world)
    theirs = create(world, user="carol")
    for ids in (["no-such-entity"], [mine["id"], theirs["id"]]):
        response = hold(world, ids)
        assert response.status_code == 404, response.get_json()
        assert response.get_json()["error"]["code"] == "not_found"
    assert call(world, "GET", "/api/v1/governance/holds").get_json()["holds"] == []
    assert call(world, "DELETE", f"/api/v1/entities/{mine['id']}").status_code == 204


def test_another_tenants_hold_is_404_and_roles_are_enforced(world: World) -> None:
    placed = hold(world, [create(world)["id"]]).get_json()
    assert release(world, placed["id"], user="carol").status_code == 404
    assert hold(world, [create(world)["id"]], user="bob").status_code == 403
    assert release(world, placed["id"], user="bob").status_code == 403
    assert call(world, "GET", "/api/v1/governance/holds", "ops").status_code == 403
    assert call(world, "GET", "/api/v1/governance/holds", "carol").get_json()["holds"] == []


def test_a_held_soft_deleted_entity_is_not_purged_and_the_attempt_is_audited(
    world: World,
) -> None:
    doomed, held = create(world), create(world)
    delete(world, doomed["id"])
    delete(world, held["id"])
    placed = hold(world, [held["id"]]).get_json()
    refused = purge(world, [doomed["id"], held["id"]])
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "legal_hold"
    [entry] = audit_entries(world, action="purge")
    assert entry["action"] == "purge.refused"
    assert entry["payload"]["entity_ids"] == [doomed["id"], held["id"]]
    # nothing of the batch went: both are still there to purge once released
    release(world, placed["id"])
    done = purge(world, [doomed["id"], held["id"]])
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"purged": 2, "held": 0, "edges": 0}
    assert purge(world, [doomed["id"]]).status_code == 404  # gone for good


def test_an_entity_linked_to_a_held_one_is_frozen_with_its_edge(world: World) -> None:
    held, neighbour = create(world), create(world)
    assert link(world, neighbour["id"], held["id"]).status_code == 201
    delete(world, neighbour["id"])
    hold(world, [held["id"]])
    refused = purge(world, [neighbour["id"]])
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "legal_hold"
