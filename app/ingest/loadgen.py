"""The load harness behind ``summit ingest load``: send N events over HTTP in
batches from C threads, back off as told, and reconcile with the server.

Each batch carries an ``Idempotency-Key`` (run id + batch number), so a retry
after a lost answer (a timeout, a crash of the server) gets the first answer
again instead of a second ingest, and the server's counters stay exactly
equal to what was sent. A 429 or 503 is retried after its ``Retry-After``
(plus jitter, so refused senders do not return in lockstep); a connection
error or a 5xx after an exponential backoff. The events of a run carry their
own source (``load-<run id>`` unless given), so the server's counters for
that source are this run's alone. Imports no Flask and no click.
"""

from __future__ import annotations

import gzip
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

NDJSON = "application/x-ndjson"
VALID = (
    b'{"id":"%s-%09d","type":"load.request","ts":"%s","source":"%s","payload":'
    b'{"n":%d,"host":"web-%02d","level":"info","msg":"request served","latency_ms":%d%s}}'
)
# Invalid in the ways senders get it wrong; each event has its own id, so each
# is its own DLQ item.
INVALID = (
    b'{"id":"%s-%09d","ts":"%s","source":"%s","payload":{"n":%d}}',  # no type
    b'{"id":"%s-%09d","type":7,"ts":"%s","source":"%s","payload":{"n":%d}}',  # wrong type
    # payload not an object:
    b'{"id":"%s-%09d","type":"load.request","ts":"%s","source":"%s","payload":[%d]}',
)


class LoadError(RuntimeError):
    """The run cannot go on (refused credentials, a 4xx that retrying cannot fix)."""


@dataclass(frozen=True)
class LoadPlan:
    url: str
    events: int
    batch: int = 5000
    concurrency: int = 4
    invalid_ratio: float = 0.0
    source: str = ""
    gzip: bool = False
    give_up_after: float = 300.0  # seconds one batch may keep being retried
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def batches(self) -> int:
        return -(-self.events // self.batch)

    @property
    def source_name(self) -> str:
        return self.source or f"load-{self.run_id}"


def is_invalid(n: int, ratio: float) -> bool:
    """Exactly floor(N x ratio) of events 0..N-1 are invalid, spread evenly."""
    return int((n + 1) * ratio) > int(n * ratio)


def batch_body(plan: LoadPlan, index: int, ts: bytes) -> tuple[bytes, int]:
    """NDJSON of batch ``index``, and how many of its events are invalid."""
    run, source = plan.run_id.encode(), plan.source_name.encode()
    first, last = index * plan.batch, min(plan.events, (index + 1) * plan.batch)
    lines, invalid = [], 0
    for n in range(first, last):
        if is_invalid(n, plan.invalid_ratio):
            lines.append(INVALID[n % len(INVALID)] % (run, n, ts, source, n))
            invalid += 1
        else:
            subject = b',"subject":"user-%d"' % (n % 997) if n % 10 == 0 else b""
            lines.append(VALID % (run, n, ts, source, n, n % 50, n % 300, subject))
    return b"\n".join(lines) + b"\n", invalid


@dataclass
class LoadReport:
    plan: LoadPlan
    valid: int = 0
    invalid: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    refusals: dict[int, int] = field(default_factory=dict)  # 429/503 -> count
    refusal_codes: dict[str, int] = field(default_factory=dict)  # error code -> count
    connection_retries: int = 0
    server_error_retries: int = 0
    replayed_answers: int = 0
    seconds: float = 0.0
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if ordered else 0.0

    @property
    def retries(self) -> int:
        return sum(self.refusals.values()) + self.connection_retries + self.server_error_retries

    def delta(self, name: str) -> int:
        return int(self.after.get(name, 0)) - int(self.before.get(name, 0))

    def mismatches(self) -> list[str]:
        """Every way the client's counts and the server's differ (empty: exact)."""
        sent = self.valid + self.invalid
        checks = [
            ("server received", self.delta("received"), "events sent", sent),
            ("server stored", self.delta("stored"), "valid events sent", self.valid),
            ("server DLQ", self.delta("dlq"), "invalid events sent", self.invalid),
            ("server duplicates", self.delta("duplicates"), "duplicates sent", 0),
            ("accepted answered", self.accepted, "valid events sent", self.valid),
            ("rejected answered", self.rejected, "invalid events sent", self.invalid),
            (
                "stored rows",
                self.after.get("rows", {}).get("events", -1),
                "server stored",
                int(self.after.get("stored", 0)),
            ),
        ]
        problems = [f"{a} {x:,} != {b} {y:,}" for a, x, b, y in checks if x != y]
        if not self.after.get("balanced", False):
            problems.append("server counters do not balance: received != stored+duplicates+dlq")
        return problems


class Load:
    def __init__(
        self,
        plan: LoadPlan,
        headers: dict[str, str],
        *,
        progress: Callable[[int], None] = lambda _n: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.report = LoadReport(plan)
        self._headers = headers
        self._progress = progress
        self._sleep = sleep
        self._lock = threading.Lock()
        self._local = threading.local()
        self._ts = datetime.now(UTC).isoformat(timespec="milliseconds").encode()

    def run(self) -> LoadReport:
        self.report.before = self.stats(verify=False)
        started = time.perf_counter()
        with ThreadPoolExecutor(self.plan.concurrency, thread_name_prefix="load") as pool:
            for _ in pool.map(self._send_batch, range(self.plan.batches)):
                pass  # map re-raises the first failure here
        self.report.seconds = time.perf_counter() - started
        self.report.after = self.stats(verify=True)
        return self.report

    def stats(self, *, verify: bool) -> dict[str, Any]:
        params = {"source": self.plan.source_name, "verify": str(verify).lower()}
        response = self._retrying(
            lambda s: s.get(f"{self._base}/stats", params=params, headers=self._headers, timeout=60)
        )
        body: dict[str, Any] = response.json()
        return body

    @property
    def _base(self) -> str:
        return f"{self.plan.url.rstrip('/')}/api/v1/ingest"

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def _send_batch(self, index: int) -> None:
        body, invalid = batch_body(self.plan, index, self._ts)
        count = min(self.plan.events, (index + 1) * self.plan.batch) - index * self.plan.batch
        headers = {
            **self._headers,
            "Content-Type": NDJSON,
            "Idempotency-Key": f"{self.plan.run_id}-{index}",
        }
        if self.plan.gzip:
            body, headers["Content-Encoding"] = gzip.compress(body, compresslevel=1), "gzip"
        timing: list[float] = []

        def post(session: requests.Session) -> requests.Response:
            started = time.perf_counter()
            response = session.post(f"{self._base}/events", data=body, headers=headers, timeout=120)
            timing.append(time.perf_counter() - started)
            return response

        answer = self._retrying(post).json()
        with self._lock:
            report = self.report
            report.valid += count - invalid
            report.invalid += invalid
            report.accepted += answer["accepted"]
            report.rejected += answer["rejected"]
            report.duplicates += answer["duplicates"]
            report.replayed_answers += int(answer.get("replayed", False))
            report.latencies.append(timing[-1])
        self._progress(count)

    def _retrying(self, call: Callable[[requests.Session], requests.Response]) -> requests.Response:
        """``call`` until it succeeds, honouring Retry-After; LoadError when it cannot."""
        deadline, attempt = time.monotonic() + self.plan.give_up_after, 0
        while True:
            attempt += 1
            try:
                response = call(self._session())
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,  # the server died mid-answer
            ) as exc:
                # Safe to send again: the batch's idempotency key makes a replay
                # answer with the first result instead of ingesting twice.
                self._note("connection")
                self._wait(deadline, _backoff(attempt), f"server unreachable: {exc}")
                continue
            if response.status_code < 300:
                return response
            if response.status_code in (429, 503):
                self._note(response.status_code, _code(response))
                self._wait(deadline, _retry_after(response), response.text[:200])
            elif response.status_code >= 500:
                self._note("server")
                self._wait(deadline, _backoff(attempt), response.text[:200])
            else:
                raise LoadError(f"{response.status_code} from the server: {response.text[:500]}")

    def _note(self, kind: int | str, code: str = "") -> None:
        with self._lock:
            report = self.report
            if kind == "connection":
                report.connection_retries += 1
            elif kind == "server":
                report.server_error_retries += 1
            else:
                assert isinstance(kind, int)
                report.refusals[kind] = report.refusals.get(kind, 0) + 1
                report.refusal_codes[code] = report.refusal_codes.get(code, 0) + 1

    def _wait(self, deadline: float, seconds: float, why: str) -> None:
        if time.monotonic() + seconds > deadline:
            raise LoadError(f"gave up after {self.plan.give_up_after:.0f} s of retries: {why}")
        self._sleep(seconds)


def _retry_after(response: requests.Response) -> float:
    """The server's Retry-After (seconds), plus up to a quarter second of jitter."""
    try:
        seconds = max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        seconds = 1.0
    return seconds + random.uniform(0, 0.25)  # noqa: S311 - jitter, not a secret


def _code(response: requests.Response) -> str:
    """The error code of a refusal (``{"error": {"code"}}``), or its status."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)


def _backoff(attempt: int) -> float:
    return min(2.0, 0.05 * 2.0**attempt) + random.uniform(0, 0.05)  # noqa: S311


def login(url: str, *, tenant: str | None, username: str, password: str) -> dict[str, str]:
    response = requests.post(
        f"{url.rstrip('/')}/api/v1/auth/login",
        json={"tenant": tenant, "username": username, "password": password},
        timeout=30,
    )
    if response.status_code != 200:
        raise LoadError(f"login as {username} failed: {response.status_code} {response.text[:200]}")
    return {"Authorization": f"Bearer {response.json()['token']}"}
