"""Cached reads of Treeherder for the pages.

Every read goes through `_cached`: a short-lived copy (what viewers share, so N viewers cost one upstream
fetch per interval) and beside it a long-lived "last good" copy, served with `stale=True` when Treeherder
is down, slow or answers garbage. A short "failed" marker stops every viewer from retrying a dead
upstream on each request.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache

from . import live, rules
from .rules import Job, Push
from .treeherder.client import get_client
from .treeherder.errors import TreeherderError, TreeherderNotFound
from .treeherder.parsing import JobLogUrl

logger = logging.getLogger(__name__)

KEY = "bw:th:v1"
LAST_GOOD_TTL = 7 * 24 * 3600
FINISHED_TTL = 3600  # finished pushes still change a little (reclassification, superseded)
# After a retrigger a finished push gets new jobs once Taskcluster's action task has run and Treeherder
# has ingested them (a minute or two): for this long its jobs are cached briefly, as for a running push.
RETRIGGER_WINDOW = 15 * 60
PUSH_TTL = 24 * 3600  # a push's revisions never change
REPOSITORIES_TTL = 3600
FAILED_MARKER_TTL = 10
# Used when Treeherder cannot tell us its repositories (down, or nothing cached yet).
FALLBACK_REPOSITORIES = (
    "try", "autoland", "mozilla-central", "mozilla-beta", "mozilla-release", "mozilla-esr115", "mozilla-esr128",
    "mozilla-esr140", "comm-central", "try-comm-central",
)  # fmt: skip
# Names our own routes use: never a repository, whatever Treeherder says.
RESERVED_NAMES = frozenset(
    {"admin", "accounts", "static", "media", "watching", "settings", "healthz", "sw.js", "favicon.ico", "api"}
)


class Unavailable(Exception):
    """Treeherder did not answer and nothing is cached to show instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


def _cached[T](
    key: str,
    fetch: Callable[[], T],
    ttl: Callable[[T], float] | float,
    landed: Callable[[T, float], None] | None = None,
) -> Fetched[T]:
    """Single-flight: of all the viewers (threads, processes) asking at once, the one that takes the
    lock (`cache.add`, atomic on local memory and on Redis) fetches; the others get the last good copy
    if there is one, or wait for the fetch to land in the cache. Treeherder sees one fetch per interval.
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
        if cache.add(lock, 1, _lock_seconds()):
            return _fetch_locked(full, lock, fetch, ttl, landed)
        last = cache.get(f"{full}:last")
        if last is not None:  # someone is refreshing: meanwhile everyone gets the last good copy
            return Fetched(last[1], last[0])
        # Cold cache: wait for the one fetch rather than making our own.
        now = time.monotonic()
        if deadline is None:
            deadline = now + _lock_seconds()
        elif now > deadline or cache.get(lock) is None and cache.get(full) is None:
            # The fetcher died, or gave up without an answer (a 404 is not cached): try ourselves.
            if cache.add(lock, 1, _lock_seconds()):
                return _fetch_locked(full, lock, fetch, ttl, landed)
            deadline = now + _lock_seconds()
        time.sleep(LOCK_POLL_SECONDS)


def _fetch_locked[T](
    full: str,
    lock: str,
    fetch: Callable[[], T],
    ttl: Callable[[T], float] | float,
    landed: Callable[[T, float], None] | None = None,
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
        cache.set(f"{full}:last", (now, value), LAST_GOOD_TTL)
        if landed is not None:
            try:
                landed(value, now)
            except Exception:  # what is derived from a fetch never loses the fetch itself
                logger.exception("after the Treeherder read %s", full)
        return Fetched(value, now)
    finally:
        cache.delete(lock)


def _failed(full: str, last: Any, reason: str) -> Fetched:
    cache.set(f"{full}:failed", reason, min(FAILED_MARKER_TTL, refresh_seconds()))
    if last is None:
        raise Unavailable(reason)
    return Fetched(last[1], last[0], stale=True, error=reason)


# --- Repositories -------------------------------------------------------------------------------------


def repositories() -> tuple[list[str], bool]:
    """The repository names Treeherder knows, and whether that list came from Treeherder."""
    try:
        fetched = _cached("repositories", lambda: list(get_client().repositories()), REPOSITORIES_TTL)
    except (Unavailable, TreeherderNotFound):
        return list(FALLBACK_REPOSITORIES), False
    return fetched.value, not fetched.stale


def is_known_repo(repo: str) -> bool:
    if repo in RESERVED_NAMES:
        return False
    names, _ = repositories()
    return repo in names or (repo in FALLBACK_REPOSITORIES and not names)


# --- Pushes and jobs ----------------------------------------------------------------------------------


def push_list(
    repo: str, *, count: int = 20, author: str | None = None, id_lt: int | None = None
) -> Fetched[list[Push]]:
    key = f"pushes:{repo}:{count}:{quote(author or '')}:{id_lt or ''}"

    def fetch() -> list[Push]:
        pushes = list(get_client().pushes(repo, count=count, author=author or None, id_lt=id_lt))
        _remember_pushes(repo, pushes)
        return pushes

    return _cached(key, fetch, short_ttl())


def _remember_pushes(repo: str, pushes: list[Push]) -> None:
    """Each listed push is also cached as `push()` caches it: watching one from the list asks
    Treeherder nothing more (a push's revisions never change)."""
    now = time.time()
    entries = {f"{KEY}:push:{repo}:{p.id}": (now, p) for p in pushes}
    cache.set_many(entries, PUSH_TTL)
    cache.set_many({f"{key}:last": entry for key, entry in entries.items()}, LAST_GOOD_TTL)


def push(repo: str, push_id: int) -> Fetched[Push]:
    return _cached(f"push:{repo}:{push_id}", lambda: get_client().push(repo, push_id), PUSH_TTL)


def _retriggered_key(repo: str, push_id: int) -> str:
    return f"{KEY}:retriggered:{repo}:{push_id}"


def note_retrigger(repo: str, push_id: int) -> None:
    """A job of the push was retriggered: drop the fresh copy of its jobs (and, by their time stamps,
    everything derived from it) and keep the copies short-lived for RETRIGGER_WINDOW, so the new runs
    show up even on a push that looked finished. The last good copy stays for when Treeherder is down."""
    cache.set(_retriggered_key(repo, push_id), time.time(), RETRIGGER_WINDOW)
    cache.delete(f"{KEY}:jobs:{repo}:{push_id}")


def _jobs_ttl(jobs: Sequence[Job], repo: str, push_id: int) -> float:
    if rules.looks_finished(jobs) and cache.get(_retriggered_key(repo, push_id)) is None:
        return FINISHED_TTL
    return short_ttl()


def jobs(repo: str, push_id: int) -> Fetched[list[Job]]:
    return _cached(
        f"jobs:{repo}:{push_id}",
        lambda: list(get_client().jobs(repo, push_id)),
        lambda value: _jobs_ttl(value, repo, push_id),
        # Once per fetch, what live refreshes send: recorded after the fetch is in the cache and stamped
        # with its time, so a page's token never runs ahead of the jobs every read gets.
        lambda value, fetched_at: live.record(repo, push_id, value, stamp=fetched_at),
    )


@dataclass(frozen=True, slots=True)
class GroupSummary:
    platform: str
    platform_option: str
    display_name: str
    status: rules.State
    counts: rules.JobCounts


@dataclass(frozen=True, slots=True)
class JobsSummary:
    """What the live parts of the pages show, without the jobs themselves: small to cache and to load
    (unpickling 5,000 jobs costs more than rendering the page)."""

    counts: rules.JobCounts
    state: rules.State
    finished: bool
    groups: list[GroupSummary]
    other_counts: rules.JobCounts
    other_status: rules.State


def summarize(jobs: Sequence[Job]) -> JobsSummary:
    other = [job for job in jobs if rules.effective_tier(job) != 1]
    return JobsSummary(
        counts=rules.job_counts(jobs),
        state=rules.push_state(jobs),
        finished=rules.looks_finished(jobs),
        groups=[
            GroupSummary(g.platform, g.platform_option, g.display_name, g.status, rules.job_counts(g.jobs))
            for g in rules.platform_groups(jobs)
        ],
        other_counts=rules.job_counts(other),
        other_status=rules.group_status(other),
    )


def _derived[T](name: str, repo: str, push_id: int, compute: Callable[[list[Job]], T]) -> Fetched[T]:
    """`compute(jobs)`, cached beside the jobs for as long as they are fresh: pages and refreshes that
    need only a summary or one group skip loading every job of a big push from the cache."""
    key = f"{KEY}:{name}:{repo}:{push_id}"
    found = cache.get_many([key, _retriggered_key(repo, push_id)])
    entry, retriggered_at = found.get(key), found.get(_retriggered_key(repo, push_id))
    # A copy made no later than the retrigger (the same instant included) misses its new runs.
    if entry is not None and (retriggered_at is None or entry[0] > retriggered_at):
        return Fetched(entry[1], entry[0])
    fetched = jobs(repo, push_id)
    value = compute(fetched.value)
    # To the fraction of a second (age_seconds is whole seconds): a derived copy never outlives its jobs.
    remaining = _jobs_ttl(fetched.value, repo, push_id) - max(0.0, time.time() - fetched.fetched_at)
    if not fetched.stale and remaining > 0:
        cache.set(key, (fetched.fetched_at, value), remaining)
    return Fetched(value, fetched.fetched_at, fetched.stale, fetched.error)


def jobs_summary(repo: str, push_id: int) -> Fetched[JobsSummary]:
    return _derived("summary", repo, push_id, summarize)


def cached_jobs_summary(repo: str, push_id: int) -> JobsSummary | None:
    """The jobs summary if a page computed one lately (fresh or last good); never asks Treeherder."""
    entry = cache.get(f"{KEY}:summary:{repo}:{push_id}")
    return entry[1] if entry is not None else None


def group_jobs(
    repo: str, push_id: int, *, platform: str = "", option: str = "", tier: str = "1"
) -> Fetched[list[Job]]:
    """The jobs of one tier-1 platform group (`tier="1"`), or every tier-2/3 job (`tier="other"`)."""

    def select(jobs: list[Job]) -> list[Job]:
        if tier == "other":
            chosen = (job for job in jobs if rules.effective_tier(job) != 1)
            return sorted(chosen, key=lambda job: (job.platform, job.platform_option, job.job_type_name))
        chosen = (
            job
            for job in jobs
            if rules.effective_tier(job) == 1 and job.platform == platform and job.platform_option == option
        )
        return sorted(chosen, key=lambda job: (job.job_group_symbol, job.job_type_symbol, job.job_type_name))

    return _derived(f"group:{tier}:{quote(platform)}:{quote(option)}", repo, push_id, select)


# --- Failure summary ----------------------------------------------------------------------------------
# The one place that reads failed jobs' logs and bug suggestions; rules.summarize_failures does the rest.

SUGGESTIONS_RUNNING_TTL = 300  # bug suggestions of a running push: re-read at most every 5 minutes
LOGS_PARSED_TTL = FINISHED_TTL * 24  # a parsed log's error lines never change
CLASSIFICATIONS_TTL = 24 * 3600


def _log_errors(repo: str, job: Job) -> rules.JobLog:
    try:
        fetched = _cached(
            f"logerrors:{repo}:{job.id}",
            lambda: get_client().log_errors(repo, job.id),
            lambda value: LOGS_PARSED_TTL if value.parsed else short_ttl(),
        )
    except (Unavailable, TreeherderNotFound) as exc:
        return rules.JobLog(job=job, parse_status="unknown", error=getattr(exc, "reason", "") or str(exc))
    value = fetched.value
    return rules.JobLog(job=job, errors=list(value.errors), parse_status=value.parse_status)


def _suggestions(repo: str, job: Job, push_finished: bool) -> list[rules.BugSuggestion] | None:
    """The job's bug suggestions, or None when Treeherder did not give them (not the same as none).
    An empty answer (log not parsed yet) is kept only briefly."""
    try:
        fetched = _cached(
            f"suggestions:{repo}:{job.id}",
            lambda: list(get_client().bug_suggestions(repo, job.id)),
            lambda value: (
                LOGS_PARSED_TTL
                if value and push_finished
                else (SUGGESTIONS_RUNNING_TTL if value else short_ttl())
            ),
        )
    except (Unavailable, TreeherderNotFound):
        return None
    return fetched.value


def _with_suggestions(log: rules.JobLog, suggestions: list[rules.BugSuggestion] | None) -> rules.JobLog:
    # Suggestions read before the log was parsed are empty: not evidence of "no known bug".
    if not log.parsed or (log.errors and not suggestions):
        suggestions = None
    return replace(log, suggestions=suggestions)


def failure_summary(
    repo: str, jobs: Sequence[Job], *, finished: bool = False, limit: int = rules.MAX_LOG_JOBS
) -> rules.FailureSummary:
    """The triaged failure summary of a push from its jobs (or just its failed jobs: same result).
    The chosen jobs' logs and bug suggestions are read in one concurrent round, each cached per job."""
    chosen, failed_total = rules.logs_to_read(jobs, limit)
    logs: list[rules.JobLog] = []
    if chosen:
        with ThreadPoolExecutor(max_workers=2 * len(chosen)) as pool:  # one round: at most 30 reads
            # Each read runs in the caller's context: a page's reads keep to its Treeherder budget.
            def submit(read: Callable[..., Any], *args: Any) -> Any:
                return pool.submit(contextvars.copy_context().run, read, *args)

            log_reads = [submit(_log_errors, repo, job) for job in chosen]
            suggestion_reads = [submit(_suggestions, repo, job, finished) for job in chosen]
            logs = [
                _with_suggestions(log.result(), suggestions.result())
                for log, suggestions in zip(log_reads, suggestion_reads, strict=True)
            ]
    tier1_failed = sum(1 for job in jobs if rules.is_failure(job) and rules.effective_tier(job) == 1)
    return rules.summarize_failures(logs, failed_total, tier1_failed)


def push_failed_jobs(repo: str, push_id: int) -> Fetched[list[Job]]:
    return _derived("failed", repo, push_id, rules.failed_jobs)


def failure_classifications() -> dict[int, str]:
    """Treeherder's names of failure classifications ({4: "intermittent", ...}); {} when unknown."""
    try:
        return _cached(
            "classifications", lambda: get_client().failure_classifications(), CLASSIFICATIONS_TTL
        ).value
    except (Unavailable, TreeherderNotFound):
        return {}


def decision_task(repo: str, push_id: int) -> str | None:
    """The push's decision task id (its Taskcluster task group), or None when unknown or unreachable."""
    try:
        fetched = _cached(
            f"decision:{repo}:{push_id}",
            lambda: get_client().decision_task(repo, push_id),
            lambda value: PUSH_TTL if value else short_ttl(),
        )
    except (Unavailable, TreeherderNotFound):
        return None
    return fetched.value


# --- Job view -----------------------------------------------------------------------------------------

LOG_URLS_TTL = FINISHED_TTL * 24  # a completed job's logs stay where they are


def job_log_urls(repo: str, job_id: int) -> list[JobLogUrl]:
    """The job's logs from job-log-url, cached (one upstream read per job, not per click or viewer)."""
    return _cached(
        f"logurls:{repo}:{job_id}",
        lambda: get_client().job_log_urls(repo, job_id),
        lambda value: LOG_URLS_TTL if value else short_ttl(),
    ).value


def failing_groups_jobs(repo: str, push_id: int) -> Fetched[dict[tuple[str, str], list[Job]]]:
    """The jobs of every failing tier-1 platform group, by (platform, option): a push page shows them
    at once, from one small cache entry."""

    def select(jobs: list[Job]) -> dict[tuple[str, str], list[Job]]:
        return {
            (group.platform, group.platform_option): group.jobs
            for group in rules.platform_groups(jobs)
            if group.status == rules.State.FAILING
        }

    return _derived("failing-groups", repo, push_id, select)
