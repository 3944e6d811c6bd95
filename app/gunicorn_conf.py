"""gunicorn hooks for ``summit serve``; bind, workers and threads come from the CLI."""

from __future__ import annotations

from typing import Any

from prometheus_client import multiprocess


def worker_exit(_server: Any, _worker: Any) -> None:
    # Stop this worker's scheduler (giving up its lease, so a standby takes over
    # at once) and close its browser from the browser's own thread.
    from app.ops.scheduler import stop_all

    stop_all()


def child_exit(_server: Any, worker: Any) -> None:
    # A dead worker's live gauges must not be summed into /metrics forever.
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
