"""Fault switches, so tests can break a part on purpose and watch probes notice.

``SUMMIT_FAULTS=search`` makes every search (API and page) fail with a 500.
Settings refuse SUMMIT_FAULTS unless SUMMIT_ENV=test, so no deployment can
carry a switch by accident. Imports no Flask.
"""

from __future__ import annotations

from app.core.errors import DomainError


class FaultInjected(DomainError):
    status = 500
    code = "fault_injected"


KNOWN_FAULTS = frozenset({"search"})


def trip(switched_on: frozenset[str], name: str) -> None:
    """Raise when fault ``name`` is switched on; otherwise do nothing (one set lookup)."""
    if name in switched_on:
        raise FaultInjected(f"{name} is broken on purpose (SUMMIT_FAULTS)")
