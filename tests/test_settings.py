"""Settings fail loudly, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings, secret_key


def test_a_malformed_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMMIT_PORT", "eighty")
    with pytest.raises(SettingsError, match="SUMMIT_PORT"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://nope"),
        ("SUMMIT_ENV", "staging"),
        ("SUMMIT_TOKEN_TTL_SECONDS", "5"),
        ("SUMMIT_MAX_BODY_BYTES", "-1"),
        ("SUMMIT_COOKIE_SECURE", "perhaps"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_a_secret_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("SUMMIT_SECRET_KEY_FILE", str(secret))
    assert load_settings().secret_key == "from-a-file"


def test_a_secret_set_twice_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("a")
    monkeypatch.setenv("SUMMIT_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("SUMMIT_SECRET_KEY", "b")
    with pytest.raises(SettingsError, match="SUMMIT_SECRET_KEY and SUMMIT_SECRET_KEY_FILE"):
        load_settings()


def test_an_unreadable_secret_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL_FILE", "/nonexistent/db-url")
    with pytest.raises(SettingsError, match="DATABASE_URL_FILE"):
        load_settings()


def test_production_demands_a_secret_key_and_real_hashing(tmp_path: Path) -> None:
    settings = load_settings({"SUMMIT_ENV": "production", "SUMMIT_VAR_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="SUMMIT_SECRET_KEY"):
        secret_key(settings)
    with pytest.raises(SettingsError, match="cheapest"):
        load_settings({"SUMMIT_ENV": "production", "SUMMIT_PASSWORD_HASH_PROFILE": "cheapest"})


def test_a_generated_secret_key_is_kept_for_the_next_worker(tmp_path: Path) -> None:
    settings = load_settings({"SUMMIT_VAR_DIR": str(tmp_path)})
    first = secret_key(settings)
    assert len(first) >= 48
    assert secret_key(settings) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_plain_postgresql_urls_use_psycopg() -> None:
    url = load_settings({"DATABASE_URL": "postgresql://u@h/db"}).resolved_database_url
    assert url == "postgresql+psycopg://u@h/db"


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    url = load_settings({"SUMMIT_VAR_DIR": str(tmp_path)}).resolved_database_url
    assert url == f"sqlite:///{tmp_path.resolve()}/summit.db"


def test_a_settings_error_prints_no_secret_and_no_url_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: the SUMMIT_FAULTS check (a model-level error) printed every
    value, DATABASE_URL's password and SUMMIT_SECRET_KEY included."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://summit:hunter2-db@db.example/summit")
    monkeypatch.setenv("SUMMIT_SECRET_KEY", "s3cret-key-value")
    monkeypatch.setenv("SUMMIT_DEMO_PASSWORD", "demo-pass-value")
    monkeypatch.setenv("SUMMIT_ENV", "production")
    monkeypatch.setenv("SUMMIT_FAULTS", "search")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "SUMMIT_FAULTS" in message
    for secret in ("hunter2-db", "s3cret-key-value", "demo-pass-value"):
        assert secret not in message


def test_a_malformed_url_is_shown_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "http://user:hunter2@cache.example:6379/0")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "REDIS_URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert "user:***@cache.example" in str(raised.value)
