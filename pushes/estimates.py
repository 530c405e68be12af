"""When will a push finish, as the pages show it (issue 26): each fetch of a push's jobs teaches the job
durations (pushes.durations) and gives one estimate, cached beside the fetch.

The pages read pushes nobody watches, which the poller never sees: their finished jobs teach their kinds'
run times as the watched pushes' do, through the same `record_new` (a job counted by the poller or an
earlier page is not counted again). A page's read gives no submit or queue times (a row of `/api/jobs/`
has only the run's `duration` and `last_modified`): only runs and lost runs are learned from it.

Everything here reads the jobs already in the cache (`cached.cache_only`): an estimate never costs a
Treeherder request. It runs in the request's thread (the database is not touched from the pages'
reading threads), after the reads: a push list first learns from every push it read, then estimates
its running ones, so the finished pushes on the same page count for the running ones at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.core.cache import cache

from . import cached, durations, eta, rules, services
from .cached import Fetched
from .eta import Eta, Sample
from .rules import Job
from .treeherder.errors import TreeherderNotFound
from .treeherder.parsing import parse_last_modified

if TYPE_CHECKING:
    from .reads import LiveState, Status

KEY = "bw:eta:v1"
LEARNING_TTL = 60  # seconds a page holds a push's learning (two viewers at once count a job once)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A running push's estimated finish (`eta`; None: no estimate yet), as of the fetch of its jobs at
    `fetched_at`."""

    eta: Eta | None
    fetched_at: float


def page_samples(repo: str, jobs: Sequence[Job], read_at: float) -> list[tuple[str, int, int, Sample]]:
    """What a page's read of a push's jobs teaches: each finished job's run time (pushes.eta.learn, as if
    the poller saw it finish) or lost run, dated when it ended; none older than pushes.eta.MAX_AGE."""
    found = []
    for job in jobs:
        if job.state != "completed":
            continue
        modified = parse_last_modified(job.last_modified)
        modified_at = modified.timestamp() if modified else None
        timing = eta.observe(job, None, read_at, modified_at)
        sample = eta.learn(job, None, None, timing, read_at, modified_at)
        if sample is None or (sample.run is None and not sample.retried):
            continue
        ended = min(read_at, modified_at) if modified_at is not None else read_at
        if ended < read_at - eta.MAX_AGE:
            continue
        found.append((repo, job.push_id, job.id, replace(sample, at=ended, wait=None, queue=None)))
    return found


def _cached_jobs(repo: str, push_id: int) -> Fetched[list[Job]] | None:
    try:
        with cached.cache_only():
            return services.jobs(repo, push_id)
    except (cached.NotCached, cached.Unavailable, TreeherderNotFound):
        return None


def learn(repo: str, fetches: Mapping[int, float | None]) -> int:
    """Learn from the fetches of these pushes' jobs in the cache that no page learned from yet; returns
    the rows written. `fetches`: each push's fetch as the caller saw it (its time; None: unknown): one
    already learned from is not read from the cache again (a big push's jobs are costly to load)."""
    learned = durations.learned_fetches(repo, list(fetches))
    written = 0
    for push_id, fetched_at in fetches.items():
        if fetched_at is not None and learned.get(push_id) == fetched_at:
            continue
        fetched = _cached_jobs(repo, push_id)
        if fetched is not None and learned.get(push_id) != fetched.fetched_at:
            written += _learn(repo, push_id, fetched)
    return written


def _learn(repo: str, push_id: int, fetched: Fetched[list[Job]]) -> int:
    found = page_samples(repo, fetched.value, fetched.fetched_at)
    if fetched.stale or not found:
        return 0
    lock = f"{KEY}:learning:{repo}:{push_id}"
    if not cache.add(lock, 1, LEARNING_TTL):
        return 0  # another request learns from it right now
    try:
        return durations.record_new(found, read_at=fetched.fetched_at)
    finally:
        cache.delete(lock)


def estimate(repo: str, push_id: int, fetched_at: float | None = None) -> Estimate | None:
    """The push's estimated finish from the fetch of its jobs in the cache (learning from it first), or
    None: its jobs are not cached, or it is finished. Computed once per fetch (`fetched_at`: that fetch's
    time where the caller knows it, so a cached estimate is found without loading the jobs)."""
    return estimates(repo, {push_id: fetched_at}, [push_id]).get(push_id)


def _key(repo: str, push_id: int, fetched_at: float) -> str:
    return f"{KEY}:{repo}:{push_id}:{fetched_at:.3f}"


def estimates(repo: str, fetches: Mapping[int, float | None], running: Sequence[int]) -> dict[int, Estimate]:
    """A list's estimates: learn from every push read (`fetches`: push id → the time of the fetch of its
    jobs the caller saw, or None), then estimate the `running` ones (each from the fetch of its jobs in
    the cache, once per fetch). Nothing is loaded for a fetch already learned from and estimated."""
    running_ids = set(running)
    learn(repo, {push_id: at for push_id, at in fetches.items() if push_id not in running_ids})
    seen = {push_id: fetches.get(push_id) for push_id in running}
    hits = cache.get_many([_key(repo, push_id, at) for push_id, at in seen.items() if at is not None])
    found = {
        push_id: hits[_key(repo, push_id, at)][0]
        for push_id, at in seen.items()
        if at is not None and _key(repo, push_id, at) in hits
    }
    fetched = {push_id: _cached_jobs(repo, push_id) for push_id in running if push_id not in found}
    wanted = {
        push_id: jobs for push_id, jobs in fetched.items() if jobs and not rules.looks_finished(jobs.value)
    }
    learned = durations.learned_fetches(repo, list(wanted))
    for push_id, jobs in wanted.items():  # all of them first: one's finished jobs count for the others
        if learned.get(push_id) != jobs.fetched_at:
            _learn(repo, push_id, jobs)
    now = time.time()
    for push_id, jobs in fetched.items():
        if jobs is None:
            continue
        key = _key(repo, push_id, jobs.fetched_at)
        if (hit := cache.get(key)) is not None:  # the caller's fetch was older than the cache's
            found[push_id] = hit[0]
            continue
        result = None
        if push_id in wanted:
            eta_found = durations.push_eta(
                repo,
                jobs.value,
                datetime.fromtimestamp(now, UTC),
                observed_at=datetime.fromtimestamp(jobs.fetched_at, UTC),
            )
            result = Estimate(eta_found, jobs.fetched_at)
        cache.set(key, (result,), max(1.0, cached.short_ttl()))
        found[push_id] = result
    return {push_id: value for push_id, value in found.items() if value is not None}


def running(repo: str, push_id: int, state: LiveState) -> Estimate | None:
    """The estimated finish of a running push whose jobs were read (from the cache)."""
    if state.fetched is None or state.finished:
        return None
    return estimate(repo, push_id, state.fetched.fetched_at)


def with_estimates(repo: str, found: list[Status]) -> list[Status]:
    """Status cells with their running pushes' estimates: learned from every push read first (in this
    thread: it writes the database), so a list's finished pushes count for its running ones at once."""
    read = [status for status in found if status.state.fetched]
    if not read:
        return found
    running_ids = [status.push_id for status in read if not status.state.finished]
    fetches = {status.push_id: status.state.fetched.fetched_at for status in read if status.state.fetched}
    etas = estimates(repo, fetches, running_ids)
    return [replace(status, estimate=etas.get(status.push_id)) for status in found]


__all__ = ["Estimate", "estimate", "estimates", "learn", "page_samples", "running", "with_estimates"]
