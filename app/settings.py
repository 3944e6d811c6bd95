"""One typed settings object, read from the environment, that fails loudly.

Every setting is named by its environment variable. A secret can also come
from a file named by ``<NAME>_FILE`` (Docker/Kubernetes secrets); setting both
is an error, because which one wins would be a guess.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEMO_DEFAULT_PASSWORD = "summit-demo"  # noqa: S105 - the documented demo password


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        populate_by_name=True, extra="forbid", case_sensitive=True, frozen=True
    )

    env: Literal["demo", "development", "production", "test"] = Field(
        "demo", validation_alias="SUMMIT_ENV"
    )
    var_dir: Path = Field(Path("var"), validation_alias="SUMMIT_VAR_DIR")
    database_url: str = Field("", validation_alias="DATABASE_URL")
    secret_key: str = Field("", validation_alias="SUMMIT_SECRET_KEY")
    demo_password: str = Field(DEMO_DEFAULT_PASSWORD, validation_alias="SUMMIT_DEMO_PASSWORD")
    host: str = Field("127.0.0.1", validation_alias="SUMMIT_HOST")
    port: int = Field(8000, ge=0, le=65535, validation_alias="SUMMIT_PORT")
    workers: int = Field(0, ge=0, le=64, validation_alias="SUMMIT_WORKERS")
    threads: int = Field(1, ge=1, le=64, validation_alias="SUMMIT_THREADS")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, le=1_073_741_824, validation_alias="SUMMIT_MAX_BODY_BYTES"
    )
    token_ttl_seconds: int = Field(
        8 * 3600, ge=60, le=30 * 86400, validation_alias="SUMMIT_TOKEN_TTL_SECONDS"
    )
    cookie_secure: bool = Field(False, validation_alias="SUMMIT_COOKIE_SECURE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="SUMMIT_LOG_LEVEL"
    )
    password_hash_profile: Literal["rfc9106-low-memory", "cheapest"] = Field(
        "rfc9106-low-memory", validation_alias="SUMMIT_PASSWORD_HASH_PROFILE"
    )

    redis_url: str = Field("", validation_alias="REDIS_URL")
    decision_log_retention_days: int = Field(
        30, ge=1, le=3650, validation_alias="SUMMIT_DECISION_LOG_RETENTION_DAYS"
    )
    login_max_failures: int = Field(5, ge=1, le=1000, validation_alias="SUMMIT_LOGIN_MAX_FAILURES")
    login_window_seconds: int = Field(
        300, ge=1, le=86400, validation_alias="SUMMIT_LOGIN_WINDOW_SECONDS"
    )

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        weak = self.password_hash_profile == "cheapest"  # noqa: S105 - a profile name
        if self.env == "production" and weak:
            raise ValueError(
                "SUMMIT_PASSWORD_HASH_PROFILE=cheapest is for tests; refused in production"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileVariables(settings_cls)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.var_dir / 'summit.db').resolve()}"

    @property
    def demo_mode(self) -> bool:
        return self.env in ("demo", "test")


class _FileVariables(PydanticBaseSettingsSource):
    """Reads ``NAME_FILE`` for every setting ``NAME``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = str(field.validation_alias or field_name)
        path = os.environ.get(f"{name}_FILE")
        if path is None:
            return None, field_name, False
        if name in os.environ:
            raise SettingsError(f"{name} and {name}_FILE are both set; set only one")
        try:
            return Path(path).read_text().strip(), field_name, False
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read settings from the environment, with ``overrides`` (by variable name) on top."""
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{_variable_name(name)}: {error['msg']} (got {error['input']!r})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _variable_name(loc: str) -> str:
    field = Settings.model_fields.get(loc)
    return str(field.validation_alias) if field and field.validation_alias else loc


def secret_key(settings: Settings) -> str:
    """The configured key, or one generated once and kept in the var dir.

    Every gunicorn worker must sign sessions with the same key, and a restart
    must not log everybody out, so a generated key is persisted (mode 0600).
    """
    if settings.secret_key:
        return settings.secret_key
    if settings.env == "production":
        raise SettingsError("SUMMIT_SECRET_KEY: required when SUMMIT_ENV=production")
    path = settings.var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    # Written aside and hard-linked into place: a worker racing us either
    # wins the link or reads the complete file, never a half-written one.
    tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
