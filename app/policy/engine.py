"""The one policy engine: parse once, decide in microseconds, reload on change.

Decisions fail closed: a policy that errors while evaluating (Cedar skips it,
which for a ``forbid`` would mean allowing) turns the decision into a deny.
Reasons are the ``@id`` annotations of the deciding policies, never Cedar's
positional ``policy0`` names.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cedarpy

log = logging.getLogger("summit.policy")

POLICY_DIR = Path(__file__).parent
GROUPS = frozenset({"tenant_data"})  # action groups: named in policies, never requested


class PolicyError(RuntimeError):
    """The policies or their schema do not load or do not validate."""


@dataclass(frozen=True, slots=True)
class Request:
    """Everything a decision depends on, as plain values."""

    principal_id: str
    role: str
    tenant: str | None
    action: str
    resource_type: str  # "Resource" (tenant data) or "Platform"
    resource_id: str
    resource_kind: str = "tenant_data"
    resource_tenant: str = ""
    legal_hold: bool = False
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]
    elapsed_ms: float
    errors: tuple[str, ...] = ()

    @property
    def word(self) -> str:
        return "allow" if self.allowed else "deny"


@dataclass(frozen=True)
class _Loaded:
    policies: cedarpy.PolicySet
    schema: cedarpy.Schema
    actions: frozenset[str]
    stamp: tuple[tuple[str, float], ...]


class PolicyEngine:
    def __init__(
        self,
        directory: Path = POLICY_DIR,
        *,
        reload_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._reload_every = reload_every
        self._clock = clock
        self._checked = clock()
        self._lock = threading.Lock()
        self._loaded = _load(directory)

    @property
    def actions(self) -> frozenset[str]:
        return self._loaded.actions

    @property
    def parsed(self) -> tuple[cedarpy.PolicySet, cedarpy.Schema]:
        """The parsed policies and schema every decision uses (benchmarks compare
        the engine with cedarpy alone on these same handles)."""
        return self._loaded.policies, self._loaded.schema

    def decide(self, request: Request) -> Decision:
        self._maybe_reload()
        loaded = self._loaded
        started = time.perf_counter()
        result = cedarpy.is_authorized(
            {
                "principal": {"type": "User", "id": request.principal_id},
                "action": {"type": "Action", "id": request.action},
                "resource": {"type": request.resource_type, "id": request.resource_id},
                "context": request.context,
            },
            loaded.policies,
            _entities(request, loaded.schema),
            schema=loaded.schema,
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        names = result.diagnostics.id_annotations_by_reason
        reasons = tuple(sorted(names.get(r, r) for r in result.diagnostics.reasons))
        errors = tuple(str(error) for error in result.diagnostics.errors)
        allowed = bool(result.allowed) and not errors
        return Decision(allowed, reasons, round(elapsed_ms, 4), errors)

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked < self._reload_every:
            return
        with self._lock:
            if now - self._checked < self._reload_every:
                return
            self._checked = now
            if _stamp(self._directory) == self._loaded.stamp:
                return
            try:
                self._loaded = _load(self._directory)
                _entities_for.cache_clear()
                log.info("policies reloaded", extra={"files": len(self._loaded.stamp)})
            except PolicyError as exc:
                # Keep deciding with the last good policies; say why loudly.
                log.error("policy reload refused: %s", exc)


def _stamp(directory: Path) -> tuple[tuple[str, float], ...]:
    files = [directory / "schema.cedarschema.json", *sorted(directory.glob("policies/*.cedar"))]
    return tuple((str(path), path.stat().st_mtime) for path in files)


def _load(directory: Path) -> _Loaded:
    stamp = _stamp(directory)
    schema_text = (directory / "schema.cedarschema.json").read_text()
    try:
        schema_json = json.loads(schema_text)
    except ValueError as exc:
        raise PolicyError(f"schema.cedarschema.json is not JSON: {exc}") from None
    sources = [Path(name) for name, _ in stamp[1:]]
    if not sources:
        raise PolicyError(f"no *.cedar files under {directory / 'policies'}")
    text = "\n".join(path.read_text() for path in sources)
    result = cedarpy.validate_policies(text, schema_json)
    if not result.validation_passed:
        raise PolicyError("policies do not validate: " + "; ".join(map(str, result.errors)))
    try:
        policies = cedarpy.PolicySet.from_str(text)
    except Exception as exc:  # cedarpy raises plain exceptions on parse errors
        raise PolicyError(f"policies do not parse: {exc}") from None
    _require_ids(text)
    actions = frozenset(schema_json[""]["actions"]) - GROUPS
    return _Loaded(policies, cedarpy.Schema.from_json_str(schema_text), actions, stamp)


def _require_ids(text: str) -> None:
    """Every policy has a unique @id: reasons must name policies, not positions."""
    parsed = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]
    ids = [policy.get("annotations", {}).get("id") for policy in parsed.values()]
    if None in ids:
        raise PolicyError('every policy needs an @id("...") annotation')
    if len(set(ids)) != len(ids):
        raise PolicyError(f"policy ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}")


@lru_cache(maxsize=4096)
def _entities_json(
    principal_id: str,
    role: str,
    tenant: str | None,
    resource_type: str,
    resource_id: str,
    kind: str,
    resource_tenant: str,
    legal_hold: bool,
) -> str:
    principal_attrs: dict[str, Any] = {"role": role}
    if tenant:
        principal_attrs["tenant"] = tenant
    resource: dict[str, Any] = {"uid": {"type": resource_type, "id": resource_id}, "parents": []}
    resource["attrs"] = (
        {"kind": kind, "tenant": resource_tenant, "legal_hold": legal_hold}
        if resource_type == "Resource"
        else {}
    )
    principal = {
        "uid": {"type": "User", "id": principal_id},
        "attrs": principal_attrs,
        "parents": [],
    }
    return json.dumps([principal, resource])


@lru_cache(maxsize=4096)
def _entities_for(key: str, schema: cedarpy.Schema) -> cedarpy.Entities:
    return cedarpy.Entities.from_json_str(key, schema)


def _entities(request: Request, schema: cedarpy.Schema) -> cedarpy.Entities:
    """Parsed entity sets are reused: route guards ask about few distinct facts."""
    key = _entities_json(
        request.principal_id,
        request.role,
        request.tenant,
        request.resource_type,
        request.resource_id,
        request.resource_kind,
        request.resource_tenant,
        request.legal_hold,
    )
    return _entities_for(key, schema)
