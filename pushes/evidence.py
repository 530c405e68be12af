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
from dataclasses import replace
from typing import Any

from . import cached, rules
from .rules import Job
from .treeherder.client import get_client
from .treeherder.errors import TreeherderNotFound

SUGGESTIONS_RUNNING_TTL = 300  # bug suggestions of a running push: re-read at most every 5 minutes
LOGS_PARSED_TTL = 24 * 3600  # a parsed log's error lines never change


def _log_errors(repo: str, job: Job) -> rules.JobLog:
    try:
        fetched = cached.read(
            f"logerrors:{repo}:{job.id}",
            lambda: get_client().log_errors(repo, job.id),
            lambda value: LOGS_PARSED_TTL if value.parsed else cached.short_ttl(),
        )
    except (cached.Unavailable, TreeherderNotFound) as exc:
        return rules.JobLog(job=job, parse_status="unknown", error=getattr(exc, "reason", "") or str(exc))
    value = fetched.value
    return rules.JobLog(job=job, errors=list(value.errors), parse_status=value.parse_status)


def _suggestions(repo: str, job: Job, push_finished: bool) -> list[rules.BugSuggestion] | None:
    """The job's bug suggestions, or None when Treeherder did not give them (not the same as none).
    An empty answer (log not parsed yet) is kept only briefly."""
    try:
        fetched = cached.read(
            f"suggestions:{repo}:{job.id}",
            lambda: list(get_client().bug_suggestions(repo, job.id)),
            lambda value: (
                LOGS_PARSED_TTL
                if value and push_finished
                else (SUGGESTIONS_RUNNING_TTL if value else cached.short_ttl())
            ),
        )
    except (cached.Unavailable, TreeherderNotFound):
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
