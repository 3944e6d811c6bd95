"""Backup files and restores: one tar file holding a manifest and the database.

A backup file is an uncompressed tar whose first member, ``summit-backup.json``,
is the manifest (format, database kind, Alembic revisions, creation time, row
counts per table, the payload's size and SHA-256), followed by the payload:
an SQLite database made with SQLite's online backup API, or a ``pg_dump
--format=custom`` archive. One file to copy, and ``tar xf`` gives the plain
database back without Summit.

A restore checks everything before it touches the database (the checksum, the
kind, that this Summit knows every revision, that the target holds no data
unless forced), replaces the database in one transaction, then counts every
table again and compares with the manifest. Imports no Flask and no click.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from app.backup import postgres, sqlite
from app.backup.errors import Corrupt, Refused

FORMAT = "summit-backup/1"
MANIFEST = "summit-backup.json"
PAYLOADS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
CHUNK = 1024 * 1024

Kind = Literal["sqlite", "postgresql"]
Step = Callable[[str], None]


@dataclass(frozen=True)
class Manifest:
    kind: Kind
    revisions: list[str]
    created_at: str
    tables: dict[str, int]
    sha256: str
    size: int
    schema: str | None = None  # PostgreSQL: the schema dumped (and restored into)
    extensions: list[list[str]] = field(default_factory=list)  # PostgreSQL: [name, schema]
    summit_version: str = ""
    format: str = FORMAT

    @property
    def payload(self) -> str:
        return PAYLOADS[self.kind]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw: dict[str, Any] = json.loads(data)
            if raw.get("format") != FORMAT:
                raise Refused(
                    f"backup format {raw.get('format')!r} is not {FORMAT!r} "
                    "(made by another Summit: restore with that version)"
                )
            manifest = cls(**raw)
            if manifest.kind not in PAYLOADS:
                raise ValueError(f"unknown database kind {manifest.kind!r}")
            return manifest
        except (ValueError, TypeError) as exc:
            raise Corrupt(f"the backup's manifest is malformed ({exc})") from None


@dataclass(frozen=True)
class Snapshot:
    """What an engine read in the same snapshot as its dump."""

    revisions: list[str]
    tables: dict[str, int]
    schema: str | None = None
    extensions: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    tables: dict[str, int]
    migrate: bool  # the backup's schema is older than this Summit's: `summit init`


def kind_of(url: str) -> Kind:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise Refused(f"cannot back up a {url.split(':', 1)[0]} database (SQLite or PostgreSQL only)")


def _quiet(_words: str) -> None:
    return None


# --- backup -----------------------------------------------------------------------------


def backup(*, url: str, out: Path, now: datetime, step: Step = _quiet) -> Manifest:
    """Write a backup of the database at ``url`` to ``out`` (replaced atomically)."""
    kind = kind_of(url)
    if not out.parent.is_dir():
        raise Refused(f"cannot write {out}: the folder {out.parent} does not exist")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".summit-backup-") as work:
        payload = Path(work) / PAYLOADS[kind]
        step(f"copying the {kind} database")
        engine = sqlite if kind == "sqlite" else postgres
        snap = engine.dump(url=url, to=payload)
        step("computing the checksum")
        digest, size = _digest(payload)
        manifest = Manifest(
            kind=kind, revisions=snap.revisions, created_at=now.isoformat(),
            tables=snap.tables, sha256=digest, size=size, schema=snap.schema,
            extensions=snap.extensions, summit_version=version("summit"),
        )  # fmt: skip
        step(f"writing {out}")
        _write(out, manifest, payload)
    return manifest


def _digest(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _write(out: Path, manifest: Manifest, payload: Path) -> None:
    """Aside, flushed to disk, then renamed: ``out`` is whole or not there."""
    partial = out.with_name(f".{out.name}.partial-{secrets.token_hex(4)}")
    try:
        with partial.open("wb") as handle:
            with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                body = manifest.as_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), int(os.path.getmtime(payload)), 0o600
                tar.addfile(info, _BytesReader(body))
                tar.add(payload, arcname=manifest.payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, 0o600)  # a backup holds every tenant's data and the password hashes
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        chunk, self._at = self._data[self._at : end], min(end, len(self._data))
        return chunk


# --- reading a backup -------------------------------------------------------------------


def read_manifest(path: Path) -> Manifest:
    with _opened(path) as tar:
        return _manifest(tar, path)


@contextmanager
def _opened(path: Path) -> Iterator[tarfile.TarFile]:
    if not path.is_file():
        raise Refused(f"no backup file at {path}")
    try:
        with tarfile.open(path, mode="r:") as tar:
            yield tar
    except (tarfile.TarError, EOFError) as exc:
        raise Corrupt(
            f"{path} is not a whole Summit backup ({exc}): truncated or corrupt"
        ) from None


def _manifest(tar: tarfile.TarFile, path: Path) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST:
        raise Corrupt(f"{path} is not a Summit backup (no {MANIFEST} first)")
    reader = tar.extractfile(first)
    if reader is None:
        raise Corrupt(f"{path}: {MANIFEST} is not a file")
    return Manifest.from_json(reader.read())


@contextmanager
def verified_payload(path: Path, *, work: Path | None) -> Iterator[tuple[Manifest, Path]]:
    """The manifest and the payload extracted into ``work`` (a temporary folder
    there), after its size and SHA-256 matched the manifest's."""
    with (
        _opened(path) as tar,
        tempfile.TemporaryDirectory(dir=work, prefix=".summit-restore-") as d,
    ):
        manifest = _manifest(tar, path)
        member = tar.next()
        if member is None or member.name != manifest.payload or not member.isfile():
            raise Corrupt(f"{path} holds no {manifest.payload} after its manifest: truncated?")
        reader = tar.extractfile(member)
        assert reader is not None  # a regular file, checked above
        payload, sha, size = Path(d) / manifest.payload, hashlib.sha256(), 0
        with payload.open("wb") as handle:
            while chunk := reader.read(CHUNK):
                sha.update(chunk)
                size += len(chunk)
                handle.write(chunk)
        if size != manifest.size or sha.hexdigest() != manifest.sha256:
            raise Corrupt(
                f"{path}: checksum mismatch ({size} bytes with SHA-256 {sha.hexdigest()[:12]}..., "
                f"the manifest says {manifest.size} bytes, {manifest.sha256[:12]}...): the file is "
                "corrupt or truncated; nothing was restored"
            )
        yield manifest, payload


# --- restore ----------------------------------------------------------------------------


def restore(*, url: str, path: Path, force: bool, step: Step = _quiet) -> Restored:
    """Replace the database at ``url`` with the backup at ``path``, or refuse
    before touching it; then check every table's row count against the backup's."""
    kind = kind_of(url)
    engine = sqlite if kind == "sqlite" else postgres
    _check_fits(read_manifest(path), kind)
    step("looking for data in the target database")
    if (live := engine.live_tables(url)) and not force:
        shown = ", ".join(f"{name}: {rows}" for name, rows in list(live.items())[:3])
        raise Refused(
            f"the target database holds data ({len(live)} tables with rows, e.g. {shown}): "
            "a restore replaces all of it; stop Summit and rerun with --force to do so"
        )
    step("checking the backup's checksum")
    with verified_payload(path, work=engine.work_dir(url)) as (manifest, payload):
        step(f"restoring {manifest.rows:,} rows into the {kind} database")
        engine.restore(url=url, payload=payload, manifest=manifest)
    step("counting the restored rows")
    counts = engine.counts(url, manifest.schema)
    if counts != manifest.tables:
        differ = sorted(set(counts.items()) ^ set(manifest.tables.items()))
        raise Corrupt(f"restored, but the row counts differ from the backup's: {differ[:6]}")
    from app.core.migrate import applied, heads  # Alembic: only for restores

    older = not heads() <= applied(tuple(sorted(manifest.revisions)))
    return Restored(manifest, counts, migrate=older)


def _check_fits(manifest: Manifest, kind: Kind) -> None:
    from app.core.migrate import unknown_revisions  # Alembic: only for restores

    if manifest.kind != kind:
        raise Refused(
            f"the backup is of a {manifest.kind} database and DATABASE_URL is {kind}: "
            "restore it into the same kind of database"
        )
    if newer := unknown_revisions(manifest.revisions):
        raise Refused(
            f"the backup's schema is newer than this Summit's (unknown revisions "
            f"{sorted(newer)}, made by Summit {manifest.summit_version or '?'}): restore it "
            "with that version"
        )
