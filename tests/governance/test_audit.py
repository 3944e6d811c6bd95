"""The audit chain: append-only in the database itself, and every tampering an
attacker with database access can do behind the application's back (triggers
dropped or disabled) is caught by verify at the right seq, including a chain
rolled back to an older state (against signed checkpoints kept elsewhere)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from app.cli import main
from app.core.db import Database
from app.governance.jobs import checkpoint_all, signer
from governance import audit
from governance.audit import Checkpoint
from tests.governance.helpers import call, tenant_id
from tests.support.world import World, services

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
N = 10


def append(db: Database, tenant: int, n: int, *, start: int = 0) -> None:
    with db.session(tenant_id=None, write=True) as session:
        for i in range(start, start + n):
            audit.append(
                session=session, tenant_id=tenant, actor=f"user{i % 3}", action="test.step",
                target=f"thing:{i}", payload={"i": i, "who": "Jane Roe"},
                now=T0 + timedelta(seconds=i),
            )  # fmt: skip
        session.commit()


@pytest.fixture
def chain(world: World) -> tuple[World, int]:
    acme = tenant_id(world.app, "acme")
    append(services(world.app).db, acme, N)
    return world, acme


def verify(app: Flask, tenant: int, extra: list[Checkpoint] | None = None) -> audit.VerifyResult:
    svc = services(app)
    with svc.db.session(tenant_id=None) as session:
        return audit.verify(
            session=session, tenant_id=tenant, signer=signer(svc.settings),
            extra_checkpoints=extra or [],
        )  # fmt: skip


@pytest.fixture
def attacker(chain: tuple[World, int]) -> Iterator[Connection]:
    """A raw connection with the append-only triggers out of the way."""
    db = services(chain[0].app).db
    with db.engine.connect() as connection:
        if db.dialect == "sqlite":
            for verb in ("update", "delete"):
                for table in ("audit_entries", "audit_checkpoints"):
                    connection.exec_driver_sql(f"DROP TRIGGER {table}_no_{verb}")
        else:
            for table in ("audit_entries", "audit_checkpoints"):
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        connection.commit()
        yield connection
        connection.commit()
        if db.dialect != "sqlite":
            for table in ("audit_entries", "audit_checkpoints"):
                connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            connection.commit()


def sql(connection: Connection, statement: str, **params: object) -> None:
    connection.execute(text(statement), params)
    connection.commit()


def test_an_intact_chain_verifies(chain: tuple[World, int]) -> None:
    world, acme = chain
    result = verify(world.app, acme)
    assert (result.ok, result.checked, result.head_seq) == (True, N, N)
    body = call(world, "GET", "/api/v1/audit/verify").get_json()
    assert body == {"ok": True, "checked": N}


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3",
    "DELETE FROM audit_entries WHERE seq = 3",
    "UPDATE audit_checkpoints SET seq = 1",
    "DELETE FROM audit_checkpoints",
])  # fmt: skip
def test_the_database_refuses_to_change_or_delete_the_chain(
    chain: tuple[World, int], statement: str
) -> None:
    world, _ = chain
    checkpoint_all(db=services(world.app).db, settings=services(world.app).settings,
                   metrics=None, now=lambda: T0)  # fmt: skip
    with services(world.app).db.engine.connect() as connection, pytest.raises(DBAPIError) as err:
        connection.execute(text(statement))
    assert "append-only" in str(err.value)


def test_a_changed_entry_is_caught_at_its_seq(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    sql(attacker, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 4")
    result = verify(chain[0].app, chain[1])
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "does not match its contents" in (result.reason or "")


def test_a_changed_payload_is_caught_at_its_seq(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    sql(attacker, "UPDATE audit_payloads SET payload = :p WHERE entry_id = "
        "(SELECT id FROM audit_entries WHERE seq = 6)", p=json.dumps({"i": 600}))  # fmt: skip
    result = verify(chain[0].app, chain[1])
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "payload" in (result.reason or "")


def test_a_deleted_entry_is_caught_at_its_seq(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    sql(attacker, "DELETE FROM audit_payloads WHERE entry_id = "
        "(SELECT id FROM audit_entries WHERE seq = 5)")  # fmt: skip
    sql(attacker, "DELETE FROM audit_entries WHERE seq = 5")
    result = verify(chain[0].app, chain[1])
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 5, "entry 5 is missing")


def test_a_deleted_and_renumbered_entry_is_caught_at_its_seq(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    sql(attacker, "DELETE FROM audit_payloads WHERE entry_id = "
        "(SELECT id FROM audit_entries WHERE seq = 5)")  # fmt: skip
    sql(attacker, "DELETE FROM audit_entries WHERE seq = 5")
    for seq in range(6, N + 1):  # close the gap
        sql(attacker, "UPDATE audit_entries SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    result = verify(chain[0].app, chain[1])
    assert (result.ok, result.first_bad_seq) == (False, 5)


def _forge(attacker: Connection, tenant: int, seq: int, prev: str) -> None:
    at = T0 + timedelta(seconds=seq, milliseconds=500)
    digest = audit.digest({"forged": True})
    link = audit.entry_hash(tenant_id=tenant, seq=seq, at=at, actor="mallory", action="test.step",
                            target="thing:x", payload_sha256=digest, prev_hash=prev)  # fmt: skip
    sql(attacker, "INSERT INTO audit_entries (tenant_id, seq, at, actor, action, target, "
        "payload_sha256, prev_hash, hash) VALUES (:t, :s, :at, 'mallory', 'test.step', "
        "'thing:x', :d, :p, :h)", t=tenant, s=seq, at=at.replace(tzinfo=None), d=digest, p=prev,
        h=link)  # fmt: skip


def _hash(attacker: Connection, tenant: int, seq: int) -> str:
    return str(attacker.execute(text(
        "SELECT hash FROM audit_entries WHERE tenant_id = :t AND seq = :s"), {"t": tenant, "s": seq}
    ).scalar_one())  # fmt: skip


def test_an_inserted_entry_with_a_taken_seq_is_caught_at_that_seq(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    _, acme = chain
    sql(attacker, "DROP INDEX uq_audit_entries_tenant_seq")
    try:
        _forge(attacker, acme, 7, prev=_hash(attacker, acme, 6))
        result = verify(chain[0].app, acme)
    finally:  # PostgreSQL's schema serves the whole session: leave the index as it was
        sql(attacker, "DELETE FROM audit_entries WHERE actor = 'mallory'")
        sql(attacker, "CREATE UNIQUE INDEX uq_audit_entries_tenant_seq "
            "ON audit_entries (tenant_id, seq)")  # fmt: skip
    assert (result.ok, result.first_bad_seq) == (False, 7)


def test_an_inserted_well_formed_entry_is_caught_where_the_chain_stops_linking(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    """The forged entry links to its predecessor and hashes right (the algorithm is
    public); the genuine entry it displaced no longer does: that seq is named."""
    _, acme = chain
    for seq in range(N, 6, -1):
        sql(attacker, "UPDATE audit_entries SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    _forge(attacker, acme, 7, prev=_hash(attacker, acme, 6))
    result = verify(chain[0].app, acme)
    assert (result.ok, result.first_bad_seq) == (False, 8)


def test_reordered_entries_are_caught_at_the_first_moved_seq(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    sql(attacker, "UPDATE audit_entries SET seq = -1 WHERE seq = 3")
    sql(attacker, "UPDATE audit_entries SET seq = 3 WHERE seq = 7")
    sql(attacker, "UPDATE audit_entries SET seq = 7 WHERE seq = -1")
    result = verify(chain[0].app, chain[1])
    assert (result.ok, result.first_bad_seq) == (False, 3)


def _checkpoint(app: Flask) -> list[Checkpoint]:
    svc = services(app)
    assert checkpoint_all(db=svc.db, settings=svc.settings, metrics=None, now=lambda: T0) >= 1
    with svc.db.session(tenant_id=None) as session:
        return audit.checkpoints(session=session, tenant_id=tenant_id(app, "acme"))


def test_a_rollback_is_caught_against_the_checkpoints_even_when_they_are_deleted_too(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    world, acme = chain
    exported = [Checkpoint.from_json(c.as_json()) for c in _checkpoint(world.app)]
    assert exported[-1].seq == N
    sql(attacker, "DELETE FROM audit_payloads WHERE entry_id IN "
        "(SELECT id FROM audit_entries WHERE seq >= 8)")  # fmt: skip
    sql(attacker, "DELETE FROM audit_entries WHERE seq >= 8")
    result = verify(world.app, acme)
    assert (result.ok, result.first_bad_seq) == (False, 8)
    assert "rolled back" in (result.reason or "")
    # the attacker removes the stored checkpoint as well: the database alone now
    # looks consistent, but the exported checkpoint (kept elsewhere) is not fooled
    sql(attacker, "DELETE FROM audit_checkpoints")
    assert verify(world.app, acme).ok
    result = verify(world.app, acme, extra=exported)
    assert (result.ok, result.first_bad_seq) == (False, 8)


def test_a_rolled_back_and_regrown_chain_differs_from_its_checkpoint(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    """Rolled back to seq 7, then three new entries appended (the head reset too):
    every link holds, but seq 10 is not what was signed."""
    world, acme = chain
    _checkpoint(world.app)
    sql(attacker, "DELETE FROM audit_payloads WHERE entry_id IN "
        "(SELECT id FROM audit_entries WHERE seq >= 8)")  # fmt: skip
    sql(attacker, "DELETE FROM audit_entries WHERE seq >= 8")
    sql(attacker, "UPDATE audit_heads SET seq = 7, hash = :h", h=_hash(attacker, acme, 7))
    append(services(world.app).db, acme, 3, start=100)
    result = verify(world.app, acme)
    assert (result.ok, result.first_bad_seq) == (False, N)
    assert "signed checkpoint" in (result.reason or "")


def test_a_forged_checkpoint_is_refused(attacker: Connection, chain: tuple[World, int]) -> None:
    world, acme = chain
    [mark] = _checkpoint(world.app)
    sql(attacker, "UPDATE audit_checkpoints SET hash = :h", h="f" * 64)
    result = verify(world.app, acme)
    assert (result.ok, result.first_bad_seq) == (False, mark.seq)
    assert "signature" in (result.reason or "")


def test_payloads_can_be_forgotten_without_breaking_the_chain(chain: tuple[World, int]) -> None:
    world, acme = chain
    db = services(world.app).db
    with db.session(tenant_id=None, write=True) as session:
        forgotten = audit.forget_payloads(
            session=session, tenant_id=acme, before=T0 + timedelta(seconds=5)
        )
        session.commit()
    assert forgotten == 5
    assert verify(world.app, acme).ok
    with db.session(tenant_id=None) as session:
        entries = audit.search(session=session, tenant_id=acme, query=audit.Query())
    assert [e["payload"] is None for e in entries] == [False] * 5 + [True] * 5


def test_a_checkpoint_is_only_signed_over_an_intact_chain(
    attacker: Connection, chain: tuple[World, int]
) -> None:
    world, acme = chain
    sql(attacker, "UPDATE audit_entries SET target = 'x' WHERE seq = 2")
    svc = services(world.app)
    assert (
        checkpoint_all(db=svc.db, settings=svc.settings, metrics=svc.metrics, now=lambda: T0) == 0
    )
    with svc.db.session(tenant_id=None) as session:
        assert audit.checkpoints(session=session, tenant_id=acme) == []
        latest = audit.latest(session=session, tenant_id=acme)
    assert latest is not None
    assert (latest.ok, latest.first_bad_seq) == (False, 2)
    body = call(world, "GET", "/api/v1/audit/verify").get_json()
    reason = "its hash does not match its contents (changed or moved)"
    assert body == {"ok": False, "first_bad_seq": 2, "checked": 2, "reason": reason}
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_audit_verify_ok{tenant="acme"} 0.0' in metrics


def test_audit_search_filters_by_actor_action_target_and_time(chain: tuple[World, int]) -> None:
    world, _ = chain
    entries = call(world, "GET", "/api/v1/audit", query_string={"actor": "user1"}).get_json()
    assert [e["seq"] for e in entries["entries"]] == [8, 5, 2]
    since, until = (T0 + timedelta(seconds=2)).isoformat(), (T0 + timedelta(seconds=4)).isoformat()
    window = call(world, "GET", "/api/v1/audit", query_string={"since": since, "until": until})
    assert [e["seq"] for e in window.get_json()["entries"]] == [4, 3]
    one = call(world, "GET", "/api/v1/audit", query_string={"target": "thing:0", "action": "test"})
    [entry] = one.get_json()["entries"]
    assert entry["payload"] == {"i": 0, "who": "Jane Roe"}
    page = call(world, "GET", "/api/v1/audit", query_string={"limit": 4}).get_json()
    nxt = call(world, "GET", "/api/v1/audit", query_string={"cursor": page["next_cursor"]})
    assert [e["seq"] for e in nxt.get_json()["entries"]] == [6, 5, 4, 3, 2, 1]
    # another tenant sees none of it; analysts and operators may not read it
    assert call(world, "GET", "/api/v1/audit", "carol").get_json()["entries"] == []
    assert call(world, "GET", "/api/v1/audit", "bob").status_code == 403
    assert call(world, "GET", "/api/v1/audit/verify", "ops").status_code == 403
    bad = call(world, "GET", "/api/v1/audit", query_string={"since": "yesterday"})
    assert bad.status_code == 400


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_appends_of_one_tenant_make_one_chain(world: World) -> None:
    acme = tenant_id(world.app, "acme")
    db = services(world.app).db
    threads = [threading.Thread(target=append, args=(db, acme, 15)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    result = verify(world.app, acme)
    assert (result.ok, result.checked) == (True, 45)


def test_summit_audit_verify_and_checkpoint_export(
    chain: tuple[World, int], database_url: str, tmp_path: Path
) -> None:
    world, _ = chain
    env = {"DATABASE_URL": database_url, "SUMMIT_VAR_DIR": str(tmp_path / "var"),
           "SUMMIT_ENV": "test"}  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "verify"], env=env)
    assert result.exit_code == 0, result.output
    assert f"acme: ok, {N} entries" in result.output
    assert runner.invoke(main, ["audit", "checkpoint"], env=env).exit_code == 0
    out = tmp_path / "checkpoints.jsonl"
    exported = runner.invoke(main, ["audit", "export-checkpoints", "--out", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text().splitlines()[0])["tenant"] == "acme"
    pem = runner.invoke(main, ["audit", "public-key"], env=env).output
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    with services(world.app).db.engine.connect() as connection:
        if services(world.app).db.dialect == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        connection.exec_driver_sql("UPDATE audit_entries SET actor = 'x' WHERE seq = 9")
        connection.commit()
    broken = runner.invoke(main, ["audit", "verify", "--tenant", "acme",
                                  "--checkpoints", str(out)], env=env)  # fmt: skip
    assert broken.exit_code == 1
    assert "acme: BROKEN at seq 9" in broken.output
    assert runner.invoke(main, ["audit", "verify", "--tenant", "nope"], env=env).exit_code == 1
