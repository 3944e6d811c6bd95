"""The DPIA inventory is generated from the models: every table is classified, the
map names only columns that exist, and a table nobody classified is called out."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table

from app import schema  # noqa: F401 - every model
from app.core.db import Base
from app.evidence import inventory
from app.settings import Settings


def settings(tmp_path: Path) -> Settings:
    return Settings(SUMMIT_VAR_DIR=tmp_path, SUMMIT_DECISION_LOG_RETENTION_DAYS=12)  # type: ignore[call-arg]


def test_every_table_of_the_models_is_classified(tmp_path: Path) -> None:
    found = inventory.inventory(Base.metadata, settings(tmp_path))
    assert found["unclassified"] == []
    assert {t["table"] for t in found["tables"]} == set(Base.metadata.tables)


def test_the_map_names_only_tables_and_columns_that_exist() -> None:
    tables = Base.metadata.tables
    for name, (_domain, columns, _keep) in inventory.PERSONAL.items():
        assert name in tables, f"{name}: no such table"
        assert set(columns) <= set(tables[name].columns.keys()), name
    assert set(inventory.NOT_PERSONAL).isdisjoint(inventory.PERSONAL)
    assert set(inventory.NOT_PERSONAL) <= set(tables)


def test_personal_data_says_where_how_long_and_under_which_setting(tmp_path: Path) -> None:
    days = {"acme": 90, "globex": 365}
    found = inventory.inventory(Base.metadata, settings(tmp_path), tenant_days=days)
    by_name = {t["table"]: t for t in found["tables"]}
    assert by_name["entities"]["per_tenant_days"] == days
    assert "per_tenant_days" not in by_name["users"]
    decisions = by_name["policy_decisions"]
    assert decisions["classification"] == "personal"
    assert decisions["setting"] == "SUMMIT_DECISION_LOG_RETENTION_DAYS"
    assert decisions["current_value"] == 12  # the setting in force, not the default
    assert {"column": "subject", "holds": "the data subject the entity is about "
            "(subject export key)"} in by_name["entities"]["personal_columns"]  # fmt: skip
    assert by_name["tenants"]["classification"] == "none"
    markdown = inventory.as_markdown(found)
    assert "| `users` | identity | `username`: login name" in markdown
    assert "`SUMMIT_DECISION_LOG_RETENTION_DAYS` (12)" in markdown
    assert "`SUMMIT_RETENTION_DEFAULT_DAYS` (365); in force: acme 90 d, globex 365 d" in markdown


def test_a_new_table_is_unclassified_until_someone_says_what_it_holds(tmp_path: Path) -> None:
    metadata = MetaData()
    Table("sticky_notes", metadata, Column("id", Integer, primary_key=True),
          Column("query", String))  # fmt: skip
    Table("notes", metadata, Column("id", Integer, primary_key=True),
          Column("author", String, info={"personal": "username of the author"}))  # fmt: skip
    found = inventory.inventory(metadata, settings(tmp_path))
    assert found["unclassified"] == ["sticky_notes"]
    notes = next(t for t in found["tables"] if t["table"] == "notes")
    assert notes["personal_columns"] == [{"column": "author", "holds": "username of the author"}]
    assert "**UNCLASSIFIED: review**" in inventory.as_markdown(found)
