"""create_app(test_config=None): settings → logging → db → metrics → blueprints."""

from __future__ import annotations

import atexit
from datetime import timedelta
from typing import Any

from apiflask import APIFlask
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app import logs, scheduler
from app.cache import QueryCache
from app.db import Database, utcnow
from app.http import auth, context, errors, graph, health, ops, ops_ui, policy, quotas, ui
from app.metrics import Metrics
from app.models import Tenant
from app.policy.engine import PolicyEngine
from app.policy.log import DecisionLog
from app.quotas.ratelimit import TenantRateLimiter
from app.quotas.rejections import RejectionLog
from app.quotas.service import Limits, ensure_rows
from app.security import LoginThrottle, Passwords
from app.services import Services
from app.settings import Settings, load_settings, secret_key
from app.tenancy import ALL_TENANTS

# Endpoints that APIFlask and Flask add themselves.
FRAMEWORK_ENDPOINTS = frozenset({"static", "openapi.spec"})


def create_app(test_config: dict[str, Any] | None = None) -> APIFlask:
    """Build the control plane.

    ``test_config`` keys that name a setting (``DATABASE_URL``, ``SUMMIT_ENV``…)
    override the environment; other keys go to Flask's config as they are.
    """
    overrides, flask_config = _split(test_config or {})
    settings = load_settings(overrides)
    logs.configure(settings.log_level)

    app = APIFlask("app", title="Summit", version="v1", spec_path="/openapi.json", docs_path=None)
    _configure(app, settings)
    app.config.update(flask_config)

    registry = flask_config.get("METRICS_REGISTRY") or CollectorRegistry()
    db = Database(settings.resolved_database_url)
    metrics = Metrics(registry)
    services = Services(
        settings=settings,
        db=db,
        metrics=metrics,
        passwords=Passwords(settings.password_hash_profile),
        policy=PolicyEngine(),
        decisions=DecisionLog(
            db, clock=utcnow, retention=timedelta(days=settings.decision_log_retention_days)
        ),
        throttle=LoginThrottle(
            settings.redis_url or "memory://",
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_window_seconds,
        ),
        limiter=TenantRateLimiter(settings.redis_url or "memory://"),
        rejections=RejectionLog(db, clock=utcnow),
        cache=QueryCache(
            redis_url=settings.redis_url,
            ttl=settings.cache_ttl_seconds,
            max_entries=settings.cache_max_entries,
            metrics=metrics,
        ),
        quota_defaults=Limits(
            settings.default_qps,
            settings.default_burst,
            settings.default_concurrent_jobs,
            settings.default_storage_bytes,
        ),
    )
    app.extensions["summit"] = services
    atexit.register(services.decisions.close)
    atexit.register(services.rejections.close)

    health.init_app(app)
    errors.init_app(app)
    app.teardown_appcontext(context.close_session)
    app.before_request(ui.protect_forms)
    ui.csrf.init_app(app)
    app.register_error_handler(auth.Unauthenticated, auth.login_redirect)
    app.after_request(auth.rate_limit_headers)
    for blueprint in (
        auth.bp,
        graph.bp,
        policy.bp,
        quotas.api,
        quotas.page,
        ui.bp,
        ops.bp,
        ops_ui.bp,
    ):
        app.register_blueprint(blueprint)

    app.spec_processor(_complete_spec)
    _check_every_route_is_guarded(app, services.policy.actions)
    services.metrics.initialise(_routes(app), _tenant_slugs(services.db))
    _ensure_quota_rows(services.db, services.quota_defaults)
    # Last: the scheduler (when SUMMIT_SCHEDULER is on) starts threads.
    scheduler.init_app(app, settings=settings, db=db, metrics=services.metrics)
    return app


def _split(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {str(f.validation_alias) for f in Settings.model_fields.values()}
    overrides = {k: v for k, v in config.items() if k in names}
    return overrides, {k: v for k, v in config.items() if k not in names}


def _configure(app: APIFlask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        VALIDATION_ERROR_STATUS_CODE=400,
        VALIDATION_ERROR_SCHEMA=errors.ErrorOut,
        HTTP_ERROR_SCHEMA=errors.ErrorOut,
        SECURITY_SCHEMES={auth.BEARER: {"type": "http", "scheme": "bearer"}},
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_NAME="summit_session",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.token_ttl_seconds),
        WTF_CSRF_CHECK_DEFAULT=False,  # ui.protect_forms decides, by path
        WTF_CSRF_TIME_LIMIT=settings.token_ttl_seconds,
        JSON_SORT_KEYS=False,
    )


ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _complete_spec(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """What APIFlask cannot know: a JSON body with required fields is required;
    every guarded route can answer 403; every body can be too large (413)."""
    assert isinstance(spec, dict)  # SPEC_FORMAT is json
    schemas = spec.get("components", {}).get("schemas", {})
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            page = "Web UI" in operation.get("tags", [])
            content = {"text/html": {}} if page else {"application/json": {"schema": ERROR_REF}}
            if operation.get("security"):
                responses.setdefault("403", {"description": "the role may not", "content": content})
                responses.setdefault(
                    "429", {"description": "over the tenant's rate limit", "content": content}
                )
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                responses.setdefault("413", {"description": "body too large", "content": content})
            schema = body.get("application/json", {}).get("schema", {})
            ref = schema.get("$ref", "").rsplit("/", 1)[-1]
            if (schemas.get(ref) or schema).get("required"):
                operation["requestBody"]["required"] = True
    return spec


def _check_every_route_is_guarded(app: APIFlask, actions: frozenset[str]) -> None:
    """Refuse to boot when a view names no action (and is not marked public), or
    names one the policy schema does not define."""
    problems = []
    for endpoint, view in sorted(app.view_functions.items()):
        action = getattr(view, "_summit_action", None)
        if endpoint in FRAMEWORK_ENDPOINTS or getattr(view, "_summit_public", False):
            continue
        if not action:
            problems.append(f"{endpoint}: no @requires(action) or @public")
        elif action not in actions:
            problems.append(f"{endpoint}: action {action!r} is not in the policy schema")
    if problems:
        raise RuntimeError("unguarded routes: " + "; ".join(problems))


def _routes(app: APIFlask) -> list[tuple[str, str]]:
    return [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in FRAMEWORK_ENDPOINTS
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def _ensure_quota_rows(db: Database, defaults: Limits) -> None:
    """Every tenant has its quota and usage rows (the defaults until an operator
    changes them); tenants created by older versions get theirs here."""
    try:
        with db.session(tenant_id=ALL_TENANTS, write=True) as session:
            for tenant_id in session.scalars(select(Tenant.id)).all():
                ensure_rows(session=session, tenant_id=tenant_id, defaults=defaults, now=utcnow())
            session.commit()
    except SQLAlchemyError:
        return  # schema not created yet: `summit init` has not run


def _tenant_slugs(db: Database) -> list[str]:
    try:
        with db.session(tenant_id=ALL_TENANTS) as session:
            return list(session.scalars(select(Tenant.slug)))
    except SQLAlchemyError:
        return []  # schema not created yet: `summit init` has not run
