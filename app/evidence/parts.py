"""What every part of the evidence pack shares: what it is given (Inputs) and
what it says it did (Part). Imports no Flask or click."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.db import Database
from app.evidence.advisories import OSV_URL
from app.settings import Settings

Shots = Callable[[Path], list[Path]]


class EvidenceError(Exception):
    """The pack cannot be built at all (the output folder is taken)."""


class PartUnavailable(Exception):
    """A part cannot be produced here (no browser, say): it is skipped, saying why."""


@dataclass
class Part:
    name: str
    status: str  # ok | skipped | not checked | failed
    detail: str
    files: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.name}: {self.status}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Inputs:
    settings: Settings
    db: Database
    root: Path  # the repository (SSDF mapping)
    tools: Path  # the folder with cyclonedx-py and pip-audit (.venv-tools/bin)
    advisories: Path | None = None
    offline: bool = False
    osv_url: str = OSV_URL
    shots: Shots | str | None = None  # a camera, or why there are no screenshots
    run_probes: Callable[[], list[str]] | None = None  # runs each probe once, says how it went
    now: Callable[[], datetime] = datetime.now


def as_json(body: Any) -> str:
    return json.dumps(body, sort_keys=True, indent=2, default=str) + "\n"
