"""What the push pages read, all of it before anything is presented: a view asks here once and hands the
plain data to pushes.presenters (which do no I/O), then renders.

Treeherder through pushes.services (cached for every viewer), the change log of the push's fetches
(pushes.live), the failure summary (pushes.evidence, cached here per fetch of the failed jobs as a
pushes.failure_view.FailureView), confirmations from our database, and fragments already rendered for
the same data (pushes.fragments: a hit spares reading and presenting what they show).

Each read happens only where the page shows something of it, as before the read side was its own: the
failure view for a failing push's badge, a finished push with failures (its page polls until they are
settled) and a search by test name; the jobs of a refresh only for the groups it adds or redraws.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.cache import cache

from buildwatch import upstream

from . import cached, estimates, evidence, failure_view, fragments, jobview, live, rules, services
from .cached import Fetched
from .estimates import Estimate
from .failure_view import FailureView
from .jobview import JobFilter
from .models import ConfirmRequest
from .rules import Job, Push
from .treeherder.errors import TreeherderNotFound

logger = logging.getLogger(__name__)

FAILURES_KEY = "bw:failures:v5"  # v5: a summary carries every failed job and the base push (pickled)
STATUS_WORKERS = 8
PREFETCH_KEY = "bw:prefetch:v1"
PREFETCH_WORKERS = 8  # per process; a read waiting on Treeherder holds one


# --- The live part of a push page -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveState:
    """The push's jobs summary and its change log, consistent with each other."""

    fetched: Fetched[services.JobsSummary] | None
    error: str
    log: live.ChangeLog | None
    summary: services.JobsSummary  # the fetched one, or an empty one when nothing could be read

    @property
    def token(self) -> str:
        return self.log.token if self.log else ""

    @property
    def finished(self) -> bool:
        return bool(self.fetched) and self.summary.finished


def live_state(repo: str, push_id: int) -> LiveState:
    """The push's summary and its change log, consistent: the summary is re-read when a fetch landed
    between the two reads (a token never claims changes the page does not show)."""
    fetched, error = _summary(repo, push_id)
    log = live.change_log(repo, push_id)
    if fetched is not None and log is not None and log.latest > fetched.fetched_at:
        fetched, error = _summary(repo, push_id)
    return LiveState(fetched, error, log, fetched.value if fetched else services.summarize([]))


def _summary(repo: str, push_id: int) -> tuple[Fetched[services.JobsSummary] | None, str]:
    try:
        return services.jobs_summary(repo, push_id), ""
    except (cached.Unavailable, TreeherderNotFound) as exc:
        return None, exc.reason


def _failures_shown(repo: str, push_id: int, state: LiveState, search: bool) -> FailureView | None:
    """The failure view where the page shows something of it: a failing push's badge says whether its
    failures are new, a finished push with failures polls until they are settled, a search matches test
    names and error lines."""
    if state.fetched is None:
        return None
    summary = state.summary
    if summary.state == rules.State.FAILING or (summary.finished and summary.counts.failed) or search:
        return failures(repo, push_id)
    return None


@dataclass(frozen=True, slots=True)
class LivePage:
    """What #push-live shows, read: the groups already rendered for this fetch (`groups_html`, kept
    under `groups_key`), or else the jobs of the groups the page opens — the failing groups' (no filter)
    or every job (a filter on: the groups with a match)."""

    state: LiveState
    failures: FailureView | None
    groups_key: str = ""
    groups_html: tuple[str, list[str]] | None = None  # (the groups' HTML, the anchors of the open ones)
    failing: Fetched[dict[tuple[str, str], list[Job]]] | None = None
    jobs: Fetched[list[Job]] | None = None
    decision_task: str | None = None  # the header's Taskcluster link (a whole page only)
    estimate: Estimate | None = None  # a running push's estimated finish (pushes.estimates)


def live_page(repo: str, push_id: int, jfilter: JobFilter, *, signed_in: bool, whole: bool) -> LivePage:
    """Everything #push-live shows, and with the `whole` page the push's decision task for its header.
    Without a filter its groups are the same for every viewer of one fetch but for Retrigger buttons:
    rendered once per fetch and sign-in state."""
    state = live_state(repo, push_id)
    page = replace(
        _live_page(repo, push_id, jfilter, state, signed_in, cache_groups=True),
        estimate=estimates.running(repo, push_id, state),
    )
    # The Taskcluster link is in the header only: fragments skip that lookup.
    return replace(page, decision_task=services.decision_task(repo, push_id)) if whole else page


def _live_page(
    repo: str, push_id: int, jfilter: JobFilter, state: LiveState, signed_in: bool, cache_groups: bool
) -> LivePage:
    shown = _failures_shown(repo, push_id, state, search=bool(jfilter.q))
    key = (
        fragments.groups_key(
            repo, push_id, jfilter, signed_in, state.fetched, state.token, shown.digest if shown else ""
        )
        if cache_groups
        else ""
    )
    if key and (hit := fragments.cached_groups(key)) is not None:
        return LivePage(state, shown, key, hit)
    page = LivePage(state, shown, key)
    if not state.fetched:
        return page
    try:
        if not jfilter.active:
            return replace(page, failing=services.failing_groups_jobs(repo, push_id))
        return replace(page, jobs=services.jobs(repo, push_id))
    except (cached.Unavailable, TreeherderNotFound):
        return page


@dataclass(frozen=True, slots=True)
class Shell:
    """What the push page's shell shows at once, from the cache only (nothing here waits on Treeherder):
    the push (None: not cached), its decision task, whether the header has both (else it loads as a
    fragment), and the last counts any page saw (`last`, however old)."""

    push: Fetched[Push] | None
    decision_task: str | None
    header_complete: bool
    last: Fetched[services.JobsSummary] | None


def shell(repo: str, push_id: int) -> Shell:
    push: Fetched[Push] | None = None
    decision: str | None = None
    header_complete = True
    with cached.cache_only():
        try:
            push = services.push(repo, push_id)
        except (cached.NotCached, cached.Unavailable, TreeherderNotFound):
            header_complete = False
        try:
            decision = services.decision_task(repo, push_id)
        except cached.NotCached:
            header_complete = False
    return Shell(push, decision, header_complete, services.last_jobs_summary(repo, push_id))


_prefetcher: ThreadPoolExecutor | None = None
_prefetching: set[Future] = set()
_prefetch_lock = threading.RLock()  # a future already done runs its callback in the submitting thread


def prefetch(repo: str, push_id: int) -> None:
    """Start in the background every read the parts of the push page's shell will make (the repository
    list, the push and its decision task, the jobs and the failure view where shown, the failure
    classifications), all at once, and return. The parts' own requests then wait for these reads
    (pushes.cached is single-flight) instead of making them one after another: the repository list and
    the push before the jobs, the classifications after the failure view. Once per push per interval
    however many viewers open its shell; the reads keep to the shell request's Treeherder budget."""
    if not cache.add(f"{PREFETCH_KEY}:{repo}:{push_id}", 1, cached.short_ttl()):
        return
    reads: tuple[Callable[[], Any], ...] = (
        lambda: services.is_known_repo(repo),
        lambda: services.push(repo, push_id),
        lambda: services.decision_task(repo, push_id),
        services.failure_classifications,
        lambda: _failures_shown(repo, push_id, live_state(repo, push_id), search=False),
    )
    global _prefetcher
    with _prefetch_lock:
        if _prefetcher is None:  # made in the process that serves (after a fork)
            _prefetcher = ThreadPoolExecutor(PREFETCH_WORKERS, thread_name_prefix="buildwatch-prefetch")
        for read in reads:
            future = _prefetcher.submit(contextvars.copy_context().run, _quietly, read)
            _prefetching.add(future)
            future.add_done_callback(_forget)


def _forget(future: Future) -> None:
    with _prefetch_lock:
        _prefetching.discard(future)


def _quietly(read: Callable[[], Any]) -> None:
    try:
        read()
    except (cached.Unavailable, TreeherderNotFound):
        pass  # the part that needs it says so
    except Exception:
        logger.exception("prefetching a push page's reads")


def prefetched(timeout: float | None = None) -> None:
    """Wait for the reads `prefetch` started (tests: none is left running into the next one)."""
    with _prefetch_lock:
        running = list(_prefetching)
    wait(running, timeout)


@dataclass(frozen=True, slots=True)
class Refresh:
    """What a live refresh read: the change log's delta after the page's token (None: it cannot tell,
    and `whole` holds the whole live section), the failure view where shown, what the delta changes on
    the page (`plan`) with the push's jobs when it adds or redraws groups, and the failure section when
    it changed."""

    state: LiveState
    delta: live.Delta | None
    failures: FailureView | None = None
    plan: jobview.RefreshPlan | None = None
    jobs: Fetched[list[Job]] | None = None
    whole: LivePage | None = None
    failure_section: FailureSection | None = None
    estimate: Estimate | None = None


def refresh(
    repo: str,
    push: Push,
    jfilter: JobFilter,
    *,
    since: str | None,
    open_anchors: set[str],
    shown: set[str] | None,
    failures_digest: str,
) -> Refresh:
    """`since`: the page's token; `open_anchors`: its open groups; `shown`: with a filter on, the groups
    it shows; `failures_digest`: what its failure section shows ("": none)."""
    state = live_state(repo, push.id)
    delta = live.since(state.log, since)
    section = changed_failure_section(repo, push, failures_digest) if failures_digest else None
    estimate = estimates.running(repo, push.id, state)
    if delta is None or state.fetched is None:
        whole = _live_page(repo, push.id, jfilter, state, signed_in=False, cache_groups=False)
        whole = replace(whole, estimate=estimate)
        return Refresh(state, delta, whole.failures, whole=whole, failure_section=section, estimate=estimate)
    changed = bool(delta)
    shown_failures = _failures_shown(repo, push.id, state, search=changed and bool(jfilter.q))
    if not changed:
        return Refresh(state, delta, shown_failures, failure_section=section, estimate=estimate)
    matches = jobview.test_name_matches(jfilter.q, shown_failures.summary.groups if shown_failures else [])
    plan = jobview.refresh_plan(state.summary, delta, jfilter, matches, open_anchors, shown)
    jobs = services.jobs(repo, push.id) if plan.needs_jobs else None
    return Refresh(state, delta, shown_failures, plan, jobs, failure_section=section, estimate=estimate)


# --- The failure summary and its section -----------------------------------------------------------------


def failures(repo: str, push_id: int) -> FailureView:
    """The push's triaged failure summary, cached per fetch of its jobs (see pushes.failure_view)."""
    try:
        failed, error = services.push_failed_jobs(repo, push_id), ""
    except (cached.Unavailable, TreeherderNotFound) as exc:
        failed, error = None, exc.reason
    key = f"{FAILURES_KEY}:{repo}:{push_id}:{failed.fetched_at:.3f}" if failed and not failed.stale else ""
    if key and (hit := cache.get(key)) is not None:
        return hit
    try:
        finished = bool(failed) and services.jobs_summary(repo, push_id).value.finished
    except (cached.Unavailable, TreeherderNotFound):
        finished = False
    summary = evidence.failure_summary(
        repo, failed.value if failed else [], revision=_revision(repo, push_id), finished=finished
    )
    # The section needs when and whether they were read, not the jobs (the summary has them).
    view = failure_view.view_of(summary, replace(failed, value=[]) if failed else None, error, finished)
    if key:
        cache.set(key, view, services.FINISHED_TTL if view.settled else cached.short_ttl())
    return view


def _revision(repo: str, push_id: int) -> str:
    """The push's revision, for Push Health (the page read the push already: cached a day); "" unknown."""
    try:
        return services.push(repo, push_id).value.revision
    except (cached.Unavailable, TreeherderNotFound):
        return ""


def confirmations(repo: str, push_id: int) -> dict[str, ConfirmRequest]:
    """The latest accepted "confirm failures" request of each failure group of the push (anyone's: a
    verdict is a fact about the push)."""
    return {
        request.group_key: request
        for request in ConfirmRequest.objects.accepted().filter(repo=repo, push_id=push_id)
    }


@dataclass(frozen=True, slots=True)
class FailureSection:
    """What the failure section shows, read: the view, the confirmations of its groups, the digest the
    page compares, and the failure groups already rendered for that digest (`body_html`, None: render
    them, with Treeherder's names of `classifications`)."""

    view: FailureView
    confirmed: dict[str, ConfirmRequest]
    digest: str
    waiting: bool  # a confirmation waits for its runs: its "requested N minutes ago" is rendered anew
    body_html: str | None
    classifications: dict[int, str] = field(default_factory=dict)


def failure_section(repo: str, push: Push) -> FailureSection:
    """What the failure section shows."""
    return _failure_section(repo, push, *_failures_digest(repo, push))


def changed_failure_section(repo: str, push: Push, shown: str) -> FailureSection | None:
    """The failure section, or None while its digest is `shown` (what the page already shows)."""
    view, confirmed, digest = _failures_digest(repo, push)
    return None if digest == shown else _failure_section(repo, push, view, confirmed, digest)


def _failures_digest(repo: str, push: Push) -> tuple[FailureView, dict[str, ConfirmRequest], str]:
    view = failures(repo, push.id)
    confirmed = confirmations(repo, push.id) if view.summary.groups else {}
    return view, confirmed, failure_view.page_digest(view, confirmed)


def _failure_section(
    repo: str, push: Push, view: FailureView, confirmed: dict[str, ConfirmRequest], digest: str
) -> FailureSection:
    waiting = any(not request.verdict for request in confirmed.values())
    body = None if waiting else fragments.cached_failure_body(repo, push.id, digest)
    shown = view.summary.groups or view.summary.classified_unread
    classifications = services.failure_classifications() if body is None and shown else {}
    return FailureSection(view, confirmed, digest, waiting, body, classifications)


# --- A group's jobs, a job ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupJobs:
    """The jobs of one platform group (or every tier-2/3 job), or why not; `html`: the section already
    rendered for this fetch (only looked up for a fragment, kept under `key`)."""

    fetched: Fetched[list[Job]] | None
    error: str
    key: str = ""
    html: str | None = None


def group_jobs(
    repo: str,
    push_id: int,
    *,
    platform: str,
    option: str,
    tier: str,
    anchor: str,
    jfilter: JobFilter,
    signed_in: bool,
    fragment: bool,
) -> GroupJobs:
    try:
        fetched = services.group_jobs(repo, push_id, platform=platform, option=option, tier=tier)
    except (cached.Unavailable, TreeherderNotFound) as exc:
        return GroupJobs(None, exc.reason)
    if not fragment:
        return GroupJobs(fetched, "")
    key = fragments.section_key(repo, push_id, anchor, jfilter, signed_in, fetched.fetched_at)
    return GroupJobs(fetched, "", key, fragments.cached_section(key))


# --- Push list status cells -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """What a push-list row's status cell shows, read."""

    push_id: int
    state: LiveState
    failures: FailureView | None
    estimate: Estimate | None = None  # a running push's (pushes.estimates)


def status(repo: str, push_id: int) -> Status:
    return estimates.with_estimates(repo, [_status(repo, push_id, _summary(repo, push_id))])[0]


def _status(repo: str, push_id: int, read: tuple[Fetched[services.JobsSummary] | None, str]) -> Status:
    fetched, error = read
    state = LiveState(fetched, error, None, fetched.value if fetched else services.summarize([]))
    failing = fetched is not None and state.summary.state == rules.State.FAILING
    # Once the request's budget is spent, no failure view: its reads would only time out.
    wanted = failing and not upstream.page_spent()
    return Status(push_id, state, failures(repo, push_id) if wanted else None)


OUT_OF_TIME = "not read: this refresh's time for Treeherder ran out"


def unread(push_id: int, reason: str) -> Status:
    """A row's status that was not read, saying why."""
    return Status(push_id, LiveState(None, reason, None, services.summarize([])), None)


def _summary_in_time(repo: str, push_id: int) -> tuple[Fetched[services.JobsSummary] | None, str] | None:
    """The push's jobs summary, or once the request's budget for Treeherder is spent, what the cache has
    (None: nothing): no read is started only to time out and leave its failed marker for every viewer."""
    if not upstream.page_spent():
        return _summary(repo, push_id)
    fetched = services.cached_summary(repo, push_id)
    return None if fetched is None else (fetched, "")


def statuses(repo: str, push_ids: Sequence[int]) -> list[Status]:
    """Every row's status in one go, within the request's one budget for Treeherder
    (buildwatch.upstream.page_budget, which the reading threads share): the jobs summaries, cached ones
    at once, the others read concurrently, once the budget is spent only what is cached; then the
    failing pushes' failures, in this thread (their evidence is in the database, which the pool's
    threads never touch: no connection of their own to leak)."""
    if len(push_ids) <= 1:
        reads = [_summary_in_time(repo, push_id) for push_id in push_ids]
    else:
        with ThreadPoolExecutor(max_workers=min(STATUS_WORKERS, len(push_ids))) as pool:
            # A context copied per task: each thread keeps to this request's page budget.
            futures = [
                pool.submit(contextvars.copy_context().run, _summary_in_time, repo, push_id)
                for push_id in push_ids
            ]
            reads = [future.result() for future in futures]
    return estimates.with_estimates(
        repo,
        [
            unread(push_id, OUT_OF_TIME) if read is None else _status(repo, push_id, read)
            for push_id, read in zip(push_ids, reads, strict=True)
        ],
    )
