"""Recorded request statistics, and SLO status computed from them.

:class:`RequestStats` is fed by the request middleware: a request costs one
bisect and one dict increment under a lock (no queue entry, no allocation
once its minute's cell exists). Completed minutes are handed to the
BatchWriter as one row per (minute, route, method, traffic, status, latency
bucket) and written in a batch by its thread; the current minute is written
when it ends (or at exit).

:class:`LocalCounts` answers ``alerts.status``' questions ("how much did this
series grow in each step?") from those rows, from the policy decision log and
from the probe runs: the same series Prometheus would have scraped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts import build, durations, rules, slo
from alerts import status as slo_status
from alerts.slo import SLO, metrics_le
from alerts.status import Matcher, Unsupported
from app.alerting.models import RequestMinute
from app.core import metrics
from app.core.batch import BatchWriter
from app.core.db import Database
from app.core.tenancy import ALL_TENANTS
from app.policy.models import PolicyDecision
from app.settings import Settings
from probes.models import ProbeRun

BOUNDS = metrics.LATENCY_BUCKETS
log = logging.getLogger("summit.alerting")
Key = tuple[int, str, str, str, int, int]  # minute, route, method, traffic, status, bucket


class RequestStats(BatchWriter):
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        retention: timedelta,
        seconds: Callable[[], float] = time.time,  # the epoch clock of the hot path
    ) -> None:
        super().__init__(
            db, RequestMinute, clock=clock, time_column="minute", retention=retention,
            flush_every=5.0,
        )  # fmt: skip
        self._cells: dict[Key, int] = {}
        self._lock = threading.Lock()
        self._drain_all = False
        self._seconds = seconds

    def observe(self, route: str, method: str, traffic: str, status: int, seconds: float) -> None:
        """Count one request (the hot path: keep it this small)."""
        key = (
            int(self._seconds()) // 60,
            route,
            method,
            traffic,
            status,
            bisect_left(BOUNDS, seconds),
        )
        with self._lock:
            self._cells[key] = self._cells.get(key, 0) + 1
        if self._thread is None:
            self._start()

    def flush(self) -> int:
        """Queue the minutes that have ended (all of them at exit), then write."""
        current = int(self._seconds()) // 60
        with self._lock:
            done = [k for k in self._cells if self._drain_all or k[0] < current]
            cells = [(k, self._cells.pop(k)) for k in done]
        for (minute, route, method, traffic, status, bucket), count in cells:
            self.record({
                "minute": minute, "route": route, "method": method, "traffic": traffic,
                "status": status, "bucket": bucket, "count": count,
            })  # fmt: skip
        return super().flush()

    def prune(self) -> int:
        cutoff = int((self._clock() - self._retention).timestamp()) // 60
        with self._db.engine.begin() as connection:
            result = connection.execute(delete(RequestMinute).where(RequestMinute.minute < cutoff))
        return int(result.rowcount or 0)

    def close(self) -> None:
        """Write what is counted, the current minute too. Statistics are best
        effort: a failed last write (no schema yet, database gone) is logged,
        never raised into shutdown."""
        self._drain_all = True
        try:
            super().close()
        except SQLAlchemyError:
            log.exception("request statistics not written at exit")


def epoch_minute(at: datetime) -> int:
    return int(at.timestamp()) // 60


class LocalCounts:
    """``alerts.status.Counts`` over this control plane's own tables.

    The session must see every tenant (``ALL_TENANTS``): the decision log's rows
    belong to tenants, and an SLO counts them all. Only counts leave here.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def increases(
        self, series: str, matchers: Sequence[Matcher], start: datetime, step: timedelta, n: int
    ) -> list[float]:
        if series in (metrics.HTTP_REQUESTS.total, metrics.HTTP_ERRORS.total,
                      metrics.HTTP_DURATION.count, metrics.HTTP_DURATION.bucket):  # fmt: skip
            return self._requests(series, list(matchers), start, step, n)
        if series in (metrics.POLICY_DECISION_DURATION.count,
                      metrics.POLICY_DECISION_DURATION.bucket):  # fmt: skip
            return self._decisions(list(matchers), start, step, n)
        if series == metrics.PROBE_RUNS.total:
            return self._probe_runs(list(matchers), start, step, n)
        raise Unsupported(f"{series} is not recorded by the control plane")

    def _requests(
        self, series: str, matchers: list[Matcher], start: datetime, step: timedelta, n: int
    ) -> list[float]:
        limit = _take_le(matchers, BOUNDS) if series == metrics.HTTP_DURATION.bucket else None
        _only(matchers, {"route", "method", "traffic", "status"})
        # Whole minutes ending with the current one (its rows are written when it ends).
        first, minutes = epoch_minute(start) + 1, max(1, round(step / timedelta(minutes=1)))
        index = (RequestMinute.minute - first) // minutes
        rows = self.session.execute(
            select(index, RequestMinute.route, RequestMinute.method, RequestMinute.traffic,
                   RequestMinute.status, RequestMinute.bucket, func.sum(RequestMinute.count))
            .where(RequestMinute.minute >= first, RequestMinute.minute < first + minutes * n)
            .group_by(index, RequestMinute.route, RequestMinute.method, RequestMinute.traffic,
                      RequestMinute.status, RequestMinute.bucket)
        )  # fmt: skip
        out = [0.0] * n
        for slot, route, method, traffic, status, bucket, count in rows:
            labels = {"route": route, "method": method, "traffic": traffic, "status": str(status)}
            if series == metrics.HTTP_ERRORS.total and status < 500:
                continue
            if (limit is None or bucket <= limit) and _matches(matchers, labels):
                out[int(slot)] += count
        return out

    def _decisions(
        self, matchers: list[Matcher], start: datetime, step: timedelta, n: int
    ) -> list[float]:
        bounds = metrics.DECISION_BUCKETS
        limit = _take_le(matchers, bounds)
        _only(matchers, {"source"})
        counted = (
            func.sum(case((PolicyDecision.elapsed_ms <= bounds[limit] * 1000, 1), else_=0))
            if limit is not None and limit < len(bounds)
            else func.count()
        )
        return [
            self._grouped(PolicyDecision.at, PolicyDecision.source, counted, "source",
                          matchers, start + step * i, start + step * (i + 1))
            for i in range(n)
        ]  # fmt: skip

    def _probe_runs(
        self, matchers: list[Matcher], start: datetime, step: timedelta, n: int
    ) -> list[float]:
        _only(matchers, {"probe", "result"})
        column = ProbeRun.probe + ":" + ProbeRun.status
        return [
            self._grouped(ProbeRun.started_at, column, func.count(), "probe:result",
                          matchers, start + step * i, start + step * (i + 1))
            for i in range(n)
        ]  # fmt: skip

    def _grouped(
        self, at: Any, key: Any, counted: Any, names: str, matchers: list[Matcher],
        start: datetime, end: datetime,
    ) -> float:  # fmt: skip
        rows = self.session.execute(select(key, counted).where(at >= start, at < end).group_by(key))
        total = 0.0
        for value, count in rows:
            labels = dict(zip(names.split(":"), str(value).split(":"), strict=False))
            if _matches(matchers, labels):
                total += float(count or 0)
        return total


def _take_le(matchers: list[Matcher], bounds: tuple[float, ...]) -> int | None:
    """Remove the ``le`` matcher; the index of its bucket (``len(bounds)`` = +Inf)."""
    for matcher in list(matchers):
        if matcher[0] == "le":
            matchers.remove(matcher)
            written = [metrics_le(b) for b in bounds]
            if matcher[1] != "=" or matcher[2] not in [*written, "+Inf"]:
                raise Unsupported(f"le{matcher[1]}{matcher[2]!r} is not a bucket boundary")
            return written.index(matcher[2]) if matcher[2] != "+Inf" else len(bounds)
    return None


def _only(matchers: list[Matcher], recorded: set[str]) -> None:
    extra = {name for name, _, _ in matchers} - recorded
    if extra:
        raise Unsupported(f"labels {sorted(extra)} are not recorded locally")


def _matches(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    for name, op, value in matchers:
        actual = labels.get(name, "")
        if op in ("=", "!=") and (actual == value) != (op == "="):
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, actual) is not None) != (op == "=~"):
            return False
    return True


def utc_minute(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


# --- SLO status for the API and the page ----------------------------------------------


@lru_cache(maxsize=4)
def _specs(directory: str) -> tuple[SLO, ...]:
    """The specs, read once per process (they ship with the code)."""
    return tuple(slo.load_dir(Path(directory)).slos)


def specs(settings: Settings) -> tuple[SLO, ...]:
    return _specs(str(settings.slo_specs_dir or build.SPECS_DIR))


def statuses(*, settings: Settings, db: Database, now: datetime) -> list[slo_status.Status]:
    """Every SLO's status: from Prometheus when PROMETHEUS_URL is set, else local."""
    period = rules.DEFAULT_PERIOD
    if not settings.prometheus_url:
        with db.read_session(tenant_id=ALL_TENANTS) as session:  # a replica's, if any
            counts = LocalCounts(session)
            return [
                slo_status.local_status(one, counts, now=now, period=period)
                for one in specs(settings)
            ]
    client = slo_status.PrometheusHTTP(settings.prometheus_url)
    found = []
    for one in specs(settings):
        try:
            found.append(slo_status.prometheus_status(one, client, now=now, period=period))
        except (requests.RequestException, RuntimeError, ValueError) as exc:
            note = f"Prometheus did not answer: {exc}"
            found.append(slo_status.Status(
                one.id, one.service, one.name, one.description, one.objective, "prometheus",
                note=note,
            ))  # fmt: skip
    return found


def alert_states(one: SLO, found: slo_status.Status) -> list[dict[str, Any]]:
    """Each alert condition with its burn-rate threshold and whether it holds now."""
    out = []
    for severity, meta, pair in (
        ("page", one.page, (rules.WORKBOOK.page_quick, rules.WORKBOOK.page_slow)),
        ("ticket", one.ticket, (rules.WORKBOOK.ticket_quick, rules.WORKBOOK.ticket_slow)),
    ):
        for window in pair:
            factor = window.factor(rules.DEFAULT_PERIOD)
            long_rate = found.burn_rates.get(durations.format(window.long))
            short_rate = found.burn_rates.get(durations.format(window.short))
            out.append({
                "severity": severity, "enabled": meta is not None,
                "long_window": durations.format(window.long),
                "short_window": durations.format(window.short), "factor": factor,
                "firing": bool(long_rate and short_rate and min(long_rate, short_rate) > factor),
            })  # fmt: skip
    return out


def runbook_slug(one: SLO) -> str | None:
    meta = one.page or one.ticket
    return rules.slug(meta.name) if meta else None
