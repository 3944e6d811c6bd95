"""Isolation preflight: prove against a running server that no tenant sees another's data.

It reads the server's own route list (``/openapi.json``), creates data as
tenant A, then calls every route — every method, with A's ids wherever a
route takes an id — as tenant B, as a platform operator and anonymously. A
route that takes A's ids must answer 401, 403 or 404 (B may not even learn
that the id exists); any other route must answer without 5xx and without any
trace of A's data. A route added later is swept automatically; one the sweep
cannot exercise must be listed in EXEMPT with its reason, or the sweep fails.

Run it against a staging or demo deployment: it creates entities named
``preflight-…`` in both tenants.
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
    "artifact": lambda ctx: "trace.zip",
    "tenant": lambda ctx: ctx.tenant,  # quotas: operators may, tenant B may not
    "item_id": lambda ctx: ctx.dlq_item_id,
}
A_ID_PARAMS = frozenset({"entity_id"})


@dataclass
class Credentials:
    password: str
    tenant_a: tuple[str, str] = ("acme", "alice")
    tenant_b: tuple[str, str] = ("globex", "carol")
    operator: str = "ops"


class Preflight:
    def __init__(self, url: str, credentials: Credentials, *, timeout: float = 10) -> None:
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.findings: list[Finding] = []
        self.checked = 0

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
            return dict(response.json())

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
        ctx.markers = {first["id"], second["id"], edge["id"], marker}
        self._dead_letter(ctx, headers, marker)
        return ctx

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
        spec = requests.get(f"{self.url}/openapi.json", timeout=self.timeout).json()
        ctx = self.create_tenant_a_data()
        b_tenant, b_user = self.credentials.tenant_b
        api = {
            "tenant-b": {"Authorization": f"Bearer {self._token(b_tenant, b_user)}"},
            "operator": {"Authorization": f"Bearer {self._token(None, self.credentials.operator)}"},
            "anonymous": {},
        }
        web = {
            "tenant-b": self._web(b_tenant, b_user),
            "operator": self._web("", self.credentials.operator),
            "anonymous": requests.Session(),
        }
        for path, operations in sorted(spec["paths"].items()):
            for method, operation in sorted(operations.items()):
                self._sweep(spec, path, method.upper(), operation, ctx, api, web)
        return self.findings

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
            response = self._call(
                method,
                target,
                query,
                body,
                api[persona] if not is_page else {},
                web[persona] if is_page else None,
            )
            sent = f"{target} {query} {body}"
            problem = _verdict(response, ctx, sent=sent, uses_a_ids=uses_a_ids, is_page=is_page)
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


class PreflightError(RuntimeError):
    """The preflight could not set itself up (login, creating tenant A's data)."""


def _verdict(
    response: requests.Response, ctx: Context, *, sent: str, uses_a_ids: bool, is_page: bool
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
    if uses_a_ids and status not in HIDDEN and not login_redirect:
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
