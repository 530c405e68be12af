"""The evidence of a push's failures, and its triaged failure summary: the one place that reads failed
jobs' bug suggestions (their error lines too) and log status; verdict.summarize_failures does the rest.

Every failed job counts. A job's evidence is looked up in the database first (pushes.models.JobEvidence:
read from Treeherder once, ever, once final), then in the cache (what was read lately, final or not:
viewers and the poller share it), and only then read from Treeherder: BUILDWATCH_EVIDENCE_CONCURRENCY at
a time, tier-1 jobs first, retried with backoff (bug_suggestions answers 500 now and then), and within a
budget — a page's (`page_seconds`: what is left of its Treeherder budget, less a reserve) or a poll's
(BUILDWATCH_EVIDENCE_POLL_SECONDS). What does not fit is "not triaged yet" this time and read next time;
a job someone else is reading is not waited for. The final evidence read is written back in one batch.

For a failure that would be new, pushes.base_push asks what the push it is based on says (Push Health
for the base, read alongside the jobs' evidence). The pages, confirm, the early alert and the poller all
triage through `failure_summary`: the poller reaches nothing else of the pages' cache (a test checks).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from buildwatch import upstream

from . import base_push, cached, evidence_store, rules, triage, verdict
from .rules import Job
from .treeherder.client import TreeherderClient, get_client
from .treeherder.errors import TreeherderNotFound
from .treeherder.parsing import Evidence, PushHealth

logger = logging.getLogger(__name__)

EVIDENCE_RETRIES = 3  # bug_suggestions answers 500 now and then under concurrent reads: 0.5, 1, 2 s apart
PAGE_SHARE = 0.75  # of TREEHERDER_PAGE_TIMEOUT, at most, for a page's failures
PAGE_RESERVE = 1.0  # seconds of a page's budget left for what it reads after its failures
MIN_ROUND = 0.5
CROSS_CHECK_TTL = 24 * 3600  # one log line per push and pair of counts


def concurrency() -> int:
    return max(1, int(settings.BUILDWATCH_EVIDENCE_CONCURRENCY))


def poll_seconds() -> float:
    """What one poll of the watched pushes spends on their failures' evidence, at most."""
    return max(MIN_ROUND, float(settings.BUILDWATCH_EVIDENCE_POLL_SECONDS))


def page_seconds() -> float:
    """What a page spends on its failures' evidence: a share of its Treeherder budget, and never so much
    that nothing is left for the reads after it (the page shows what is triaged so far)."""
    share = float(settings.TREEHERDER_PAGE_TIMEOUT) * PAGE_SHARE
    left = upstream.budget_left()
    return share if left is None else max(MIN_ROUND, min(share, left - PAGE_RESERVE))


def client_for(background: bool) -> TreeherderClient:
    """Evidence reads retry more than a page's other reads, and keep to the round's budget."""
    return get_client(background=background, max_retries=EVIDENCE_RETRIES, within_page=True)


@dataclass
class Round:
    """One budget of evidence reads: the Treeherder client, the pool, the moment to stop starting reads."""

    client: TreeherderClient
    pool: ThreadPoolExecutor
    ends: float  # time.monotonic()

    def submit[T](self, read: Callable[..., T], *args: Any) -> Future[T]:
        # Each read runs in the round's context: it keeps to the round's budget (upstream.within).
        return self.pool.submit(contextvars.copy_context().run, read, *args)

    def time_left(self) -> float:
        return self.ends - time.monotonic()


def _round_end(budget: float) -> float:
    """When a round in the current budget (upstream.within) stops starting reads."""
    left = upstream.budget_left()
    return time.monotonic() + (budget if left is None else min(budget, left))


# --- One job's evidence --------------------------------------------------------------------------------


def _cache_key(repo: str, job_id: int) -> str:
    return f"evidence:{repo}:{job_id}"


def _read(round_: Round, repo: str, job: Job) -> Evidence | str | None:
    """The job's evidence from the cache or Treeherder; a reason when Treeherder did not give it; None
    when it is not read this time (the round is out of time, or another reader has it)."""
    if round_.time_left() < upstream.MIN_ATTEMPT_SECONDS:
        return None
    try:
        return cached.read(
            _cache_key(repo, job.id),
            lambda: round_.client.failure_evidence(repo, job.id),
            cached.short_ttl(),  # what is final goes to the database
            wait=False,
            last_good=False,
        ).value
    except cached.Busy:
        return None
    except (cached.Unavailable, TreeherderNotFound) as problem:
        if round_.time_left() < upstream.MIN_ATTEMPT_SECONDS:  # cut short by the round's end, not Treeherder
            cached.forget_failure(_cache_key(repo, job.id))
            return None
        return problem.reason or str(problem)


def _job_log(job: Job, found: Evidence | str | None) -> triage.JobLog:
    if found is None:
        return triage.JobLog(job=job, read=False)
    if isinstance(found, str):
        return triage.JobLog(job=job, error=found)
    return triage.job_log(job, found.parse_status, found.suggestions)


def collect(round_: Round, repo: str, jobs: Sequence[Job]) -> list[triage.JobLog]:
    """The evidence of these failed jobs of `repo`, in their order: stored, cached or read now (as far as
    the round's budget goes); what is final and new is stored, in one batch."""
    stored = evidence_store.load(repo, (job.id for job in jobs))
    missing = [job for job in jobs if job.id not in stored]
    reads = {job.id: round_.submit(_read, round_, repo, job) for job in missing}
    found = {job_id: read.result() for job_id, read in reads.items()}
    evidence_store.save(
        repo,
        [
            (job, value.parse_status, value.suggestions)
            for job in missing
            if isinstance(value := found[job.id], Evidence)
        ],
    )
    logs = []
    for job in jobs:
        if job.id in stored:
            logs.append(triage.job_log(job, stored[job.id].parse_status, stored[job.id].suggestions))
        else:
            logs.append(_job_log(job, found[job.id]))
    return logs


def gather(wanted: Sequence[tuple[str, Sequence[Job]]], *, seconds: float | None = None) -> None:
    """Read (and store) the evidence of these failed jobs, (repo, jobs) by repo, in one round of the
    poll's budget (`seconds`): what the poller does with each batch's new failures."""
    budget = poll_seconds() if seconds is None else seconds
    pool = ThreadPoolExecutor(max_workers=concurrency(), thread_name_prefix="evidence")
    try:
        with upstream.within(budget):
            round_ = Round(client_for(True), pool, _round_end(budget))
            for repo, jobs in wanted:
                collect(round_, repo, triage.failed_jobs(jobs))
    finally:
        pool.shutdown(wait=False)


# --- A push's failure summary --------------------------------------------------------------------------


def failure_summary(
    repo: str,
    jobs: Sequence[Job],
    *,
    revision: str = "",
    finished: bool = False,
    background: bool = False,
    seconds: float | None = None,
) -> verdict.FailureSummary:
    """The triaged failure summary of a push from its jobs (or just its failed jobs: same result), every
    failed job's evidence as far as `seconds` (default: a page's or a poll's share) allows, checked
    against the base push (`revision`: the push's, for Push Health) where a failure would be new."""
    failed = triage.failed_jobs(jobs)
    tier1_failed = sum(1 for job in failed if rules.effective_tier(job) == 1)
    if not failed:
        return verdict.summarize_failures([], 0, 0)
    budget = seconds if seconds is not None else (poll_seconds() if background else page_seconds())
    pool = ThreadPoolExecutor(max_workers=concurrency() + 1, thread_name_prefix="evidence")
    try:
        with upstream.within(budget):
            round_ = Round(client_for(background), pool, _round_end(budget))
            # Push Health is slow: asked alongside the jobs' evidence, and waited for only when needed.
            asked = revision and tier1_failed
            health = round_.submit(base_push.health, repo, revision, finished, background) if asked else None
            logs = collect(round_, repo, failed)
            summary = verdict.summarize_failures(logs, len(failed), tier1_failed)
            if health is not None and any(group.triage == triage.Triage.NEW for group in summary.groups):
                base = base_push.check(round_, health.result(), _new_job_names(summary), collect)
                summary = verdict.summarize_failures(logs, len(failed), tier1_failed, base)
    finally:
        # Everything read was waited for; a Push Health read not needed goes on in the background, within
        # the round's budget, and lands in the cache for the next summary.
        pool.shutdown(wait=False)
    if health is not None and health.done() and isinstance(answer := health.result(), PushHealth):
        _cross_check(repo, revision, answer, summary)
    return summary


def _new_job_names(summary: verdict.FailureSummary) -> list[str]:
    jobs = summary.jobs_by_id
    return list(
        dict.fromkeys(
            jobs[job_id].job_type_name
            for group in summary.groups
            if group.triage == triage.Triage.NEW
            for job_id in group.job_ids
            if job_id in jobs
        )
    )


def _cross_check(repo: str, revision: str, health: PushHealth, summary: verdict.FailureSummary) -> None:
    """Push Health is a cross-check, not a dependency: where its count of failures that need
    investigation differs from ours (new, or failing on the base push), log both, once."""
    if not summary.complete:
        return
    theirs = len(health.need_investigation)
    ours = sum(1 for group in summary.groups if group.triage in (triage.Triage.NEW, triage.Triage.BASE))
    if theirs != ours and cache.add(f"bw:crosscheck:{repo}:{revision}:{theirs}:{ours}", 1, CROSS_CHECK_TTL):
        logger.info(
            "Push Health says %d failure(s) of %s push %s need investigation; BuildWatch finds %d failure "
            "group(s) new or failing on the base push",
            theirs, repo, revision[:12], ours,
        )  # fmt: skip
