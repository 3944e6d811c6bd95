"""Login throttling that stops guessing without handing strangers a lockout.

Failures are counted in GCRA buckets (app.core.gcra) in the shared store, so
every worker sees the same counts:

- per account *and* address, in two tiers: ``max_failures`` quick failures,
  then one more attempt per ``window / max_failures``; past four times that,
  one per three windows — the wait grows as the guessing goes on;
- per address, across accounts: ten times the allowance (a shared NAT may
  fail for several people, not for all).

A stranger who fails from their own address throttles only themselves: the
account's owner, or a probe, logging in from an address that has not been
failing is never refused. Guessing at one account from many addresses is not
refused either (that would be the lockout again): it is logged, once per
window, for the on-call to see. Nobody is exempt, probe users included.
Imports no Flask.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.gcra import STORE_ERRORS, RedisStore, SqliteStore, Verdict

log = logging.getLogger("summit.auth")


@dataclass(frozen=True)
class Bucket:
    scope: str  # "pair", "pair-long", "address", "account"
    capacity: int
    period: float
    refuses: bool = True

    def wait(self, verdict: Verdict, now: float) -> float:
        return max(verdict.tat, now) - now - (self.capacity - 1) * self.period


class LoginThrottle:
    def __init__(
        self,
        store: SqliteStore | RedisStore,
        *,
        max_failures: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._clock = clock
        self._window = window_seconds
        self._reported: dict[str, float] = {}  # account -> when last logged
        per = window_seconds / max_failures
        self._buckets = (
            Bucket("pair", max_failures, per),
            Bucket("pair-long", max_failures * 4, window_seconds * 3.0),
            Bucket("address", max_failures * 10, per / 10),
            Bucket("account", max_failures * 20, per / 20, refuses=False),
        )

    @staticmethod
    def _account(tenant: str | None, username: str) -> str:
        return f"{tenant or '-'}/{username.lower()}"

    def _key(self, bucket: Bucket, account: str, address: str) -> str:
        subject = {"address": address, "account": account}.get(bucket.scope)
        return f"login:{bucket.scope}:{subject or f'{account}@{address}'}"

    def retry_after(self, *, tenant: str | None, username: str, address: str) -> int | None:
        """Seconds until this account may try again from this address, or None."""
        account, now = self._account(tenant, username), self._clock()
        waits = []
        for bucket in self._buckets:
            if not bucket.refuses:
                continue
            try:
                verdict = self._store.peek(
                    self._key(bucket, account, address),
                    period=bucket.period,
                    capacity=bucket.capacity,
                    now=now,
                )
            except STORE_ERRORS as exc:
                log.error("login throttle store failing; not throttling: %s", exc)
                return None
            if not verdict.allowed:
                waits.append(bucket.wait(verdict, now))
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *, tenant: str | None, username: str, address: str) -> None:
        account, now = self._account(tenant, username), self._clock()
        for bucket in self._buckets:
            try:
                verdict = self._store.hit(
                    self._key(bucket, account, address),
                    period=bucket.period,
                    capacity=bucket.capacity,
                    now=now,
                )
            except STORE_ERRORS as exc:
                log.error("login throttle store failing; not counting: %s", exc)
                return
            if not bucket.refuses and not verdict.allowed:
                self._report(account, address, now)

    def _report(self, account: str, address: str, now: float) -> None:
        if now - self._reported.get(account, -math.inf) < self._window:
            return
        self._reported[account] = now
        log.warning(
            "many failed logins for one account from several addresses",
            extra={"account": account, "last_address": address},
        )

    def succeeded(self, *, tenant: str | None, username: str, address: str) -> None:
        """The right password from this address: its count for the account starts over."""
        account = self._account(tenant, username)
        for bucket in self._buckets[:2]:
            try:
                self._store.clear(self._key(bucket, account, address))
            except STORE_ERRORS as exc:
                log.error("login throttle store failing: %s", exc)
