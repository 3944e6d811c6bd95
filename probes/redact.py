"""Secrets out of a probe's artifacts: what an operator downloads never holds
the synthetic user's password or a session that still works.

A Playwright trace records the login form being filled (the password as typed),
the DOM snapshots (the input's value), the form POST (the password, URL-encoded)
and every request's cookies. Each file of the trace zip is rewritten with every
spelling of every secret replaced (as typed, URL-encoded, JSON-escaped); the
run also logs out before it ends, so a cookie that slipped through is dead.
Imports no Flask.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

REDACTED = b"[redacted]"


def spellings(secret: str) -> set[bytes]:
    """The ways a secret appears in HTTP traffic, HTML and JSON."""
    if not secret:
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    return {form.encode() for form in forms if form}


def scrub_bytes(data: bytes, secrets: Iterable[bytes]) -> bytes:
    # Longest first: a secret that contains another is replaced whole.
    for secret in sorted(secrets, key=len, reverse=True):
        data = data.replace(secret, REDACTED)
    return data


def scrub_zip(path: Path, secrets: Iterable[str]) -> int:
    """Rewrite the zip at ``path`` without ``secrets``; returns the files changed.
    Written aside and renamed into place: a crash leaves the old file or the
    new one, never half of one."""
    forms = set().union(*(spellings(secret) for secret in secrets))
    if not forms:
        return 0
    changed = 0
    fd, aside = tempfile.mkstemp(dir=path.parent, suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(aside, "w") as target:
            for item in source.infolist():
                data = source.read(item)
                clean = scrub_bytes(data, forms)
                changed += clean != data
                target.writestr(item, clean, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(aside, path)
    finally:
        Path(aside).unlink(missing_ok=True)
    return changed
