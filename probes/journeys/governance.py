"""The governance probe: as each tenant's synthetic user, on the probe's own
synthetic record only (dataset "synthetic", subject "synthetic-probe", seeded
by the demo): place a legal hold, prove a purge of the held record is refused
with 409 ``legal_hold``, release the hold, export the subject and check every
digest in the manifest, and verify the tenant's audit chain.

Fails closed like the golden path. The record is never deleted, so even a
broken hold check cannot purge it (the purge would answer ``not_deleted``,
which fails the run). What a run leaves is bounded: its holds are released
(and forgotten after retention), its exports expire.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import zipfile
from typing import Any

import requests

from app.core.tenancy import SYNTHETIC_DATASET
from probes.journey import Journey, ProbeConfig, ProbeFailure, Steps

DATASET = SYNTHETIC_DATASET
SUBJECT = "synthetic-probe"
log = logging.getLogger("summit.probes")
STEPS = (
    "login",
    "find-record",
    "place-hold",
    "purge-held-refused",
    "release-hold",
    "export",
    "check-manifest",
    "verify-audit",
)


class Tenant:
    """One tenant's leg of the run: its token and what the steps found."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.headers: dict[str, str] = {}
        self.record_id = ""
        self.hold_id = ""
        self.export: dict[str, Any] = {}


def _body(response: requests.Response, what: str, status: int = 200) -> dict[str, Any]:
    if response.status_code != status:
        raise ProbeFailure(f"{what} answered {response.status_code}: {response.text[:200]}")
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise ProbeFailure(f"{what} answered with a body that is not JSON") from None
    return body


class Leg:
    def __init__(self, http: requests.Session, config: ProbeConfig, tenant: Tenant) -> None:
        self.http, self.config, self.t = http, config, tenant
        self.url = config.target.base_url

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.config.timeout_seconds)
        return self.http.request(method, f"{self.url}{path}", headers=self.t.headers, **kwargs)

    def login(self) -> None:
        target = self.config.target
        body = {"tenant": self.t.name, "username": target.username, "password": target.password}
        answer = _body(self.call("POST", "/api/v1/auth/login", json=body), f"{self.t.name} login")
        self.t.headers = {"Authorization": f"Bearer {answer['token']}"}

    def find_record(self) -> None:
        page = _body(self.call("GET", "/api/v1/entities", params={"dataset": DATASET}), "list")
        mine = [e for e in page["entities"] if e.get("subject") == SUBJECT]
        if not mine:
            raise ProbeFailure(f"{self.t.name}: no synthetic record (run `summit demo` to seed)")
        self.t.record_id = mine[0]["id"]

    def place_hold(self) -> None:
        body = {"entity_ids": [self.t.record_id], "reason": "governance probe", "case_id": "probe"}
        hold = _body(self.call("POST", "/api/v1/governance/holds", json=body), "hold", 201)
        self.t.hold_id = hold["id"]

    def purge_is_refused(self) -> None:
        response = self.call(
            "POST", "/api/v1/governance/purge", json={"entity_ids": [self.t.record_id]}
        )
        code = (response.json() if response.status_code < 500 else {}).get("error", {}).get("code")
        if response.status_code != 409 or code != "legal_hold":
            raise ProbeFailure(f"purge of a held record answered {response.status_code} {code}")

    def release(self) -> None:
        path = f"/api/v1/governance/holds/{self.t.hold_id}/release"
        _body(self.call("POST", path, json={"reason": "governance probe done"}), "release")
        self.t.hold_id = ""

    def export(self) -> None:
        started = _body(
            self.call("POST", "/api/v1/governance/exports", json={"subject": SUBJECT}),
            "export",
            202,
        )
        deadline = time.monotonic() + self.config.timeout_seconds
        while started["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise ProbeFailure(f"export still {started['status']} after the timeout")
            time.sleep(0.05)
            started = _body(self.call("GET", f"/api/v1/governance/exports/{started['id']}"), "poll")
        if started["status"] != "done":
            raise ProbeFailure(f"export {started['status']}: {started.get('error')}")
        self.t.export = started

    def check_manifest(self) -> None:
        response = self.call("GET", self.t.export["download_url"])
        if response.status_code != 200:
            raise ProbeFailure(f"download answered {response.status_code}")
        if hashlib.sha256(response.content).hexdigest() != self.t.export["sha256"]:
            raise ProbeFailure("the zip's SHA-256 differs from the export's")
        with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            if (manifest.get("tenant"), manifest.get("subject")) != (self.t.name, SUBJECT):
                raise ProbeFailure("the manifest names another tenant or subject")
            for entry in manifest["files"]:
                if hashlib.sha256(zf.read(entry["name"])).hexdigest() != entry["sha256"]:
                    raise ProbeFailure(f"{entry['name']}: SHA-256 differs from the manifest")
            records = json.loads(zf.read("data.json"))["records"]["entities"]
        if not records or any(r["subject"] != SUBJECT for r in records):
            raise ProbeFailure("the export holds no record, or another subject's")

    def logout(self) -> None:
        """Revoke this leg's token: no run leaves a live token behind it."""
        if self.t.headers:
            self.call("POST", "/api/v1/auth/logout")
            self.t.headers = {}

    def verify_audit(self) -> None:
        result = _body(self.call("GET", "/api/v1/audit/verify"), "verify")
        if result.get("ok") is not True:
            raise ProbeFailure(f"audit chain broken at seq {result.get('first_bad_seq')}")


def run(http: requests.Session, config: ProbeConfig, steps: Steps) -> None:
    if not config.target.password:
        raise ProbeFailure("no password for the synthetic user (set SUMMIT_PROBE_PASSWORD)")
    names = config.governance_tenants or (config.target.tenant or "",)
    legs = [Leg(http, config, Tenant(name)) for name in names]
    try:
        _walk(legs, steps)
    finally:
        for leg in legs:
            try:
                leg.logout()
            except requests.RequestException as exc:  # the run's verdict stands
                log.warning("governance probe could not log out of %s: %s", leg.t.name, exc)


def _walk(legs: list[Leg], steps: Steps) -> None:
    for step, action in zip(STEPS[:3], ("login", "find_record", "place_hold"), strict=True):
        with steps.step(step):
            for leg in legs:
                getattr(leg, action)()
    try:
        with steps.step("purge-held-refused"):
            for leg in legs:
                leg.purge_is_refused()
    finally:
        with steps.step("release-hold"):  # also after a failure: leave no active hold
            for leg in legs:
                leg.release()
    for step, action in zip(STEPS[5:], ("export", "check_manifest", "verify_audit"), strict=True):
        with steps.step(step):
            for leg in legs:
                getattr(leg, action)()


JOURNEY = Journey(name="governance", kind="http", steps=STEPS, run=run)
