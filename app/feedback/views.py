"""The feedback API: vote on a search result, read the aggregates, export CSV.
A thin adapter over app.feedback.service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apiflask import APIBlueprint
from flask import Response
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.feedback import service as feedback
from app.feedback.schemas import RangeQuery, SummaryOut, VoteIn, VoteOut
from app.graph import service as graph
from app.web.context import db_session, principal, read_session, services
from app.web.csvstream import streamed_csv
from app.web.guard import requires

bp = APIBlueprint("feedback", __name__, url_prefix="/api/v1/feedback", tag="Feedback")
CSV: dict[int | str, Any] = {200: {"description": "CSV", "content": {"text/csv": {}}}}
STORED = tuple(name for name in VoteOut().fields if name != "previous")


@bp.post("")
@requires("vote")
@bp.input(VoteIn, arg_name="body")
@bp.output(VoteOut, status_code=201)
@bp.doc(responses={404: "no such entity in your tenant (or not in the dataset named)"})
def vote(body: dict[str, Any]) -> Any:
    """Thumbs up or down on one search result. One vote per user, query and
    entity: voting again on the same pair replaces the earlier vote (last wins)."""
    caller = principal()
    cast = feedback.cast_vote(
        session=db_session(), entity_id=body["entity_id"], query=body["query"],
        vote=body["vote"], dataset=body.get("dataset"), voter=caller.username,
        dataset_scope=graph.dataset_scope(caller.role), now=utcnow(),
    )  # fmt: skip
    services().metrics.feedback_votes.labels(cast.vote.vote).inc()
    stored = {name: getattr(cast.vote, name) for name in STORED}
    return {**stored, "previous": cast.previous}


@bp.get("/summary")
@requires("read_feedback")
@bp.input(RangeQuery, location="query", arg_name="query")
@bp.output(SummaryOut)
def summary(query: dict[str, Any]) -> Any:
    """Your tenant's votes counted by dataset and by UTC day (each user's
    latest vote per query and result), optionally for one dataset and between
    two days (inclusive)."""
    return feedback.summary(
        session=read_session(), dataset=query.get("dataset"),
        since=query.get("since"), until=query.get("until"),
    )  # fmt: skip


@bp.get("/export.csv")
@requires("read_feedback")
@bp.input(RangeQuery, location="query", arg_name="query")
@bp.doc(responses=CSV)
def export(query: dict[str, Any]) -> Response:
    """Every current vote of your tenant as CSV, oldest first (streamed). Cells
    a spreadsheet would run as formulas are quoted."""
    return csv_response(tenant_id=principal().tenant_id, query=query)


def csv_response(*, tenant_id: int | None, query: dict[str, Any]) -> Response:
    """The export, streamed; also what the /feedback page's link downloads."""

    def rows(session: Session) -> Iterator[list[Any]]:
        for row in feedback.export_rows(
            session=session, dataset=query.get("dataset"),
            since=query.get("since"), until=query.get("until"),
        ):  # fmt: skip
            yield [_text(value) for value in row]

    return streamed_csv(
        services().db, tenant_id=tenant_id, header=feedback.EXPORT_COLUMNS, rows=rows,
        filename="feedback.csv",
    )  # fmt: skip


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
