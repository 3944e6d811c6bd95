"""Shared rate state for every worker: GCRA buckets and in-flight slots.

GCRA (the generic cell rate algorithm, as in ATM networks and redis-cell)
keeps one number per key, the theoretical arrival time (TAT): a request at
``now`` is admitted when ``max(tat, now) + period - now <= capacity * period``,
and then moves TAT on by one ``period``. A bucket of ``capacity`` that refills
one unit every ``period`` seconds: in any window of ``t`` seconds it admits at
most ``capacity + t / period``, exactly, whoever asks.

Two stores, one behaviour:

- ``SqliteStore``, the embedded default: a small SQLite file beside the
  database (WAL, no fsync: this is throwaway state), one conditional UPSERT per
  decision, shared by every gunicorn worker on the host;
- ``RedisStore`` when ``REDIS_URL`` is set: the same arithmetic in one Lua
  script (one round trip), shared by every worker and host.

In-flight slots bound how many requests of one tenant run at once: a slot per
worker thread, taken with one conditional statement, given back when the
request ends; a slot left by a killed worker counts for ``stale`` seconds only.

Imports no Flask.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis

# What a failing store raises: callers admit and log rather than fail requests.
STORE_ERRORS: tuple[type[Exception], ...] = (OSError, sqlite3.Error, redis.RedisError)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    tat: float  # the key's theoretical arrival time after this decision


class Store(Protocol):
    def hit(self, key: str, *, period: float, capacity: int, now: float) -> Verdict:
        """Spend one unit of ``key`` when it has one."""

    def peek(self, key: str, *, period: float, capacity: int, now: float) -> Verdict:
        """Whether a hit would be admitted now, spending nothing."""

    def clear(self, key: str) -> None: ...

    def acquire_slot(self, group: str, *, slot: str, cap: int, now: float, stale: float) -> bool:
        """Take ``slot`` for ``group`` when fewer than ``cap`` of its slots are live."""

    def release_slot(self, slot: str) -> None: ...

    def release_process(self, pid: int) -> None:
        """Give back every slot a process held (it died mid-request)."""


def admits(tat: float, *, period: float, capacity: int, now: float) -> bool:
    return max(tat, now) + period - now <= capacity * period + 1e-9


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS gcra (key TEXT PRIMARY KEY, tat REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS slots"
    " (slot TEXT PRIMARY KEY, grp TEXT NOT NULL, since REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_slots_grp ON slots (grp, since)",
)
# One statement decides and records: a new key is admitted; an existing one is
# moved on only when the bucket has room (else no row comes back).
_HIT = (
    "INSERT INTO gcra (key, tat) VALUES (:key, :now + :period) "
    "ON CONFLICT (key) DO UPDATE SET tat = max(tat, :now) + :period "
    "WHERE max(tat, :now) + :period - :now <= :capacity * :period + 1e-9 "
    "RETURNING tat"
)
_ACQUIRE = (
    "INSERT INTO slots (slot, grp, since) SELECT :slot, :grp, :now WHERE "
    "(SELECT count(*) FROM slots WHERE grp = :grp AND since > :stale AND slot <> :slot) < :cap "
    "ON CONFLICT (slot) DO UPDATE SET grp = excluded.grp, since = excluded.since"
)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        # One connection per thread and per process: a forked worker opens its own.
        owner: tuple[int, sqlite3.Connection] | None = getattr(self._local, "owner", None)
        if owner is not None and owner[0] == os.getpid():
            return owner[1]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=OFF", "busy_timeout=10000"):
            connection.execute(f"PRAGMA {pragma}")
        for statement in _SCHEMA:
            connection.execute(statement)
        self._local.owner = (os.getpid(), connection)
        return connection

    def hit(self, key: str, *, period: float, capacity: int, now: float) -> Verdict:
        params = {"key": key, "now": now, "period": period, "capacity": capacity}
        row = self._db().execute(_HIT, params).fetchone()
        if row is not None:
            return Verdict(True, float(row[0]))
        return Verdict(False, self._tat(key, now))

    def peek(self, key: str, *, period: float, capacity: int, now: float) -> Verdict:
        tat = self._tat(key, now)
        return Verdict(admits(tat, period=period, capacity=capacity, now=now), tat)

    def _tat(self, key: str, now: float) -> float:
        row = self._db().execute("SELECT tat FROM gcra WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row is not None else now

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM gcra WHERE key = ?", (key,))

    def acquire_slot(self, group: str, *, slot: str, cap: int, now: float, stale: float) -> bool:
        params = {"slot": slot, "grp": group, "now": now, "stale": now - stale, "cap": cap}
        return self._db().execute(_ACQUIRE, params).rowcount == 1

    def release_slot(self, slot: str) -> None:
        self._db().execute("DELETE FROM slots WHERE slot = ?", (slot,))

    def release_process(self, pid: int) -> None:
        self._db().execute("DELETE FROM slots WHERE slot LIKE ?", (f"{pid}:%",))

    def release_dead_processes(self) -> list[int]:
        """Give back the slots of every process of this host that no longer runs
        (a server killed whole, master and workers: no child_exit gave them back).
        The file is this host's, so its pids are this host's."""
        rows = self._db().execute("SELECT DISTINCT slot FROM slots").fetchall()
        pids = {int(slot.split(":", 1)[0]) for (slot,) in rows if slot.split(":", 1)[0].isdigit()}
        dead = sorted(pid for pid in pids if not _alive(pid))
        for pid in dead:
            self.release_process(pid)
        return dead

    def reset(self) -> None:
        db = self._db()
        db.execute("DELETE FROM gcra")
        db.execute("DELETE FROM slots")


_LUA_HIT = """
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local now, period, capacity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local new_tat = math.max(tat, now) + period
if new_tat - now > capacity * period + 1e-9 then
  return {0, tostring(tat)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, tostring(new_tat)}
"""
_LUA_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SET', KEYS[2], KEYS[1], 'EX', 3600)
redis.call('EXPIRE', KEYS[1], 3600)
return 1
"""
_LUA_RELEASE = """
local group = redis.call('GET', KEYS[1])
if group then redis.call('ZREM', group, ARGV[1]) end
redis.call('DEL', KEYS[1])
return 1
"""


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "summit:rate:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5)
        self._prefix = prefix
        self._hit = self._redis.register_script(_LUA_HIT)
        self._acquire = self._redis.register_script(_LUA_ACQUIRE)
        self._release = self._redis.register_script(_LUA_RELEASE)

    def hit(self, key: str, *, period: float, capacity: int, now: float) -> Verdict:
        allowed, tat = self._hit(keys=[self._prefix + key], args=[now, period, capacity])
        return Verdict(bool(int(allowed)), float(tat))

    def peek(self, key: str, *, period: float, capacity: int, now: float) -> Verdict:
        stored = self._redis.get(self._prefix + key)
        tat = float(stored) if isinstance(stored, bytes | str) else now
        return Verdict(admits(tat, period=period, capacity=capacity, now=now), tat)

    def clear(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def acquire_slot(self, group: str, *, slot: str, cap: int, now: float, stale: float) -> bool:
        keys = [f"{self._prefix}slots:{group}", f"{self._prefix}slot:{slot}"]
        return bool(int(self._acquire(keys=keys, args=[slot, now, now - stale, cap])))

    def release_slot(self, slot: str) -> None:
        self._release(keys=[f"{self._prefix}slot:{slot}"], args=[slot])

    def release_process(self, pid: int) -> None:
        for key in self._redis.scan_iter(f"{self._prefix}slot:{pid}:*"):
            slot = (key.decode() if isinstance(key, bytes) else str(key)).split("slot:", 1)[1]
            self.release_slot(slot)

    def reset(self) -> None:
        for key in self._redis.scan_iter(f"{self._prefix}*"):
            self._redis.delete(key)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def open_store(*, redis_url: str, var_dir: Path) -> SqliteStore | RedisStore:
    """Redis when configured (every host shares it), else the host's SQLite file."""
    if redis_url:
        return RedisStore(redis_url)
    return SqliteStore(var_dir / "limits.db")
