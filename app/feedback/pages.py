"""The feedback pages: the vote form behind the thumbs on /search, the
/feedback view of the aggregates, and its CSV download."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from app.core.db import utcnow
from app.feedback import service as feedback
from app.feedback.schemas import RangeQuery, VoteIn
from app.feedback.views import csv_response
from app.graph import service as graph
from app.web.context import db_session, principal, read_session, services
from app.web.docs import PAGE, WEB_UI, html
from app.web.errors import api_error
from app.web.guard import requires

bp = APIBlueprint("feedback_pages", __name__, tag=WEB_UI)
FILTERS = ("dataset", "since", "until")
CHART_WIDTH, CHART_HEIGHT = 600, 120  # the SVG's user units; CSS scales it to the page
MIN_CHART_DAYS = 14
MAX_CHART_DAYS = 366  # beyond a year the chart shows only the days with votes


@bp.post("/feedback/vote")
@requires("vote", via="web")
@bp.doc(
    responses=html(
        s302="back to the search, at the result", s400="invalid form or CSRF token",
        s403="the role may not", s404="no such entity in your tenant",
    )
)  # fmt: skip
def vote_form() -> Response:
    """Thumbs up or down on a search result (the buttons on /search); voting
    again on the same query and result replaces the earlier vote."""
    fields = {name: request.form.get(name, "") for name in ("query", "entity_id", "vote")}
    try:
        body = VoteIn().load(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{name}: {' '.join(errs)}" for name, errs in exc.messages_dict.items()
        )
        raise api_error(400, "validation_error", f"That vote did not work ({problems}).") from None
    caller = principal()
    cast = feedback.cast_vote(
        session=db_session(), entity_id=body["entity_id"], query=body["query"],
        vote=body["vote"], dataset=None, voter=caller.username,
        dataset_scope=graph.dataset_scope(caller.role), now=utcnow(),
    )  # fmt: skip
    services().metrics.feedback_votes.labels(cast.vote.vote).inc()
    flash(f"Thanks: your thumbs {cast.vote.vote} is recorded for this result of "
          f"“{body['query']}”.", "info")  # fmt: skip
    back = url_for("graph_pages.search_page", q=body["query"])
    return redirect(f"{back}#result-{cast.vote.entity_id}")


def _filters() -> dict[str, Any]:
    """The page's filters; one that does not parse is dropped with a message."""
    given = {name: request.args.get(name, "").strip() for name in FILTERS}
    try:
        loaded: dict[str, Any] = RangeQuery().load({k: v for k, v in given.items() if v})
    except ValidationError as exc:
        bad = ", ".join(sorted(exc.messages_dict))
        flash(
            f"Filters ignored: {bad} not valid (days as 2026-11-27, since before until).", "error"
        )
        return {}
    return loaded


@dataclass(frozen=True)
class Bar:
    day: date
    x: float
    width: float
    up_y: float
    up_height: float
    down_y: float
    down_height: float
    label: str


def chart_bars(days: list[feedback.DayTally]) -> list[Bar]:
    """One stacked bar a day (ups on top of downs), scaled to the busiest day;
    days without votes between the first and the last stay as gaps, and the
    chart spans at least MIN_CHART_DAYS (one day of votes is a bar, not a wall)."""
    if not days:
        return []
    by_day = {day.day: day for day in days}
    first = min(days[0].day, days[-1].day - timedelta(MIN_CHART_DAYS - 1))
    span = (days[-1].day - first).days + 1
    if span <= MAX_CHART_DAYS:
        days = [by_day.get(first + timedelta(n)) or feedback.DayTally(
            day=first + timedelta(n)) for n in range(span)]  # fmt: skip
    slot = CHART_WIDTH / len(days)
    peak = max(day.total for day in days) or 1
    bars = []
    for index, day in enumerate(days):
        down_h = CHART_HEIGHT * day.down / peak
        up_h = CHART_HEIGHT * day.up / peak
        bars.append(Bar(
            day=day.day, x=round(index * slot + slot * 0.1, 2), width=round(slot * 0.8, 2),
            up_y=round(CHART_HEIGHT - down_h - up_h, 2), up_height=round(up_h, 2),
            down_y=round(CHART_HEIGHT - down_h, 2), down_height=round(down_h, 2),
            label=f"{day.day.isoformat()}: {day.up} up, {day.down} down",
        ))  # fmt: skip
    return bars


@bp.get("/feedback")
@requires("read_feedback", via="web")
@bp.doc(responses=PAGE)
def feedback_page() -> str:
    """Votes on search results by dataset and over time, with a CSV export."""
    filters = _filters()
    result = feedback.summary(
        session=read_session(), dataset=filters.get("dataset"),
        since=filters.get("since"), until=filters.get("until"),
    )  # fmt: skip
    return render_template(
        "feedback.html", caller=principal(), summary=result, bars=chart_bars(result.by_day),
        chart={"width": CHART_WIDTH, "height": CHART_HEIGHT},
        filters={name: request.args.get(name, "") for name in FILTERS},
        export_args={k: v.isoformat() if isinstance(v, date) else v for k, v in filters.items()},
    )  # fmt: skip


@bp.get("/feedback/export.csv")
@requires("read_feedback", via="web")
@bp.doc(
    responses=html(s302="to /login when not logged in", s403="the role may not")
    | {200: {"description": "CSV", "content": {"text/csv": {}}}}
)
def export_page() -> Response:
    """The /feedback page's CSV download (the same file as the API's export)."""
    return csv_response(tenant_id=principal().tenant_id, query=_filters())
