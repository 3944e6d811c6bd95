"""Votes on search results and their aggregates. Imports no Flask.

Every function takes a tenant-scoped session (app.core.tenancy): another
tenant's entities and votes are simply not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.util.typing import TupleAny

from app.core.errors import Invalid, NotFound
from app.feedback.models import DOWN, UP, Vote
from app.graph import service as graph
from app.graph.models import Entity

EXPORT_COLUMNS = (
    "id", "voted_at", "day", "dataset", "entity_id", "entity_name", "query", "vote", "voter",
    "created_at",
)  # fmt: skip


def normalize_query(text: str) -> str:
    """The query as votes key it: words split on whitespace, rejoined by one
    space, case-folded (search is case-insensitive, so "Rocket" and "rocket "
    are the same question); at most 256 characters (case folding can lengthen)."""
    return " ".join(text.split()).casefold()[:256]


@dataclass(frozen=True)
class Cast:
    """The stored vote, and the caller's earlier vote on it when this replaced one."""

    vote: Vote
    previous: str | None


def cast_vote(
    *,
    session: Session,
    entity_id: str,
    query: str,
    vote: str,
    dataset: str | None,
    voter: str,
    dataset_scope: str | None,
    now: datetime,
) -> Cast:
    """Record ``voter``'s vote on a live entity of the tenant for ``query``; a
    second vote on the same (query, entity) replaces the first (last wins).

    ``dataset``, when given, must be the entity's (else NotFound, as for an
    entity of another dataset); by default the vote counts in the entity's.
    """
    if vote not in (UP, DOWN):
        raise Invalid(f"vote must be {UP!r} or {DOWN!r}")
    key = normalize_query(query)
    if not key:
        raise Invalid("query: give the search the vote is about")
    entity = graph.get_entity(session=session, entity_id=entity_id, dataset=dataset_scope)
    if dataset is not None and dataset != entity.dataset:
        raise NotFound(f"entity {entity_id} is not in dataset {dataset}")
    existing = _existing(session, voter=voter, query=key, entity_id=entity.id)
    if existing is None:
        row = Vote(entity_id=entity.id, query=key, vote=vote, dataset=entity.dataset,
                   voter=voter, created_at=now, voted_at=now, voted_on=now.date())  # fmt: skip
        try:
            with session.begin_nested():  # a concurrent first vote of the same user
                session.add(row)
            return Cast(row, None)
        except IntegrityError:
            existing = _existing(session, voter=voter, query=key, entity_id=entity.id)
            assert existing is not None
    previous = existing.vote
    existing.vote, existing.dataset = vote, entity.dataset
    existing.voted_at, existing.voted_on = now, now.date()
    session.flush()
    return Cast(existing, previous)


def _existing(session: Session, *, voter: str, query: str, entity_id: str) -> Vote | None:
    found = session.scalars(
        select(Vote).where(Vote.voter == voter, Vote.query == query, Vote.entity_id == entity_id)
    )
    return found.one_or_none()


def votes_of(*, session: Session, voter: str, query: str, entity_ids: list[str]) -> dict[str, str]:
    """``voter``'s current vote on each of these results of ``query``: entity id -> up|down."""
    key = normalize_query(query)
    if not key or not entity_ids:
        return {}
    rows = session.execute(
        select(Vote.entity_id, Vote.vote).where(
            Vote.voter == voter, Vote.query == key, Vote.entity_id.in_(entity_ids)
        )
    )
    return {entity_id: value for entity_id, value in rows}  # noqa: C416 - Rows, not pairs


@dataclass
class Tally:
    """Thumbs up and down of one group; ``ratio`` is the share of ups (None without votes)."""

    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def ratio(self) -> float | None:
        return round(self.up / self.total, 4) if self.total else None

    def add(self, vote: str, count: int) -> None:
        if vote == UP:
            self.up += count
        else:
            self.down += count


@dataclass
class DatasetTally(Tally):
    dataset: str = ""


@dataclass
class DayTally(Tally):
    day: date = date.min


@dataclass
class Summary:
    totals: Tally = field(default_factory=Tally)
    by_dataset: list[DatasetTally] = field(default_factory=list)
    by_day: list[DayTally] = field(default_factory=list)


def _filtered(
    statement: Select[*TupleAny], *, dataset: str | None, since: date | None, until: date | None
) -> Select[*TupleAny]:
    if dataset:
        statement = statement.where(Vote.dataset == dataset)
    if since is not None:
        statement = statement.where(Vote.voted_on >= since)
    if until is not None:
        statement = statement.where(Vote.voted_on <= until)
    return statement


def summary(
    *, session: Session, dataset: str | None, since: date | None, until: date | None
) -> Summary:
    """The tenant's current votes (each user's latest per query and result),
    counted by dataset and by UTC day of the vote; days between ``since`` and
    ``until`` inclusive. Datasets sorted by name, days oldest first."""
    counted = _filtered(
        select(Vote.dataset, Vote.voted_on, Vote.vote, func.count()).group_by(
            Vote.dataset, Vote.voted_on, Vote.vote
        ),
        dataset=dataset, since=since, until=until,
    )  # fmt: skip
    result = Summary()
    datasets: dict[str, DatasetTally] = {}
    days: dict[date, DayTally] = {}
    for name, day, vote, count in session.execute(counted):
        result.totals.add(vote, count)
        datasets.setdefault(name, DatasetTally(dataset=name)).add(vote, count)
        days.setdefault(day, DayTally(day=day)).add(vote, count)
    result.by_dataset = [datasets[name] for name in sorted(datasets)]
    result.by_day = [days[day] for day in sorted(days)]
    return result


def export_rows(
    *, session: Session, dataset: str | None, since: date | None, until: date | None
) -> Iterator[tuple[Any, ...]]:
    """Every current vote with its entity's name, oldest first, as EXPORT_COLUMNS."""
    rows = _filtered(
        select(
            Vote.id, Vote.voted_at, Vote.voted_on, Vote.dataset, Vote.entity_id, Entity.name,
            Vote.query, Vote.vote, Vote.voter, Vote.created_at,
        )
        .join(Entity, Entity.id == Vote.entity_id)
        .order_by(Vote.voted_at, Vote.id),
        dataset=dataset, since=since, until=until,
    )  # fmt: skip
    for row in session.execute(rows.execution_options(yield_per=500)):
        yield tuple(row)
