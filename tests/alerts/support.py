"""Building the alerting folder for tests, with fixed inputs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alerts import build, rules, slo

BASE_URL = "https://summit.example.com"
# Every scheduled probe, at the default intervals (as `summit alerts build` makes them).
PROBES = [
    rules.ProbeAlert("golden-path", timedelta(seconds=60), failures=3, window=3),
    rules.ProbeAlert("governance", timedelta(seconds=300), failures=3, window=3),
    rules.ProbeAlert("policy", timedelta(seconds=60), failures=3, window=3),
]


def write_spec(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def build_into(
    out: Path,
    *,
    specs: Path = build.SPECS_DIR,
    routing_file: Path = build.ROUTING_FILE,
    base_url: str = BASE_URL,
    time_scale: float = 1.0,
    secrets_dir: Path | None = None,
) -> list[Path]:
    options = rules.Options(links=rules.Links(base_url), time_scale=time_scale)
    loaded = slo.load_dir(specs)
    return build.write(
        out, slos=loaded.slos, probes=PROBES, routing_file=routing_file, options=options,
        secrets_dir=secrets_dir,
    )  # fmt: skip


WEBHOOK_TOKEN = "alertmanager-live-webhook-token"


def secrets_for_alertmanager(folder: Path) -> Path:
    """The secret files the committed routing names, as a real Alertmanager reads
    them: the control plane's webhook token, and a PagerDuty routing key (no network
    here, so PagerDuty deliveries fail in Alertmanager's log; the webhook still goes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summit-webhook-token").write_text(WEBHOOK_TOKEN)
    (folder / "pagerduty-routing-key").write_text("R0UT1NGKEY0000000000000000000000")
    return folder
