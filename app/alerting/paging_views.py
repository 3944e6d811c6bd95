"""The paging API: Alertmanager's webhook, the test page, and who gets paged.

``POST /api/v1/alerts/webhook`` is public to the policy engine (Alertmanager has
no Summit account) and checks its own bearer token, SUMMIT_ALERTS_WEBHOOK_TOKEN,
in constant time, as /metrics checks its scrape token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apiflask import APIBlueprint
from flask import request

from alerts import oncall
from alerts.escalation import Escalation
from app.alerting import paging, webhook
from app.alerting.schemas import (
    AlertmanagerIn,
    TestPageIn,
    TestPageOut,
    WebhookOut,
    WebhookQuery,
    WhoOut,
    WhoQuery,
)
from app.core.db import utcnow
from app.ops.views import runtime
from app.web.context import db_session, principal, services
from app.web.errors import api_error
from app.web.guard import public, requires

bp = APIBlueprint("paging", __name__, url_prefix="/api/v1", tag="Ops")
F = TypeVar("F", bound=Callable[..., Any])
WEBHOOK_REFUSED: dict[int | str, Any] = {
    401: "no or a wrong bearer token (SUMMIT_ALERTS_WEBHOOK_TOKEN)",
    403: "SUMMIT_ALERTS_WEBHOOK_TOKEN is not set: the webhook is off",
}


def webhook_token(view: F) -> F:
    """Refuse before parsing anything unless the caller shows the webhook token."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        expected = services().settings.alerts_webhook_token
        if not expected:
            raise api_error(403, "webhook_disabled", WEBHOOK_REFUSED[403])
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected.encode()
        ):
            raise api_error(
                401,
                "unauthorized",
                "send Authorization: Bearer <the webhook token>",
                headers={"WWW-Authenticate": 'Bearer realm="summit-webhook"'},
            )
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


@bp.post("/alerts/webhook")
@public
@webhook_token
@bp.input(WebhookQuery, location="query", arg_name="query")
@bp.input(AlertmanagerIn, arg_name="message")
@bp.output(WebhookOut)
@bp.doc(responses=WEBHOOK_REFUSED)
def alertmanager_webhook(query: dict[str, Any], message: dict[str, Any]) -> Any:
    """Alertmanager's webhook (``webhook_configs``, message version 4): a firing
    SLO alert group opens an incident with the dedup key of Alertmanager's own
    PagerDuty page; a resolved one resolves it. ``?paged=alertmanager`` says the
    receiver also pages PagerDuty itself, so Summit sends no second trigger."""
    session = db_session()
    services().db.begin_write(session)
    done = webhook.receive(
        session=session,
        message=message,
        paged_by=query.get("paged"),
        escalation=_escalation(),
        now=utcnow(),
        notifiers=runtime().notifiers,
    )
    session.commit()
    return {
        "opened": done.opened,
        "resolved": done.resolved,
        "ignored": done.ignored,
        "incident_key": done.key,
    }


@bp.post("/paging/test")
@requires("page", writes=False)
@bp.input(TestPageIn, arg_name="body")
@bp.output(TestPageOut)
@bp.doc(
    responses={
        404: "no such service in the escalation file",
        409: "no routing key for the service, or paging is not a notifier",
        502: "PagerDuty did not accept it (kept in the outbox, retried)",
    }
)
def test_page(body: dict[str, Any]) -> Any:
    """Trigger a page for ``service`` (default summit), wait for PagerDuty's 202
    and its dedup key, then resolve it. Recorded as an incident like any other."""
    settings, service = services().settings, body["service"]
    if service not in _escalation().services:
        raise api_error(404, "not_found", f"no service {service!r} in the escalation file")
    if "pagerduty" not in settings.incident_notifier_names:
        raise api_error(409, "not_configured", "add pagerduty to SUMMIT_INCIDENT_NOTIFIERS")
    if paging.routing_key(settings, service) is None:
        raise api_error(
            409,
            "not_configured",
            f"no routing key for service {service}: set "
            "PAGERDUTY_ROUTING_KEY or PAGERDUTY_ROUTING_KEYS",
        )
    sent = paging.send_test_page(
        settings=settings,
        db=services().db,
        service=service,
        by=principal().username,
        notifiers=runtime().notifiers,
    )
    if sent.trigger != "sent":
        raise api_error(
            502,
            "pagerduty_unavailable",
            f"PagerDuty did not accept the test page: "
            f"{sent.error} (kept in the outbox; incident {sent.incident_id})",
        )
    return {
        "accepted": True,
        "incident": sent.incident_id,
        "service": sent.service,
        "dedup_key": sent.dedup_key,
        "trigger": sent.trigger,
        "resolve": sent.resolve,
    }


@bp.get("/paging/who")
@requires("view_ops")
@bp.input(WhoQuery, location="query", arg_name="query")
@bp.output(WhoOut)
@bp.doc(responses={404: "no such service in the escalation file"})
def who(query: dict[str, Any]) -> Any:
    """Who is paged for ``service`` at ``at``, per escalation level, from the
    escalation file alone; whether quiet hours hold a non-critical page, and until
    when. A time without an offset is read in the service's quiet-hours zone."""
    found = _escalation()
    service = query["service"]
    if service not in found.services:
        raise api_error(404, "not_found", f"no service {service!r} in the escalation file")
    at = parse_at(query.get("at"), found, service)
    return who_out(oncall.who(found, service=service, at=at))


def parse_at(text: str | None, found: Escalation, service: str) -> datetime:
    if not text:
        return utcnow()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise api_error(400, "invalid_request", f"at: {text!r} is not an ISO time") from None
    if at.tzinfo is None:
        quiet = found.services[service].quiet_hours
        at = at.replace(tzinfo=ZoneInfo(quiet.time_zone) if quiet else UTC)
    return at


def who_out(answer: oncall.Answer) -> dict[str, Any]:
    levels = [
        {
            "level": level.number,
            "delay_minutes": level.delay_minutes,
            "after_minutes": level.after_minutes,
            "gaps": level.gaps,
            "on_call": [
                {**person.__dict__, "local_time": person.local_time.isoformat()}
                for person in level.people
            ],
        }
        for level in answer.levels
    ]
    return {
        "service": answer.service,
        "at": answer.at,
        "escalation_policy": answer.policy,
        "loops": answer.loops,
        "levels": levels,
        "quiet_hours": {
            "active": answer.quiet_hours,
            "held_until": answer.held_until,
            "time_zone": answer.quiet_time_zone,
        },
    }


def _escalation() -> Escalation:
    return paging.load_escalation(services().settings)
