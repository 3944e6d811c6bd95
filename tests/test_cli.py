"""The `summit` command: init, demo (idempotent), and its refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from app.cli import main

TABLES = ("tenants", "users", "entities", "edges")


def snapshot(url: str) -> str:
    """A digest of every row of the demo tables, in a stable order."""
    engine = create_engine(url)
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in TABLES:
            for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1")):
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()


def env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SUMMIT_VAR_DIR": str(tmp_path / "var"),
        "SUMMIT_PASSWORD_HASH_PROFILE": "cheapest",
        "SUMMIT_ENV": "demo",
        **extra,
    }


def test_demo_seed_is_idempotent(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--seed-only"], env=env(database_url, tmp_path))
    assert first.exit_code == 0, first.output
    assert "+2 tenants, +6 users, +606 entities" in first.output  # 300 + 3 synthetic each
    before = snapshot(database_url)
    second = runner.invoke(main, ["demo", "--seed-only"], env=env(database_url, tmp_path))
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert snapshot(database_url) == before


def test_demo_seed_only_seeds_once_and_then_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    # The narrated demo itself runs end to end in tests/e2e/test_demo.py.
    first = CliRunner().invoke(main, ["demo", "--seed-only"], env=env(database_url, tmp_path))
    assert first.exit_code == 0, first.output
    assert "+2 tenants" in first.output
    again = CliRunner().invoke(main, ["demo", "--seed-only"], env=env(database_url, tmp_path))
    assert again.exit_code == 0, again.output
    assert "+0 tenants, +0 users, +0 entities, +0 edges (already seeded; nothing changed)" in (
        again.output
    )


def test_default_demo_password_is_refused_outside_demo_mode(
    database_url: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["demo", "--seed-only"],
        env=env(database_url, tmp_path, SUMMIT_ENV="development"),
    )
    assert result.exit_code != 0
    assert "SUMMIT_DEMO_PASSWORD" in result.output


def test_bad_settings_fail_with_the_variable_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init"], env={"SUMMIT_PORT": "x"})
    assert result.exit_code != 0
    assert "SUMMIT_PORT" in result.output


@pytest.mark.parametrize("command", [["--help"], ["serve", "--help"], ["demo", "--help"]])
def test_help_texts(command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0
    assert "Usage" in result.output
