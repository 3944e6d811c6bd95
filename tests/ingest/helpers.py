"""Events and requests the ingest tests share."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.world import World

TS = "2026-11-26T10:00:00Z"


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": event_id,
        "type": "login",
        "ts": TS,
        "source": "crm",
        "payload": {"n": 1},
    }
    return base | fields


def ndjson(*events: dict[str, Any] | bytes) -> bytes:
    return b"\n".join(e if isinstance(e, bytes) else orjson.dumps(e) for e in events) + b"\n"


def post(
    world: World,
    body: bytes,
    *,
    user: str = "alice",
    content_type: str = "application/x-ndjson",
    compress: bool = False,
    headers: dict[str, str] | None = None,
    query: str = "",
    client: FlaskClient | None = None,
) -> TestResponse:
    extra = dict(headers or {})
    if compress:
        body = gzip.compress(body)
        extra["Content-Encoding"] = "gzip"
    return (client or world.client).post(
        f"/api/v1/ingest/events{query}",
        data=body,
        content_type=content_type,
        headers={**world.headers(user), **extra},
    )


def stats(world: World, user: str = "alice", **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = world.client.get(f"/api/v1/ingest/stats?{query}", headers=world.headers(user))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body
