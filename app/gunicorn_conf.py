"""gunicorn hooks for ``summit serve``; bind, workers and threads come from the CLI."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import multiprocess

log = logging.getLogger("summit.ratelimit")


def on_starting(_server: Any) -> None:
    # A server killed whole (master and workers, SIGKILL or a crash) left its
    # workers' in-flight slots in the host's store, where they would keep the
    # tenants waiting until they go stale (120 s). This host's store is a file
    # on this host, so the slots of processes that no longer run are given back
    # now. (With Redis, shared by hosts, a pid says nothing: they go stale.)
    from app.core.gcra import STORE_ERRORS, SqliteStore, open_store
    from app.settings import load_settings

    settings = load_settings()
    store = open_store(redis_url=settings.redis_url, var_dir=settings.var_dir)
    if isinstance(store, SqliteStore):
        try:
            dead = store.release_dead_processes()
        except STORE_ERRORS as exc:
            log.warning("slots of dead processes not released: %s", exc)
            return
        if dead:
            log.info("gave back the in-flight slots of %d dead processes", len(dead))


def worker_exit(_server: Any, _worker: Any) -> None:
    # Stop this worker's scheduler (giving up its lease, so a standby takes over
    # at once) and close its browser from the browser's own thread.
    from app.ops.scheduler import stop_all

    stop_all()


def child_exit(_server: Any, worker: Any) -> None:
    # A dead worker's live gauges must not be summed into /metrics forever.
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
    # Nor may the in-flight slots of a worker killed mid-request keep its tenant
    # waiting until they go stale: the master gives them back at once.
    from app.core.gcra import STORE_ERRORS, open_store
    from app.settings import load_settings

    settings = load_settings()
    try:
        open_store(redis_url=settings.redis_url, var_dir=settings.var_dir).release_process(
            worker.pid
        )
    except STORE_ERRORS as exc:
        logging.getLogger("summit.ratelimit").warning(
            "slots of %s not released: %s", worker.pid, exc
        )
