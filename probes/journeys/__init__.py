"""The journey registry: probe name -> "module:attribute", imported on first use
(a plain dict, so adding a journey is one line and importing this is free)."""

from __future__ import annotations

import importlib
from typing import Final

from app.errors import NotFound
from probes.journey import Journey

JOURNEYS: Final[dict[str, str]] = {
    "golden-path": "probes.journeys.golden_path:JOURNEY",
    "policy": "probes.journeys.policy:JOURNEY",
}


class UnknownProbe(NotFound):
    code = "unknown_probe"


def load(name: str) -> Journey:
    try:
        module_name, _, attribute = JOURNEYS[name].partition(":")
    except KeyError:
        raise UnknownProbe(f"no probe named {name!r}; known: {sorted(JOURNEYS)}") from None
    journey = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(journey, Journey) or journey.name != name:
        raise TypeError(f"{JOURNEYS[name]} is not the Journey named {name!r}")
    return journey
