"""Reading an app's /metrics as samples."""

from __future__ import annotations

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.support.world import World


def samples(world_or_app: World | Flask) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    app = world_or_app.app if isinstance(world_or_app, World) else world_or_app
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())
