"""Who may do what: the one place authorization is decided. Imports no Flask.

Every route names its action (app.http.auth.requires) and the app refuses
to boot if one does not. Operators are platform staff: they run probes,
quotas and paging, and read no tenant data.
"""

from __future__ import annotations

from typing import Final

from app.security import Principal

TENANT_ACTIONS: Final = frozenset({"read", "search", "write"})
# Platform staff (operators): probes and the ops page, quotas, paging.
PLATFORM_ACTIONS: Final = frozenset({"view_ops", "run_probes", "manage_quotas", "page"})
SELF_ACTIONS: Final = frozenset({"session"})  # acting on one's own login (logout, me)

ROLE_ACTIONS: Final[dict[str, frozenset[str]]] = {
    "analyst": frozenset({"read", "search", "session"}),
    "admin": frozenset({"read", "search", "write", "session"}),
    "synthetic": frozenset({"read", "search", "session"}),
    "operator": PLATFORM_ACTIONS | {"session"},
}
ACTIONS: Final = TENANT_ACTIONS | PLATFORM_ACTIONS | SELF_ACTIONS


def permits(principal: Principal, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action in TENANT_ACTIONS and principal.tenant_id is None:
        return False  # no tenant, no tenant data, whatever the role says
    return action in ROLE_ACTIONS.get(principal.role, frozenset())
