"""Subject access export: a job whose zip holds a manifest with each file's row
count and SHA-256, data.json and one CSV per record type, every record with its
provenance; held records are in it, other subjects' and tenants' never are."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.core.tenancy import ALL_TENANTS
from app.quotas.models import Job
from governance import export
from governance.models import Export
from tests.governance.helpers import call, create, delete, hold, link, wait_for_export
from tests.support.world import World, services

SUBJECT = "jane.roe@example.org"


def subject_data(world: World) -> dict[str, Any]:
    """Two records of the subject (one held, one soft-deleted), an edge to someone
    else's record, and look-alikes of another subject and another tenant."""
    mine = create(world, name="Jane Roe", subject=SUBJECT, attributes={"phone": "555-0100"})
    gone = create(world, name="J. Roe (old)", subject=SUBJECT, attributes={"note": "moved"})
    other = create(world, name="Richard Miles", subject="rmiles", attributes={"phone": "555-0199"})
    assert link(world, mine["id"], other["id"]).status_code == 201
    hold(world, [mine["id"]])
    delete(world, gone["id"])
    create(
        world, user="carol", name="Globex Jane", subject=SUBJECT, attributes={"x": "globex-secret"}
    )
    return {"mine": mine, "gone": gone, "other": other}


def export_zip(
    world: World, user: str = "alice", subject: str = SUBJECT
) -> tuple[dict[str, Any], bytes]:
    started = call(world, "POST", "/api/v1/governance/exports", user, json={"subject": subject})
    assert started.status_code == 202, started.get_json()
    assert started.get_json()["status"] in ("queued", "running", "done")
    done = wait_for_export(world, started.get_json()["id"], user)
    assert done["status"] == "done", done
    download = call(world, "GET", done["download_url"], user)
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    return done, download.data


def test_the_export_zip_matches_its_manifest_and_holds_only_the_subject(world: World) -> None:
    data = subject_data(world)
    done, blob = export_zip(world)
    assert hashlib.sha256(blob).hexdigest() == done["sha256"]
    assert done["records"] == 3  # two entities and one edge
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert names == {
            "manifest.json", "data.json", "entities.csv", "edges.csv", "events.csv", "cover.html"
        }  # fmt: skip
        for entry in manifest["files"]:
            content = zf.read(entry["name"])
            assert hashlib.sha256(content).hexdigest() == entry["sha256"], entry["name"]
            assert len(content) == entry["bytes"]
        rows = {entry["name"]: entry["rows"] for entry in manifest["files"]}
        assert rows == {
            "data.json": 3, "entities.csv": 2, "edges.csv": 1, "events.csv": 0, "cover.html": 0
        }  # fmt: skip
        document = json.loads(zf.read("data.json"))
        entities_csv = list(csv.DictReader(io.StringIO(zf.read("entities.csv").decode())))
        everything = b"".join(zf.read(name) for name in names).decode()
    assert (manifest["tenant"], manifest["subject"]) == ("acme", SUBJECT)
    assert manifest["schema_version"] == "1"
    assert datetime.fromisoformat(manifest["generated_at"])
    art15 = manifest["gdpr_art15"]
    assert {"purposes", "categories", "recipients", "retention_period", "source"} <= set(art15)
    assert art15["retention_period"].startswith("365 days")
    entities = {e["id"]: e for e in document["records"]["entities"]}
    assert set(entities) == {data["mine"]["id"], data["gone"]["id"]}
    assert entities[data["mine"]["id"]]["legal_hold"] is True  # held records are included
    assert entities[data["gone"]["id"]]["deleted_at"] is not None
    provenance = entities[data["mine"]["id"]]["provenance"]
    assert (provenance["source"], provenance["created_by"]) == ("api", "alice")
    assert {"ingested_at", "event_id", "updated_by"} <= set(provenance)
    [edge] = document["records"]["edges"]
    assert edge["target_id"] == data["other"]["id"]
    assert {row["provenance.created_by"] for row in entities_csv} == {"alice"}
    for foreign in (
        "Richard Miles",
        "555-0199",
        "rmiles",
        "Globex Jane",
        "globex-secret",
        "globex",
    ):
        assert foreign not in everything, foreign


def test_the_request_and_each_download_are_audited(world: World) -> None:
    subject_data(world)
    done, _ = export_zip(world)
    call(world, "GET", done["download_url"])
    entries = call(world, "GET", "/api/v1/audit", query_string={"target": f"export:{done['id']}"})
    actions = [e["action"] for e in entries.get_json()["entries"]]
    assert actions == ["export.download", "export.download", "export.done", "export.request"]
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_governance_exports_served_total{tenant="acme"} 2.0' in metrics


def test_an_expired_link_is_410_and_another_tenants_export_is_404(world: World) -> None:
    subject_data(world)
    done, _ = export_zip(world)
    for user in ("carol",):
        assert (
            call(world, "GET", f"/api/v1/governance/exports/{done['id']}", user).status_code == 404
        )
        assert call(world, "GET", done["download_url"], user).status_code == 404
    assert call(world, "GET", done["download_url"], "bob").status_code == 403
    assert call(world, "GET", done["download_url"], "ops").status_code == 403
    with services(world.app).db.session(tenant_id=ALL_TENANTS, write=True) as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        session.execute(update(Export).where(Export.id == done["id"]).values(expires_at=past))
        session.commit()
    expired = call(world, "GET", done["download_url"])
    assert expired.status_code == 410
    assert expired.get_json()["error"]["code"] == "export_expired"
    assert call(world, "GET", "/api/v1/governance/exports/no-such").status_code == 404


def test_bad_export_requests_are_400(world: World) -> None:
    for body in (
        {},
        {"subject": ""},
        {"subject": 5},
        {"subject": "x" * 300},
        {"subject": "a", "x": 1},
    ):
        response = call(world, "POST", "/api/v1/governance/exports", json=body)
        assert response.status_code == 400, (body, response.get_json())


def test_exports_take_a_concurrent_job_slot(world: World) -> None:
    call(world, "PATCH", "/api/v1/admin/tenants/acme/quotas", "ops",
         json={"concurrent_jobs": 0, "reason": "test"})  # fmt: skip
    refused = call(world, "POST", "/api/v1/governance/exports", json={"subject": SUBJECT})
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "concurrent_jobs_exceeded"
    call(world, "PATCH", "/api/v1/admin/tenants/acme/quotas", "ops",
         json={"concurrent_jobs": 1, "reason": "test"})  # fmt: skip
    done, _ = export_zip(world)
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        job = session.get(Job, session.get_one(Export, done["id"]).job_id)
    assert job is not None
    assert job.status == "done"  # the slot is free again


def test_the_synthetic_user_exports_only_synthetic_subjects(world: World) -> None:
    subject_data(world)
    world_synthetic = world.login("synthetic", "acme")["token"]
    headers = {"Authorization": f"Bearer {world_synthetic}"}
    refused = world.client.post(
        "/api/v1/governance/exports", json={"subject": SUBJECT}, headers=headers
    )
    assert refused.status_code == 403
    done = world.client.post(
        "/api/v1/governance/exports", json={"subject": "synthetic-probe"}, headers=headers
    )
    assert done.status_code == 202, done.get_json()


def test_ingested_events_about_the_subject_are_exported_with_their_provenance(
    world: World,
) -> None:
    events = [
        {"id": "ev-subject-1", "type": "sighting", "ts": "2026-11-26T10:00:00Z",
         "source": "crm", "payload": {"subject": SUBJECT, "note": "met at the fair"}},
        {"id": "ev-other-1", "type": "sighting", "ts": "2026-11-26T10:00:01Z",
         "source": "crm", "payload": {"subject": "someone-else"}},
    ]  # fmt: skip
    sent = call(world, "POST", "/api/v1/ingest/events", "alice", json=events)
    assert sent.status_code == 202, sent.get_json()
    _done, blob = export_zip(world)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        exported = json.loads(zf.read("data.json"))["records"]["events"]
        listed = list(csv.DictReader(io.StringIO(zf.read("events.csv").decode())))
    assert [event["id"] for event in exported] == ["ev-subject-1"]
    assert [row["id"] for row in listed] == ["ev-subject-1"]
    provenance = exported[0]["provenance"]
    assert (provenance["event_id"], provenance["source"]) == ("ev-subject-1", "crm")
    assert provenance["ingested_at"]
    assert provenance["created_by"] == "alice"


def test_a_subject_with_more_records_than_one_chunk_is_exported_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the export streams in chunks and forgot each chunk with
    expunge_all, which swapped the identity map the stream was loading into: the
    second chunk failed, so any subject with more than 1,000 records had no export."""
    monkeypatch.setattr(export, "CHUNK", 3)
    made = [create(world, name=f"Jane Roe {n}", subject=SUBJECT) for n in range(8)]
    for left, right in itertools.pairwise(made):
        assert link(world, left["id"], right["id"]).status_code == 201
    done, blob = export_zip(world)
    assert done["records"] == 8 + 7
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        document = json.loads(zf.read("data.json"))
    assert {e["id"] for e in document["records"]["entities"]} == {e["id"] for e in made}
    assert len(document["records"]["edges"]) == 7
