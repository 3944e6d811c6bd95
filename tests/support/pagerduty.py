"""A local PagerDuty for tests: HTTPS on 127.0.0.1 with a certificate from a CA
made at test time (trustme), which only the tests' clients trust.

Every request is checked against PagerDuty's published OpenAPI documents
(../shared/vendor/pagerduty/, copied to tests/support/pagerduty_schema/): the
path and method exist; query and header parameters and the JSON body match
the operation's schemas; and against the limits PagerDuty documents beyond them
(summary <= 1024, dedup_key <= 255, a
dedup key on acknowledge and resolve). A request that fails is answered as
PagerDuty does (400 with its error body) and kept in ``rejected``, which a
test asserts empty. Events are deduplicated as PagerDuty does: a trigger for
a dedup key whose alert is open adds to it; ``alerts_created`` counts new ones.

Faults on demand: ``limit(n)`` answers the next n requests 429 with
``Retry-After`` and rate-limit headers; ``failing(n)`` answers 500; ``down()``
closes the port (refused connections) until ``up()``; ``hold()`` keeps the
next event's answer back until ``release()`` (a sender killed meanwhile never
hears the 202).
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from openapi_schema_validator import OAS30Validator

VENDOR = Path(__file__).resolve().parent / "pagerduty_schema"  # copies of shared/vendor's
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vendor" / "pagerduty"
TOKEN = "test-rest-token-0123456789"
ACCEPT = "application/vnd.pagerduty+json;version=2"
RESOURCES = {"users": "user", "schedules": "schedule", "escalation_policies": "escalation_policy",
             "services": "service"}  # fmt: skip


@lru_cache(maxsize=2)
def spec(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VENDOR / name).read_text())
    return loaded


@lru_cache(maxsize=64)
def _validator(name: str, pointer: str) -> OAS30Validator:
    return OAS30Validator({**spec(name), "$ref": pointer})


def problems(name: str, pointer: str, instance: Any) -> list[str]:
    """Schema errors of ``instance`` against the schema at ``pointer`` in spec ``name``."""
    found = _validator(name, pointer).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in found]


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


@dataclass
class Received:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class State:
    events: list[dict[str, Any]] = field(default_factory=list)
    rest_calls: list[Received] = field(default_factory=list)
    rejected: list[tuple[str, list[str]]] = field(default_factory=list)
    alerts: dict[str, str] = field(default_factory=dict)  # dedup key -> open|acked|resolved
    alerts_created: Counter[str] = field(default_factory=Counter)
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in RESOURCES}
    )
    limited: int = 0
    failing: int = 0
    held: threading.Event | None = None
    retry_after: float = 1.0


class PagerDutyServer:
    def __init__(self, ca: trustme.CA, ca_file: Path) -> None:
        self.ca, self.ca_file = ca, ca_file
        self.state = State()
        self.lock = threading.Lock()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # --- lifecycle ------------------------------------------------------------------

    def up(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Close the port: connections are refused until up()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- faults ---------------------------------------------------------------------

    def limit(self, count: int, retry_after: float = 1.0) -> None:
        with self.lock:
            self.state.limited, self.state.retry_after = count, retry_after

    def failing(self, count: int) -> None:
        with self.lock:
            self.state.failing = count

    def hold(self) -> threading.Event:
        """Keep back the answer to the next event (it is recorded) until release()."""
        with self.lock:
            self.state.held = threading.Event()
            return self.state.held

    # --- what arrived ---------------------------------------------------------------

    def events_for(self, dedup_key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.state.events if e.get("dedup_key") == dedup_key]

    def actions(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(e["event_action"], e.get("dedup_key", "")) for e in self.state.events]

    def wait_for(self, check: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if check(self.state):
                    return
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"not within {timeout} s; events: {self.state.events}, "
                                 f"rejected: {self.state.rejected}")  # fmt: skip

    def add(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        """Put an object in place as if made in PagerDuty's web UI (users, say)."""
        with self.lock:
            return self._store(resource, body)

    def _store(
        self, resource: str, body: dict[str, Any], ident: str | None = None
    ) -> dict[str, Any]:
        ident = ident or f"P{next(self._ids):06d}"
        kind = RESOURCES[resource]
        stored = {**body, "id": ident, "type": kind, "summary": body.get("name", ident),
                  "self": f"{self.url}/{resource}/{ident}",
                  "html_url": f"https://summit-test.pagerduty.com/{resource}/{ident}"}  # fmt: skip
        for index, layer in enumerate(stored.get("schedule_layers", [])):
            layer.setdefault("id", f"L{index}{ident}")
        for index, rule in enumerate(stored.get("escalation_rules", [])):
            rule.setdefault("id", f"R{index}{ident}")
        self.state.objects[resource][ident] = stored
        return stored


def _handler(server: PagerDutyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._answer(400, {"status": "invalid event", "message": "not JSON"})
                return
            path = urlsplit(self.path).path
            if path.startswith("/v2/"):
                status, answer, headers = _event(server, method, path, body)
            else:
                status, answer, headers = _rest(server, method, self.path, body,
                                                dict(self.headers.items()))  # fmt: skip
            held = server.state.held
            if held is not None and path == "/v2/enqueue" and status == 202:
                server.state.held = None
                held.wait(30)
            self._answer(status, answer, headers)

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client went away (killed while held)
                pass

    return Handler


def _fault(server: PagerDutyServer) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    state = server.state
    if state.limited > 0:
        state.limited -= 1
        seconds = str(round(state.retry_after, 3))
        return 429, {"status": "throttle event", "message": "Requests for this service are "
                     "arriving too quickly. Please retry later."}, {
            "Retry-After": seconds, "RateLimit-Limit": "120", "RateLimit-Remaining": "0",
            "RateLimit-Reset": seconds}  # fmt: skip
    if state.failing > 0:
        state.failing -= 1
        return 500, {"status": "error", "message": "Internal server error"}, {}
    return None


def _event(
    server: PagerDutyServer, method: str, path: str, body: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    with server.lock:
        fault = _fault(server)
        if fault is not None:
            return fault
        spec_path = path.removeprefix("/v2")
        if method != "POST" or spec_path not in spec("events-v2.openapi.json")["paths"]:
            server.state.rejected.append((f"{method} {path}", ["no such operation"]))
            return 404, {"status": "not found", "message": "no such endpoint"}, {}
        pointer = f"#/paths/{_escape(spec_path)}/post/requestBody/content/application~1json/schema"
        errors = problems("events-v2.openapi.json", pointer, body) + _documented(body)
        if errors:
            server.state.rejected.append((f"{method} {path}", errors))
            return 400, {"status": "invalid event", "message": "Event object is invalid",
                         "errors": errors}, {}  # fmt: skip
        return 202, _apply(server.state, body), {}


def _documented(body: Any) -> list[str]:
    """What PagerDuty documents beyond its schema."""
    if not isinstance(body, dict):
        return []
    out = []
    if body.get("event_action") != "trigger" and not body.get("dedup_key"):
        out.append("dedup_key is required to acknowledge or resolve")
    if body.get("event_action") == "trigger" and "payload" not in body:
        out.append("payload is required to trigger")
    if len(str(body.get("dedup_key", ""))) > 255:
        out.append("dedup_key is longer than 255 characters")
    if len(str((body.get("payload") or {}).get("summary", ""))) > 1024:
        out.append("payload.summary is longer than 1024 characters")
    return out


def _apply(state: State, body: dict[str, Any]) -> dict[str, Any]:
    key = str(body.get("dedup_key") or f"generated-{len(state.events)}")
    body = {**body, "dedup_key": key}
    state.events.append(body)
    action, open_now = body["event_action"], state.alerts.get(key) in ("open", "acked")
    if action == "trigger" and not open_now:
        state.alerts[key] = "open"
        state.alerts_created[key] += 1
    elif action == "acknowledge" and open_now:
        state.alerts[key] = "acked"
    elif action == "resolve" and open_now:
        state.alerts[key] = "resolved"
    return {"status": "success", "message": "Event processed", "dedup_key": key}


# --- REST API v2 ------------------------------------------------------------------------


def _rest(
    server: PagerDutyServer, method: str, target: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    url = urlsplit(target)
    with server.lock:
        server.state.rest_calls.append(Received(method, url.path, body, headers))
        fault = _fault(server)
        if fault is not None:
            return fault
        operation, template, ident = _operation(method, url.path)
        if operation is None:
            server.state.rejected.append((f"{method} {url.path}", ["no such operation"]))
            return 404, {"error": {"message": "Not Found", "code": 2100}}, {}
        errors = _check_request(operation, template, method, parse_qs(url.query), headers, body)
        if headers.get("Authorization") != f"Token token={TOKEN}":
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}, {}
        if errors:
            server.state.rejected.append((f"{method} {url.path}", errors))
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                   "errors": errors}}, {}  # fmt: skip
        return _respond(server, method, template.split("/")[1], ident, parse_qs(url.query), body)


def _operation(method: str, path: str) -> tuple[dict[str, Any] | None, str, str | None]:
    for template, item in spec("rest.openapi.json")["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "$"
        match = re.match(pattern, path)
        if match and method.lower() in item and template.split("/")[1] in RESOURCES:
            ident = match.group(1) if match.groups() else None
            return item[method.lower()], template, ident
    return None, "", None


def _check_request(
    operation: dict[str, Any], template: str, method: str, query: dict[str, list[str]],
    headers: dict[str, str], body: Any,
) -> list[str]:  # fmt: skip
    errors = []
    rest = spec("rest.openapi.json")
    declared = {}
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = rest["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        declared[(param["in"], param["name"].lower())] = param
    for name, values in query.items():
        param = declared.get(("query", name.lower()))
        if param is None:
            errors.append(f"query parameter {name!r} is not in the contract")
            continue
        errors += [f"{name}: {p}" for v in values for p in _param_problems(param, v)]
    for (where, name), param in declared.items():
        if where == "header" and param.get("required") and name not in {k.lower() for k in headers}:
            errors.append(f"header {name} is required")
    if headers.get("Accept") != ACCEPT:
        errors.append(f"Accept must be {ACCEPT}")
    if "requestBody" in operation:
        pointer = (f"#/paths/{_escape(template)}/{method.lower()}/requestBody/content/"
                   "application~1json/schema")  # fmt: skip
        errors += problems("rest.openapi.json", pointer, body)
    return errors


def _param_problems(param: dict[str, Any], value: str) -> list[str]:
    kind = param.get("schema", {}).get("type")
    if kind == "integer" and not value.lstrip("-").isdigit():
        return [f"{value!r} is not an integer"]
    if kind == "boolean" and value not in ("true", "false"):
        return [f"{value!r} is not a boolean"]
    enum = param.get("schema", {}).get("enum")
    return [f"{value!r} is not one of {enum}"] if enum and value not in enum else []


def _respond(
    server: PagerDutyServer, method: str, resource: str, ident: str | None,
    query: dict[str, list[str]], body: Any,
) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
    store = server.state.objects[resource]
    kind = RESOURCES[resource]
    if method == "POST":
        return 201, {kind: server._store(resource, body[kind])}, {}
    if ident is not None:
        if ident not in store:
            return 404, {"error": {"message": "Not Found", "code": 2100}}, {}
        if method == "PUT":
            store[ident] = server._store(resource, {**body[kind]}, ident)
        return 200, {kind: store[ident]}, {}
    wanted = (query.get("query") or [""])[0].lower()
    found = [o for o in store.values() if wanted in str(o.get("name", "")).lower()
             or wanted in str(o.get("email", "")).lower()]  # fmt: skip
    offset, limit = int((query.get("offset") or ["0"])[0]), int((query.get("limit") or ["25"])[0])
    page = found[offset : offset + limit]
    return 200, {resource: page, "limit": limit, "offset": offset,
                 "more": offset + limit < len(found), "total": None}, {}  # fmt: skip


@contextmanager
def pagerduty_server(workdir: Path) -> Iterator[PagerDutyServer]:
    """A contract-checking PagerDuty on a free loopback port; ``ca_file`` is the CA
    its certificate chains to (give it to the client as ``verify=``)."""
    ca = trustme.CA()
    ca_file = workdir / "pagerduty-ca.pem"
    workdir.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_file))
    server = PagerDutyServer(ca, ca_file)
    server.up()
    try:
        yield server
    finally:
        server.down()
