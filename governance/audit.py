"""The tamper-evident audit log: one append-only hash chain per tenant. Imports no Flask.

Every entry carries ``seq`` (1, 2, 3… per tenant), ``prev_hash`` (the hash of
entry ``seq - 1``; 64 zeros for the first) and ``hash``: SHA-256 over canonical
JSON (sorted keys, no whitespace, UTF-8) of the entry's fields, which hold the
SHA-256 of the payload rather than the payload, so a payload holding personal
data can be deleted without breaking the chain. The database refuses UPDATE
and DELETE on the chain (triggers, see migration 0020); someone who bypasses
them is caught by :func:`verify`, which recomputes every link and compares the
chain with checkpoints: chain heads signed (Ed25519) with a key that lives
outside the database, so a rolled-back chain cannot match a later checkpoint.

:func:`append` is the one way any feature writes the audit log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection, String, delete, insert, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    AuditPayload,
    AuditVerification,
)

GENESIS: Final = "0" * 64
VERSION: Final = 1
_SORTED = orjson.OPT_SORT_KEYS


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, datetimes as RFC 3339."""
    return orjson.dumps(value, option=_SORTED)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def entry_hash(
    *,
    tenant_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    payload_sha256: str,
    prev_hash: str,
) -> str:
    return digest(
        {
            "v": VERSION,
            "tenant_id": tenant_id,
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "payload_sha256": payload_sha256,
            "prev_hash": prev_hash,
        }
    )


@dataclass(frozen=True, slots=True)
class Appended:
    id: int
    seq: int
    hash: str


def append(
    *,
    session: Session,
    tenant_id: int,
    actor: str,
    action: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
) -> Appended:
    """Add one entry to the tenant's chain, in the caller's transaction.

    ``action`` is dotted (``hold.place``), ``target`` names what was acted on
    (``entity:<id>``, ``hold:<id>``); ``payload`` holds the details (JSON
    values) and is the only part that may hold personal data."""
    payload = orjson.loads(orjson.dumps(payload))  # what the JSON column will give back
    now = now.astimezone(UTC)  # the hash covers the time as the database returns it
    seq, prev = _lock_head(session, tenant_id)
    seq += 1
    payload_sha256 = digest(payload)
    link = entry_hash(
        tenant_id=tenant_id, seq=seq, at=now, actor=actor, action=action, target=target,
        payload_sha256=payload_sha256, prev_hash=prev,
    )  # fmt: skip
    fields = {"tenant_id": tenant_id, "seq": seq, "at": now, "actor": actor, "action": action}
    fields |= {"target": target, "payload_sha256": payload_sha256, "prev_hash": prev}
    entry_id = session.execute(
        insert(AuditEntry).values(**fields, hash=link).returning(AuditEntry.id)
    ).scalar_one()
    session.execute(
        insert(AuditPayload).values(entry_id=entry_id, tenant_id=tenant_id, at=now, payload=payload)
    )
    session.execute(
        update(AuditHead).where(AuditHead.tenant_id == tenant_id).values(seq=seq, hash=link)
    )
    return Appended(entry_id, seq, link)


def _lock_head(session: Session, tenant_id: int) -> tuple[int, str]:
    """The tenant's head, locked until the caller's transaction ends (PostgreSQL;
    SQLite's writers are serialised by BEGIN IMMEDIATE)."""
    query = select(AuditHead.seq, AuditHead.hash).where(AuditHead.tenant_id == tenant_id)
    row = session.execute(query.with_for_update()).first()
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(AuditHead).values(tenant_id=tenant_id, seq=0, hash=GENESIS))
        except IntegrityError:
            pass  # another writer made it first; the lock below waits for it
        row = session.execute(query.with_for_update()).one()
    return int(row.seq), str(row.hash)


# --- search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    limit: int = 100


def search(*, session: Session, tenant_id: int, query: Query) -> list[dict[str, Any]]:
    """The tenant's entries matching every given filter, newest first, with their
    payloads (None once purged). ``action`` matches a prefix at a dot:
    ``hold`` finds ``hold.place`` and ``hold.release``."""
    statement = (
        select(AuditEntry, AuditPayload.payload)
        .outerjoin(AuditPayload, AuditPayload.entry_id == AuditEntry.id)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.seq.desc())
        .limit(query.limit)
    )
    if query.actor:
        statement = statement.where(AuditEntry.actor == query.actor)
    if query.action:
        action = AuditEntry.action
        statement = statement.where(
            (action == query.action) | action.startswith(query.action + ".", autoescape=True)
        )
    if query.target:
        statement = statement.where(AuditEntry.target == query.target)
    if query.since:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until:
        statement = statement.where(AuditEntry.at < query.until)
    if query.before_seq is not None:
        statement = statement.where(AuditEntry.seq < query.before_seq)
    return [_as_dict(entry, payload) for entry, payload in session.execute(statement)]


def _as_dict(entry: AuditEntry, payload: dict[str, Any] | None) -> dict[str, Any]:
    names = ("seq", "at", "actor", "action", "target", "payload_sha256", "prev_hash", "hash")
    return {name: getattr(entry, name) for name in names} | {"payload": payload}


def forget_payloads(*, session: Session, tenant_id: int, before: datetime) -> int:
    """Delete the payloads (the personal data) of entries older than ``before``;
    the chain keeps their digests and stays verifiable."""
    result = session.execute(
        delete(AuditPayload).where(AuditPayload.tenant_id == tenant_id, AuditPayload.at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- signing and checkpoints ------------------------------------------------------------


class Signer:
    """Signs and checks checkpoints with an Ed25519 key; anyone holding the public
    key (``public_pem``) can check an exported checkpoint, nobody can forge one."""

    def __init__(self, seed: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public: Ed25519PublicKey = self._private.public_key()
        raw = self.public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @property
    def public_pem(self) -> str:
        return self.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def valid(self, message: bytes, signature: str, key_id: str) -> bool:
        if key_id != self.key_id:
            return False
        try:
            self.public.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tenant_id: int
    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: str

    def message(self) -> bytes:
        return checkpoint_message(self.tenant_id, self.seq, self.hash, self.at)

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            int(data["tenant_id"]),
            int(data["seq"]),
            str(data["hash"]),
            datetime.fromisoformat(str(data["at"])),
            str(data["key_id"]),
            str(data["signature"]),
        )


def checkpoint_message(tenant_id: int, seq: int, head: str, at: datetime) -> bytes:
    return canonical({"v": VERSION, "tenant_id": tenant_id, "seq": seq, "hash": head, "at": at})


def checkpoints(*, session: Session | Connection, tenant_id: int) -> list[Checkpoint]:
    rows = session.execute(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.tenant_id == tenant_id)
        .order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
    ).scalars()
    return [Checkpoint(r.tenant_id, r.seq, r.hash, r.at, r.key_id, r.signature) for r in rows]


def checkpoint(
    *, session: Session, tenant_id: int, signer: Signer, now: datetime
) -> Checkpoint | None:
    """Sign the tenant's chain head, after checking the links added since the
    last checkpoint (a checkpoint must never bless a tampered chain). None when
    the chain is empty or has not grown; raises ChainBroken when it is broken."""
    known = checkpoints(session=session, tenant_id=tenant_id)
    last = known[-1] if known else None
    result = verify(session=session, tenant_id=tenant_id, signer=signer, from_checkpoint=last)
    if not result.ok:
        raise ChainBroken(result)
    if result.head_seq == 0 or (last is not None and last.seq == result.head_seq):
        return None
    message = checkpoint_message(tenant_id, result.head_seq, result.head_hash, now)
    made = Checkpoint(
        tenant_id, result.head_seq, result.head_hash, now, signer.key_id, signer.sign(message)
    )
    session.execute(insert(AuditCheckpoint).values(**made.as_json() | {"at": now}))
    return made


class ChainBroken(RuntimeError):
    def __init__(self, result: VerifyResult) -> None:
        super().__init__(f"audit chain broken at seq {result.first_bad_seq}: {result.reason}")
        self.result = result


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS

    def as_json(self) -> dict[str, Any]:
        """SPEC's shape: {ok, checked} or {ok, first_bad_seq, reason}."""
        if self.ok:
            return {"ok": True, "checked": self.checked}
        return {
            "ok": False,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "checked": self.checked,
        }


_ENTRIES, _PAYLOADS = AuditEntry.__table__.c, AuditPayload.__table__.c
# Core columns, not ORM ones (the ORM costs ~10 µs a row here), and the payload
# as the driver gives it: SQLite's JSON text is parsed by orjson below, ~20x
# faster than the JSON type's own json.loads.
_CHAIN = (
    _ENTRIES.seq,
    _ENTRIES.at,
    _ENTRIES.actor,
    _ENTRIES.action,
    _ENTRIES.target,
    _ENTRIES.payload_sha256,
    _ENTRIES.prev_hash,
    _ENTRIES.hash,
    type_coerce(_PAYLOADS.payload, String()),
)


def _rows(session: Session | Connection, tenant_id: int, after_seq: int) -> Iterator[Any]:
    statement = (
        select(*_CHAIN)
        .select_from(AuditEntry.__table__.outerjoin(AuditPayload.__table__,
                                                    _PAYLOADS.entry_id == _ENTRIES.id))
        .where(_ENTRIES.tenant_id == tenant_id, _ENTRIES.seq >= after_seq)
        .order_by(_ENTRIES.seq, _ENTRIES.id)
    )  # fmt: skip
    connection = session.connection() if isinstance(session, Session) else session
    # On the statement, not the connection: Connection.execution_options changes
    # the connection itself, and the next INSERT would go to a server-side cursor.
    yield from connection.execute(statement.execution_options(yield_per=10_000))


def verify(
    *,
    session: Session | Connection,
    tenant_id: int,
    signer: Signer,
    extra_checkpoints: Iterable[Checkpoint] = (),
    from_checkpoint: Checkpoint | None = None,
) -> VerifyResult:
    """Recompute the tenant's chain and hold it against every checkpoint (stored,
    and ``extra_checkpoints`` kept elsewhere, e.g. an auditor's export).

    Names the first bad ``seq``: an entry changed (its hash or its payload's
    digest no longer matches), missing (a gap), inserted (a duplicate seq, or a
    link that does not follow), moved (a hash covers its seq), or the chain
    rolled back (a checkpoint signed a seq it no longer reaches, or a
    different hash at that seq). ``from_checkpoint`` trusts a checkpoint
    and checks only what follows it."""
    stored = checkpoints(session=session, tenant_id=tenant_id)
    marks, bad = _checkpoint_marks([*stored, *extra_checkpoints], tenant_id, signer)
    if bad is not None:
        return bad
    start, prev = 1, GENESIS
    if from_checkpoint is not None:
        start, prev = from_checkpoint.seq, from_checkpoint.hash
        marks = {from_checkpoint.seq: from_checkpoint.hash}
    result = _walk(_rows(session, tenant_id, start), tenant_id, start, prev, marks, from_checkpoint)
    if result.ok and marks and max(marks) > result.head_seq:
        beyond = max(marks)
        return VerifyResult(
            False,
            result.checked,
            result.head_seq + 1,
            f"rolled back: a signed checkpoint reached seq {beyond}, "
            f"the chain now ends at seq {result.head_seq}",
            result.head_seq,
            result.head_hash,
        )
    return result


def _checkpoint_marks(
    found: list[Checkpoint], tenant_id: int, signer: Signer
) -> tuple[dict[int, str], VerifyResult | None]:
    marks: dict[int, str] = {}
    for mark in sorted(found, key=lambda c: c.seq):
        if mark.tenant_id != tenant_id:
            continue
        if not signer.valid(mark.message(), mark.signature, mark.key_id):
            reason = f"the checkpoint at seq {mark.seq} has no valid signature"
            return {}, VerifyResult(False, 0, mark.seq, reason)
        if marks.get(mark.seq, mark.hash) != mark.hash:
            reason = f"two signed checkpoints disagree about seq {mark.seq}"
            return {}, VerifyResult(False, 0, mark.seq, reason)
        marks[mark.seq] = mark.hash
    return marks, None


def _walk(
    rows: Iterator[Any],
    tenant_id: int,
    start: int,
    prev: str,
    marks: dict[int, str],
    anchor: Checkpoint | None,
) -> VerifyResult:
    """The hot loop (≥ 200,000 entries/s): locals only, one hash per entry."""
    expected, checked = start, 0
    sha256, dumps, loads = hashlib.sha256, orjson.dumps, orjson.loads
    if anchor is not None:  # the anchor's own entry must still be there, unchanged
        first = next(rows, None)
        if first is None or first[0] != anchor.seq or first[7] != anchor.hash:
            return VerifyResult(False, 0, anchor.seq, "differs from its signed checkpoint")
        expected, checked = anchor.seq + 1, 1
    for seq, at, actor, action, target, payload_sha256, prev_hash, link, payload in rows:
        checked += 1
        problem = None
        if seq != expected:
            problem = f"entry {expected} is missing" if seq > expected else "a second entry"
            seq = min(seq, expected)
        elif prev_hash != prev:
            problem = "does not link to the entry before it (inserted or reordered)"
        elif link != sha256(
            dumps(
                {"action": action, "actor": actor, "at": at, "payload_sha256": payload_sha256,
                 "prev_hash": prev_hash, "seq": seq, "target": target, "tenant_id": tenant_id,
                 "v": VERSION},
                option=_SORTED,
            )
        ).hexdigest():  # fmt: skip
            problem = "its hash does not match its contents (changed or moved)"
        elif (
            payload is not None
            and payload_sha256
            != sha256(
                dumps(loads(payload) if isinstance(payload, str) else payload, option=_SORTED)
            ).hexdigest()
        ):
            problem = "its payload does not match the digest in the chain (changed)"
        elif marks.get(seq, link) != link:
            problem = "differs from its signed checkpoint (rolled back or rewritten)"
        if problem:
            return VerifyResult(False, checked, seq, problem, expected - 1, prev)
        prev, expected = link, expected + 1
    return VerifyResult(True, checked, None, None, expected - 1, prev)


def record(*, session: Session, tenant_id: int, result: VerifyResult, now: datetime) -> None:
    """Keep the tenant's latest verification (shown on the governance page)."""
    row = session.get(AuditVerification, tenant_id)
    if row is None:
        row = AuditVerification(tenant_id=tenant_id)
        session.add(row)
    row.at, row.ok, row.checked = now, result.ok, result.checked
    row.first_bad_seq, row.reason = result.first_bad_seq, result.reason
    session.flush()


def latest(*, session: Session, tenant_id: int) -> AuditVerification | None:
    return session.get(AuditVerification, tenant_id)
