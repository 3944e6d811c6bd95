"""create_app(test_config=None): settings → logging → db → metrics → blueprints."""

from __future__ import annotations

import atexit
from datetime import timedelta
from typing import Any

from apiflask import APIFlask
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from app.alerting import pages as alerting_pages
from app.alerting import paging_views
from app.alerting import views as alerting_views
from app.alerting.service import RequestStats
from app.core import logs
from app.core.db import Database, utcnow
from app.core.gcra import open_store
from app.core.metrics import Metrics, QuotaUse
from app.core.tenancy import ALL_TENANTS
from app.feedback import pages as feedback_pages
from app.feedback import views as feedback_views
from app.governance import pages as governance_pages
from app.governance import views as governance_views
from app.graph import pages as graph_pages
from app.graph import views as graph_views
from app.graph.cache import Bounds, QueryCache
from app.identity import pages as identity_pages
from app.identity import views as identity_views
from app.identity.models import Tenant
from app.identity.service import Passwords
from app.identity.throttle import LoginThrottle
from app.ingest import pages as ingest_pages
from app.ingest import views as ingest_views
from app.ingest.dlq_metrics import DlqCollector
from app.ops import dashboard_views, health, scheduler
from app.ops import pages as ops_pages
from app.ops import public as ops_public
from app.ops import views as ops_views
from app.policy import views as policy_views
from app.policy.engine import PolicyEngine
from app.policy.log import DecisionLog
from app.quotas import pages as quota_pages
from app.quotas import views as quota_views
from app.quotas.ratelimit import RecentRefusals, TenantRateLimiter
from app.quotas.rejections import RejectionLog
from app.quotas.service import Limits, ensure_rows, quota_use
from app.reports import views as report_views
from app.services import Services
from app.settings import Settings, load_settings, secret_key
from app.web import bodies, context, errors, explorer, forms, guard, middleware, nav, openapi

# Endpoints that APIFlask and Flask add themselves.
FRAMEWORK_ENDPOINTS = frozenset({"static", "openapi.spec"})
BLUEPRINTS = (
    health.bp,
    identity_views.bp,
    identity_pages.bp,
    graph_views.bp,
    graph_pages.bp,
    policy_views.bp,
    quota_views.bp,
    quota_pages.bp,
    ops_views.bp,
    ops_pages.bp,
    governance_views.bp,
    governance_pages.bp,
    alerting_views.bp,
    alerting_pages.bp,
    paging_views.bp,
    dashboard_views.bp,
    ops_public.bp,
    explorer.bp,
    ingest_views.bp,
    ingest_pages.bp,
    report_views.bp,
    feedback_views.bp,
    feedback_pages.bp,
)


def create_app(test_config: dict[str, Any] | None = None) -> APIFlask:
    """Build the control plane.

    ``test_config`` keys that name a setting (``DATABASE_URL``, ``SUMMIT_ENV``…)
    override the environment; other keys go to Flask's config as they are.
    """
    overrides, flask_config = _split(test_config or {})
    settings = load_settings(overrides)
    logs.configure(settings.log_level)

    app = APIFlask(
        "app",
        title="Summit",
        version="v1",
        spec_path="/openapi.json",
        docs_path=None,
        template_folder="web/templates",
        static_folder="web/static",
    )
    _configure(app, settings)
    app.config.update(flask_config)
    if settings.trusted_proxies:
        # The client's address (login throttling, /metrics) from X-Forwarded-For,
        # trusting exactly that many proxies in front of us; the scheme likewise.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )

    registry = flask_config.get("METRICS_REGISTRY") or CollectorRegistry()
    db = Database(settings.resolved_database_url, replica_url=settings.resolved_replica_url)
    services = _services(settings, db, Metrics(registry))
    app.extensions["summit"] = services
    for closer in services.closers():
        atexit.register(closer)

    middleware.init_app(app)
    errors.init_app(app)
    app.before_request(bodies.check_request)
    nav.init_app(app)
    app.teardown_appcontext(context.close_session)
    app.after_request(guard.release_inflight)
    app.teardown_request(guard.release_inflight_at_teardown)
    app.before_request(forms.protect_forms)
    forms.csrf.init_app(app)
    app.register_error_handler(guard.Unauthenticated, guard.login_redirect)
    app.after_request(guard.rate_limit_headers)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    app.spec_processor(lambda spec: openapi.complete(app, spec))
    _check_every_route_is_guarded(app, services.policy.actions)
    services.metrics.initialise(_routes(app), _tenant_slugs(services.db))
    services.metrics.watch_tenants(lambda: _quota_use(services.db, services.quota_defaults))
    services.metrics.add_scraped(DlqCollector(db=services.db))  # the ingest dashboard's DLQ size
    _ensure_quota_rows(services.db, services.quota_defaults)
    # Last: the scheduler (when SUMMIT_SCHEDULER is on) starts threads.
    runtime, leader = scheduler.start(settings=settings, db=services.db, metrics=services.metrics)
    app.extensions["summit.probes"] = runtime
    if leader is not None:
        app.extensions["summit.scheduler"] = leader
    return app


def _services(settings: Settings, db: Database, metrics: Metrics) -> Services:
    limits = open_store(redis_url=settings.redis_url, var_dir=settings.var_dir)
    return Services(
        settings=settings,
        db=db,
        metrics=metrics,
        passwords=Passwords(settings.password_hash_profile),
        policy=PolicyEngine(),
        decisions=DecisionLog(
            db, clock=utcnow, retention=timedelta(days=settings.decision_log_retention_days)
        ),
        throttle=LoginThrottle(
            limits,
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_window_seconds,
        ),
        limiter=TenantRateLimiter(limits),
        refusals=RecentRefusals(),
        rejections=RejectionLog(db, clock=utcnow),
        cache=QueryCache(
            redis_url=settings.redis_url,
            bounds=Bounds(
                ttl=settings.cache_ttl_seconds,
                max_bytes=settings.cache_max_bytes,
                tenant_max_bytes=settings.cache_tenant_max_bytes,
                max_entry_bytes=settings.cache_max_entry_bytes,
            ),
            metrics=metrics,
        ),
        quota_defaults=Limits(
            settings.default_qps,
            settings.default_burst,
            settings.default_concurrent_jobs,
            settings.default_storage_bytes,
        ),
        request_stats=_request_stats(settings, db),
    )


def _request_stats(settings: Settings, db: Database) -> RequestStats | None:
    if not settings.request_stats:
        return None
    retention = timedelta(days=settings.request_stats_retention_days)
    return RequestStats(db, clock=utcnow, retention=retention)


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
        SECURITY_SCHEMES={openapi.BEARER: {"type": "http", "scheme": "bearer"}},
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_NAME="summit_session",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.token_ttl_seconds),
        WTF_CSRF_CHECK_DEFAULT=False,  # forms.protect_forms decides, by path
        WTF_CSRF_TIME_LIMIT=settings.token_ttl_seconds,
        JSON_SORT_KEYS=False,
    )


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


def _quota_use(db: Database, defaults: Limits) -> list[QuotaUse]:
    with db.session(tenant_id=ALL_TENANTS) as session:
        return quota_use(session=session, defaults=defaults)


def _tenant_slugs(db: Database) -> list[str]:
    try:
        with db.session(tenant_id=ALL_TENANTS) as session:
            return list(session.scalars(select(Tenant.slug)))
    except SQLAlchemyError:
        return []  # schema not created yet: `summit init` has not run
