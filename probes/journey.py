"""What a journey is, what it is given, and the recorder that times and asserts each step.

Fail closed: a run passes only when every declared step ran, in order, and
held. An exception, a step left out, or a step run out of order is a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

PROBE_HEADER = "X-Summit-Probe"  # tags probe traffic on the wire and in access logs


class ProbeFailure(AssertionError):
    """A step's expectation did not hold; the message says what was seen instead."""


@dataclass(frozen=True)
class Target:
    """The deployment under watch and the synthetic user that probes it."""

    base_url: str
    tenant: str | None
    username: str
    password: str


@dataclass(frozen=True)
class ProbeConfig:
    target: Target
    artifacts_dir: Path
    chromium_path: str = "/usr/bin/chromium"
    timeout_seconds: float = 10.0
    search_query: str = "summit probe target"  # the probes' own synthetic record
    entity_name: str = "Summit Probe Target"
    other_tenant: str = "globex"
    decision_budget_ms: float = 10.0
    governance_tenants: tuple[str, ...] = ()  # each tenant's synthetic user; () = the target's


@dataclass(frozen=True)
class StepRecord:
    name: str
    ms: float
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ms": round(self.ms, 3), "ok": self.ok, "error": self.error}


def describe(exc: BaseException) -> str:
    """One line for the run record: the type and the first line of the message."""
    first = (str(exc).strip().splitlines() or [""])[0][:500]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# Told of each step as it starts (record None) and as it ends (its record), on
# the thread that runs the journey: a terminal shows progress with it.
StepListener = Callable[[str, StepRecord | None], None]


def _ignore(_name: str, _record: StepRecord | None) -> None:
    return None


class Steps:
    """Times each step with ``clock`` and records whether it held.

    A journey writes ``with steps.step("search"): ...``; on failure it may add
    evidence (name -> bytes) that the runner keeps as run artifacts.
    """

    def __init__(
        self,
        expected: tuple[str, ...],
        clock: Callable[[], float] = time.perf_counter,
        on_step: StepListener | None = None,
    ) -> None:
        self.expected = expected
        self.records: list[StepRecord] = []
        self.evidence: dict[str, bytes] = {}
        self._clock = clock
        self._on_step = on_step or _ignore

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        position = len(self.records)
        if position >= len(self.expected) or self.expected[position] != name:
            raise ProbeFailure(f"step {name!r} ran out of order (expected {self.expected})")
        self._on_step(name, None)
        started = self._clock()
        try:
            yield
        except BaseException as exc:
            ms = (self._clock() - started) * 1000
            self._finish(StepRecord(name, ms, ok=False, error=describe(exc)))
            raise
        self._finish(StepRecord(name, (self._clock() - started) * 1000, ok=True))

    def _finish(self, record: StepRecord) -> None:
        self.records.append(record)
        self._on_step(record.name, record)

    @property
    def complete(self) -> bool:
        """Every declared step ran and held."""
        return [r.name for r in self.records if r.ok] == list(self.expected)

    def first_unfinished(self) -> str | None:
        """The step that failed, or the first that never ran."""
        for record in self.records:
            if not record.ok:
                return record.name
        done = len(self.records)
        return self.expected[done] if done < len(self.expected) else None


@dataclass(frozen=True)
class Journey:
    """A named journey: ``kind`` says what ``run`` is handed first (a Playwright
    page for "browser", a requests session for "http"), then config and steps."""

    name: str
    kind: Literal["browser", "http"]
    steps: tuple[str, ...]
    run: Callable[[Any, ProbeConfig, Steps], None]
    # Called after every run, passed or not, with what ``run`` got: logs the
    # synthetic user out, so no run leaves a session or token alive behind it.
    finish: Callable[[Any, ProbeConfig], None] | None = None


@dataclass
class RunResult:
    id: str
    probe: str
    passed: bool
    started_at: datetime
    duration_ms: float
    steps: list[StepRecord]
    failed_step: str | None = None
    error: str | None = None
    artifacts: list[str] = field(default_factory=list)  # relative to ProbeConfig.artifacts_dir
