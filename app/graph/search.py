"""Full-text search over entity names and attribute values. Imports no Flask.

SQLite: FTS5 (external content, see migration 0001), ranked by bm25 with the
name weighted 10x the attributes. PostgreSQL: a generated tsvector with a GIN
index, ranked by ts_rank (name weight A, attributes B). Both match every
query word as a prefix, so "rock" finds "Rocket"; both see only the caller's
tenant and only live entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from app.graph.models import Entity

MAX_TERMS = 8
_WORD = re.compile(r"\w+", re.UNICODE)

_fts = table("entity_fts", column("rowid"))


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    name: str
    kind: str
    dataset: str
    score: float


def terms(query: str) -> list[str]:
    """The words of a query, at most MAX_TERMS: no operator syntax reaches the engine."""
    return _WORD.findall(query.lower())[:MAX_TERMS]


def search_entities(
    *,
    session: Session,
    query: str,
    limit: int,
    offset: int = 0,
    dataset: str | None = None,
) -> list[Hit]:
    words = terms(query)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if dialect == "sqlite":
        params["match"] = " AND ".join(f'"{word}"*' for word in words)
    else:
        params["tsquery"] = " & ".join(f"{word}:*" for word in words)
    if dataset:
        params["dataset"] = dataset
    rows = session.execute(_statement(dialect, bool(dataset)), params).all()
    return [Hit(r.id, r.name, r.kind, r.dataset, round(float(r.score), 4)) for r in rows]


@cache
def _statement(dialect: str, by_dataset: bool) -> Select[Any]:
    """Built once per shape; the words, tenant and page arrive as bound parameters."""
    statement = _sqlite_query() if dialect == "sqlite" else _postgresql_query()
    statement = statement.where(Entity.deleted_at.is_(None))
    if by_dataset:
        statement = statement.where(Entity.dataset == bindparam("dataset"))
    return statement.limit(bindparam("limit")).offset(bindparam("offset"))


def _sqlite_query() -> Select[Any]:
    # The ORM's tenant criteria filter the joined entity rows.
    rank = func.bm25(literal_column("entity_fts"), 10.0, 1.0)
    return (
        select(Entity.id, Entity.name, Entity.kind, Entity.dataset, (-rank).label("score"))
        .select_from(_fts)
        .join(Entity, Entity.pk == _fts.c.rowid)
        .where(literal_column("entity_fts").op("MATCH")(bindparam("match")))
        .order_by(rank, Entity.pk)
    )


def _postgresql_query() -> Select[Any]:
    tsquery = func.to_tsquery("simple", bindparam("tsquery"))
    vector: ColumnElement[Any] = literal_column("entities.search_vector")
    score = func.ts_rank(vector, tsquery)
    return (
        select(Entity.id, Entity.name, Entity.kind, Entity.dataset, score.label("score"))
        .where(vector.op("@@")(tsquery))
        .order_by(score.desc(), Entity.pk)
    )
