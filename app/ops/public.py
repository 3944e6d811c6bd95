"""The public status page (/status): no login, nothing tenant-specific."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from cachetools import TTLCache
from flask import current_app, render_template

from app.core.db import utcnow
from app.ops import status
from app.ops.scheduler import JOBS
from app.ops.views import runtime, scheduler_facts
from app.web.context import db_session, services
from app.web.docs import WEB_UI, html
from app.web.guard import public

bp = APIBlueprint("ops_public", __name__, tag=WEB_UI)
CACHE_SECONDS = 30  # anyone may load it: the 90-day aggregates are read at most this often


def _cache() -> TTLCache[str, Any]:
    cache: TTLCache[str, Any] = current_app.extensions.setdefault(
        "summit.status_cache", TTLCache(maxsize=1, ttl=CACHE_SECONDS)
    )
    return cache


@bp.get("/status")
@public
@bp.doc(responses=html(s200="the page"))
def status_page() -> str:
    """Each component's state now and its daily uptime over 90 days, from the probes."""
    cache = _cache()
    found = cache.get("board")
    if found is None:
        settings = services().settings
        intervals = {
            name: int(getattr(settings, JOBS[name][0])) for name in runtime().names if name in JOBS
        }
        now = utcnow()
        found = (
            status.board(
                session=db_session(), intervals=intervals, facts=scheduler_facts(), now=now
            ),
            now,
        )
        cache["board"] = found
    components, as_of = found
    return render_template("status.html", components=components, as_of=as_of, days=status.DAYS)
