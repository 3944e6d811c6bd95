"""A backup taken while Summit writes is one snapshot (its manifest's counts are
the payload's), and a restore that fails half-way leaves the old database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from app.backup.service import read_manifest
from app.core.db import Database, utcnow
from app.graph import service as graph
from app.identity.models import Tenant
from tests.backup.helpers import (
    first_entity_name,
    rename_first_entity,
    row_counts,
    seed_with_audit,
    summit,
)
from tests.backup.test_dr_drill import _edit_manifest


class Writer(threading.Thread):
    """Creates acme entities, one transaction each, until stopped."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.db, self.written, self.stop = Database(database_url), 0, threading.Event()
        self.failed: BaseException | None = None

    def run(self) -> None:
        try:
            with self.db.session(tenant_id=None) as session:
                acme = session.execute(select(Tenant.id).where(Tenant.slug == "acme")).scalar_one()
            while not self.stop.is_set():
                with self.db.session(tenant_id=acme, write=True) as session:
                    graph.create_entity(
                        session=session, kind="person", name=f"Writer {self.written}",
                        dataset="osint", attributes={}, subject=None, source="test",
                        actor="test", now=utcnow(),
                    )  # fmt: skip
                    session.commit()
                self.written += 1
        except BaseException as exc:  # reported by the test
            self.failed = exc
        finally:
            self.db.dispose()


def test_a_backup_taken_during_writes_is_one_snapshot(database_url: str, tmp_path: Path) -> None:
    seed_with_audit(database_url, tmp_path)
    writer = Writer(database_url)
    writer.start()
    while writer.written < 5 and writer.failed is None:
        threading.Event().wait(0.01)
    before = writer.written
    out = tmp_path / "summit.backup"
    made = summit(database_url, tmp_path, "backup", "--out", str(out))
    during = writer.written - before
    writer.stop.set()
    writer.join(timeout=30)
    assert writer.failed is None, writer.failed
    assert made.exit_code == 0, made.output
    assert during > 0  # the server went on writing while the backup ran

    # The restore recounts every table against the manifest: a manifest
    # counted outside the dump's snapshot would differ, and the restore exit 1.
    restored = summit(database_url, tmp_path, "restore", "--force", str(out))
    assert restored.exit_code == 0, restored.output
    assert row_counts(database_url) == read_manifest(out).tables


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_postgresql_restore_that_fails_half_way_is_rolled_back(
    database_url: str, tmp_path: Path
) -> None:
    # (SQLite's restore is one transaction of SQLite's own: the online backup API.)
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    # The checksum covers the dump, not the manifest: an extension that does not
    # exist makes the restore fail after it dropped the schema and recreated part of it.
    _edit_manifest(out, extensions=[["no_such_extension", "public"]])
    rename_first_entity(database_url, "changed after the backup")
    before = row_counts(database_url)

    failed = summit(database_url, tmp_path, "restore", "--force", str(out))
    assert failed.exit_code == 1, failed.output
    assert "rolled back" in failed.output
    assert "no_such_extension" in failed.output
    assert row_counts(database_url) == before
    assert first_entity_name(database_url) == "changed after the backup"
