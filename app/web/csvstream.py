"""CSV downloads streamed from the database, spreadsheet-safe."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flask import Response
from sqlalchemy.orm import Session

from app.core import csvcells
from app.core.db import Database

CHUNK = 65536  # bytes of CSV buffered before each write to the client


def streamed_csv(
    db: Database,
    *,
    tenant_id: int | None,
    header: Sequence[str],
    rows: Callable[[Session], Iterable[Iterable[Any]]],
    filename: str,
) -> Response:
    """``header`` then ``rows(session)`` as CSV, each cell a spreadsheet would run
    as a formula quoted (app.core.csvcells). The rows are read in a session of
    their own, closed when the stream ends or the client goes away (WSGI closes
    the iterator): the request's session is gone by then, and a server-side
    cursor left open would hold a transaction."""

    def lines() -> Iterator[str]:
        session = db.session(tenant_id=tenant_id)
        try:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(header)
            for row in rows(session):
                writer.writerow(csvcells.row(row))
                if buffer.tell() > CHUNK:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()
        finally:
            session.close()

    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
