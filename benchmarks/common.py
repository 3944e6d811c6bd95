"""Helpers the benchmark scripts share."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(fn: Callable[[], object], n: int, *, warmup: int = 200) -> tuple[float, float, float]:
    """P50, P95 and P99 of ``n`` calls of ``fn``, in seconds, after ``warmup`` calls."""
    for _ in range(min(warmup, n)):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    p50, p95, p99 = (samples[min(n - 1, int(q * n))] for q in (0.50, 0.95, 0.99))
    return p50, p95, p99
