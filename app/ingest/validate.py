"""Reading an ingest body: gzip, JSON array or NDJSON, one verdict per event.

msgspec validates each event against the SPEC's shape in about a microsecond
and keeps ``payload`` as raw bytes (``msgspec.Raw``), so a payload is never
turned into Python objects on the way to the database: it is stored as the
JSON text the sender wrote. What a database here cannot store (NUL, lone
surrogates, text that is not UTF-8) is refused per event, with a reason, so one
bad event never fails its batch. Imports no Flask and no database.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

import msgspec

from app.core.errors import DomainError

SUBJECT_MAX = 256
NAME = msgspec.Meta(min_length=1, max_length=128)


class Event(msgspec.Struct, forbid_unknown_fields=True):
    """The SPEC's event: ``{"id", "type", "ts", "source", "payload"}``."""

    id: Annotated[str, NAME]
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts: Annotated[datetime, msgspec.Meta(tz=True)]
    source: Annotated[str, NAME]
    payload: msgspec.Raw


class _Loose(msgspec.Struct):
    """What can still be read from an invalid event, to file it under its source."""

    id: Any = None
    source: Any = None


class _Subject(msgspec.Struct):
    subject: Any = None


_EVENT = msgspec.json.Decoder(Event)
_LOOSE = msgspec.json.Decoder(_Loose)
_SUBJECT = msgspec.json.Decoder(_Subject)
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
_ANY = msgspec.json.Decoder()
# "\u0000" escaped in the JSON text, not preceded by an escaped backslash.
_NUL_ESCAPE = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class Valid(NamedTuple):
    position: int  # in the batch, from 0
    event_id: str
    type: str
    ts: datetime
    source: str
    subject: str | None
    payload: str  # the sender's JSON text
    size: int  # bytes of the event as sent: what it costs against the storage quota
    raw: bytes  # the event as sent


@dataclass(frozen=True, slots=True)
class Invalid:
    position: int
    raw: bytes
    reason: str
    detail: str
    source: str | None
    event_id: str | None


class BodyError(DomainError):
    """The body as a whole cannot be read: nothing in it is ingested."""

    code = "malformed_body"


class BodyTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


def gunzip(data: bytes, *, limit: int) -> bytes:
    """Inflate a gzip body, refusing (413) past ``limit`` bytes before inflating more."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BodyError(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"the inflated body is larger than {limit} bytes; send smaller batches")
    if not inflater.eof:
        raise BodyError("the gzip body is truncated")
    return out


def elements(body: bytes) -> list[bytes]:
    """The raw events of a JSON array, or the non-blank lines of NDJSON."""
    if body.lstrip()[:1] == b"[":
        try:
            return [bytes(raw) for raw in _ELEMENTS.decode(body)]
        except msgspec.DecodeError as exc:
            raise BodyError(f"the body is not a valid JSON array: {exc}") from None
    # Lines are kept byte for byte (the DLQ keeps what was sent), less the
    # "\r" of CRLF; blank lines are not events.
    return [line.removesuffix(b"\r") for line in body.split(b"\n") if line.strip()]


def check(position: int, raw: bytes, *, max_event_bytes: int) -> Valid | Invalid:
    """One event's verdict: about two microseconds for a plain event."""
    if len(raw) > max_event_bytes:
        return _invalid(position, raw, "event_too_large", f"{len(raw)} bytes > {max_event_bytes}")
    try:
        event = _EVENT.decode(raw)
    except msgspec.ValidationError as exc:
        return _invalid(position, raw, _reason(str(exc)), str(exc))
    except msgspec.DecodeError as exc:
        return _invalid(position, raw, "malformed_json", _decode_problem(raw, exc))
    payload = bytes(event.payload)
    # Without a "\u" escape no string can hold NUL or a lone surrogate; a
    # subject, an odd year or a payload that is not an object take the long way.
    if payload[:1] != b"{" or b"\\u" in raw or b'"subject"' in payload or event.ts.year in EDGE:
        return _checked(position, raw, event, payload)
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return _invalid(position, raw, "malformed_json", "the payload is not UTF-8 text")
    return Valid(position, event.id, event.type, event.ts, event.source, None, text, len(raw), raw)


EDGE = frozenset({1, 9999})  # years that may leave the calendar in UTC


def _checked(position: int, raw: bytes, event: Event, payload: bytes) -> Valid | Invalid:
    problem = _unstorable(event, payload)
    if problem is not None:
        return _invalid(position, raw, *problem)
    subject = None
    if b'"subject"' in payload:
        subject = _SUBJECT.decode(payload).subject
        if not isinstance(subject, str):
            subject = None  # only a string names a data subject
        elif len(subject) > SUBJECT_MAX:
            detail = f"payload.subject is longer than {SUBJECT_MAX} characters"
            return _invalid(position, raw, "invalid_field", detail)
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return _invalid(position, raw, "malformed_json", "the payload is not UTF-8 text")
    return Valid(
        position, event.id, event.type, event.ts, event.source, subject, text, len(raw), raw
    )


def _unstorable(event: Event, payload: bytes) -> tuple[str, str] | None:
    if payload[:1] != b"{":
        return "invalid_field", "Expected `object` - at `$.payload`"
    if "\x00" in event.id or "\x00" in event.type or "\x00" in event.source:
        return "unsupported_value", "a field contains a NUL character"
    if event.ts.year in EDGE:
        try:
            event.ts.astimezone(UTC)
        except OverflowError:
            return "invalid_field", "the time is out of range in UTC - at `$.ts`"
    if b"\\u" in payload:
        if _NUL_ESCAPE.search(payload):
            return "unsupported_value", "the payload contains a NUL character"
        try:
            _ANY.decode(payload)
        except msgspec.DecodeError as exc:
            return "unsupported_value", f"the payload is not storable text: {exc}"
    return None


def _decode_problem(raw: bytes, exc: msgspec.DecodeError) -> str:
    # msgspec reports a lone surrogate escape inside a skipped value (the raw
    # payload) as truncated input: say what is really wrong.
    if _SURROGATE.search(raw):
        return "JSON is malformed: a lone UTF-16 surrogate escape is not text"
    return str(exc)


def _reason(message: str) -> str:
    if message.startswith("Object missing required field"):
        return "missing_field"
    if message.startswith("Object contains unknown field"):
        return "unknown_field"
    return "invalid_field"


def _invalid(index: int, raw: bytes, reason: str, detail: str) -> Invalid:
    source = event_id = None
    try:
        loose = _LOOSE.decode(raw)
    except msgspec.DecodeError:
        pass
    else:
        source = _name(loose.source)
        event_id = _name(loose.id)
    return Invalid(index, raw, reason, detail, source, event_id)


def _name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 128 and "\x00" not in value:
        return value
    return None


def parse(body: bytes, *, max_event_bytes: int) -> list[Valid | Invalid]:
    limit = max_event_bytes
    return [check(i, raw, max_event_bytes=limit) for i, raw in enumerate(elements(body))]


def sqlite_time(value: datetime) -> str:
    """What UTCDateTime stores on SQLite (naive UTC in SQLAlchemy's text format,
    microseconds always), for rows written below the ORM."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
