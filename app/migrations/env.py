"""Alembic environment: run by app.migrate with a connection it provides."""

from __future__ import annotations

from alembic import context

from app import schema  # noqa: F401 - registers every table on Base.metadata
from app.core.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
