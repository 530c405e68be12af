"""The pages' reads of Treeherder, each cached through pushes.cached (one upstream fetch per interval
however many viewers; the last good copy when Treeherder is down): repositories, push lists, a push, its
jobs (each fetch also records what changed for the live refresh, pushes.live), and small entries derived
from one fetch of the jobs (a summary, one group, the failing groups, the failed jobs). A failed job's
logs and bug suggestions are pushes.evidence's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from django.core.cache import cache

from . import cached, live, paging, rules, triage
from .cached import KEY, LAST_GOOD_TTL, Fetched, read, short_ttl
from .rules import Job, Push
from .treeherder.client import get_client
from .treeherder.errors import TreeherderNotFound
from .treeherder.parsing import JobLogUrl

FINISHED_TTL = 3600  # finished pushes still change a little (reclassification, superseded)
# After a retrigger a finished push gets new jobs once Taskcluster's action task has run and Treeherder
# has ingested them (a minute or two): for this long its jobs are cached briefly, as for a running push.
RETRIGGER_WINDOW = 15 * 60
PUSH_TTL = 24 * 3600  # a push's revisions never change
REPOSITORIES_TTL = 3600
CLASSIFICATIONS_TTL = 24 * 3600
# Used when Treeherder cannot tell us its repositories (down, or nothing cached yet).
FALLBACK_REPOSITORIES = (
    "try", "autoland", "mozilla-central", "mozilla-beta", "mozilla-release", "mozilla-esr115", "mozilla-esr128",
    "mozilla-esr140", "comm-central", "try-comm-central",
)  # fmt: skip
# Names our own routes use: never a repository, whatever Treeherder says.
RESERVED_NAMES = frozenset(
    {"admin", "accounts", "static", "media", "watching", "settings", "healthz", "sw.js", "favicon.ico", "api"}
)


# --- Repositories -------------------------------------------------------------------------------------


def repositories() -> tuple[list[str], bool]:
    """The repository names Treeherder knows, and whether that list came from Treeherder."""
    try:
        fetched = read("repositories", lambda: list(get_client().repositories()), REPOSITORIES_TTL)
    except (cached.Unavailable, TreeherderNotFound):
        return list(FALLBACK_REPOSITORIES), False
    return fetched.value, not fetched.stale


# The repositories a try user switches between most, first in the repository selector.
FIRST_REPOSITORIES = ("try", "autoland", "mozilla-central")


def repository_choices() -> list[str]:
    """The repository selector's names: try, autoland and mozilla-central first, then the others
    Treeherder lists, alphabetically (FALLBACK_REPOSITORIES when Treeherder is down with nothing cached)."""
    names, _ = repositories()
    names = [name for name in dict.fromkeys(names) if name not in RESERVED_NAMES]
    first = [name for name in FIRST_REPOSITORIES if name in names]
    return first + sorted(name for name in names if name not in FIRST_REPOSITORIES)


def is_known_repo(repo: str) -> bool:
    if repo in RESERVED_NAMES:
        return False
    names, _ = repositories()
    return repo in names or (repo in FALLBACK_REPOSITORIES and not names)


# --- Pushes and jobs ----------------------------------------------------------------------------------


def push_list(
    repo: str, *, count: int = 20, author: str | None = None, older: paging.Older | None = None
) -> Fetched[list[Push]]:
    """A page of the push list, newest first: the first page, or the page `older` starts (by push time,
    as Treeherder orders pushes; pushes.paging)."""
    where = ""
    if older is not None:
        shown = ",".join(map(str, sorted(older.shown)))
        digest = hashlib.sha256(shown.encode()).hexdigest()[:32] if len(shown) > 64 else shown
        where = f"{older.timestamp}:{digest}"
    key = f"pushes:{repo}:{count}:{quote(author or '')}:{where}"

    def fetch() -> list[Push]:
        rows = get_client().pushes(
            repo,
            count=older.fetch_count(count) if older else count,
            author=author or None,
            push_timestamp_lte=older.timestamp if older else None,
        )
        pushes = paging.page(rows, count, older)
        _remember_pushes(repo, pushes)
        return pushes

    return read(key, fetch, short_ttl())


def _remember_pushes(repo: str, pushes: list[Push]) -> None:
    """Each listed push is also cached as `push()` caches it: watching one from the list asks
    Treeherder nothing more (a push's revisions never change)."""
    now = time.time()
    entries = {f"{KEY}:push:{repo}:{p.id}": (now, p) for p in pushes}
    cache.set_many(entries, PUSH_TTL)
    cache.set_many({f"{key}:last": entry for key, entry in entries.items()}, LAST_GOOD_TTL)


def push(repo: str, push_id: int) -> Fetched[Push]:
    return read(f"push:{repo}:{push_id}", lambda: get_client().push(repo, push_id), PUSH_TTL)


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
    return read(
        f"jobs:{repo}:{push_id}",
        lambda: list(get_client().jobs(repo, push_id)),
        lambda value: _jobs_ttl(value, repo, push_id),
        lambda value, fetched_at: _landed(repo, push_id, value, fetched_at),
    )


def _landed(repo: str, push_id: int, jobs: list[Job], fetched_at: float) -> None:
    """Once per fetch, after it is in the cache: what live refreshes send (stamped with the fetch's
    time, so a page's token never runs ahead of the jobs every read gets), and the entries every push
    page derives from the jobs, computed from the jobs in hand (any other reader would load every job
    from the cache to compute them; the push page's parts, loaded at once, would each do it)."""
    live.record(repo, push_id, jobs, stamp=fetched_at)
    ttl = _jobs_ttl(jobs, repo, push_id) - max(0.0, time.time() - fetched_at)
    if ttl <= 0:
        return
    computed = {name: (fetched_at, compute(jobs)) for name, compute in _AT_LANDING}
    cache.set_many({_derived_key(name, repo, push_id): entry for name, entry in computed.items()}, ttl)
    cache.set(f"{_derived_key('summary', repo, push_id)}:last", computed["summary"], LAST_GOOD_TTL)


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


def _derived_key(name: str, repo: str, push_id: int) -> str:
    return f"{KEY}:{name}:{repo}:{push_id}"


def _derived[T](
    name: str, repo: str, push_id: int, compute: Callable[[list[Job]], T], *, keep_last: bool = False
) -> Fetched[T]:
    """`compute(jobs)`, cached beside the jobs for as long as they are fresh: pages and refreshes that
    need only a summary or one group skip loading every job of a big push from the cache. `keep_last`:
    each one computed is also kept as long as a last good copy (see `last_jobs_summary`)."""
    key = _derived_key(name, repo, push_id)
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
        if keep_last:
            cache.set(f"{key}:last", (fetched.fetched_at, value), LAST_GOOD_TTL)
    return Fetched(value, fetched.fetched_at, fetched.stale, fetched.error)


def jobs_summary(repo: str, push_id: int) -> Fetched[JobsSummary]:
    return _derived("summary", repo, push_id, summarize, keep_last=True)


def last_jobs_summary(repo: str, push_id: int) -> Fetched[JobsSummary] | None:
    """The newest jobs summary a page computed, however old (kept as long as a last good copy); never
    asks Treeherder: the counts the push page's shell shows while it reads the jobs again."""
    entry = cache.get(f"{KEY}:summary:{repo}:{push_id}:last")
    return Fetched(entry[1], entry[0]) if entry is not None else None


def cached_jobs_summary(repo: str, push_id: int) -> JobsSummary | None:
    """The jobs summary if a page computed one lately (fresh or last good); never asks Treeherder."""
    fetched = cached_summary(repo, push_id)
    return fetched.value if fetched is not None else None


def cached_summary(repo: str, push_id: int) -> Fetched[JobsSummary] | None:
    """`jobs_summary` if a page computed it lately, with its fetch time; never asks Treeherder."""
    entry = cache.get(f"{KEY}:summary:{repo}:{push_id}")
    return Fetched(entry[1], entry[0]) if entry is not None else None


def listed_push_ids(repo: str, push_ids: Iterable[int]) -> set[int]:
    """Those of `push_ids` BuildWatch has read lately (a push list caches each push it lists, as a push
    page does its push): the pushes someone can have on a page. Never asks Treeherder."""
    keys = {f"{KEY}:push:{repo}:{push_id}{last}": push_id for push_id in push_ids for last in ("", ":last")}
    return {keys[key] for key in cache.get_many(list(keys))}


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


def push_failed_jobs(repo: str, push_id: int) -> Fetched[list[Job]]:
    return _derived("failed", repo, push_id, triage.failed_jobs)


def failure_classifications() -> dict[int, str]:
    """Treeherder's names of failure classifications ({4: "intermittent", ...}); {} when unknown."""
    try:
        return read(
            "classifications", lambda: get_client().failure_classifications(), CLASSIFICATIONS_TTL
        ).value
    except (cached.Unavailable, TreeherderNotFound):
        return {}


def decision_task(repo: str, push_id: int) -> str | None:
    """The push's decision task id (its Taskcluster task group), or None when unknown or unreachable."""
    try:
        fetched = read(
            f"decision:{repo}:{push_id}",
            lambda: get_client().decision_task(repo, push_id),
            lambda value: PUSH_TTL if value else short_ttl(),
        )
    except (cached.Unavailable, TreeherderNotFound):
        return None
    return fetched.value


# --- Job view -----------------------------------------------------------------------------------------

LOG_URLS_TTL = FINISHED_TTL * 24  # a completed job's logs stay where they are


def job_log_urls(repo: str, job_id: int) -> list[JobLogUrl]:
    """The job's logs from job-log-url, cached (one upstream read per job, not per click or viewer);
    empty until it has completed. Raises TreeherderNotFound for a job that is not in `repo`.

    job-log-url filters by repository and job id, so it answers an empty list both for a job without
    logs yet and for a job of another repository; the job itself (also looked up by repository) tells
    them apart: Treeherder answers 404 for the latter."""

    def fetch() -> list[JobLogUrl]:
        client = get_client()
        logs = client.job_log_urls(repo, job_id)
        if not logs:
            client.job(repo, job_id)  # TreeherderNotFound: not a job of this repository
        return logs

    return read(f"logurls:{repo}:{job_id}", fetch, lambda value: LOG_URLS_TTL if value else short_ttl()).value


def _failing_groups(jobs: list[Job]) -> dict[tuple[str, str], list[Job]]:
    return {
        (group.platform, group.platform_option): group.jobs
        for group in rules.platform_groups(jobs)
        if group.status == rules.State.FAILING
    }


def failing_groups_jobs(repo: str, push_id: int) -> Fetched[dict[tuple[str, str], list[Job]]]:
    """The jobs of every failing tier-1 platform group, by (platform, option): a push page shows them
    at once, from one small cache entry."""
    return _derived("failing-groups", repo, push_id, _failing_groups)


# What every push page derives from a fetch of the jobs (`_landed` computes them as the fetch lands).
_AT_LANDING: tuple[tuple[str, Callable[[list[Job]], object]], ...] = (
    ("summary", summarize),
    ("failed", triage.failed_jobs),
    ("failing-groups", _failing_groups),
)
