"""The feedback API on SQLite and PostgreSQL: votes, re-votes, the summary by
dataset and day, the CSV export, and who may see what."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.tenancy import ALL_TENANTS
from app.feedback import service as feedback
from app.feedback.models import Vote
from app.graph.models import Entity
from app.identity.models import Tenant
from tests.feedback.helpers import hit_id, vote
from tests.support.world import World, services

SUMMARY = "/api/v1/feedback/summary"
EXPORT = "/api/v1/feedback/export.csv"


def entity(world: World, name: str, dataset: str) -> str:
    body = {"kind": "organization", "name": name, "dataset": dataset}
    response = world.client.post("/api/v1/entities", json=body, headers=world.headers("alice"))
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def summary(world: World, user: str = "alice", **params: str) -> dict[str, Any]:
    response = world.client.get(SUMMARY, query_string=params, headers=world.headers(user))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def export(world: World, user: str = "alice", **params: str) -> list[dict[str, str]]:
    response = world.client.get(EXPORT, query_string=params, headers=world.headers(user))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def votes_counted(world: World, value: str) -> float:
    registry = services(world.app).metrics.registry
    return registry.get_sample_value("summit_feedback_votes_total", {"vote": value}) or 0.0


def acme(world: World) -> int:
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        tenant_id: int = session.scalars(select(Tenant.id).where(Tenant.slug == "acme")).one()
    return tenant_id


def cast(session: Session, *, voter: str, entity_id: str, value: str, now: datetime) -> Any:
    return feedback.cast_vote(
        session=session, entity_id=entity_id, query="rocket", vote=value, dataset=None,
        voter=voter, dataset_scope=None, now=now,
    )  # fmt: skip


def cast_at(world: World, when: datetime, *, voter: str, entity_id: str, value: str) -> None:
    """A vote cast on another day: the service takes its clock, as every rule does."""
    with services(world.app).db.session(tenant_id=acme(world), write=True) as session:
        cast(session, voter=voter, entity_id=entity_id, value=value, now=when)
        session.commit()


def test_an_analyst_votes_and_gets_the_stored_record(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    before = votes_counted(world, "up")
    response = vote(world, "bob", query="  Rocket  ", entity_id=rocket, vote="up")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"]
    assert body["entity_id"] == rocket
    assert (body["query"], body["vote"], body["voter"], body["previous"]) == (
        "rocket", "up", "bob", None,
    )  # fmt: skip
    assert body["dataset"] == "registry"  # the entity's, by default
    assert body["created_at"] == body["voted_at"]
    assert votes_counted(world, "up") == before + 1


def test_a_second_vote_on_the_same_query_and_result_replaces_the_first(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    first = vote(world, "bob", query="rocket", entity_id=rocket, vote="up").get_json()
    again = vote(world, "bob", query="ROCKET", entity_id=rocket, vote="down")
    assert again.status_code == 201
    second = again.get_json()
    assert second["id"] == first["id"]
    assert (second["vote"], second["previous"]) == ("down", "up")
    assert second["created_at"] == first["created_at"]
    assert second["voted_at"] >= first["voted_at"]
    totals = summary(world)["totals"]
    assert (totals["up"], totals["down"], totals["total"]) == (0, 1, 1)
    assert len(export(world)) == 1


def test_each_user_and_each_query_has_its_own_vote(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    assert vote(world, "bob", query="rocket", entity_id=rocket, vote="up").status_code == 201
    assert vote(world, "alice", query="rocket", entity_id=rocket, vote="down").status_code == 201
    assert vote(world, "bob", query="acme rocket", entity_id=rocket, vote="up").status_code == 201
    totals = summary(world)["totals"]
    assert totals == {"up": 2, "down": 1, "total": 3, "ratio": 0.6667}


def test_the_summary_counts_by_dataset_and_by_day(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    osint = entity(world, "Rocket Rumours", "osint")
    today = datetime.now(UTC)
    yesterday, last_week = today - timedelta(days=1), today - timedelta(days=7)
    cast_at(world, last_week, voter="alice", entity_id=rocket, value="down")
    cast_at(world, yesterday, voter="bob", entity_id=rocket, value="up")
    cast_at(world, yesterday, voter="bob", entity_id=osint, value="down")
    assert vote(world, "alice", query="rocket", entity_id=osint, vote="up").status_code == 201

    body = summary(world)
    assert body["totals"] == {"up": 2, "down": 2, "total": 4, "ratio": 0.5}
    assert body["by_dataset"] == [
        {"dataset": "osint", "up": 1, "down": 1, "total": 2, "ratio": 0.5},
        {"dataset": "registry", "up": 1, "down": 1, "total": 2, "ratio": 0.5},
    ]
    assert body["by_day"] == [
        {"day": last_week.date().isoformat(), "up": 0, "down": 1, "total": 1, "ratio": 0.0},
        {"day": yesterday.date().isoformat(), "up": 1, "down": 1, "total": 2, "ratio": 0.5},
        {"day": today.date().isoformat(), "up": 1, "down": 0, "total": 1, "ratio": 1.0},
    ]
    only = summary(world, dataset="registry")
    assert [d["dataset"] for d in only["by_dataset"]] == ["registry"]
    assert [d["day"] for d in only["by_day"]] == [
        last_week.date().isoformat(), yesterday.date().isoformat(),
    ]  # fmt: skip
    recent = summary(world, since=yesterday.date().isoformat(), until=yesterday.date().isoformat())
    assert recent["totals"] == {"up": 1, "down": 1, "total": 2, "ratio": 0.5}


def test_a_re_vote_moves_to_the_day_it_was_cast(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    cast_at(world, datetime.now(UTC) - timedelta(days=3), voter="bob", entity_id=rocket,
            value="down")  # fmt: skip
    assert vote(world, "bob", query="rocket", entity_id=rocket, vote="up").status_code == 201
    assert summary(world)["by_day"] == [
        {"day": datetime.now(UTC).date().isoformat(), "up": 1, "down": 0, "total": 1, "ratio": 1.0}
    ]


def test_an_empty_summary_has_zero_totals_and_no_ratio(world: World) -> None:
    assert summary(world, user="bob") == {
        "totals": {"up": 0, "down": 0, "total": 0, "ratio": None},
        "by_dataset": [],
        "by_day": [],
    }


def test_the_csv_export_lists_every_vote_with_its_entity(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    osint = entity(world, "Rocket Rumours", "osint")
    vote(world, "bob", query="rocket", entity_id=rocket, vote="up")
    vote(world, "alice", query="rocket", entity_id=osint, vote="down")
    rows = export(world, user="bob")
    assert [(r["entity_name"], r["dataset"], r["vote"], r["voter"], r["query"]) for r in rows] == [
        ("Acme Rocket Works", "registry", "up", "bob", "rocket"),
        ("Rocket Rumours", "osint", "down", "alice", "rocket"),
    ]
    assert list(rows[0]) == list(feedback.EXPORT_COLUMNS)
    assert rows[0]["day"] == datetime.now(UTC).date().isoformat()
    assert [r["entity_name"] for r in export(world, dataset="osint")] == ["Rocket Rumours"]
    assert export(world, since=(datetime.now(UTC).date() + timedelta(days=1)).isoformat()) == []


@pytest.mark.parametrize(
    "hostile", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)"]
)
def test_the_csv_export_never_hands_a_spreadsheet_a_formula(world: World, hostile: str) -> None:
    named = entity(world, hostile, "osint")
    assert vote(world, "bob", query=hostile, entity_id=named, vote="up").status_code == 201
    (row,) = export(world)
    assert row["query"] == "'" + feedback.normalize_query(hostile)
    assert row["entity_name"] == "'" + hostile


def test_another_tenants_entity_is_404_and_nothing_is_written(world: World) -> None:
    globex = hit_id(world, "rocket", "Globex Rocket Testing Range", user="carol")
    response = vote(world, "bob", query="rocket", entity_id=globex, vote="up")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "Globex" not in response.get_data(as_text=True)
    assert summary(world)["totals"]["total"] == 0
    assert summary(world, user="carol")["totals"]["total"] == 0


def test_a_deleted_entity_or_another_dataset_is_404(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    wrong = vote(world, "bob", query="rocket", entity_id=rocket, vote="up", dataset="osint")
    assert wrong.status_code == 404
    named = vote(world, "bob", query="rocket", entity_id=rocket, vote="up", dataset="registry")
    assert named.status_code == 201
    gone = entity(world, "Short Lived", "osint")
    deleted = world.client.delete(f"/api/v1/entities/{gone}", headers=world.headers("alice"))
    assert deleted.status_code == 204
    assert vote(world, "bob", query="short", entity_id=gone, vote="up").status_code == 404
    assert vote(world, "bob", query="x", entity_id="no-such-id", vote="up").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "rocket", "vote": "sideways"}, "vote"),
        ({"query": "rocket", "vote": "up", "stars": 5}, "stars"),
        ({"vote": "up"}, "query"),
        ({"query": "", "vote": "up"}, "query"),
        ({"query": "r" * 257, "vote": "up"}, "query"),
        ({"query": "rocket", "vote": "up", "dataset": "no spaces"}, "dataset"),
        ({"query": "rocket", "vote": 1}, "vote"),
    ],
)
def test_bad_votes_are_400_naming_the_field_and_write_nothing(
    world: World, body: dict[str, Any], field: str
) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    response = vote(world, "bob", entity_id=rocket, **body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["json"]
    assert summary(world)["totals"]["total"] == 0


def test_a_query_of_only_spaces_is_400(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    response = vote(world, "bob", query="   ", entity_id=rocket, vote="up")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "params",
    [{"since": "yesterday"}, {"since": "2026-11-27", "until": "2026-11-01"}, {"limt": "5"},
     {"dataset": "a b"}],
)  # fmt: skip
def test_bad_summary_and_export_filters_are_400(world: World, params: dict[str, str]) -> None:
    for path in (SUMMARY, EXPORT):
        response = world.client.get(path, query_string=params, headers=world.headers("alice"))
        assert response.status_code == 400, (path, params)
        assert response.get_json()["error"]["code"] == "validation_error"


def test_the_operator_gets_no_tenant_data(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    vote(world, "bob", query="rocket", entity_id=rocket, vote="up")
    ops = world.headers("ops")
    refused = [
        world.client.post("/api/v1/feedback", json={"query": "rocket", "entity_id": rocket,
                                                    "vote": "down"}, headers=ops),
        world.client.get(SUMMARY, headers=ops),
        world.client.get(EXPORT, headers=ops),
    ]  # fmt: skip
    for response in refused:
        assert response.status_code == 403
        assert "Acme" not in response.get_data(as_text=True)
        assert "rocket" not in response.get_data(as_text=True)
    assert summary(world)["totals"] == {"up": 1, "down": 0, "total": 1, "ratio": 1.0}


def test_no_token_is_401(world: World) -> None:
    assert world.client.get(SUMMARY).status_code == 401
    assert world.client.post("/api/v1/feedback", json={}).status_code == 401


def test_summary_and_export_show_only_the_callers_tenant(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    globex = hit_id(world, "rocket", "Globex Rocket Testing Range", user="carol")
    vote(world, "bob", query="rocket", entity_id=rocket, vote="up")
    assert vote(world, "carol", query="rocket", entity_id=globex, vote="down").status_code == 201
    assert summary(world)["totals"] == {"up": 1, "down": 0, "total": 1, "ratio": 1.0}
    assert summary(world, user="carol")["totals"] == {"up": 0, "down": 1, "total": 1, "ratio": 0.0}
    assert [r["entity_name"] for r in export(world)] == ["Acme Rocket Works"]
    assert [r["entity_name"] for r in export(world, user="carol")] == [
        "Globex Rocket Testing Range"
    ]


def test_purging_an_entity_takes_its_votes(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    vote(world, "bob", query="rocket", entity_id=rocket, vote="up")
    with services(world.app).db.session(tenant_id=ALL_TENANTS, write=True) as session:
        session.execute(delete(Entity).where(Entity.id == rocket))  # what a purge does
        session.commit()
        assert session.scalars(select(Vote)).all() == []


def test_two_first_votes_at_once_end_as_one_row_and_the_later_wins(world: World) -> None:
    """The same user's first vote, twice at once (a double click on two workers):
    the second waits on the first's row (PostgreSQL: the unique index, then the
    update path; SQLite: the write lock), and neither fails."""
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    db, tenant_id, now = services(world.app).db, acme(world), datetime.now(UTC)
    first = db.session(tenant_id=tenant_id, write=True)
    cast(first, voter="bob", entity_id=rocket, value="up", now=now)  # flushed, not committed
    outcome: dict[str, Any] = {}

    def second() -> None:
        with db.session(tenant_id=tenant_id, write=True) as session:
            outcome["previous"] = cast(
                session, voter="bob", entity_id=rocket, value="down", now=now
            ).previous
            session.commit()

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(timeout=1)
    assert racer.is_alive(), "the second vote did not wait for the first"
    first.commit()
    first.close()
    racer.join(timeout=30)
    assert outcome == {"previous": "up"}
    assert summary(world)["totals"] == {"up": 0, "down": 1, "total": 1, "ratio": 0.0}
