"""What changed in a push since a page last looked.

The one fetch per interval of a push's jobs (services.jobs, single-flight) records which jobs changed
since the previous fetch as one *generation* of a short log kept in the cache beside the jobs. A page
carries the stamp of the newest generation it shows (its `since` token); a live refresh sends back only
the jobs of the generations after it. A token older than the log (a tab asleep for long, a flushed
cache) gets None: the page then reloads its live section whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from django.core.cache import cache

from . import rules
from .rules import Job

KEY = "bw:live:v2"
GENERATIONS = 40  # 20 minutes at the default 30 s refresh
MAX_KEPT_CHANGES = 1500  # more than this in one fetch: pages older than it reload their live section
LOG_TTL = 24 * 3600


@dataclass(frozen=True, slots=True)
class Generation:
    stamp: float
    jobs: tuple[Job, ...] | None  # None: too many changes to keep
    new_ids: frozenset[int] = frozenset()  # jobs not in the previous fetch (retriggers, late arrivals)
    failed_ids: frozenset[int] = frozenset()  # jobs that became failures
    was: tuple[tuple | None, ...] = ()  # each changed job's signature in the previous fetch (None: new)


@dataclass(frozen=True, slots=True)
class ChangeLog:
    start: float  # every change after this is in `generations`
    generations: tuple[Generation, ...] = ()

    @property
    def latest(self) -> float:
        return self.generations[-1].stamp if self.generations else self.start

    @property
    def token(self) -> str:
        return format_token(self.latest)


@dataclass(slots=True)
class Delta:
    """The jobs changed after a token (newest version of each), which of them are new or newly failed,
    and what each was at the token (its signature then; None: not there yet)."""

    jobs: dict[int, Job] = field(default_factory=dict)
    new_ids: set[int] = field(default_factory=set)
    failed_ids: set[int] = field(default_factory=set)
    was: dict[int, tuple | None] = field(default_factory=dict)

    def before(self, job: Job) -> Job | None:
        """The job as the page showed it at the token: None if it was not there yet."""
        sig = self.was.get(job.id, signature(job))
        if sig is None:
            return None
        state, result, classification, retry_id, tier = sig
        return replace(
            job,
            state=state,
            result=result,
            failure_classification_id=classification,
            retry_id=retry_id,
            tier=tier,
        )

    def __bool__(self) -> bool:
        return bool(self.jobs)


def format_token(stamp: float) -> str:
    return f"{stamp:.3f}"


def parse_token(token: str | None) -> float | None:
    try:
        value = float(token or "")
    except ValueError:
        return None
    return value if value > 0 else None


def signature(job: Job) -> tuple:
    """What a page shows of a job that can change (durations tick on the page, not here)."""
    return (job.state, job.result, job.failure_classification_id, job.retry_id, job.tier)


def _keys(repo: str, push_id: int) -> tuple[str, str]:
    return f"{KEY}:log:{repo}:{push_id}", f"{KEY}:sigs:{repo}:{push_id}"


def record(repo: str, push_id: int, jobs: Sequence[Job], stamp: float | None = None) -> None:
    """Called with every fresh fetch of a push's jobs (`stamp`: its time, default now): append what
    changed since the previous one."""
    log_key, sigs_key = _keys(repo, push_id)
    stamp = time.time() if stamp is None else stamp
    sigs = {job.id: signature(job) for job in jobs}
    found = cache.get_many([log_key, sigs_key])
    previous, log = found.get(sigs_key), found.get(log_key)
    if previous is None or log is None:
        log = ChangeLog(start=stamp)  # nothing to compare with: pages older than this reload whole
    else:
        changed = [job for job in jobs if previous.get(job.id) != sigs[job.id]]
        if changed:
            generation = Generation(
                stamp=stamp,
                jobs=tuple(changed) if len(changed) <= MAX_KEPT_CHANGES else None,
                new_ids=frozenset(job.id for job in changed if job.id not in previous),
                failed_ids=frozenset(
                    job.id
                    for job in changed
                    if rules.is_failure(job) and not _was_failure(previous.get(job.id))
                ),
                was=tuple(previous.get(job.id) for job in changed)
                if len(changed) <= MAX_KEPT_CHANGES
                else (),
            )
            generations = (*log.generations, generation)
            dropped = generations[:-GENERATIONS]
            log = ChangeLog(
                start=dropped[-1].stamp if dropped else log.start, generations=generations[-GENERATIONS:]
            )
    cache.set_many({log_key: log, sigs_key: sigs}, LOG_TTL)


def _was_failure(sig: tuple | None) -> bool:
    return sig is not None and sig[0] == "completed" and sig[1] in rules.FAILURE_RESULTS


def change_log(repo: str, push_id: int) -> ChangeLog | None:
    return cache.get(_keys(repo, push_id)[0])


def since(log: ChangeLog | None, token: str | None) -> Delta | None:
    """The changes after `token`, or None when the log cannot tell (the page must reload whole)."""
    stamp = parse_token(token)
    if log is None or stamp is None or stamp < log.start - 0.0005:
        return None
    delta = Delta()
    for generation in log.generations:
        if generation.stamp <= stamp + 0.0005:
            continue
        if generation.jobs is None:
            return None
        for job, was in zip(generation.jobs, generation.was, strict=True):
            delta.was.setdefault(job.id, was)  # the first change after the token says what it was
        delta.jobs.update((job.id, job) for job in generation.jobs)
        delta.new_ids |= generation.new_ids
        delta.failed_ids |= generation.failed_ids
    return delta
