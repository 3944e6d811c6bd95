"""Prometheus durations: parsed and printed exactly as Prometheus prints them.

Recording-rule names carry a window (``slo:sli_error:ratio_rate30d``), so the
text must be what Prometheus (and Sloth, which uses Prometheus' printer) would
write: ``5m``, ``1h``, ``1d``, ``4w`` for 28 days, ``2s500ms``.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS_MS = (
    ("y", 365 * 86_400_000, True),
    ("w", 7 * 86_400_000, True),
    ("d", 86_400_000, False),
    ("h", 3_600_000, False),
    ("m", 60_000, False),
    ("s", 1000, False),
    ("ms", 1, False),
)
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def parse(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes; raises ValueError on anything Prometheus would refuse."""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a Prometheus duration (e.g. 5m, 1h30m, 30d)")
    units = {unit: ms for unit, ms, _ in _UNITS_MS}
    return timedelta(milliseconds=sum(int(n) * units[u] for n, u in parts))


def format(duration: timedelta) -> str:
    """Prometheus' ``model.Duration.String``: years and weeks only when exact."""
    ms = round(duration.total_seconds() * 1000)
    if ms <= 0:
        raise ValueError(f"a window must be positive, got {duration}")
    out = ""
    for unit, size, exact in _UNITS_MS:
        if exact and ms % size:
            continue
        count, ms = divmod(ms, size)
        if count:
            out += f"{count}{unit}"
    return out
