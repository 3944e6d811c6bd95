"""Subject access export (GDPR Art. 15). Imports no Flask.

An export is a job: requested in the caller's transaction (taking one of the
tenant's concurrent-job slots), then built elsewhere (a thread with its own
session) into a zip under the var dir. The zip holds ``data.json``, one CSV
per record type and ``manifest.json`` (each file's row count and SHA-256, and
the Art. 15 information) and, when the reports feature is loaded, a branded
``cover.html``. Records come from SOURCES, a registry another
feature extends with :func:`register` (ingest adds its events); each source
streams its rows, so memory stays flat however much a subject has.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final
from zipfile import ZIP_DEFLATED, ZipFile

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.core.db import Database
from app.core.errors import Conflict, DomainError, NotFound
from app.core.tenancy import SYNTHETIC_DATASET
from app.graph.models import Edge, Entity
from app.quotas.service import finish_job, start_job
from governance import audit
from governance.holds import held_ids, tenant_id_of
from governance.models import Export

SCHEMA_VERSION: Final = "1"
CHUNK: Final = 1000
ART15: Final = {
    "purposes": [
        "investigation and analysis of the entity graph by the tenant's own analysts",
        "operating, securing and auditing the Summit service",
    ],
    "recipients": [
        "the tenant's own users, as their roles allow",
        "no third parties; platform operators see no tenant data",
    ],
    "source": "entered by the tenant's users through the API and UI, or loaded by "
    "the tenant's ingest pipelines; each record names its source and creator",
    "rights": "rectification, erasure, restriction and objection: ask the tenant's administrator",
}


class ExportNotReady(Conflict):
    code = "export_not_ready"


class ExportGone(DomainError):
    status = 410
    code = "export_expired"


@dataclass(frozen=True)
class RecordSource:
    """One record type of an export: its CSV columns and a function that streams
    the subject's records (dicts with those keys, plus ``provenance``)."""

    name: str
    category: str
    columns: tuple[str, ...]
    rows: Callable[[Session, str], Iterator[dict[str, Any]]]


SOURCES: dict[str, RecordSource] = {}
# Renders the export's cover page (HTML bytes) from the session and the manifest's
# head; set by the reports feature, which brands it with the tenant's logo and footer.
Cover = Callable[..., bytes]
_COVER: list[Cover] = []
PROVENANCE: Final = ("source", "ingested_at", "event_id", "created_by", "updated_by", "updated_at")


def register(source: RecordSource) -> RecordSource:
    SOURCES[source.name] = source
    return source


def set_cover(render: Cover) -> None:
    """``render(session=, head=)`` makes ``cover.html``, listed in the manifest like
    every other file of the export."""
    _COVER[:] = [render]


def _forget(session: Session, done: Iterable[object]) -> None:
    """Keep the identity map (and memory) flat while a yield_per result streams.
    Object by object: ``expunge_all`` would swap the identity map the result is
    still loading into, and its next partition would fail."""
    for obj in done:
        session.expunge(obj)


def _subject_entities(session: Session, subject: str) -> Iterator[list[Entity]]:
    query = (
        select(Entity)
        .where(Entity.subject == subject)
        .order_by(Entity.pk)
        .execution_options(yield_per=CHUNK)
    )
    for part in session.scalars(query).partitions(CHUNK):
        yield list(part)
        _forget(session, part)


def _entity_rows(session: Session, subject: str) -> Iterator[dict[str, Any]]:
    for part in _subject_entities(session, subject):
        held = held_ids(session=session, entity_ids=[e.id for e in part])
        for e in part:
            yield {
                "id": e.id, "kind": e.kind, "name": e.name, "dataset": e.dataset,
                "subject": e.subject, "attributes": e.attributes, "deleted_at": e.deleted_at,
                "legal_hold": e.id in held,
                "provenance": {
                    "source": e.source, "ingested_at": e.created_at, "event_id": None,
                    "created_by": e.created_by, "updated_by": e.updated_by,
                    "updated_at": e.updated_at,
                },
            }  # fmt: skip


def _edge_rows(session: Session, subject: str) -> Iterator[dict[str, Any]]:
    mine = select(Entity.id).where(Entity.subject == subject).scalar_subquery()
    query = (
        select(Edge)
        .where(or_(Edge.source_id.in_(mine), Edge.target_id.in_(mine)))
        .order_by(Edge.pk)
        .execution_options(yield_per=CHUNK)
    )
    for part in session.scalars(query).partitions(CHUNK):
        for e in part:
            yield {
                "id": e.id, "kind": e.kind, "source_id": e.source_id, "target_id": e.target_id,
                "attributes": e.attributes,
                "provenance": {
                    "source": e.source, "ingested_at": e.created_at, "event_id": None,
                    "created_by": e.created_by, "updated_by": e.created_by,
                    "updated_at": e.created_at,
                },
            }  # fmt: skip
        _forget(session, part)


register(
    RecordSource(
        "entities",
        "entity records naming the subject: identity, descriptive attributes",
        ("id", "kind", "name", "dataset", "subject", "attributes", "deleted_at", "legal_hold"),
        _entity_rows,
    )
)
register(
    RecordSource(
        "edges",
        "relationships between the subject's records and other records",
        ("id", "kind", "source_id", "target_id", "attributes"),
        _edge_rows,
    )
)


# --- requesting -------------------------------------------------------------------------


def subject_kind(*, session: Session, subject: str) -> str:
    """The subject's kind for the policy engine: "synthetic" only when every one of
    its records is in the probes' dataset (and it has some)."""
    datasets = set(session.scalars(select(Entity.dataset).where(Entity.subject == subject)))
    return "synthetic" if datasets == {SYNTHETIC_DATASET} else "record"


def request_export(
    *, session: Session, subject: str, kind: str, actor: str, now: datetime
) -> Export:
    """Queue an export, taking a concurrent-job slot (JobQuotaExceeded when none is free)."""
    job_id = start_job(session=session, kind="export", actor=actor, now=now)
    export = Export(
        subject=subject, kind=kind, status="queued", requested_by=actor, requested_at=now,
        job_id=job_id,
    )  # fmt: skip
    session.add(export)
    session.flush()
    _audit(session, actor, "export.request", export, {"subject": subject}, now)
    return export


def _audit(
    session: Session,
    actor: str,
    action: str,
    export: Export,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    audit.append(
        session=session,
        tenant_id=tenant_id_of(session),
        actor=actor,
        action=action,
        target=f"export:{export.id}",
        payload=payload,
        now=now,
    )


def get_export(*, session: Session, export_id: str) -> Export:
    export = session.scalars(select(Export).where(Export.id == export_id)).one_or_none()
    if export is None:
        raise NotFound(f"export {export_id} not found")
    return export


def list_exports(*, session: Session, limit: int = 50) -> list[Export]:
    query = select(Export).order_by(Export.requested_at.desc()).limit(limit)
    return list(session.scalars(query))


# --- building ---------------------------------------------------------------------------


def file_path(directory: Path, tenant_id: int, export_id: str) -> Path:
    return directory / str(tenant_id) / f"{export_id}.zip"


def run_export(
    *,
    db: Database,
    tenant_id: int,
    tenant: str,
    export_id: str,
    directory: Path,
    ttl: timedelta,
    retention_days: int,
    now: Callable[[], datetime],
) -> None:
    """Build a queued export and record the outcome (done or failed); never raises
    for a failed build: the export says why."""
    with db.session(tenant_id=tenant_id, write=True) as session:
        export = get_export(session=session, export_id=export_id)
        export.status = "running"
        subject, requested_by = export.subject, export.requested_by
        session.commit()
    path = file_path(directory, tenant_id, export_id)
    try:
        built = _build(db, tenant_id, tenant, subject, path, retention_days, now())
    except Exception as exc:
        path.unlink(missing_ok=True)
        _finish(db, tenant_id, export_id, requested_by, now(), error=f"{type(exc).__name__}: {exc}")
        raise
    _finish(db, tenant_id, export_id, requested_by, now(), built=built, ttl=ttl)


def _finish(
    db: Database,
    tenant_id: int,
    export_id: str,
    actor: str,
    at: datetime,
    *,
    built: Built | None = None,
    ttl: timedelta = timedelta(0),
    error: str | None = None,
) -> None:
    with db.session(tenant_id=tenant_id, write=True) as session:
        export = get_export(session=session, export_id=export_id)
        export.finished_at, export.status = at, "failed" if error else "done"
        payload: dict[str, Any] = {"error": (error or "")[:500]}
        if built is not None:
            export.records, export.sha256 = built.records, built.sha256
            export.size_bytes, export.expires_at = built.size, at + ttl
            payload = {"records": built.records, "sha256": built.sha256}
        else:
            export.error = payload["error"]
        if export.job_id is not None:
            finish_job(session=session, job_id=export.job_id, status=export.status, now=at)
        _audit(session, actor, f"export.{export.status}", export, payload, at)
        session.commit()


@dataclass(frozen=True)
class Built:
    records: int
    sha256: str
    size: int


class _Hashing(io.RawIOBase):
    """Passes bytes through to ``inner`` while hashing and counting them."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha.update(chunk)
        self.size += len(chunk)
        self.inner.write(chunk)
        return len(chunk)


def _build(
    db: Database,
    tenant_id: int,
    tenant: str,
    subject: str,
    path: Path,
    retention_days: int,
    generated_at: datetime,
) -> Built:
    """Write the zip aside, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    head = {"tenant": tenant, "subject": subject, "generated_at": generated_at,
            "schema_version": SCHEMA_VERSION}  # fmt: skip
    with db.session(tenant_id=tenant_id) as session, ZipFile(tmp, "w", ZIP_DEFLATED) as zf:
        _snapshot(session)
        files = [_write_json(zf, session, head, subject)]
        files += [_write_csv(zf, session, source, subject) for source in SOURCES.values()]
        files += [_write_cover(zf, session, head, cover) for cover in _COVER]
        manifest = head | {
            "files": files,
            "gdpr_art15": ART15
            | {
                "categories": {name: s.category for name, s in SOURCES.items()},
                "retention_period": f"{retention_days} days after a record is deleted",
            },
        }
        zf.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    sha = hashlib.sha256()
    with tmp.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    size = tmp.stat().st_size
    tmp.replace(path)
    return Built(files[0]["rows"], sha.hexdigest(), size)


def _snapshot(session: Session) -> None:
    """Every file reads the same state: one snapshot for the whole build (SQLite's
    read transaction already is one; PostgreSQL needs REPEATABLE READ)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _write_json(
    zf: ZipFile, session: Session, head: dict[str, Any], subject: str
) -> dict[str, Any]:
    rows = 0
    with zf.open("data.json", "w") as entry:
        out = _Hashing(entry)
        out.write(orjson.dumps(head)[:-1] + b',"records":{')
        for n, source in enumerate(SOURCES.values()):
            out.write(b"," * (n > 0) + orjson.dumps(source.name) + b":[")
            for i, record in enumerate(source.rows(session, subject)):
                out.write(b"," * (i > 0) + orjson.dumps(record))
                rows += 1
            out.write(b"]")
        out.write(b"}}")
    return {"name": "data.json", "rows": rows, "sha256": out.sha.hexdigest(), "bytes": out.size}


def _write_cover(
    zf: ZipFile, session: Session, head: dict[str, Any], cover: Cover
) -> dict[str, Any]:
    page = cover(session=session, head=head)
    zf.writestr("cover.html", page)
    return {"name": "cover.html", "rows": 0, "sha256": hashlib.sha256(page).hexdigest(),
            "bytes": len(page)}  # fmt: skip


def _csv_row(source: RecordSource, record: dict[str, Any]) -> list[Any]:
    values = [_cell(record.get(column)) for column in source.columns]
    provenance = record.get("provenance") or {}
    return values + [_cell(provenance.get(name)) for name in PROVENANCE]


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def _write_csv(zf: ZipFile, session: Session, source: RecordSource, subject: str) -> dict[str, Any]:
    name, rows = f"{source.name}.csv", 0
    with zf.open(name, "w") as entry:
        out, text = _Hashing(entry), io.StringIO()
        writer = csv.writer(text)
        writer.writerow([*source.columns, *(f"provenance.{p}" for p in PROVENANCE)])
        for record in source.rows(session, subject):
            writer.writerow(_csv_row(source, record))
            rows += 1
            if text.tell() > 1 << 16:
                _drain(text, out)
        _drain(text, out)
    return {"name": name, "rows": rows, "sha256": out.sha.hexdigest(), "bytes": out.size}


def _drain(text: io.StringIO, out: _Hashing) -> None:
    out.write(text.getvalue().encode())
    text.seek(0)
    text.truncate()


# --- downloading and housekeeping -------------------------------------------------------


def open_download(
    *, session: Session, export_id: str, directory: Path, actor: str, now: datetime
) -> tuple[Export, Path]:
    """The finished export's file, and an audit entry for this download."""
    export = get_export(session=session, export_id=export_id)
    if export.status in ("queued", "running"):
        raise ExportNotReady(f"export {export_id} is {export.status}; try again shortly")
    if export.status == "failed":
        raise ExportNotReady(f"export {export_id} failed: {export.error}")
    path = file_path(directory, tenant_id_of(session), export.id)
    expired = export.expires_at is None or export.expires_at <= now
    if export.status == "expired" or expired or not path.exists():
        raise ExportGone(f"the download link of export {export_id} has expired; request a new one")
    _audit(session, actor, "export.download", export, {"subject": export.subject}, now)
    return export, path


def expire(*, session: Session, directory: Path, now: datetime) -> int:
    """Delete the files of exports whose link has expired; mark them expired."""
    due = session.scalars(
        select(Export).where(Export.status == "done", Export.expires_at <= now)
    ).all()
    for export in due:
        file_path(directory, tenant_id_of(session), export.id).unlink(missing_ok=True)
        export.status = "expired"
    session.flush()
    return len(due)


def fail_stale(*, session: Session, now: datetime, older_than: timedelta) -> int:
    """Exports stuck queued or running (their worker died) fail and free their slot."""
    stale = session.scalars(
        select(Export).where(
            Export.status.in_(("queued", "running")), Export.requested_at < now - older_than
        )
    ).all()
    for export in stale:
        export.status, export.finished_at, export.error = "failed", now, "abandoned by its worker"
        if export.job_id is not None:
            finish_job(session=session, job_id=export.job_id, status="failed", now=now)
    session.flush()
    return len(stale)


def forget(*, session: Session, before: datetime) -> int:
    """Delete finished exports requested before ``before`` (the audit log keeps
    their history), so exports do not pile up without bound."""
    old = session.scalars(
        select(Export).where(Export.status.in_(("expired", "failed")), Export.requested_at < before)
    ).all()
    for export in old:
        session.delete(export)
    session.flush()
    return len(old)
