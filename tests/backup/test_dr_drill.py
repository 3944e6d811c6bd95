"""The DR drill: seed, audit, back up, destroy, restore, verify; and the restore's
refusals, each of which must leave the database as it was. On SQLite and
PostgreSQL (a schema of the test database, dropped as the disaster)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.backup.service import MANIFEST, read_manifest
from app.cli import main
from app.core.db import Database
from tests.backup.helpers import (
    destroy,
    env,
    first_entity_name,
    place_holds,
    rename_first_entity,
    row_counts,
    seed_with_audit,
    summit,
)


def test_dr_drill_restores_every_row_and_the_audit_chain_verifies(
    database_url: str, tmp_path: Path
) -> None:
    seed_with_audit(database_url, tmp_path)
    before = row_counts(database_url)
    assert before["audit_entries"] == 8  # 3 holds placed, 1 released, in each of 2 tenants
    out = tmp_path / "summit.backup"

    made = summit(database_url, tmp_path, "backup", "--out", str(out))
    assert made.exit_code == 0, made.output
    manifest = read_manifest(out)
    assert manifest.tables == before
    assert re.search(rf"{len(before)} tables, {sum(before.values()):,} rows", made.output)

    destroy(database_url)
    restored = summit(database_url, tmp_path, "restore", str(out))
    assert restored.exit_code == 0, restored.output
    assert "checksum ok" in restored.output
    assert "every count as in the backup" in restored.output

    assert row_counts(database_url) == manifest.tables
    verified = summit(database_url, tmp_path, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "acme: ok, 4 entries" in verified.output
    assert "globex: ok, 4 entries" in verified.output
    init = summit(database_url, tmp_path, "init")  # the restored schema is current
    assert init.exit_code == 0, init.output


def test_restore_over_a_database_with_data_needs_force(database_url: str, tmp_path: Path) -> None:
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    rename_first_entity(database_url, "changed after the backup")

    refused = summit(database_url, tmp_path, "restore", str(out))
    assert refused.exit_code == 2, refused.output
    assert "holds data" in refused.output
    assert "--force" in refused.output
    assert first_entity_name(database_url) == "changed after the backup"

    forced = summit(database_url, tmp_path, "restore", "--force", str(out))
    assert forced.exit_code == 0, forced.output
    assert first_entity_name(database_url) != "changed after the backup"
    assert row_counts(database_url) == read_manifest(out).tables


def _cut_off(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # a copy cut off on its way


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        pytest.param(lambda p: _flip_a_payload_byte(p), "checksum mismatch", id="flipped-byte"),
        pytest.param(lambda p: _cut_off(p), "truncated", id="truncated"),
    ],
)
def test_a_damaged_backup_is_refused_and_the_database_left_untouched(
    database_url: str, tmp_path: Path, damage: Callable[[Path], None], said: str
) -> None:
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    rename_first_entity(database_url, "changed after the backup")
    before = row_counts(database_url)
    damage(out)

    refused = summit(database_url, tmp_path, "restore", "--force", str(out))
    assert refused.exit_code == 1, refused.output
    assert said in refused.output
    if said == "checksum mismatch":
        assert "nothing was restored" in refused.output
    assert first_entity_name(database_url) == "changed after the backup"
    assert row_counts(database_url) == before


def test_a_backup_of_another_database_kind_is_refused(database_url: str, tmp_path: Path) -> None:
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    other = "postgresql" if database_url.startswith("sqlite") else "sqlite"
    _edit_manifest(out, kind=other)

    refused = summit(database_url, tmp_path, "restore", "--force", str(out))
    assert refused.exit_code == 2, refused.output
    assert f"the backup is of a {other} database" in refused.output


def test_a_backup_from_a_newer_schema_is_refused(database_url: str, tmp_path: Path) -> None:
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    _edit_manifest(out, revisions=[*read_manifest(out).revisions, "9999"])
    rename_first_entity(database_url, "changed after the backup")

    refused = summit(database_url, tmp_path, "restore", "--force", str(out))
    assert refused.exit_code == 2, refused.output
    assert "newer than this Summit's" in refused.output
    assert "9999" in refused.output
    assert first_entity_name(database_url) == "changed after the backup"


def test_a_file_that_is_not_a_backup_is_refused(database_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup\n" * 100)
    refused = summit(database_url, tmp_path, "restore", str(junk))
    assert refused.exit_code == 1, refused.output
    assert "not a whole Summit backup" in refused.output
    missing = summit(database_url, tmp_path, "restore", str(tmp_path / "nothing-here"))
    assert missing.exit_code == 2, missing.output
    assert "no backup file at" in missing.output


def _flip_a_payload_byte(path: Path) -> None:
    with tarfile.open(path) as tar:
        payload = tar.getmembers()[1]
        at = payload.offset_data + payload.size // 2
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(path: Path, **changes: object) -> None:
    """Rewrite the manifest (the payload and its checksum stay as they are)."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        blobs = [tar.extractfile(member).read() for member in members]  # type: ignore[union-attr]
    manifest = json.loads(blobs[0]) | changes
    blobs[0] = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        for member, blob in zip(members, blobs, strict=True):
            member.size = len(blob)
            tar.addfile(member, io.BytesIO(blob))
    assert members[0].name == MANIFEST


def test_restoring_an_older_backup_shows_as_a_rollback_against_exported_checkpoints(
    database_url: str, tmp_path: Path
) -> None:
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    db = Database(database_url)
    place_holds(db, "acme", count=2)  # after the backup: lost by the restore
    db.dispose()
    assert summit(database_url, tmp_path, "audit", "checkpoint").exit_code == 0
    marks = tmp_path / "checkpoints.jsonl"
    exported = summit(database_url, tmp_path, "audit", "export-checkpoints", "--out", str(marks))
    assert exported.exit_code == 0, exported.output

    assert summit(database_url, tmp_path, "restore", "--force", str(out)).exit_code == 0
    alone = summit(database_url, tmp_path, "audit", "verify")
    assert alone.exit_code == 0, alone.output  # the restored chain is whole in itself
    held = summit(database_url, tmp_path, "audit", "verify", "--checkpoints", str(marks))
    assert held.exit_code == 1, held.output
    assert "acme: BROKEN" in held.output
    assert "rolled back" in held.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_new_host_restores_into_its_default_sqlite_database(
    database_url: str, tmp_path: Path
) -> None:
    seed_with_audit(database_url, tmp_path)
    out = tmp_path / "summit.backup"
    assert summit(database_url, tmp_path, "backup", "--out", str(out)).exit_code == 0
    fresh = tmp_path / "new-host" / "var"  # not there yet
    new_host = {**env(database_url, tmp_path), "SUMMIT_VAR_DIR": str(fresh)}
    del new_host["DATABASE_URL"]

    restored = CliRunner().invoke(main, ["restore", str(out)], env=new_host)
    assert restored.exit_code == 0, restored.output
    assert row_counts(f"sqlite:///{fresh / 'summit.db'}") == read_manifest(out).tables
    verified = CliRunner().invoke(main, ["audit", "verify"], env=new_host)
    assert verified.exit_code == 0, verified.output
