"""Quotas as code: `summit quotas plan|apply FILE` against the real database,
audited as the operator's PATCH is, with drift and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from app.cli import main
from app.core.db import Database, utcnow
from app.core.tenancy import ALL_TENANTS
from app.demo.seed import seed
from app.identity.service import Passwords
from app.quotas import ascode
from app.quotas.models import QuotaChange
from tests.support.services import REDIS_URL, require_service
from tests.support.world import PASSWORD, World, seed_world, services

DEFAULTS = "defaults: {qps: 100, burst: 100, concurrent_jobs: 2, storage_bytes: 1073741824}\n"
RAISED = f"version: 1\n{DEFAULTS}tenants:\n  acme:\n    qps: 50\n  globex: {{concurrent_jobs: 4}}\n"


def run(world: World, tmp_path: Path, *args: str, text: str | None = None) -> Result:
    """The CLI on the world's database and var dir (so on its rate-limit store too)."""
    file = tmp_path / "quotas.yaml"
    if text is not None:
        file.write_text(text)
    env = {
        "DATABASE_URL": services(world.app).settings.database_url,
        "SUMMIT_VAR_DIR": str(services(world.app).settings.var_dir),
        "SUMMIT_ENV": "test",
        "REDIS_URL": services(world.app).settings.redis_url,
    }
    return CliRunner().invoke(main, ["quotas", *args, str(file)], env=env)


def limits(world: World, tenant: str) -> dict[str, Any]:
    view = admin_view(world, tenant)
    return dict(view["limits"])


def admin_view(world: World, tenant: str) -> dict[str, Any]:
    response = world.client.get(
        f"/api/v1/admin/tenants/{tenant}/quotas", headers=world.headers("ops")
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def changes_count(world: World) -> int:
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        return session.scalar(select(func.count()).select_from(QuotaChange)) or 0


def test_the_shipped_file_is_what_the_demo_seed_gives(world: World, tmp_path: Path) -> None:
    result = run(world, tmp_path, "plan", text=ascode.SHIPPED.read_text())
    assert result.exit_code == 0, result.output
    assert "acme: no changes" in result.output
    assert "No changes" in result.output


def test_plan_shows_each_change_old_to_new_changes_nothing_and_exits_2(
    world: World, tmp_path: Path
) -> None:
    result = run(world, tmp_path, "plan", text=RAISED)
    assert result.exit_code == 2, result.output
    assert "~ qps: 100 → 50" in result.output
    assert "~ concurrent_jobs: 2 → 4" in result.output
    assert "2 tenant(s), 2 field(s) changed" in result.output
    assert "drift" not in result.output
    assert limits(world, "acme")["qps"] == 100
    assert changes_count(world) == 0


def test_apply_is_audited_like_the_patch_and_a_second_apply_changes_nothing(
    world: World, tmp_path: Path
) -> None:
    result = run(world, tmp_path, "apply", "--actor", "ops-ci", "--reason", "OPS-7", text=RAISED)
    assert result.exit_code == 0, result.output
    assert "Applied: 2 tenant(s), 2 field(s) changed" in result.output
    acme = admin_view(world, "acme")
    assert acme["limits"] == {
        "qps": 50, "burst": 100, "concurrent_jobs": 2, "storage_bytes": 1024**3,
    }  # fmt: skip
    [change] = acme["changes"]
    assert change["changed_by"] == "ops-ci"
    assert change["reason"].startswith("quotas as code: ")
    assert change["reason"].endswith(": OPS-7")
    assert (change["old"]["qps"], change["new"]["qps"]) == (100, 50)
    assert limits(world, "globex")["concurrent_jobs"] == 4

    again = run(world, tmp_path, "apply", "--actor", "ops-ci")
    assert again.exit_code == 0, again.output
    assert "No changes: the database holds what the file says. Nothing applied." in again.output
    assert changes_count(world) == 2
    assert run(world, tmp_path, "plan").exit_code == 0


def test_plan_reports_an_operators_patch_as_drift_and_apply_reverts_it(
    world: World, tmp_path: Path
) -> None:
    assert run(world, tmp_path, "apply", text=RAISED).exit_code == 0
    bump = world.client.patch(
        "/api/v1/admin/tenants/acme/quotas",
        json={"qps": 500, "reason": "incident 42"},
        headers=world.headers("ops"),
    )
    assert bump.status_code == 200

    plan = run(world, tmp_path, "plan")
    assert plan.exit_code == 2, plan.output
    assert "~ qps: 500 → 50   (drift: last applied 50; changed since by ops" in plan.output
    assert "incident 42" in plan.output
    assert "globex: no changes" in plan.output
    assert "1 tenant(s) drifted since the last apply" in plan.output

    as_json = json.loads(run(world, tmp_path, "plan", "--json").output)
    assert as_json["pending"] is True
    acme = next(t for t in as_json["tenants"] if t["tenant"] == "acme")
    assert acme["changes"] == [{"field": "qps", "old": 500, "new": 50, "drifted": True}]
    assert acme["changed_since"]["by"] == "ops"
    assert acme["changed_since"]["reason"] == "incident 42"

    applied = run(world, tmp_path, "apply")
    assert applied.exit_code == 0, applied.output
    assert "reverted to the file" in applied.output
    assert limits(world, "acme")["qps"] == 50
    newest = admin_view(world, "acme")["changes"][0]
    assert (newest["old"]["qps"], newest["new"]["qps"]) == (500, 50)
    assert newest["changed_by"] == "quotas-as-code"


@pytest.mark.parametrize("reason", ["quotas as code: app/quotas/quotas.yaml", "  Quotas As Code"])
def test_a_patch_cannot_pass_for_an_apply(world: World, tmp_path: Path, reason: str) -> None:
    """A plan takes the newest change whose reason begins with the apply's mark as
    "last applied": a hand-made PATCH may not use the mark, so drift stays drift."""
    assert run(world, tmp_path, "apply", text=RAISED).exit_code == 0
    before = changes_count(world)
    forged = world.client.patch(
        "/api/v1/admin/tenants/acme/quotas",
        json={"qps": 500, "reason": reason},
        headers=world.headers("ops"),
    )
    assert forged.status_code == 400, forged.get_json()
    assert "reason" in forged.get_json()["error"]["details"]["json"]
    assert changes_count(world) == before
    assert limits(world, "acme")["qps"] == 50


def test_a_file_that_changes_the_file_since_the_last_apply_is_a_change_not_drift(
    world: World, tmp_path: Path
) -> None:
    assert run(world, tmp_path, "apply", text=RAISED).exit_code == 0
    plan = run(world, tmp_path, "plan", text=RAISED.replace("qps: 50", "qps: 60"))
    assert plan.exit_code == 2
    assert "~ qps: 50 → 60\n" in plan.output


def search(world: World) -> Any:
    return world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice"))


def test_an_apply_takes_effect_on_the_next_request(world: World, tmp_path: Path) -> None:
    """As the PATCH: the tenant's bucket starts afresh in the shared store, so
    not even this worker's memory of the refusal keeps refusing."""
    takes_effect_at_once(world, tmp_path)


def test_an_apply_takes_effect_on_the_next_request_with_redis(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """The same with the store every worker and host shares (REDIS_URL)."""
    require_service("Redis", redis_problem())
    redis.Redis.from_url(REDIS_URL).flushdb()  # no other test's buckets or cached answers
    takes_effect_at_once(seed_world(make_app(REDIS_URL=REDIS_URL)), tmp_path)


def redis_problem() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return None
    except redis.RedisError as exc:
        return str(exc)


def takes_effect_at_once(world: World, tmp_path: Path) -> None:
    world.headers("alice")
    tight = f"version: 1\n{DEFAULTS}tenants:\n  acme: {{qps: 1, burst: 0}}\n"
    assert run(world, tmp_path, "apply", text=tight).exit_code == 0
    assert [search(world).status_code for _ in range(2)] == [200, 429]
    loose = f"version: 1\n{DEFAULTS}tenants:\n  acme: {{qps: 1000, burst: 1000}}\n"
    assert run(world, tmp_path, "apply", text=loose).exit_code == 0
    response = search(world)
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "2000"


BAD = [
    ("  acme:\n    qps: -5\n", "quotas.yaml:6: tenants.acme.qps: Input should be greater"),
    ("  acme:\n    storage_bytes: 9999999999999999\n", "quotas.yaml:6: tenants.acme.storage_"),
    ("  acme:\n    qps: 50\n    burts: 3\n", "quotas.yaml:7: tenants.acme.burts: unknown field"),
    ("  acme:\n    qps: '50'\n", "quotas.yaml:6: tenants.acme.qps: Input should be a valid int"),
    ("  acme:\n    qps: 50\n  initech: {}\n", "quotas.yaml:7: tenants.initech: no such tenant"),
    ("  acme:\n    qps: 50\n    qps: 60\n", "quotas.yaml:7: tenants.acme.qps: written twice"),
    ("  acme: [qps\n", "quotas.yaml:6: not valid YAML"),
]


@pytest.mark.parametrize(("tenants", "said"), BAD)
def test_an_invalid_file_is_refused_with_its_line_and_nothing_is_applied(
    world: World, tmp_path: Path, tenants: str, said: str
) -> None:
    text = f"version: 1\n{DEFAULTS}tenants:\n  globex: {{qps: 7}}\n{tenants}"
    for command in ("plan", "apply"):
        result = run(world, tmp_path, command, text=text)
        assert result.exit_code == 1, result.output
        assert "quotas file refused, nothing applied" in result.output
        assert said in result.output
    assert limits(world, "globex")["qps"] == 100  # the file's valid part was not applied
    assert changes_count(world) == 0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "q.yaml:1: empty file"),
        ("- 1\n", "q.yaml:1: the file must be a mapping"),
        (f"version: 2\n{DEFAULTS}", "q.yaml:1: version: Input should be 1"),
        ("version: 1\ndefaults:\n  qps: 1\n", "q.yaml:2: defaults.burst: Field required"),
        (f"version: 1\n{DEFAULTS}limits: {{}}\n", "q.yaml:3: limits: unknown field"),
        ("version: 1\ndefaults:\n  qps: 0\n", "q.yaml:3: defaults.qps: Input should be greater"),
        ("version: 1\ndefaults:\n  qps: true\n", "q.yaml:3: defaults.qps: Input should be a valid"),
        (f"version: 1\n{DEFAULTS}tenants:\n  acme: {{jobs: 1}}\n", "q.yaml:4: tenants.acme.jobs"),
    ],
)
def test_the_schema_names_the_line_and_key_of_each_problem(text: str, said: str) -> None:
    with pytest.raises(ascode.QuotasFileError) as refused:
        ascode.parse(text.encode(), name="q.yaml")
    assert said in str(refused.value)


def test_a_usage_mistake_exits_1_not_the_pending_2() -> None:
    result = CliRunner().invoke(main, ["quotas", "plan"])
    assert result.exit_code == 1
    # and says what is wrong (it printed a bare "Error:" once)
    assert "Error: Missing argument 'FILE'." in result.output


def test_the_seed_reads_the_file_and_leaves_existing_limits_alone(
    database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "quotas.yaml"
    file.write_text(f"version: 1\n{DEFAULTS}tenants:\n  globex: {{qps: 30}}\n")
    db = Database(database_url)
    try:
        for qps in (30, 40):
            file.write_text(file.read_text().replace("qps: 30}", f"qps: {qps}}}"))
            seed(db=db, passwords=Passwords("cheapest"), password=PASSWORD, now=utcnow(),
                 entities_per_tenant=1, quotas=file)  # fmt: skip
            with db.session(tenant_id=ALL_TENANTS) as session:
                wanted = ascode.load(file)
                plan = ascode.plan(session=session, wanted=wanted, defaults=wanted.defaults)
            # Seeded once from the file; the second seed changes no limit (plan: 30 → 40).
            assert [(t.tenant, [(c.old, c.new) for c in t.changes]) for t in plan.pending] == (
                [] if qps == 30 else [("globex", [(30, 40)])]
            )
    finally:
        db.dispose()
