"""Isolation preflight: prove against a running server that no tenant sees another's data.

It reads the server's own route list (``/openapi.json``), creates data as
tenant A, then calls every route — every method, with A's ids wherever a
route takes an id — as tenant B, as a platform operator and anonymously. A
route that takes A's ids must answer 401, 403 or 404 (B may not even learn
that the id exists); any other route must answer without 5xx and without any
trace of A's data. A route added later is swept automatically; one the sweep
cannot exercise must be listed in EXEMPT with its reason, or the sweep fails.

It leaves no residue: tenant A's entities, and anything a persona managed to
create while the sweep called every route, are deleted when it ends (through
the API's own DELETE routes, then purged where the server offers a purge
route); what could not be removed is reported. Run it against a staging or
demo deployment all the same: for a moment its entities exist.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

# Routes the sweep does not call, and why. Keep reasons true.
EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/logout"): "revokes the caller's own token; reads no stored data",
    ("POST", "/logout"): "ends the caller's own web session; reads no stored data",
}
# Routes called with this body instead of one made from the schema, and why.
BODIES: dict[tuple[str, str], tuple[Any, str]] = {
    ("PATCH", "/api/v1/admin/tenants/{tenant}/quotas"): (
        {"reason": "isolation preflight: changes nothing"},
        "a schema-made body would set tenant A's limits to their minimum",
    ),
    ("PUT", "/api/v1/governance/retention"): (
        {"reason": "isolation preflight: changes nothing"},
        "a schema-made body would set tenant B's retention to its minimum (1 day)",
    ),
    ("POST", "/api/v1/ingest/events"): (
        [],
        "an empty batch: the sweep ingests nothing into the callers' tenants",
    ),
}
# Routes whose body is facts to evaluate, not ids to look up: filled with
# neutral values, and still checked for any trace of A's data.
FACTS_NOT_LOOKUPS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/policy/decide"): "evaluates the principal and resource it is given",
}
HIDDEN = frozenset({401, 403, 404})
# Records the API offers no DELETE for because they end on their own.
EXPIRING = ("/governance/exports",)
PERSONAS = ("tenant-b", "operator", "anonymous")


@dataclass
class Finding:
    method: str
    path: str
    persona: str
    status: int
    problem: str


@dataclass
class Context:
    """Tenant A's data: the ids the sweep uses and the markers it looks for."""

    entity_id: str
    other_entity_id: str
    edge_id: str
    search_term: str = ""
    tenant: str = ""
    hold_id: str = ""
    export_id: str = ""
    markers: set[str] = field(default_factory=set)
    # One of A's DLQ items. Not an "A id" below: operators may open any item's
    # metadata (/ops/dlq/{item_id}); what no one else may see is its raw event,
    # which carries A's markers.
    dlq_item_id: str = "00000000-0000-4000-8000-000000000000"


# Path parameter name -> its value for the sweep. Names not here make a route
# "unexercisable": add a filler, or list the route in EXEMPT.
FILLERS: dict[str, Callable[[Context], str]] = {
    "entity_id": lambda ctx: ctx.entity_id,
    "name": lambda ctx: "preflight-no-such-probe",
    "run_id": lambda ctx: "00000000-0000-4000-8000-000000000000",  # probe runs: platform rows
    "incident_id": lambda ctx: "00000000-0000-4000-8000-000000000000",  # platform rows too
    "artifact": lambda ctx: "trace.zip",
    "tenant": lambda ctx: ctx.tenant,  # quotas: operators may, tenant B may not
    "hold_id": lambda ctx: ctx.hold_id,
    "export_id": lambda ctx: ctx.export_id,
    "slug": lambda ctx: "incident-response",  # runbooks: operators only, no tenant data
    "uid": lambda ctx: "summit-probes",  # a dashboard's JSON: operators may, it holds no data
    "item_id": lambda ctx: ctx.dlq_item_id,
    "kind": lambda ctx: "usage",  # a branded report: the caller's own tenant's usage
}
A_ID_PARAMS = frozenset({"entity_id", "hold_id", "export_id"})


@dataclass(frozen=True)
class Created:
    """Something a call made: by whom, at which collection, with which id."""

    persona: str
    collection: str  # the POST's path, e.g. /api/v1/entities
    id: str


@dataclass
class Credentials:
    password: str
    tenant_a: tuple[str, str] = ("acme", "alice")
    tenant_b: tuple[str, str] = ("globex", "carol")
    operator: str = "ops"


class Preflight:
    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        timeout: float = 10,
        on_call: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.on_call = on_call or (lambda _method, _path, _persona: None)
        self.findings: list[Finding] = []
        self.checked = 0
        self.created: list[Created] = []
        self.removed: list[Created] = []
        self.left: list[tuple[Created, str]] = []
        self._api: dict[str, dict[str, str]] = {}

    # --- sessions -------------------------------------------------------------------

    def _token(self, tenant: str | None, username: str) -> str:
        response = requests.post(
            f"{self.url}/api/v1/auth/login",
            json={"tenant": tenant, "username": username, "password": self.credentials.password},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise PreflightError(f"cannot log in as {username}: {response.status_code}")
        return str(response.json()["token"])

    def _web(self, tenant: str, username: str) -> requests.Session:
        web = requests.Session()
        page = web.get(f"{self.url}/login", timeout=self.timeout).text
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if not match:
            raise PreflightError("no CSRF token on /login")
        form = {
            "csrf_token": match.group(1),
            "tenant": tenant,
            "username": username,
            "password": self.credentials.password,
        }
        response = web.post(
            f"{self.url}/login", data=form, allow_redirects=False, timeout=self.timeout
        )
        if response.status_code != 302:
            raise PreflightError(f"cannot log in to the web UI as {username}")
        return web

    # --- tenant A's data ------------------------------------------------------------

    def create_tenant_a_data(self) -> Context:
        headers = {"Authorization": f"Bearer {self._token(*self.credentials.tenant_a)}"}
        self._api["tenant-a"] = headers
        marker = f"preflight-{secrets.token_hex(6)}"

        def entity(suffix: str) -> dict[str, Any]:
            body: dict[str, Any] = {
                "kind": "organization",
                "name": f"{marker} {suffix}",
                "dataset": "preflight",
                "attributes": {"marker": f"{marker}-attribute"},
            }
            response = requests.post(
                f"{self.url}/api/v1/entities", json=body, headers=headers, timeout=self.timeout
            )
            if response.status_code != 201:
                raise PreflightError(f"cannot create tenant A's entity: {response.status_code}")
            created = dict(response.json())
            self.created.append(Created("tenant-a", "/api/v1/entities", str(created["id"])))
            return created

        first, second = entity("one"), entity("two")
        edge = requests.post(
            f"{self.url}/api/v1/edges",
            json={"source_id": first["id"], "target_id": second["id"], "kind": "owns"},
            headers=headers,
            timeout=self.timeout,
        ).json()
        ctx = Context(
            first["id"],
            second["id"],
            edge["id"],
            search_term=marker.split("-")[1],
            tenant=self.credentials.tenant_a[0],
        )
        ctx.hold_id, ctx.export_id = self._governance_data(headers, first["id"], marker)
        ctx.markers = {first["id"], second["id"], edge["id"], marker, ctx.hold_id, ctx.export_id}
        self._dead_letter(ctx, headers, marker)
        return ctx

    def _governance_data(
        self, headers: dict[str, str], entity_id: str, marker: str
    ) -> tuple[str, str]:
        """A (released) legal hold and a subject export of tenant A's, for the
        routes that take their ids."""
        base = f"{self.url}/api/v1/governance"
        hold = requests.post(
            f"{base}/holds",
            json={"entity_ids": [entity_id], "reason": f"{marker} preflight"},
            headers=headers,
            timeout=self.timeout,
        )
        if hold.status_code != 201:
            raise PreflightError(f"cannot place tenant A's hold: {hold.status_code}")
        hold_id = str(hold.json()["id"])
        requests.post(
            f"{base}/holds/{hold_id}/release",
            json={"reason": "preflight"},
            headers=headers,
            timeout=self.timeout,
        )
        export = requests.post(
            f"{base}/exports", json={"subject": marker}, headers=headers, timeout=self.timeout
        )
        if export.status_code != 202:
            raise PreflightError(f"cannot request tenant A's export: {export.status_code}")
        return hold_id, str(export.json()["id"])

    def _dead_letter(self, ctx: Context, headers: dict[str, str], marker: str) -> None:
        """An invalid event of A's (no type, no time) lands in A's DLQ with A's markers."""
        event_id = f"{marker}-event"
        line = json.dumps({"id": event_id, "source": "preflight", "payload": {"m": marker}})
        sent = requests.post(
            f"{self.url}/api/v1/ingest/events",
            data=line.encode(),
            headers={**headers, "Content-Type": "application/x-ndjson"},
            timeout=self.timeout,
        )
        if sent.status_code != 202:
            raise PreflightError(f"cannot dead-letter tenant A's event: {sent.status_code}")
        ctx.markers.add(event_id)
        params: dict[str, str] = {"source": "preflight", "limit": "500"}
        for _page in range(100):  # bounded: earlier runs' items come first
            page = requests.get(
                f"{self.url}/api/v1/ingest/dlq",
                params=params,
                headers=headers,
                timeout=self.timeout,
            ).json()
            for item in page["items"]:
                if item["event_id"] == event_id:
                    ctx.dlq_item_id = item["id"]
                    return
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        raise PreflightError("tenant A's dead-lettered event is not in its DLQ")

    # --- the sweep ------------------------------------------------------------------

    def run(self) -> list[Finding]:
        spec = self.summit_spec()
        try:
            ctx = self.create_tenant_a_data()
            b_tenant, b_user = self.credentials.tenant_b
            operator = self.credentials.operator
            self._api.update({
                "tenant-b": {"Authorization": f"Bearer {self._token(b_tenant, b_user)}"},
                "operator": {"Authorization": f"Bearer {self._token(None, operator)}"},
                "anonymous": {},
            })  # fmt: skip
            web = {
                "tenant-b": self._web(b_tenant, b_user),
                "operator": self._web("", operator),
                "anonymous": requests.Session(),
            }
            for path, operations in sorted(spec["paths"].items()):
                for method, operation in sorted(operations.items()):
                    self._sweep(spec, path, method.upper(), operation, ctx, self._api, web)
        finally:
            self.clean_up(spec)
        return self.findings

    def summit_spec(self) -> dict[str, Any]:
        """The server's OpenAPI document; NotSummit when the URL is something else."""
        response = requests.get(f"{self.url}/openapi.json", timeout=self.timeout)
        if response.status_code != 200:
            raise NotSummit(f"{self.url} is not a Summit server: GET /openapi.json answered "
                            f"{response.status_code} (check the URL)")  # fmt: skip
        try:
            spec: dict[str, Any] = response.json()
        except ValueError:
            raise NotSummit(
                f"{self.url} is not a Summit server: /openapi.json is not JSON (check the URL)"
            ) from None
        title = spec.get("info", {}).get("title") if isinstance(spec, dict) else None
        if title != "Summit" or "paths" not in spec:
            raise NotSummit(f"{self.url} is not a Summit server: its API is {title!r}")
        return spec

    # --- leaving no residue ------------------------------------------------------------

    def clean_up(self, spec: dict[str, Any]) -> None:
        """Delete what the preflight and the sweep created, newest first, as whoever
        created it; then purge those entities where the server has a purge route."""
        deletes = {p.rsplit("/{", 1)[0]: p for p, ops in spec.get("paths", {}).items()
                   if "delete" in ops and p.endswith("}")}  # fmt: skip
        for item in reversed(self.created):
            route = deletes.get(item.collection)
            headers = self._api.get(item.persona)
            if item.collection.endswith(EXPIRING):
                self.left.append((item, "a subject export: its link expires, retention removes it"))
                continue
            if route is None or headers is None:
                self.left.append((item, "no DELETE route for it"))
                continue
            target = route.rsplit("/{", 1)[0] + "/" + item.id
            response = requests.delete(f"{self.url}{target}", headers=headers, timeout=self.timeout)
            if response.status_code in (200, 204, 404):
                self.removed.append(item)
            else:
                self.left.append((item, f"DELETE answered {response.status_code}"))
        self._purge(spec)

    def _purge(self, spec: dict[str, Any]) -> None:
        """Soft-deleted entities go at once where the server offers the purge route."""
        if "post" not in spec.get("paths", {}).get(PURGE, {}):
            return
        for persona in sorted({item.persona for item in self.removed}):
            ids = [
                i.id for i in self.removed if i.persona == persona and "entities" in i.collection
            ]
            if ids and persona in self._api:
                requests.post(f"{self.url}{PURGE}", json={"entity_ids": ids},
                              headers=self._api[persona], timeout=self.timeout)  # fmt: skip

    def cleanup_report(self) -> str:
        report = f"{len(self.removed)} of {len(self.created)} records the preflight made removed"
        for item, why in self.left:
            report += f"; left {item.collection}/{item.id} of {item.persona}: {why}"
        return report

    def _sweep(
        self,
        spec: dict[str, Any],
        path: str,
        method: str,
        operation: dict[str, Any],
        ctx: Context,
        api: dict[str, dict[str, str]],
        web: dict[str, requests.Session],
    ) -> None:
        if (method, path) in EXEMPT:
            return
        names = re.findall(r"{([^}]+)}", path)
        missing = [name for name in names if name not in FILLERS]
        if missing:
            why = f"cannot be exercised (no filler for {missing}): add one, or list in EXEMPT"
            self.findings.append(Finding(method, path, "-", 0, why))
            return
        target = path
        for name in names:
            target = target.replace("{" + name + "}", FILLERS[name](ctx))
        neutral = (method, path) in FACTS_NOT_LOOKUPS
        body = (
            BODIES[(method, path)][0]
            if (method, path) in BODIES
            else _body(spec, operation, ctx, neutral=neutral)
        )
        query = _query(operation, ctx)
        uses_a_ids = any(name in A_ID_PARAMS for name in names) or (
            not neutral and ctx.entity_id in repr(body)
        )
        is_page = not path.startswith("/api/") and "Web UI" in operation.get("tags", [])
        for persona in PERSONAS:
            self.checked += 1
            self.on_call(method, path, persona)
            response = self._call(
                method,
                target,
                query,
                body,
                api[persona] if not is_page else {},
                web[persona] if is_page else None,
            )
            self._remember(persona, method, target, response)
            sent = f"{target} {query} {body}"
            problem = _verdict(
                response, ctx, sent=sent, uses_a_ids=uses_a_ids, is_page=is_page, method=method
            )
            if problem:
                self.findings.append(Finding(method, path, persona, response.status_code, problem))

    def _call(
        self,
        method: str,
        target: str,
        query: dict[str, str],
        body: Any,
        headers: dict[str, str],
        web: requests.Session | None,
    ) -> requests.Response:
        client: Any = web or requests
        kwargs: dict[str, Any] = {
            "params": query,
            "headers": headers,
            "timeout": self.timeout,
            "allow_redirects": False,
        }
        if method not in ("GET", "HEAD", "DELETE") and body is not None:
            kwargs["json"] = body
        response: requests.Response = client.request(method, f"{self.url}{target}", **kwargs)
        return response

    def _remember(
        self, persona: str, method: str, target: str, response: requests.Response
    ) -> None:
        """A call that made something (a 2xx POST answering with an id) is undone later."""
        if method != "POST" or not 200 <= response.status_code < 300:
            return
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            self.created.append(Created(persona, target, body["id"]))


class PreflightError(RuntimeError):
    """The preflight could not set itself up (login, creating tenant A's data)."""


class NotSummit(PreflightError):
    """The URL answers, but not as a Summit server."""


PURGE = "/api/v1/governance/purge"  # purges soft-deleted entities, where governance is on


def _verdict(
    response: requests.Response,
    ctx: Context,
    *,
    sent: str,
    uses_a_ids: bool,
    is_page: bool,
    method: str = "GET",
) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    # An id echoed back (in an error, or a redirect to /login?next=...) is the
    # caller's own input, not a leak; anything else of A's is.
    leaked = sorted(m for m in ctx.markers if m in response.text and m not in sent)
    if leaked:
        return f"response contains tenant A's data: {leaked[0][:40]}"
    location = response.headers.get("Location", "")
    login_redirect = is_page and status in (302, 303) and "/login" in location
    # The sweep sends page forms without a CSRF token: they are refused (400)
    # before the route runs, whatever the id, which tells nothing about it.
    csrf_refused = is_page and status == 400 and method not in ("GET", "HEAD")
    if uses_a_ids and status not in HIDDEN and not (login_redirect or csrf_refused):
        return f"answered {status} for tenant A's id (only 401/403/404 hide its existence)"
    return None


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _value(
    spec: dict[str, Any], name: str, schema: dict[str, Any], ctx: Context, neutral: bool
) -> Any:
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        required = schema.get("required", list(schema.get("properties", {})))
        return {
            key: _value(spec, key, schema["properties"][key], ctx, neutral)
            for key in required
            if key in schema.get("properties", {})
        }
    if kind == "array":
        item = _value(spec, name.removesuffix("s"), schema.get("items", {}), ctx, neutral)
        return [item]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if name.endswith(("_id", "_ids")) or name == "id":
        return "preflight" if neutral else ctx.entity_id
    return "preflight"


def _body(spec: dict[str, Any], operation: dict[str, Any], ctx: Context, *, neutral: bool) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _value(spec, "body", content["application/json"].get("schema", {}), ctx, neutral)


def _query(operation: dict[str, Any], ctx: Context) -> dict[str, str]:
    query = {}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("required"):
            name = parameter["name"]
            if name == "q":
                query[name] = ctx.search_term  # actively look for A's data
            else:
                query[name] = ctx.entity_id if name.endswith("_id") else "preflight"
    return query
