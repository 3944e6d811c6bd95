"""The journey registry: probe name -> Journey. Adding a journey is one import
and one entry."""

from __future__ import annotations

from typing import Final

from app.core.errors import NotFound
from probes.journey import Journey
from probes.journeys import golden_path, governance, policy

JOURNEYS: Final[dict[str, Journey]] = {
    journey.name: journey for journey in (golden_path.JOURNEY, policy.JOURNEY, governance.JOURNEY)
}


class UnknownProbe(NotFound):
    code = "unknown_probe"


def load(name: str) -> Journey:
    try:
        return JOURNEYS[name]
    except KeyError:
        raise UnknownProbe(f"no probe named {name!r}; known: {sorted(JOURNEYS)}") from None
