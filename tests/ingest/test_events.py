"""POST /api/v1/ingest/events: validation, idempotency, the DLQ, partial batches,
JSON arrays, NDJSON and gzip (on SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson
import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core.tenancy import ALL_TENANTS
from app.ingest.models import DlqItem, IngestEvent
from tests.ingest.helpers import event, ndjson, post, stats
from tests.support.world import World, services


def stored_ids(world: World) -> list[str]:
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        return sorted(session.scalars(select(IngestEvent.event_id)))


def test_valid_events_are_stored_and_answered_with_the_spec_shape(world: World) -> None:
    response = post(world, ndjson(event("e1"), event("e2", payload={"subject": "ann"})))
    assert response.status_code == 202
    body = response.get_json()
    assert {k: body[k] for k in ("accepted", "rejected", "duplicates")} == {
        "accepted": 2,
        "rejected": 0,
        "duplicates": 0,
    }
    assert len(body["batch_id"]) == 36
    assert body["errors"] == []
    assert stored_ids(world) == ["e1", "e2"]
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        row = session.scalars(select(IngestEvent).where(IngestEvent.event_id == "e2")).one()
        assert row.payload == {"subject": "ann"}
        assert row.subject == "ann"
        assert row.source == "crm"
        assert row.created_by == "alice"
        assert row.batch_id == body["batch_id"]
        assert row.ts.isoformat() == "2026-11-26T10:00:00+00:00"


def test_an_id_is_stored_once_and_its_repeats_counted_as_duplicates(world: World) -> None:
    first = post(world, ndjson(event("a"), event("b"), event("a"))).get_json()
    second = post(world, ndjson(event("a"), event("c"))).get_json()
    assert (first["accepted"], first["duplicates"]) == (2, 1)
    assert (second["accepted"], second["duplicates"]) == (1, 1)
    assert stored_ids(world) == ["a", "b", "c"]
    totals = stats(world, verify="true")
    assert (totals["received"], totals["stored"], totals["duplicates"]) == (5, 3, 2)
    assert totals["balanced"] is True
    assert totals["rows"] == {"events": 3, "dlq_pending": 0}


def test_a_json_array_ndjson_and_gzip_are_the_same_batch(world: World) -> None:
    events = [event(f"x{i}") for i in range(3)]
    as_array = post(world, orjson.dumps(events), content_type="application/json")
    assert as_array.get_json()["accepted"] == 3
    again = post(world, ndjson(*events), compress=True)
    assert again.status_code == 202
    assert (again.get_json()["accepted"], again.get_json()["duplicates"]) == (0, 3)
    fresh = post(world, orjson.dumps([event("g1")]), content_type="application/json", compress=True)
    assert fresh.get_json()["accepted"] == 1


def test_invalid_events_go_to_the_dlq_and_the_rest_of_the_batch_is_accepted(
    world: World,
) -> None:
    bad = [
        b'{"id":"no-type","ts":"2026-11-26T10:00:00Z","source":"crm","payload":{}}',
        orjson.dumps(event("naive", ts="2026-11-26T10:00:00")),
        orjson.dumps(event("extra") | {"colour": "red"}),
        orjson.dumps(event("list", payload=[1, 2])),
        b'{"id": "broken", "type": ',
    ]
    response = post(world, ndjson(event("ok1"), *bad, event("ok2")))
    body = response.get_json()
    assert response.status_code == 202
    assert (body["accepted"], body["rejected"], body["duplicates"]) == (2, 5, 0)
    reasons = {e["index"]: e["reason"] for e in body["errors"]}
    assert reasons == {
        1: "missing_field",
        2: "invalid_field",
        3: "unknown_field",
        4: "invalid_field",
        5: "malformed_json",
    }
    assert stored_ids(world) == ["ok1", "ok2"]
    items = world.client.get("/api/v1/ingest/dlq", headers=world.headers("alice")).get_json()
    by_id = {item["event_id"]: item for item in items["items"]}
    assert by_id["no-type"]["source"] == "crm"
    assert by_id["no-type"]["attempts"] == 1
    assert by_id["no-type"]["detail"] == "Object missing required field `type`"
    assert base64.b64decode(by_id["no-type"]["raw_base64"]) == bad[0]
    assert by_id[None]["raw"] == bad[4].decode()  # unreadable: filed without id
    assert by_id[None]["source"] == "-"


def test_the_same_invalid_bytes_again_are_one_more_attempt_not_a_new_item(world: World) -> None:
    raw = b'{"id":"x","type":1,"ts":"2026-11-26T10:00:00Z","source":"crm","payload":{}}'
    post(world, ndjson(raw))
    again = post(world, ndjson(raw)).get_json()
    assert (again["rejected"], again["duplicates"]) == (0, 1)
    [item] = world.client.get("/api/v1/ingest/dlq", headers=world.headers("alice")).get_json()[
        "items"
    ]
    assert item["attempts"] == 2
    totals = stats(world, verify="true")
    assert (totals["received"], totals["dlq"], totals["duplicates"]) == (2, 1, 1)
    assert totals["balanced"] is True


def test_unreadable_events_are_filed_under_the_requests_source(world: World) -> None:
    post(world, ndjson(b"not json at all"), query="?source=edge")
    [item] = world.client.get("/api/v1/ingest/dlq", headers=world.headers("alice")).get_json()[
        "items"
    ]
    assert item["source"] == "edge"
    assert stats(world, source="edge")["dlq"] == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"a":"\\u0000"}', "unsupported_value"),
        (b'{"a\\u0000":1}', "unsupported_value"),
        (b'{"a":"\\ud800"}', "malformed_json"),
        (b'{"a":"\xff\xfe"}', "malformed_json"),
    ],
)
def test_values_no_database_here_can_store_are_refused_per_event(
    world: World, payload: bytes, reason: str
) -> None:
    raw = b'{"id":"u","type":"t","ts":"2026-11-26T10:00:00Z","source":"crm","payload":' + payload
    body = post(world, ndjson(raw + b"}", event("fine"))).get_json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["reason"] == reason


def test_escaped_text_that_is_storable_is_stored(world: World) -> None:
    payload = b'{"a":"caf\\u00e9 \\\\u0000 \\ud83d\\ude00","big":123456789012345678901234567890}'
    raw = b'{"id":"esc","type":"t","ts":"2026-11-26T10:00:00+02:00","source":"crm","payload":'
    body = post(world, ndjson(raw + payload + b"}")).get_json()
    assert body["accepted"] == 1, body
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        row = session.scalars(select(IngestEvent)).one()
        assert row.payload["a"] == "café \\u0000 😀"
        assert row.ts.isoformat() == "2026-11-26T08:00:00+00:00"


def test_an_idempotency_key_retried_gets_the_first_answer_and_ingests_nothing(
    world: World,
) -> None:
    body = ndjson(event("k1"), event("k2"), b"{bad")
    key = {"Idempotency-Key": "batch-0001"}
    first = post(world, body, headers=key)
    again = post(world, body, headers=key)
    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert {k: v for k, v in again.get_json().items() if k != "replayed"} == {
        k: v for k, v in first.get_json().items() if k != "replayed"
    }
    totals = stats(world, verify="true")
    assert (totals["received"], totals["stored"], totals["dlq"]) == (3, 2, 1)
    reused = post(world, ndjson(event("k3")), headers=key)
    assert reused.status_code == 422
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert stored_ids(world) == ["k1", "k2"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"", "application/x-ndjson", 400, "malformed_body"),
        (b'{"id": "a"}', "application/json", 400, "malformed_body"),
        (b'[{"id": "a"}, ', "application/json", 400, "malformed_body"),
        (b"id,type\n", "text/csv", 415, "unsupported_media_type"),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_whole(
    world: World, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = post(world, body, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert stats(world)["received"] == 0


def test_broken_gzip_and_unknown_encodings_are_refused(world: World) -> None:
    garbage = world.client.post(
        "/api/v1/ingest/events",
        data=b"\x1f\x8bnot gzip",
        content_type="application/x-ndjson",
        headers={**world.headers("alice"), "Content-Encoding": "gzip"},
    )
    assert garbage.status_code == 400
    brotli = post(world, ndjson(event("b")), headers={"Content-Encoding": "br"})
    assert brotli.status_code == 415
    assert stats(world)["received"] == 0


def test_bodies_and_batches_past_the_limits_are_413_and_write_nothing(
    make_app: Callable[..., Flask], world: World
) -> None:
    app = make_app(SUMMIT_INGEST_MAX_BODY_BYTES=4096, SUMMIT_INGEST_MAX_BATCH=5)
    client = app.test_client()
    big = ndjson(*(event(f"b{i}", payload={"pad": "x" * 100}) for i in range(40)))
    assert len(big) > 4096
    assert post(world, big, client=client).status_code == 413
    bomb = post(world, b"\n" * 100_000, compress=True, client=client)  # 100 kB inflated
    assert bomb.status_code == 413
    assert bomb.get_json()["error"]["code"] == "payload_too_large"
    many = post(world, ndjson(*(event(f"m{i}") for i in range(6))), client=client)
    assert many.status_code == 413
    assert many.get_json()["error"]["code"] == "batch_too_large"
    assert stats(world)["received"] == 0


def test_an_event_larger_than_the_event_limit_goes_to_the_dlq(
    make_app: Callable[..., Flask], world: World
) -> None:
    client = make_app(SUMMIT_INGEST_MAX_EVENT_BYTES=512).test_client()
    body = post(world, ndjson(event("huge", payload={"pad": "x" * 600}), event("s")), client=client)
    assert body.get_json()["errors"][0]["reason"] == "event_too_large"
    assert body.get_json()["accepted"] == 1


def test_the_dlq_is_paged_and_filtered(world: World) -> None:
    lines = [orjson.dumps(event(f"d{i}", type=i)) for i in range(5)]
    post(world, ndjson(*lines, b"{nope"))
    url, headers = "/api/v1/ingest/dlq", world.headers("alice")
    first = world.client.get(f"{url}?limit=2&reason=invalid_field", headers=headers).get_json()
    assert len(first["items"]) == 2
    second = world.client.get(
        f"{url}?limit=5&reason=invalid_field&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert len(second["items"]) == 3
    assert second["next_cursor"] is None
    assert world.client.get(f"{url}?reason=nonsense", headers=headers).status_code == 400
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        assert session.scalar(select(func.count()).select_from(DlqItem)) == 6
