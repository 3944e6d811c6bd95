"""SQLite: the online backup API both ways.

Backing up reads one consistent snapshot while ``summit serve`` goes on
writing (WAL: readers do not block writers). Restoring copies the verified
payload into the target with the same API, which writes the whole database in
one transaction of the target's own: readers see the old data or the new,
never a mix, and a failure rolls back. A target that is missing or is not a
database is replaced by renaming the payload over it instead, after removing
the ``-wal``/``-shm`` files that belonged to the old file (SQLite would apply
them to the new one).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from app.backup.errors import Corrupt, Refused

if TYPE_CHECKING:
    from app.backup.service import Manifest, Snapshot

VERSIONS = "alembic_version"


def path_of(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Refused("DATABASE_URL names an in-memory SQLite database: nothing to back up")
    return Path(database).resolve()


def work_dir(url: str) -> Path:
    """Payloads are extracted beside the target: the final rename stays on one disk."""
    folder = path_of(url).parent
    if not folder.is_dir():
        raise Refused(f"the SQLite database's folder {folder} does not exist: create it")
    return folder


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30)
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def dump(*, url: str, to: Path) -> Snapshot:
    from app.backup.service import Snapshot

    source = path_of(url)
    if not source.is_file():
        raise Refused(f"no SQLite database at {source}: nothing to back up (check DATABASE_URL)")
    try:
        with closing(_connect(source)) as live, closing(sqlite3.connect(to)) as copy:
            live.backup(copy)  # all pages in one step: one snapshot, however busy the server
            tables = _counts(copy)
            revisions = _revisions(copy)
    except sqlite3.DatabaseError as exc:
        raise Corrupt(f"cannot back up {source}: {exc} (is it a Summit database?)") from None
    if not tables:
        raise Refused(f"{source} holds no tables: nothing to back up (check DATABASE_URL)")
    return Snapshot(revisions=revisions, tables=tables)


def _tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [name for (name,) in rows]


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    return {
        name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608
        for name in _tables(connection)
    }


def _revisions(connection: sqlite3.Connection) -> list[str]:
    if VERSIONS not in _tables(connection):
        return []
    return sorted(row[0] for row in connection.execute("SELECT version_num FROM alembic_version"))


def counts(url: str, _schema: str | None = None) -> dict[str, int]:
    with closing(_connect(path_of(url))) as connection:
        return _counts(connection)


def live_tables(url: str) -> dict[str, int]:
    """Tables holding rows (Alembic's own aside): empty for a missing or empty database."""
    target = path_of(url)
    if not target.exists():
        return {}
    try:
        found = counts(url)
    except sqlite3.DatabaseError as exc:
        return {f"{target.name} (not a readable SQLite database: {exc})": 1}
    return {name: rows for name, rows in found.items() if rows and name != VERSIONS}


def restore(*, url: str, payload: Path, manifest: Manifest) -> None:
    target = path_of(url)
    with closing(sqlite3.connect(payload)) as restored:
        verdict = restored.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise Corrupt(f"the backup's database fails SQLite's quick_check: {verdict}")
        if _counts(restored) != manifest.tables:
            raise Corrupt("the backup's database does not hold the rows its manifest lists")
        if _readable(target):
            with closing(_connect(target)) as live:
                restored.backup(live)
            return
    for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(payload, target)


def _readable(target: Path) -> bool:
    if not target.is_file():
        return False
    try:
        with closing(_connect(target)) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except sqlite3.DatabaseError:
        return False
