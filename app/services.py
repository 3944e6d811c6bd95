"""What the app factory builds once and every adapter uses."""

from __future__ import annotations

from dataclasses import dataclass

from app.db import Database
from app.metrics import Metrics
from app.security import Passwords
from app.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    metrics: Metrics
    passwords: Passwords
