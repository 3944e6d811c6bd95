"""Golden-path probe benchmark: run time with a warm and a cold browser, and memory.

Seeds the demo data, starts `summit serve` (gunicorn, scheduler off so only
this script drives traffic) on 127.0.0.1, then runs the real golden-path
journey (probes.runner.execute: login -> search -> open entity -> assert page)
through the runner's browser thread:

- warm: one Chromium kept open, a fresh context per run (what the scheduler
  leader does);
- cold browser: Chromium launched and closed around each run, the Playwright
  driver kept (what a non-leader worker does for "run now");
- cold start: a new runner per run (Playwright driver and Chromium started);
- floor: the same four page loads with `requests`, no browser: the server's
  share of a run.

Memory is PSS (proportional set size, /proc/<pid>/smaps_rollup) of this
process and its descendants (Playwright's driver and Chromium's processes),
before the runner starts, idle with a warm browser, and the peak sampled every
50 ms during five more warm runs (not the timed ones). Every process is stopped by PID at the end.

    .venv/bin/python -m benchmarks.golden_path [--runs 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from app.core.db import utcnow
from benchmarks.common import PASSWORD, bench_env, seed_demo
from probes.journey import ProbeConfig, Target
from probes.procfs import command, descendants, pss_bytes
from probes.runner import BrowserRunner, execute
from tests.support.live import CHROMIUM, summit_server

MB = 1024 * 1024


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> dict[str, Any]:
    return {
        "name": name,
        "runs": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


SERVER: list[int] = []  # `summit serve` and its workers are ours too, but not the runner's


def memory() -> dict[str, Any]:
    me = os.getpid()
    server = set(SERVER) | {pid for root in SERVER for pid in descendants(root)}
    kids = [pid for pid in descendants(me) if pid not in server]
    chromium = [pid for pid in kids if "chrom" in command(pid)]
    driver = [pid for pid in kids if pid not in chromium]
    return {
        "python": pss_bytes(me),
        "driver": sum(pss_bytes(pid) for pid in driver),
        "chromium": sum(pss_bytes(pid) for pid in chromium),
        "chromium_processes": len(chromium),
    }


def total(mem: dict[str, Any]) -> int:
    return int(mem["python"] + mem["driver"] + mem["chromium"])


class PeakSampler:
    """The largest total PSS seen, sampled every 50 ms on a thread of its own."""

    def __init__(self) -> None:
        self.peak: dict[str, Any] = memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = memory()
            if total(now) > total(self.peak):
                self.peak = now

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_runs(
    config: ProbeConfig, runner_for: Callable[[], BrowserRunner], n: int
) -> dict[str, Any]:
    durations: list[float] = []
    steps: dict[str, list[float]] = {}
    for _ in range(n):
        runner = runner_for()
        started = time.perf_counter()
        result = execute("golden-path", config=config, browser=runner, now=utcnow)
        wall = (time.perf_counter() - started) * 1000
        if not result.passed:
            raise SystemExit(f"golden path failed at {result.failed_step}: {result.error}")
        durations.append(wall)
        for step in result.steps:
            steps.setdefault(step.name, []).append(step.ms)
    return {"total": durations, "steps": steps}


def floor_runs(base: str, n: int) -> list[float]:
    """The journey's four page loads over HTTP without a browser."""
    durations = []
    for _ in range(n):
        started = time.perf_counter()
        with requests.Session() as http:
            page = http.get(f"{base}/login", timeout=10).text
            token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
            form = {"csrf_token": token.group(1) if token else "", "tenant": "acme",
                    "username": "synthetic", "password": PASSWORD}  # fmt: skip
            http.post(f"{base}/login", data=form, timeout=10).raise_for_status()
            found = http.get(f"{base}/search?q=summit+probe+target", timeout=10).text
            entity = re.search(r'href="(/entities/[^"]+)">Summit Probe Target<', found)
            if entity is None:
                raise SystemExit("floor: the search page has no Summit Probe Target")
            http.get(f"{base}{entity.group(1)}", timeout=10).raise_for_status()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def measure(base: str, runs: int, artifacts: Path) -> dict[str, Any]:
    config = ProbeConfig(
        target=Target(base_url=base, tenant="acme", username="synthetic", password=PASSWORD),
        artifacts_dir=artifacts, chromium_path=CHROMIUM, timeout_seconds=10,
    )  # fmt: skip
    results: dict[str, Any] = {"memory_before": memory()}
    floor_runs(base, 3)  # warm every worker
    results["floor"] = floor_runs(base, runs)
    warm = BrowserRunner(chromium_path=CHROMIUM)
    try:
        timed_runs(config, lambda: warm, 3)  # launch, and warm the server's caches
        results["warm"] = timed_runs(config, lambda: warm, runs)
        # Sampled on separate runs: walking /proc every 50 ms holds the GIL that
        # the Playwright calls of the timed runs need.
        with PeakSampler() as sampler:
            timed_runs(config, lambda: warm, 5)
        results["memory_peak"] = sampler.peak
        results["memory_idle"] = memory()
    finally:
        warm.close()
    cold = BrowserRunner(chromium_path=CHROMIUM, keep_warm=lambda: False)
    try:
        results["cold_browser"] = timed_runs(config, lambda: cold, runs)
    finally:
        cold.close()
    fresh: list[BrowserRunner] = []

    def new_runner() -> BrowserRunner:
        for old in fresh:
            old.close()
        fresh[:] = [BrowserRunner(chromium_path=CHROMIUM)]
        return fresh[0]

    try:
        results["cold_start"] = timed_runs(config, new_runner, runs)
    finally:
        for old in fresh:
            old.close()
    return results


def report(results: dict[str, Any], runs: int) -> None:
    rows = [
        summary("floor: the 4 page loads, no browser", results["floor"]),
        summary("warm browser (fresh context per run)", results["warm"]["total"]),
        summary("cold browser (Chromium launched per run)", results["cold_browser"]["total"]),
        summary("cold start (driver + Chromium per run)", results["cold_start"]["total"]),
    ]
    print(f"\ngolden path, {runs} runs each (ms)")
    print(f"{'':44} {'P50':>7} {'P95':>7} {'max':>7} {'mean':>7}")
    for row in rows:
        figures = " ".join(f"{row[key]:7.0f}" for key in ("p50", "p95", "max", "mean"))
        print(f"{row['name']:44} {figures}")
    print("\nwarm, per step (ms)")
    for step, values in results["warm"]["steps"].items():
        print(f"  {step:14} P50 {pct(values, 50):6.0f}  P95 {pct(values, 95):6.0f}")
    for label in ("memory_before", "memory_idle", "memory_peak"):
        mem = results[label]
        parts = " + ".join(
            f"{part} {mem[part] / MB:.0f}" for part in ("python", "driver", "chromium")
        )
        print(f"{label:14} total {total(mem) / MB:6.0f} MB = {parts} MB "
              f"({mem['chromium_processes']} Chromium processes)")  # fmt: skip
    warm_p95 = summary("", results["warm"]["total"])["p95"]
    verdict = "met" if warm_p95 <= 1000 else "NOT met"
    print(f"\nbar: warm P95 <= 1000 ms: {verdict} ({warm_p95:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="per mode (at least 20)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    var = Path(tempfile.mkdtemp(prefix="summit-bench-probe-"))
    env = bench_env(var)
    try:
        seed_demo(env)
        with summit_server(env, workers=None) as server:
            SERVER.append(server.pid)
            results = measure(server.url, args.runs, var / "artifacts")
    finally:
        shutil.rmtree(var, ignore_errors=True)
    report(results, args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
