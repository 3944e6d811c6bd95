"""One typed settings object, read from the environment, that fails loudly.

Every setting is named by its environment variable. A secret can also come
from a file named by ``<NAME>_FILE`` (Docker/Kubernetes secrets); setting both
is an error, because which one wins would be a guess.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.core.faults import KNOWN_FAULTS

DEMO_DEFAULT_PASSWORD = "summit-demo"  # noqa: S105 - the documented demo password
# A tenant's limits until an operator changes them (SUMMIT_DEFAULT_* override these).
DEFAULT_LIMITS = {"qps": 100, "burst": 100, "concurrent_jobs": 2, "storage_bytes": 1024**3}


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
    # A PostgreSQL streaming replica for read-only queries (docs/replica.md).
    database_replica_url: str = Field("", validation_alias="DATABASE_REPLICA_URL")
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
    password_hash_profile: Literal["owasp-minimum", "rfc9106-low-memory", "cheapest"] = Field(
        "owasp-minimum", validation_alias="SUMMIT_PASSWORD_HASH_PROFILE"
    )

    redis_url: str = Field("", validation_alias="REDIS_URL")
    # hardening (issue 10)
    metrics_token: str = Field("", validation_alias="SUMMIT_METRICS_TOKEN")
    trusted_proxies: int = Field(0, ge=0, le=10, validation_alias="SUMMIT_TRUSTED_PROXIES")
    # retention of what the `prune` job removes
    token_retention_days: int = Field(
        7, ge=1, le=3650, validation_alias="SUMMIT_TOKEN_RETENTION_DAYS"
    )
    probe_run_retention_days: int = Field(
        30, ge=1, le=3650, validation_alias="SUMMIT_PROBE_RUN_RETENTION_DAYS"
    )
    incident_retention_days: int = Field(
        365, ge=1, le=36500, validation_alias="SUMMIT_INCIDENT_RETENTION_DAYS"
    )
    prune_interval_seconds: int = Field(
        3600, ge=1, le=86400, validation_alias="SUMMIT_PRUNE_INTERVAL_SECONDS"
    )
    # requests of one tenant running at once on this host (0: no cap); `summit
    # serve` sets it to its workers x threads - 1, so one worker is always free
    tenant_max_inflight: int = Field(
        0, ge=0, le=10_000, validation_alias="SUMMIT_TENANT_MAX_INFLIGHT"
    )
    decision_log_retention_days: int = Field(
        30, ge=1, le=3650, validation_alias="SUMMIT_DECISION_LOG_RETENTION_DAYS"
    )
    login_max_failures: int = Field(5, ge=1, le=1000, validation_alias="SUMMIT_LOGIN_MAX_FAILURES")
    login_window_seconds: int = Field(
        300, ge=1, le=86400, validation_alias="SUMMIT_LOGIN_WINDOW_SECONDS"
    )

    # probes (issue 5)
    scheduler: bool = Field(False, validation_alias="SUMMIT_SCHEDULER")
    scheduler_lease_seconds: int = Field(
        30, ge=2, le=3600, validation_alias="SUMMIT_SCHEDULER_LEASE_SECONDS"
    )
    chromium_path: str = Field("/usr/bin/chromium", validation_alias="CHROMIUM_PATH")
    probe_target_url: str = Field("", validation_alias="SUMMIT_PROBE_TARGET_URL")
    probe_tenant: str = Field("acme", validation_alias="SUMMIT_PROBE_TENANT")
    probe_username: str = Field("synthetic", validation_alias="SUMMIT_PROBE_USERNAME")
    probe_password: str = Field("", validation_alias="SUMMIT_PROBE_PASSWORD")
    # The probes' own synthetic records (seeded per tenant): probe users see no other.
    probe_search_query: str = Field(
        "summit probe target", validation_alias="SUMMIT_PROBE_SEARCH_QUERY"
    )
    probe_entity_name: str = Field("Summit Probe Target", validation_alias="SUMMIT_PROBE_ENTITY")
    probe_other_tenant: str = Field("globex", validation_alias="SUMMIT_PROBE_OTHER_TENANT")
    probe_timeout_seconds: float = Field(
        10.0, gt=0, le=60, validation_alias="SUMMIT_PROBE_TIMEOUT_SECONDS"
    )
    probe_decision_budget_ms: float = Field(
        10.0, gt=0, validation_alias="SUMMIT_PROBE_DECISION_BUDGET_MS"
    )
    probe_golden_path_interval_seconds: int = Field(
        60, ge=1, le=86400, validation_alias="SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS"
    )
    probe_policy_interval_seconds: int = Field(
        60, ge=1, le=86400, validation_alias="SUMMIT_PROBE_POLICY_INTERVAL_SECONDS"
    )
    probe_fail_threshold: int = Field(
        3, ge=1, le=100, validation_alias="SUMMIT_PROBE_FAIL_THRESHOLD"
    )
    probe_fail_window: int = Field(3, ge=1, le=100, validation_alias="SUMMIT_PROBE_FAIL_WINDOW")
    probe_recover_after: int = Field(2, ge=1, le=100, validation_alias="SUMMIT_PROBE_RECOVER_AFTER")
    probe_artifacts_keep: int = Field(
        20, ge=1, le=10000, validation_alias="SUMMIT_PROBE_ARTIFACTS_KEEP"
    )
    incident_notifiers: str = Field(
        "database,pagerduty", validation_alias="SUMMIT_INCIDENT_NOTIFIERS"
    )
    faults: str = Field("", validation_alias="SUMMIT_FAULTS")

    @model_validator(mode="after")
    def _probes_are_consistent(self) -> Settings:
        if self.probe_fail_threshold > self.probe_fail_window:
            raise ValueError("SUMMIT_PROBE_FAIL_THRESHOLD must not exceed SUMMIT_PROBE_FAIL_WINDOW")
        unknown = self.fault_names - KNOWN_FAULTS
        if unknown:
            raise ValueError(f"SUMMIT_FAULTS: unknown faults {sorted(unknown)}")
        if self.fault_names and self.env != "test":
            raise ValueError("SUMMIT_FAULTS breaks things on purpose: only with SUMMIT_ENV=test")
        return self

    @property
    def fault_names(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.faults.split(",") if name.strip())

    @property
    def incident_notifier_names(self) -> list[str]:
        return [name.strip() for name in self.incident_notifiers.split(",") if name.strip()]

    @property
    def probe_base_url(self) -> str:
        """Where probes go: the setting, or this server on the loopback."""
        return (self.probe_target_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def probe_secret(self) -> str:
        """The synthetic user's password; the demo password in demo mode."""
        if self.probe_password:
            return self.probe_password
        return self.demo_password if self.demo_mode else ""

    # quotas and the HOT query cache (issue 4)
    default_qps: int = Field(
        DEFAULT_LIMITS["qps"], ge=1, le=100_000, validation_alias="SUMMIT_DEFAULT_QPS"
    )
    default_burst: int = Field(
        DEFAULT_LIMITS["burst"], ge=0, le=100_000, validation_alias="SUMMIT_DEFAULT_BURST"
    )
    default_concurrent_jobs: int = Field(
        DEFAULT_LIMITS["concurrent_jobs"],
        ge=0,
        le=1000,
        validation_alias="SUMMIT_DEFAULT_CONCURRENT_JOBS",
    )
    default_storage_bytes: int = Field(
        DEFAULT_LIMITS["storage_bytes"],
        ge=0,
        le=10 * 1024**4,
        validation_alias="SUMMIT_DEFAULT_STORAGE_BYTES",
    )
    cache_ttl_seconds: float = Field(
        30.0, ge=0, le=3600, validation_alias="SUMMIT_CACHE_TTL_SECONDS"
    )
    cache_max_bytes: int = Field(
        64 * 1024**2, ge=0, le=64 * 1024**3, validation_alias="SUMMIT_CACHE_MAX_BYTES"
    )
    cache_tenant_max_bytes: int = Field(
        16 * 1024**2, ge=0, le=64 * 1024**3, validation_alias="SUMMIT_CACHE_TENANT_MAX_BYTES"
    )
    cache_max_entry_bytes: int = Field(
        256 * 1024, ge=0, le=1024**3, validation_alias="SUMMIT_CACHE_MAX_ENTRY_BYTES"
    )

    # governance: retention, legal hold, subject export, audit (issue 14)
    audit_signing_key: str = Field("", validation_alias="SUMMIT_AUDIT_SIGNING_KEY")
    retention_default_days: int = Field(
        365, ge=1, le=36500, validation_alias="SUMMIT_RETENTION_DEFAULT_DAYS"
    )
    purge_batch_size: int = Field(1000, ge=1, le=10_000, validation_alias="SUMMIT_PURGE_BATCH_SIZE")
    purge_interval_seconds: int = Field(
        3600, ge=1, le=86400 * 7, validation_alias="SUMMIT_PURGE_INTERVAL_SECONDS"
    )
    audit_checkpoint_interval_seconds: int = Field(
        600, ge=1, le=86400 * 7, validation_alias="SUMMIT_AUDIT_CHECKPOINT_INTERVAL_SECONDS"
    )
    export_link_ttl_seconds: int = Field(
        3600, ge=60, le=30 * 86400, validation_alias="SUMMIT_EXPORT_LINK_TTL_SECONDS"
    )
    probe_governance_interval_seconds: int = Field(
        300, ge=1, le=86400, validation_alias="SUMMIT_PROBE_GOVERNANCE_INTERVAL_SECONDS"
    )
    probe_governance_tenants: str = Field(
        "acme,globex", validation_alias="SUMMIT_PROBE_GOVERNANCE_TENANTS"
    )

    @property
    def probe_governance_tenant_names(self) -> tuple[str, ...]:
        names = (name.strip() for name in self.probe_governance_tenants.split(","))
        return tuple(name for name in names if name)

    @property
    def exports_dir(self) -> Path:
        return (self.var_dir / "exports").resolve()

    # Where responders reach this control plane: alert and page links (runbooks,
    # the SLO view, the webhook) and dashboard links. Default: this server.
    public_url: str = Field("", validation_alias="SUMMIT_PUBLIC_URL")

    @property
    def summit_url(self) -> str:
        """The control plane's URL for links: SUMMIT_PUBLIC_URL, or this server on the loopback."""
        return self.public_url or f"http://127.0.0.1:{self.port}"

    # SLOs and alerting (issue 11)
    alerts_dashboard_url: str = Field("", validation_alias="SUMMIT_ALERTS_DASHBOARD_URL")
    prometheus_url: str = Field("", validation_alias="PROMETHEUS_URL")
    request_stats: bool = Field(True, validation_alias="SUMMIT_REQUEST_STATS")
    request_stats_retention_days: int = Field(
        35, ge=1, le=3650, validation_alias="SUMMIT_REQUEST_STATS_RETENTION_DAYS"
    )
    slo_specs_dir: Path | None = Field(None, validation_alias="SUMMIT_SLO_SPECS_DIR")
    runbooks_dir: Path | None = Field(None, validation_alias="SUMMIT_RUNBOOKS_DIR")

    # dashboards (issue 13): the Grafana `summit dashboards push` publishes to.
    grafana_url: str = Field("", validation_alias="GRAFANA_URL")
    grafana_token: str = Field("", validation_alias="GRAFANA_TOKEN")  # or GRAFANA_TOKEN_FILE
    grafana_folder_uid: str = Field(
        "summit", pattern=r"^[A-Za-z0-9_-]{1,40}$", validation_alias="GRAFANA_FOLDER_UID"
    )

    # paging (issue 12): PagerDuty routing keys (one for every service, and/or per
    # service as "service=key,..."), the REST API for `summit paging sync`, the
    # outbox sender, escalation as code, and Alertmanager's webhook token.
    pagerduty_routing_key: str = Field("", validation_alias="PAGERDUTY_ROUTING_KEY")
    pagerduty_routing_keys: str = Field("", validation_alias="PAGERDUTY_ROUTING_KEYS")
    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com", validation_alias="PAGERDUTY_EVENTS_URL"
    )
    pagerduty_api_url: str = Field(
        "https://api.pagerduty.com", validation_alias="PAGERDUTY_API_URL"
    )
    pagerduty_api_token: str = Field("", validation_alias="PAGERDUTY_API_TOKEN")
    pagerduty_from: str = Field("", validation_alias="PAGERDUTY_FROM")
    # A CA bundle to trust for PagerDuty (a TLS-inspecting proxy; tests' own CA).
    pagerduty_ca_file: Path | None = Field(None, validation_alias="PAGERDUTY_CA_FILE")
    escalation_file: Path | None = Field(None, validation_alias="SUMMIT_ESCALATION_FILE")
    paging_outbox_interval_seconds: int = Field(
        5, ge=1, le=3600, validation_alias="SUMMIT_PAGING_OUTBOX_INTERVAL_SECONDS"
    )
    paging_claim_seconds: int = Field(
        60, ge=1, le=3600, validation_alias="SUMMIT_PAGING_CLAIM_SECONDS"
    )
    paging_retry_base_seconds: float = Field(
        2.0, gt=0, le=600, validation_alias="SUMMIT_PAGING_RETRY_BASE_SECONDS"
    )
    paging_retry_max_seconds: float = Field(
        300.0, gt=0, le=86400, validation_alias="SUMMIT_PAGING_RETRY_MAX_SECONDS"
    )
    paging_give_up_hours: float = Field(
        24.0, gt=0, le=24 * 14, validation_alias="SUMMIT_PAGING_GIVE_UP_HOURS"
    )
    paging_rate_per_minute: int = Field(
        120, ge=1, le=120, validation_alias="SUMMIT_PAGING_RATE_PER_MINUTE"
    )
    alerts_webhook_token: str = Field("", validation_alias="SUMMIT_ALERTS_WEBHOOK_TOKEN")

    @field_validator("pagerduty_events_url", "pagerduty_api_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL (the PagerDuty client refuses others)")
        return value.rstrip("/")

    @field_validator("pagerduty_routing_keys")
    @classmethod
    def _service_keys(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            service, _, key = pair.partition("=")
            if not service.strip() or not key.strip():
                raise ValueError("must be service=key pairs separated by commas")
        return value

    @property
    def pagerduty_service_keys(self) -> dict[str, str]:
        """Routing key per service; PAGERDUTY_ROUTING_KEY under "*" for the rest."""
        keys = {}
        for pair in filter(None, (p.strip() for p in self.pagerduty_routing_keys.split(","))):
            service, _, key = pair.partition("=")
            keys[service.strip()] = key.strip()
        if self.pagerduty_routing_key:
            keys["*"] = self.pagerduty_routing_key
        return keys

    @field_validator("public_url", "prometheus_url", "grafana_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    # ingest (issue 15): bounded work in flight, and how long a batch may wait
    # for the writer before the sender is told to come back (503 Retry-After)
    ingest_max_body_bytes: int = Field(
        16 * 1024**2, ge=1024, le=1024**3, validation_alias="SUMMIT_INGEST_MAX_BODY_BYTES"
    )
    ingest_max_batch: int = Field(
        10_000, ge=1, le=100_000, validation_alias="SUMMIT_INGEST_MAX_BATCH"
    )
    ingest_max_event_bytes: int = Field(
        64 * 1024, ge=256, le=16 * 1024**2, validation_alias="SUMMIT_INGEST_MAX_EVENT_BYTES"
    )
    ingest_max_in_flight: int = Field(
        2, ge=1, le=64, validation_alias="SUMMIT_INGEST_MAX_IN_FLIGHT"
    )
    ingest_write_wait_seconds: float = Field(
        5.0, gt=0, le=60, validation_alias="SUMMIT_INGEST_WRITE_WAIT_SECONDS"
    )
    ingest_auto_replay_interval_seconds: int = Field(
        300, ge=1, le=86400, validation_alias="SUMMIT_INGEST_AUTO_REPLAY_INTERVAL_SECONDS"
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

    @field_validator("database_replica_url")
    @classmethod
    def _known_replica(cls, value: str) -> str:
        if value and not value.startswith(
            ("postgresql://", "postgres://", "postgresql+psycopg://")
        ):
            raise ValueError("must be a postgresql:// URL (a replica of DATABASE_URL)")
        return value

    @model_validator(mode="after")
    def _replica_of_postgresql(self) -> Settings:
        if self.database_replica_url and not self.database_url.startswith("postgres"):
            raise ValueError(
                "DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL (SQLite has no replicas)"
            )
        return self

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
    def resolved_replica_url(self) -> str | None:
        return (
            normalise_database_url(self.database_replica_url) if self.database_replica_url else None
        )

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


# Settings whose values never appear in an error message or a log line.
SECRET_SETTINGS = frozenset(
    {
        "SUMMIT_SECRET_KEY",
        "SUMMIT_DEMO_PASSWORD",
        "SUMMIT_PROBE_PASSWORD",
        "SUMMIT_METRICS_TOKEN",
        "SUMMIT_AUDIT_SIGNING_KEY",
        "GRAFANA_TOKEN",
        "PAGERDUTY_ROUTING_KEY",
        "PAGERDUTY_ROUTING_KEYS",
        "PAGERDUTY_API_TOKEN",
        "SUMMIT_ALERTS_WEBHOOK_TOKEN",
    }
)
# URLs: shown with their password masked.
URL_SETTINGS = frozenset({"DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL"})


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read settings from the environment, with ``overrides`` (by variable name) on top.

    A problem names the variable and what is wrong with it; the value is shown
    only when it holds no secret (URLs with their password masked)."""
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = _variable_name(".".join(str(part) for part in error["loc"]))
            problems.append(f"{name}: {error['msg']}{_shown(name, error['input'])}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _shown(name: str, value: Any) -> str:
    if name == "settings" or name in SECRET_SETTINGS or not isinstance(value, str | int | float):
        return ""  # a model-level check sees every value: show none of them
    if name in URL_SETTINGS and isinstance(value, str):
        value = mask_url_password(value)
    return f" (got {value!r})"


def mask_url_password(url: str) -> str:
    """``scheme://user:***@host/...`` for a URL with a password; others unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _variable_name(loc: str) -> str:
    if not loc:
        return "settings"
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
    return _kept_secret(settings.var_dir / "secret_key", lambda: secrets.token_urlsafe(48))


def audit_signing_key(settings: Settings) -> bytes:
    """The 32-byte Ed25519 seed that signs audit checkpoints (urlsafe base64 in
    SUMMIT_AUDIT_SIGNING_KEY or its _FILE), kept outside the database so that
    someone who can write the database cannot forge a checkpoint. Outside
    production one is generated once under the var dir."""
    text = settings.audit_signing_key
    if not text:
        if settings.env == "production":
            raise SettingsError("SUMMIT_AUDIT_SIGNING_KEY: required when SUMMIT_ENV=production")
        make = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
        text = _kept_secret(settings.var_dir / "audit_signing_key", make)
    try:
        seed = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise SettingsError("SUMMIT_AUDIT_SIGNING_KEY: must be 32 bytes in urlsafe base64")
    return seed


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and hard-linked into place: a worker racing us either
    # wins the link or reads the complete file, never a half-written one.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
