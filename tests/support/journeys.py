"""Journeys that misbehave on purpose, registered by the tests that need them."""

from __future__ import annotations

from typing import Any

from probes.journey import Journey, ProbeConfig, Steps


def _skips(_client: Any, _config: ProbeConfig, steps: Steps) -> None:
    with steps.step("first"):
        pass  # and returns without running "second"


def _out_of_order(_client: Any, _config: ProbeConfig, steps: Steps) -> None:
    with steps.step("second"):
        pass


SKIPPER = Journey(name="skipper", kind="http", steps=("first", "second"), run=_skips)
JUMPER = Journey(name="jumper", kind="http", steps=("first", "second"), run=_out_of_order)
