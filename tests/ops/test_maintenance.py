"""The prune job: tokens, probe runs and resolved incidents go past their
retention; nothing live or still needed is touched."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.models import Incident
from app.core.db import Database, utcnow
from app.identity.models import AuthToken, User
from app.identity.service import Passwords
from app.ops.maintenance import prune
from app.ops.runtime import ProbeRuntime
from app.settings import load_settings
from probes.models import ProbeRun
from tests.support.world import PASSWORD


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[ProbeRuntime]:
    settings = load_settings(
        {"DATABASE_URL": database_url, "SUMMIT_ENV": "test", "SUMMIT_VAR_DIR": str(tmp_path)}
    )
    built = ProbeRuntime(settings=settings, db=Database(settings.resolved_database_url))
    yield built
    built.close()
    built.db.dispose()


def test_prune_removes_only_what_is_past_its_retention(runtime: ProbeRuntime) -> None:
    now = utcnow()
    long_ago, lately = now - timedelta(days=400), now - timedelta(days=1)
    with runtime.db.session(tenant_id=None, write=True) as session:
        user = User(username="ops", password_hash=Passwords("cheapest").hash(PASSWORD),
                    role="operator")  # fmt: skip
        session.add(user)
        session.flush()
        for name, expires, revoked in (
            ("expired-long-ago", long_ago, None),
            ("revoked-long-ago", now + timedelta(hours=1), long_ago),
            ("live", now + timedelta(hours=1), None),
            ("expired-yesterday", lately, None),
        ):
            session.add(AuthToken(token_hash=name, user_id=user.id, kind="api", created_at=long_ago,
                                  expires_at=expires, revoked_at=revoked))  # fmt: skip
        for run_id, started in (("old", long_ago), ("old-but-open", long_ago), ("new", lately)):
            session.add(run(run_id, started))
        for status, resolved in (("resolved", long_ago), ("resolved", lately), ("open", None)):
            details = {"run_id": "old-but-open"} if status == "open" else {}
            session.add(Incident(id=str(uuid.uuid4()), key=f"k-{uuid.uuid4()}", title="t",
                                 status=status, opened_at=long_ago, resolved_at=resolved,
                                 details=details))  # fmt: skip
        session.commit()
    assert prune(runtime, "prune") == 2 + 1 + 1
    with runtime.db.session(tenant_id=None) as session:
        tokens = set(session.scalars(select(AuthToken.token_hash)))
        assert tokens == {"live", "expired-yesterday"}
        assert set(session.scalars(select(ProbeRun.id))) == {"old-but-open", "new"}
        assert sorted(session.scalars(select(Incident.status))) == ["open", "resolved"]
    assert prune(runtime, "prune") == 0


def run(run_id: str, started: object) -> ProbeRun:
    return ProbeRun(id=run_id, probe="policy", trigger="schedule", status="fail",
                    started_at=started, recorded_at=started, duration_ms=1.0, steps=[],
                    failed_step="login", error="x", artifacts=[])  # fmt: skip
