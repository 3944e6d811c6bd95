"""A local stand-in for Grafana's HTTP API that checks every request against
Grafana's documented contract and answers as Grafana does.

The contract, from Grafana's HTTP API reference (Dashboard API, Folder API):
``POST /api/dashboards/db`` takes ``{dashboard, folderId?, folderUid?,
message?, overwrite?}`` and answers ``{id, uid, url, status: "success",
version, slug}``, or 412 ``{message, status: version-mismatch|name-exists}``;
``GET /api/dashboards/uid/:uid`` answers ``{dashboard, meta}`` or 404;
``GET /api/folders/:uid`` a folder or 404; ``POST /api/folders`` takes
``{uid?, title, parentUid?}`` (409 when the uid exists). Every call sends
``Authorization: Bearer <token>`` (401 otherwise) and ``Accept:
application/json``; bodies are JSON. The pushed dashboard must validate
against Grafana's own dashboard schema (vendored in dashboards/grafana_schema).

A request that breaks the contract gets a 400 and is recorded in
``violations``, so a test sees both what Grafana would answer and why.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dashboards.schema import validator

DASHBOARD_BODY = {"dashboard", "folderId", "folderUid", "message", "overwrite"}
FOLDER_BODY = {"uid", "title", "parentUid", "description"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GrafanaContract:
    """The server's state: folders, dashboards (with versions), requests, violations."""

    token: str
    url: str = ""
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail_next_save: tuple[int, dict[str, Any]] | None = None
    hide_folders_once: bool = False  # a folder created between our GET and our POST
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    # -- handlers: each returns (status, body) --------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        with self.lock:
            body = json.loads(raw) if raw else None
            self.requests.append(Recorded(method, path, headers, body))
            problem = self._envelope(method, headers)
            if problem:
                return problem
            return self._route(method, path, body)

    def _envelope(self, method: str, headers: dict[str, str]) -> tuple[int, Any] | None:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Unauthorized"}
        if "application/json" not in headers.get("accept", ""):
            return self._violation("Accept: application/json missing")
        if method == "POST" and not headers.get("content-type", "").startswith("application/json"):
            return self._violation("POST body is not Content-Type: application/json")
        return None

    def _violation(self, text: str) -> tuple[int, Any]:
        self.violations.append(text)
        return 400, {"message": text}

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/api/dashboards/db":
            return self._save(body)
        if method == "POST" and path == "/api/folders":
            return self._create_folder(body)
        if method == "GET" and (found := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)):
            return self._get(found.group(1))
        if method == "GET" and (found := re.fullmatch(r"/api/folders/([^/]+)", path)):
            folder, self.hide_folders_once = (
                None if self.hide_folders_once else self.folders.get(found.group(1)),
                False,
            )
            return (200, folder) if folder else (404, {"message": "folder not found"})
        return self._violation(f"{method} {path} is not an endpoint Summit should call")

    def _get(self, uid: str) -> tuple[int, Any]:
        stored = self.dashboards.get(uid)
        if stored is None:
            return 404, {"message": "Dashboard not found"}
        meta = {
            "folderUid": stored["folderUid"],
            "url": f"/d/{uid}/{_slug(stored)}",
            "slug": _slug(stored),
            "version": stored["dashboard"]["version"],
        }
        return 200, {"dashboard": stored["dashboard"], "meta": meta}

    def _save(self, body: Any) -> tuple[int, Any]:
        problem = self._save_problem(body)
        if problem:
            return self._violation(problem)
        if self.fail_next_save:
            failure, self.fail_next_save = self.fail_next_save, None
            return failure
        if body.get("folderUid") and body["folderUid"] not in self.folders:
            return 400, {"message": "folder not found"}
        dashboard = body["dashboard"]
        existing = self.dashboards.get(dashboard["uid"])
        if existing and not body.get("overwrite"):
            return 412, {
                "message": "A dashboard with the same uid already exists",
                "status": "name-exists",
            }
        version = existing["dashboard"]["version"] + 1 if existing else 1
        number = existing["dashboard"]["id"] if existing else len(self.dashboards) + 1
        stored = {**dashboard, "id": number, "version": version}
        self.dashboards[dashboard["uid"]] = {
            "dashboard": stored,
            "folderUid": body.get("folderUid"),
        }
        return 200, {
            "id": number,
            "uid": dashboard["uid"],
            "status": "success",
            "version": version,
            "url": f"/d/{dashboard['uid']}/{_slug(stored)}",
            "slug": _slug(stored),
        }

    def _save_problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            return "body must be a JSON object with a dashboard object"
        if unknown := set(body) - DASHBOARD_BODY:
            return f"unknown body fields {sorted(unknown)}"
        types = {"folderUid": str, "message": str, "overwrite": bool, "folderId": int}
        for key, kind in types.items():
            if key in body and not isinstance(body[key], kind):
                return f"{key} must be a {kind.__name__}"
        uid = body["dashboard"].get("uid")
        if not isinstance(uid, str) or not 1 <= len(uid) <= 40:
            return "dashboard.uid must be a string of 1-40 characters"
        errors = list(validator("dashboard").iter_errors(body["dashboard"]))
        return f"dashboard fails Grafana's schema: {errors[0].message}" if errors else None

    def _create_folder(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("title"), str):
            return self._violation("folder body needs a title")
        if unknown := set(body) - FOLDER_BODY:
            return self._violation(f"unknown folder fields {sorted(unknown)}")
        uid = body.get("uid") or f"f{len(self.folders) + 1}"
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {
            "id": len(self.folders) + 1,
            "uid": uid,
            "title": body["title"],
            "url": f"/dashboards/f/{uid}/",
            "version": 1,
        }
        self.folders[uid] = folder
        return 200, folder


def _slug(dashboard: dict[str, Any]) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(dashboard.get("title", "")).lower()).strip("-")


def _handler(contract: GrafanaContract) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                status, body = contract.handle(
                    self.command, self.path, headers, self.rfile.read(length)
                )
            except json.JSONDecodeError:
                status, body = contract._violation("body is not JSON")
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def running_grafana(token: str) -> Iterator[GrafanaContract]:
    """The contract server on a free loopback port, stopped when done."""
    contract = GrafanaContract(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(contract))
    contract.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield contract
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
