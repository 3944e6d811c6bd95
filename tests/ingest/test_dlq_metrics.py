"""summit_ingest_dlq_items: the DLQ's size per tenant and connector on /metrics, read
from the ingest counters, so it follows replays and counts unconfigured sources
under "other"."""

from __future__ import annotations

import orjson

from app.core import metrics
from tests.ingest.helpers import TS, event, ndjson, post
from tests.support.metrics import labels, samples
from tests.support.world import World

DLQ = str(metrics.INGEST_DLQ_ITEMS)


def untyped(event_id: str, source: str) -> bytes:
    """An event without a type: invalid, so it goes to the DLQ."""
    return orjson.dumps({"id": event_id, "ts": TS, "source": source, "payload": {}})


def sizes(world: World) -> dict[frozenset[tuple[str, str]], float]:
    return {key: value for (name, key), value in samples(world).items() if name == DLQ}


def test_the_dlq_size_per_connector_follows_batches_and_replays(world: World) -> None:
    put = world.client.put(
        "/api/v1/ingest/connectors/crm",
        json={"rate": 1000.0, "burst": 1000, "batch_size": 100},
        headers=world.headers("alice"),
    )
    assert put.status_code == 200, put.get_json()
    body = ndjson(event("ok"), untyped("a", "crm"), untyped("b", "crm"), untyped("c", "web"))
    assert post(world, body).get_json()["rejected"] == 3
    assert post(world, ndjson(untyped("d", "shop")), user="carol").status_code == 202
    assert sizes(world) == {
        labels(tenant="acme", connector="crm"): 2,
        labels(tenant="acme", connector="other"): 1,
        labels(tenant="globex", connector="other"): 1,
    }
    items = world.client.get(
        "/api/v1/ingest/dlq?source=crm", headers=world.headers("alice")
    ).get_json()["items"]
    fixed = orjson.loads(items[0]["raw"]) | {"type": "fixed"}
    replayed = world.client.post(
        "/api/v1/ingest/dlq/replay",
        json={"corrections": {items[0]["id"]: fixed}},
        headers=world.headers("alice"),
    )
    assert replayed.get_json()["stored"] == 1
    assert sizes(world)[labels(tenant="acme", connector="crm")] == 1


def test_no_ingest_yet_exports_the_family_with_no_series(world: World) -> None:
    assert sizes(world) == {}
    text = world.client.get("/metrics").get_data(as_text=True)
    assert f"# TYPE {DLQ} gauge" in text
