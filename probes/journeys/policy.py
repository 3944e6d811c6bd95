"""The policy probe: log in as the synthetic user over the API, then ask the decision
API a fixed set of questions whose answers must never change, each within the
decision latency budget (the server's own ``elapsed_ms``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from probes.journey import Journey, ProbeConfig, ProbeFailure, Steps


@dataclass(frozen=True)
class Case:
    step: str
    expected: str  # "allow" | "deny"
    role: str
    action: str
    resource_tenant_is_own: bool
    legal_hold: bool


CASES = (
    Case("allowed-read", "allow", "analyst", "read", True, legal_hold=False),
    Case("cross-tenant-read", "deny", "analyst", "read", False, legal_hold=False),
    Case("purge-under-legal-hold", "deny", "admin", "purge", True, legal_hold=True),
)
STEPS = ("login", *(case.step for case in CASES))


def question(case: Case, config: ProbeConfig) -> dict[str, Any]:
    own = config.target.tenant
    return {
        "principal": {"id": f"probe-{case.role}", "role": case.role, "tenant": own},
        "action": case.action,
        "resource": {
            "type": "entity",
            "id": "probe-entity",
            "tenant": own if case.resource_tenant_is_own else config.other_tenant,
            "legal_hold": case.legal_hold,
        },
        "context": {},
    }


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProbeFailure(f"{what} answered {response.status_code}: {response.text[:200]}")
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise ProbeFailure(f"{what} answered with a body that is not JSON") from None
    return body


def run(http: requests.Session, config: ProbeConfig, steps: Steps) -> None:
    target, timeout = config.target, config.timeout_seconds
    if not target.password:
        raise ProbeFailure("no password for the synthetic user (set SUMMIT_PROBE_PASSWORD)")
    with steps.step("login"):
        login = {"tenant": target.tenant, "username": target.username, "password": target.password}
        body = _json(
            http.post(f"{target.base_url}/api/v1/auth/login", json=login, timeout=timeout), "login"
        )
        http.headers["Authorization"] = f"Bearer {body['token']}"
    answers: dict[str, Any] = {}
    try:
        for case in CASES:
            with steps.step(case.step):
                answers[case.step] = _ask(http, case, config)
    finally:
        steps.evidence["decisions.json"] = json.dumps(answers, indent=2, sort_keys=True).encode()


def _ask(http: requests.Session, case: Case, config: ProbeConfig) -> dict[str, Any]:
    url = f"{config.target.base_url}/api/v1/policy/decide"
    answer = _json(
        http.post(url, json=question(case, config), timeout=config.timeout_seconds), "decide"
    )
    if answer.get("decision") != case.expected:
        raise ProbeFailure(
            f"{case.step}: expected {case.expected}, got {answer.get('decision')!r} "
            f"(reasons {answer.get('reasons')})"
        )
    elapsed = answer.get("elapsed_ms")
    if not isinstance(elapsed, int | float) or elapsed > config.decision_budget_ms:
        budget = config.decision_budget_ms
        raise ProbeFailure(f"{case.step}: decided in {elapsed!r} ms, over the {budget} ms budget")
    return answer


def finish(http: requests.Session, config: ProbeConfig) -> None:
    """Revoke the run's token: no run leaves a live token behind it."""
    if "Authorization" in http.headers:
        url = f"{config.target.base_url}/api/v1/auth/logout"
        http.post(url, timeout=config.timeout_seconds)


JOURNEY = Journey(name="policy", kind="http", steps=STEPS, run=run, finish=finish)
