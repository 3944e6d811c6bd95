"""Traffic for the live dashboards check beyond reads and 429s: ingest through a
connector (an invalid event left in the DLQ, one replayed, a throttled batch), an
incident paged, acknowledged and resolved through Alertmanager's webhook (no
routing key, so the outbox keeps its events), and governance (a hold, a purge,
a refused purge, an export downloaded, audit verifications, one of them of a
chain broken behind the application's back)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import requests

from app.core import metrics

WEBHOOK_TOKEN = "dashboards-live-webhook-token"
TS = "2026-11-26T10:00:00Z"
SUBJECT = "live.subject@example.org"
CONNECTOR = "crm"


def call(method: str, url: str, headers: dict[str, str], want: int, **kwargs: Any) -> Any:
    response = requests.request(method, url, headers=headers, timeout=10, **kwargs)
    assert response.status_code == want, f"{method} {url}: {response.status_code} {response.text}"
    if not response.content or "json" not in response.headers.get("Content-Type", ""):
        return None  # 204, a zip
    return response.json()


# -- ingest -------------------------------------------------------------------------


def events(*lines: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def event(source: str = CONNECTOR, **fields: Any) -> dict[str, Any]:
    base = {"id": uuid.uuid4().hex, "type": "login", "ts": TS, "source": source, "payload": {}}
    return base | fields


def post_events(url: str, alice: dict[str, str], body: bytes, want: int = 202) -> Any:
    headers = {**alice, "Content-Type": "application/x-ndjson"}
    return call("POST", f"{url}/api/v1/ingest/events", headers, want, data=body)


def drive_ingest(url: str, alice: dict[str, str]) -> None:
    """A connector's batch with two invalid events (one corrected and replayed, one
    left in the DLQ), and a batch refused by a connector whose bucket is spent."""
    connectors = f"{url}/api/v1/ingest/connectors"
    call("PUT", f"{connectors}/{CONNECTOR}", alice, 200,
         json={"rate": 1000.0, "burst": 5000, "batch_size": 1000})  # fmt: skip
    call("PUT", f"{connectors}/tiny", alice, 200,
         json={"rate": 0.001, "burst": 3, "batch_size": 3})  # fmt: skip
    untyped = [{k: v for k, v in event().items() if k != "type"} for _ in range(2)]
    answer = post_events(url, alice, events(*[event() for _ in range(5)], *untyped))
    assert (answer["accepted"], answer["rejected"]) == (5, 2), answer
    post_events(url, alice, events(*[event("tiny") for _ in range(3)]))  # the bucket's all
    post_events(url, alice, events(*[event("tiny") for _ in range(3)]), want=429)
    dlq = call("GET", f"{url}/api/v1/ingest/dlq?source={CONNECTOR}", alice, 200)["items"]
    fixed = orjson.loads(dlq[0]["raw"]) | {"type": "fixed"}
    replayed = call("POST", f"{url}/api/v1/ingest/dlq/replay", alice, 200,
                    json={"corrections": {dlq[0]["id"]: fixed}})  # fmt: skip
    assert replayed["stored"] == 1, replayed


def ingest_a_little(url: str, alice: dict[str, str]) -> None:
    """One small batch: the steady traffic that keeps rates and the SLO's windows fed."""
    post_events(url, alice, events(event(), event()))


# -- paging -------------------------------------------------------------------------


def alert_group(status: str) -> dict[str, Any]:
    """Alertmanager's webhook message (version 4) for the ingest SLO's page."""
    labels = {
        "alertname": "SummitIngestWriteLatencyBudgetBurn",
        "sloth_id": metrics.INGEST_SLO_ID,
        "sloth_service": "summit",
        "severity": "page",
    }
    alert = {"status": status, "labels": labels, "annotations": {}, "fingerprint": "live"}
    return {
        "version": "4", "groupKey": "{}:{alertname=\"SummitIngestWriteLatencyBudgetBurn\"}",
        "status": status, "receiver": "oncall-page", "groupLabels": labels,
        "commonLabels": labels, "commonAnnotations": {"summary": "dashboards live test"},
        "alerts": [alert],
    }  # fmt: skip


def drive_paging(url: str, ops: dict[str, str]) -> None:
    """An SLO page opened by the webhook, acknowledged on /ops, resolved by the webhook."""
    webhook = f"{url}/api/v1/alerts/webhook"
    token = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    key = call("POST", webhook, token, 200, json=alert_group("firing"))["incident_key"]
    found = call("GET", f"{url}/api/v1/incidents?state=triggered", ops, 200)["incidents"]
    [incident] = [i for i in found if i["key"] == key]
    time.sleep(0.2)  # a page takes a moment to acknowledge: MTTA above zero
    call("POST", f"{url}/api/v1/incidents/{incident['id']}/acknowledge", ops, 200)
    assert call("POST", webhook, token, 200, json=alert_group("resolved"))["resolved"] == 1


# -- governance ---------------------------------------------------------------------


def entity(url: str, user: dict[str, str], name: str, **fields: Any) -> str:
    body = {"kind": "person", "name": name, "dataset": "live", "attributes": {}, **fields}
    created: str = call("POST", f"{url}/api/v1/entities", user, 201, json=body)["id"]
    return created


def hold(url: str, user: dict[str, str], entity_id: str) -> None:
    body = {"entity_ids": [entity_id], "reason": "dashboards live test", "case_id": "LIVE-1"}
    call("POST", f"{url}/api/v1/governance/holds", user, 201, json=body)


def export(url: str, alice: dict[str, str]) -> None:
    """A subject-access export, waited for and downloaded."""
    started = call(
        "POST", f"{url}/api/v1/governance/exports", alice, 202, json={"subject": SUBJECT}
    )
    deadline, status = time.monotonic() + 60, started
    while status["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        status = call("GET", f"{url}/api/v1/governance/exports/{started['id']}", alice, 200)
    assert status["status"] == "done", status
    call("GET", f"{url}{status['download_url']}", alice, 200)


def drive_governance(url: str, alice: dict[str, str]) -> None:
    """acme: a hold, a purge, a refused purge (the held entity), an export, a verify."""
    held = entity(url, alice, "Live Subject", subject=SUBJECT)
    hold(url, alice, held)
    gone = entity(url, alice, "Live Leaver")
    call("DELETE", f"{url}/api/v1/entities/{gone}", alice, 204)
    assert call("POST", f"{url}/api/v1/governance/purge", alice, 200,
                json={"entity_ids": [gone]})["purged"] == 1  # fmt: skip
    call("POST", f"{url}/api/v1/governance/purge", alice, 409, json={"entity_ids": [held]})
    export(url, alice)
    assert call("GET", f"{url}/api/v1/audit/verify", alice, 200)["ok"] is True


def break_a_chain(url: str, carol: dict[str, str], database: Path) -> None:
    """globex's audit chain changed in the database, as an attacker with its file
    would (the append-only trigger out of the way, then put back); carol's verify
    then fails."""
    hold(url, carol, entity(url, carol, "Globex Subject"))  # globex's chain has entries
    with sqlite3.connect(database, timeout=10) as connection:
        trigger = "audit_entries_no_update"
        (create,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)
        ).fetchone()
        connection.execute(f"DROP TRIGGER {trigger}")
        connection.execute(
            "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1 AND tenant_id = "
            "(SELECT id FROM tenants WHERE slug = 'globex')"
        )
        connection.execute(create)
    connection.close()
    assert call("GET", f"{url}/api/v1/audit/verify", carol, 200)["ok"] is False
