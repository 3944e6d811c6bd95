"""Summit control plane.

Kept small on purpose: `create_app` is imported lazily so that `app.db`,
the core and the domain services import without pulling in Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    from app.factory import create_app as _create_app

    return _create_app(test_config)


__all__ = ["create_app"]
