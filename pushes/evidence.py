"""The evidence of a push's failures, and its triaged failure summary: the one place that reads failed
jobs' error lines and bug suggestions (rules.summarize_failures does the rest).

Each job's answers are cached by job (pushes.cached), not by page: a parsed log's error lines never
change, so the push page, the confirm action and the poller's early alert and finished summary all triage
the same evidence and Treeherder is asked once per job. Nothing here touches the pages' own entries (jobs,
summaries, failure views, rendered fragments): the poller reads failures through this module only.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import cached, rules
from .rules import Job
from .treeherder.client import get_client
from .treeherder.errors import TreeherderNotFound

LOGS_PARSED_TTL = 24 * 3600  # a parsed log's error lines never change


def _log_errors(repo: str, job: Job) -> rules.JobLog:
    try:
        fetched = cached.read(
            f"evidence:{repo}:{job.id}",
            lambda: get_client().failure_evidence(repo, job.id),
            lambda value: LOGS_PARSED_TTL if value.parse_status == "parsed" else cached.short_ttl(),
        )
    except (cached.Unavailable, TreeherderNotFound) as exc:
        return rules.JobLog(job=job, parse_status="unknown", error=getattr(exc, "reason", "") or str(exc))
    value = fetched.value
    return rules.job_log(job, value.parse_status, value.suggestions)


def failure_summary(repo: str, jobs: Sequence[Job], *, finished: bool = False) -> rules.FailureSummary:
    """The triaged failure summary of a push from its jobs (or just its failed jobs: same result).
    The chosen jobs' logs and bug suggestions are read in one concurrent round, each cached per job."""
    chosen = rules.failed_jobs(jobs)
    failed_total = len(chosen)
    logs: list[rules.JobLog] = []
    if chosen:
        with ThreadPoolExecutor(max_workers=min(8, len(chosen))) as pool:
            # Each read runs in the caller's context: a page's reads keep to its Treeherder budget.
            def submit(read: Callable[..., Any], *args: Any) -> Any:
                return pool.submit(contextvars.copy_context().run, read, *args)

            logs = [read.result() for read in [submit(_log_errors, repo, job) for job in chosen]]
    tier1_failed = sum(1 for job in jobs if rules.is_failure(job) and rules.effective_tier(job) == 1)
    return rules.summarize_failures(logs, failed_total, tier1_failed)
