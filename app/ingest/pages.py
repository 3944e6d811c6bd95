"""The DLQ inspector (/ops/dlq): filter by tenant, source and reason, open an item.

Operators see every tenant's items as metadata only (app.ingest.dlq's operator
view selects no raw event, id or message: operators see no tenant data).
Tenant admins see their own tenant's items, raw events included, through
their tenant-scoped session.
"""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import render_template, request

from app.ingest import dlq
from app.ingest.views import item_out
from app.web.context import db_session, principal, services
from app.web.docs import PAGE, WEB_UI, html
from app.web.guard import requires

bp = APIBlueprint("ingest_pages", __name__, tag=WEB_UI)
LIMIT = 200


def _filters() -> dict[str, str | None]:
    return {
        name: (request.args.get(name) or "").strip()[:128] or None
        for name in ("tenant", "source", "reason")
    }


@bp.get("/ops/dlq")
@requires("view_dlq", via="web")
@bp.doc(responses=PAGE)
def dlq_page() -> str:
    """DLQ items, newest first, filtered by tenant, source and reason."""
    filters, caller = _filters(), principal()
    if caller.tenant_id is None:
        items: list[Any] = dlq.operator_items(db=services().db, limit=LIMIT, **filters)
        facets = dlq.facets(db=services().db)
    else:
        found, _next = dlq.list_items(
            session=db_session(),
            source=filters["source"],
            reason=filters["reason"],
            status=None,
            limit=LIMIT,
            after_pk=None,
        )
        items = [item_out(item) | {"tenant": caller.tenant_slug} for item in reversed(found)]
        facets = {}
    return render_template(
        "ops_dlq.html",
        items=items,
        filters=filters,
        facets=facets,
        caller=caller,
        operator=caller.tenant_id is None,
    )


@bp.get("/ops/dlq/<uuid:item_id>")
@requires("view_dlq", via="web")
@bp.doc(
    responses=html(
        s200="the item",
        s302="to /login",
        s403="the role may not",
        s404="no such item (for a tenant admin: in your tenant)",
    )
)
def dlq_item_page(item_id: uuid.UUID) -> str:
    """One DLQ item: its raw event for the tenant's admins, metadata for operators."""
    caller = principal()
    if caller.tenant_id is None:
        item: Any = dlq.operator_item(db=services().db, item_id=str(item_id))
    else:
        item = item_out(dlq.get_item(session=db_session(), item_id=str(item_id)))
        item["tenant"] = caller.tenant_slug
    return render_template(
        "ops_dlq_item.html", item=item, caller=caller, operator=caller.tenant_id is None
    )
