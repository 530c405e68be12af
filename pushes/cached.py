"""Cached reads of Treeherder, shared by every viewer, thread and process.

Every read goes through `read`: a short-lived copy (what viewers share, so N viewers cost one upstream
fetch per interval) and beside it a long-lived "last good" copy, served with `stale=True` when Treeherder
is down, slow or answers garbage. A short "failed" marker stops every viewer from retrying a dead
upstream on each request. pushes.services reads the pages' data through it, pushes.evidence each failed
job's error lines and bug suggestions.

Inside `cache_only()` a read that would ask Treeherder (or wait for another viewer's fetch) raises
`NotCached` instead: the push page uses it to tell whether it can answer complete at once. Inside
`awaiting_fetch()` a read waits for another viewer's fetch in flight rather than take the last good copy
meanwhile: the parts of the push page's shell show what the reads it started bring.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from .treeherder.errors import TreeherderError, TreeherderNotFound

logger = logging.getLogger(__name__)

# v2: the cached answers name their classes (pickle) by module, and pushes.treeherder became a package.
KEY = "bw:th:v2"
LAST_GOOD_TTL = 7 * 24 * 3600
FAILED_MARKER_TTL = 10


class Unavailable(Exception):
    """Treeherder did not answer and nothing is cached to show instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Busy(Unavailable):
    """Someone else is reading it right now and nothing is cached yet (a read that does not wait)."""


class NotCached(Exception):
    """Inside `cache_only()`: this read has no fresh copy in the cache, so it would ask Treeherder."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


_cache_only: contextvars.ContextVar[bool] = contextvars.ContextVar("buildwatch_cache_only", default=False)
_awaiting_fetch: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "buildwatch_awaiting_fetch", default=False
)


@contextmanager
def cache_only() -> Iterator[None]:
    """Reads inside answer from the cache or raise NotCached; none asks Treeherder or waits for a fetch.
    (A recent failure still answers as it does outside: the last good copy, or Unavailable.) It holds in
    threads started with a copy of the caller's context (pushes.evidence's reads do)."""
    token = _cache_only.set(True)
    try:
        yield
    finally:
        _cache_only.reset(token)


@contextmanager
def awaiting_fetch() -> Iterator[None]:
    """Reads inside wait for a fetch another viewer (or the shell's prefetch) has in flight instead of
    taking the last good copy meanwhile; a fetch that fails still leaves them the last good copy."""
    token = _awaiting_fetch.set(True)
    try:
        yield
    finally:
        _awaiting_fetch.reset(token)


@dataclass(frozen=True, slots=True)
class Fetched[T]:
    value: T
    fetched_at: float
    stale: bool = False  # Treeherder failed: this is the last good copy
    error: str = ""

    @property
    def age_seconds(self) -> int:
        return int(max(0.0, time.time() - self.fetched_at))


def refresh_seconds() -> int:
    return max(1, int(settings.BUILDWATCH_REFRESH_SECONDS))


def short_ttl() -> float:
    # A little under the refresh interval, so a viewer polling every interval always sees new data.
    refresh = refresh_seconds()
    return max(1, refresh - 1) if refresh > 2 else refresh * 0.8


LOCK_POLL_SECONDS = 0.05


def _lock_seconds() -> float:
    # Long enough for a fetch with its retry; a lock left by a killed process expires after this.
    return settings.TREEHERDER_PAGE_TIMEOUT * 3 + 2


def read[T](
    key: str,
    fetch: Callable[[], T],
    ttl: Callable[[T], float] | float,
    landed: Callable[[T, float], None] | None = None,
    *,
    wait: bool = True,
    last_good: bool = True,
) -> Fetched[T]:
    """Single-flight: of all the viewers (threads, processes) asking at once, the one that takes the
    lock (`cache.add`, atomic on local memory and on Redis) fetches; the others get the last good copy
    if there is one, or wait for the fetch to land in the cache (`wait=False`: raise Busy instead, for a
    reader with a budget of its own). Treeherder sees one fetch per interval. `last_good=False` keeps no
    week-long last good copy (what has a durable copy elsewhere: failed jobs' evidence).
    `landed(value, fetched_at)` runs once per fetch, after it is in the cache and before the lock goes."""
    full = f"{KEY}:{key}"
    lock = f"{full}:lock"
    deadline: float | None = None
    while True:
        entry = cache.get(full)
        if entry is not None:
            return Fetched(entry[1], entry[0])
        failed = cache.get(f"{full}:failed")
        if failed is not None:
            last = cache.get(f"{full}:last")
            if last is None:
                raise Unavailable(failed)
            return Fetched(last[1], last[0], stale=True, error=failed)
        if _cache_only.get():
            raise NotCached(key)
        if cache.add(lock, 1, _lock_seconds()):
            return _fetch_locked(full, lock, fetch, ttl, landed, last_good)
        last = None if _awaiting_fetch.get() else cache.get(f"{full}:last")
        if last is not None:  # someone is refreshing: meanwhile everyone gets the last good copy
            return Fetched(last[1], last[0])
        if not wait:
            raise Busy("being read")
        # Cold cache: wait for the one fetch rather than making our own.
        now = time.monotonic()
        if deadline is None:
            deadline = now + _lock_seconds()
        elif now > deadline or cache.get(lock) is None and cache.get(full) is None:
            # The fetcher died, or gave up without an answer (a 404 is not cached): try ourselves.
            if cache.add(lock, 1, _lock_seconds()):
                return _fetch_locked(full, lock, fetch, ttl, landed, last_good)
            deadline = now + _lock_seconds()
        time.sleep(LOCK_POLL_SECONDS)


def _fetch_locked[T](
    full: str,
    lock: str,
    fetch: Callable[[], T],
    ttl: Callable[[T], float] | float,
    landed: Callable[[T, float], None] | None = None,
    last_good: bool = True,
) -> Fetched[T]:
    try:
        entry = cache.get(full)  # the previous holder may have finished between our read and our lock
        if entry is not None:
            return Fetched(entry[1], entry[0])
        value = fetch()
    except TreeherderNotFound:
        raise
    except TreeherderError as exc:
        return _failed(full, cache.get(f"{full}:last"), exc.reason or str(exc))
    except Exception as exc:  # a client bug or garbage it did not catch: still never a 500
        logger.exception("Treeherder read %s failed", full)
        return _failed(full, cache.get(f"{full}:last"), f"unexpected error: {type(exc).__name__}")
    else:
        now = time.time()
        timeout = ttl(value) if callable(ttl) else ttl
        cache.set(full, (now, value), timeout)
        if last_good:
            cache.set(f"{full}:last", (now, value), LAST_GOOD_TTL)
        if landed is not None:
            try:
                landed(value, now)
            except Exception:  # what is derived from a fetch never loses the fetch itself
                logger.exception("after the Treeherder read %s", full)
        return Fetched(value, now)
    finally:
        cache.delete(lock)


def forget_failure(key: str) -> None:
    """Drop the "failed" marker of `key`: its read failed for a reason of the reader's own (its budget
    ran out), not Treeherder's, and the next reader should try at once."""
    cache.delete(f"{KEY}:{key}:failed")


def _failed(full: str, last: Any, reason: str) -> Fetched:
    cache.set(f"{full}:failed", reason, min(FAILED_MARKER_TTL, refresh_seconds()))
    if last is None:
        raise Unavailable(reason)
    return Fetched(last[1], last[0], stale=True, error=reason)
