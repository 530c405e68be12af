"""The poller: fan out one poll per watched push, read it incrementally, apply the settle rule.

Exactly once starts here: one poll of a push per interval, claimed with a conditional UPDATE on
PushState.last_polled_at; a push found ready to notify is marked finished in the same transaction that
records its ledger rows (notifications/outbox.py), which the channels then deliver.
Tasks (notifications/tasks.py) and `manage.py poll_watched_pushes` are thin callers of this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pushes import rules
from pushes.services import failure_summary
from pushes.treeherder import TreeherderClient, TreeherderError, TreeherderNotFound, get_client

from .autowatch import auto_watch_new_pushes
from .early import record_early_alerts
from .followup import check_confirmations
from .models import PushState, Watch
from .outbox import Enqueue, due_deliveries, record_due_notifications
from .snapshot import advance_cursor, decode_jobs, encode_job, fill_push_fields, parse_last_modified

logger = logging.getLogger(__name__)

FULL_READ_EVERY_POLLS = 10  # incremental polls miss bulk updates: re-read everything this often
# Treeherder's writers commit concurrently: a job stamped just before the newest one we saw can become
# visible after our read. Asking again for a few seconds before the cursor costs a few rows, loses none.
CURSOR_OVERLAP = timedelta(seconds=5)
WATCH_MAX_AGE = timedelta(days=14)  # a push that never finishes is not polled forever


def poll_seconds() -> int:
    return max(int(settings.BUILDWATCH_POLL_SECONDS), 1)


def full_read_interval() -> timedelta:
    return timedelta(seconds=FULL_READ_EVERY_POLLS * poll_seconds())


# --- Polling one push -------------------------------------------------------------------------------


@dataclass
class PollResult:
    repo: str
    push_id: int
    polled: bool = False  # False: another poller had it, or it was already finished
    full_read: bool = False
    state: str = PushState.State.UNKNOWN
    job_count: int | None = None
    finished_now: bool = False
    notifications: list[int] = field(default_factory=list)
    error: str = ""


def _claim_poll(state: PushState, now: datetime, min_interval: float) -> bool:
    """Two beats fan out the same push twice: the first conditional UPDATE wins this interval."""
    query = PushState.objects.filter(pk=state.pk)
    if min_interval > 0:
        query = query.filter(
            Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=now - timedelta(seconds=min_interval))
        )
    return query.update(last_polled_at=now) == 1


def _needs_full_read(state: PushState, previous: list[rules.Job], now: datetime) -> bool:
    if not state.jobs_cursor or state.last_full_read_at is None:
        return True
    if now - state.last_full_read_at >= full_read_interval():
        return True
    # It looked finished last time: confirm on a full read (bulk updates skip last_modified) before
    # anyone is told. The settle rule already makes us wait this one more poll.
    return rules.is_finished(previous)


@dataclass
class _Read:
    push: rules.Push | None  # fetched only while the PushState has no revision yet
    snapshot: dict[str, list[Any]]
    cursor: str


def _read(client: TreeherderClient, state: PushState, *, full: bool) -> _Read:
    """The push's jobs: all of them, or those changed since the cursor merged into the snapshot."""
    push = client.push(state.repo, state.push_id) if not state.revision else None
    if full:
        fetched = client.jobs(state.repo, state.push_id)
        snapshot = {str(job.id): encode_job(job) for job in fetched}
        return _Read(push, snapshot, advance_cursor("", fetched))
    since = parse_last_modified(state.jobs_cursor)
    fetched = client.jobs(
        state.repo, state.push_id, last_modified_gt=since - CURSOR_OVERLAP if since else None
    )
    snapshot = dict(state.jobs_snapshot)
    snapshot.update({str(job.id): encode_job(job) for job in fetched})
    return _Read(push, snapshot, advance_cursor(state.jobs_cursor, fetched))


def poll_push(
    repo: str,
    push_id: int,
    *,
    client: TreeherderClient | None = None,
    enqueue: Enqueue | None = None,
    min_interval: float | None = None,
) -> PollResult:
    """Fetch one push once (however many users watch it), apply the rules, and when it is ready to
    notify, mark it finished and record the due notifications; `enqueue(notification_id)` runs after
    commit for every new ledger row. Treeherder errors are recorded on the PushState, never raised."""
    now = timezone.now()
    result = PollResult(repo=repo, push_id=push_id)
    state, _ = PushState.objects.get_or_create(repo=repo, push_id=push_id)
    if state.state == PushState.State.FINISHED:
        # Someone started watching after it finished: tell them, without asking Treeherder again.
        result.state = state.state
        result.notifications = record_due_notifications(state, now, enqueue)
        return result
    if min_interval is None:
        min_interval = poll_seconds() / 2
    if not _claim_poll(state, now, min_interval):
        result.state = state.state
        return result
    result.polled = True
    full = _needs_full_read(state, decode_jobs(state.jobs_snapshot, push_id), now)
    try:
        read = _read(client or get_client(background=True), state, full=full)
    except TreeherderError as problem:
        logger.warning("Polling %s push %s failed: %s", repo, push_id, problem)
        reason = str(problem)
        if isinstance(problem, TreeherderNotFound):
            reason = f"Treeherder does not know this push: {problem}"
        PushState.objects.filter(pk=state.pk).update(last_error=reason[:2000])
        result.error = reason
        result.state = state.state
        return result

    jobs = decode_jobs(read.snapshot, push_id)
    ready = full and rules.ready_to_notify(jobs, state.job_count)
    summary = finished_summary(repo, jobs, read.push.revision if read.push else state.revision) if ready else None
    counts = rules.job_counts(jobs)
    if ready:
        new_state = PushState.State.FINISHED
    elif counts.running or counts.completed:
        new_state = PushState.State.RUNNING
    else:
        new_state = PushState.State.PENDING

    with transaction.atomic():
        locked = PushState.objects.select_for_update().get(pk=state.pk)
        if locked.state != PushState.State.FINISHED:
            if read.push is not None:
                fill_push_fields(locked, read.push)
            locked.state = new_state
            locked.job_count = counts.total
            locked.completed_count = counts.completed
            locked.failed_count = counts.failed
            locked.jobs_snapshot = read.snapshot
            locked.jobs_cursor = read.cursor
            if full:
                locked.last_full_read_at = now
            locked.last_error = ""
            if ready:
                locked.finished_at = now
                locked.summary = summary or {}
                result.finished_now = True
            locked.save()
        Watch.objects.filter(repo=repo, push_id=push_id, notified_at__isnull=True).update(
            last_state=locked.state
        )
        if locked.state == PushState.State.FINISHED:
            result.notifications = record_due_notifications(locked, now, enqueue)
    if locked.state != PushState.State.FINISHED:  # still running: an early alert may be due
        try:
            result.notifications = record_early_alerts(locked, jobs, now, enqueue)
        except Exception:  # the early alert must never stop the push from being polled
            logger.exception("Early alert for %s push %s failed", repo, push_id)
    result.full_read = full
    result.state = locked.state
    result.job_count = locked.job_count
    return result


def finished_summary(repo: str, jobs: list[rules.Job], revision: str = "") -> dict[str, Any]:
    """What every watcher's notification shows, computed once per push and stored as JSON in
    PushState.summary: counts, the failing tier-1 platform groups and, for a failed push, the push
    page's own triaged failure summary (pushes.services.failure_summary: same jobs, logs and classes)."""
    counts = rules.job_counts(jobs)
    failing_groups = [
        {"name": group.display_name, "failed": failed}
        for group in rules.platform_groups(jobs)
        if (failed := sum(rules.is_failure(job) for job in group.jobs))
    ]
    summary: dict[str, Any] = {
        "failed": rules.has_failures(jobs),
        "verdict": rules.Verdict.PASSED.value,
        "verdict_label": "passed",
        "triage_line": "",
        "total": counts.total,
        "completed": counts.completed,
        "failed_jobs": sum(group["failed"] for group in failing_groups),  # tier 1, as the email says
        "by_result": counts.by_result,
        "failing_groups": failing_groups,
        "failure_groups": [],
        "more_failure_groups": 0,
        "failed_total": 0,  # every failed job the failure summary considered, tier 2 and 3 included
        "examined_jobs": 0,
        "logs_not_parsed": 0,
        "logs_unreadable": 0,
    }
    if not summary["failed"]:  # a passed push's email lists no failures: no log is read for it
        return summary
    failures = failure_summary(repo, jobs, finished=True)
    unreadable = sum(1 for log in failures.logs if log.error)
    summary.update(
        verdict=failures.verdict.value,
        verdict_label=failures.verdict_label,
        triage_line=failures.triage_line,
        failure_groups=[_group_json(repo, revision, group, failures.jobs_by_id) for group in failures.top_groups],
        more_failure_groups=len(failures.more_groups),
        failed_total=failures.failed_total,
        examined_jobs=len(failures.logs),
        logs_not_parsed=len(failures.unparsed) - unreadable,
        logs_unreadable=unreadable,
    )
    return summary


def _group_json(repo: str, revision: str, group: rules.FailureGroup, jobs: dict[int, rules.Job]) -> dict[str, Any]:
    """One failure group as the notification templates read it: class, evidence, job and log links."""
    base = settings.TREEHERDER_URL
    return {
        "key": group.key,
        "jobs": group.affected_job_count,
        "triage": group.triage.value,
        "triage_label": group.triage.label,
        "tier1": group.tier1,
        "seen_count": group.seen_count,
        "bugs": [
            {"id": bug.id, "summary": bug.summary, "url": rules.bugzilla_url(str(bug.id)) if bug.id else ""}
            for bug in group.bugs
        ],
        "links": [
            {
                "name": f"{job.platform} {rules.job_symbol(job)}",
                "job_url": rules.treeherder_job_url(base, repo, revision, job),
                "log_url": rules.treeherder_log_url(base, repo, job.id),
            }
            for job in (jobs[job_id] for job_id in group.job_ids[:5] if job_id in jobs)
        ],
    }


# --- The cycle --------------------------------------------------------------------------------------


def watched_unfinished_pushes() -> list[tuple[str, int]]:
    """Distinct pushes with a watcher not yet notified (finished ones are settled from the DB alone)."""
    since = timezone.now() - WATCH_MAX_AGE
    rows = (
        Watch.objects.filter(notified_at__isnull=True, created_at__gte=since)
        .values_list("repo", "push_id")
        .distinct()
        .order_by("repo", "push_id")
    )
    return [(repo, int(push_id)) for repo, push_id in rows]


@dataclass
class CycleSummary:
    auto_watched: int = 0
    pushes: list[tuple[str, int]] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.pushes)} watched push(es) to poll, {self.auto_watched} auto-watched, "
            f"{len(self.requeued)} delivery(ies) re-queued"
        )


def poll_cycle(
    *,
    dispatch_poll: Callable[[str, int], Any],
    dispatch_delivery: Enqueue,
    client: TreeherderClient | None = None,
) -> CycleSummary:
    """One beat: auto-watch, fan out one poll per distinct watched push, re-queue lost deliveries."""
    summary = CycleSummary()
    try:
        summary.auto_watched = auto_watch_new_pushes(client)
    except Exception:  # auto-watch must never stop the watched pushes from being polled
        logger.exception("Auto-watch failed")
    summary.pushes = watched_unfinished_pushes()
    for repo, push_id in summary.pushes:
        try:
            dispatch_poll(repo, push_id)
        except Exception:  # one bad push must not starve the others of their poll
            logger.exception("Polling %s push %s crashed", repo, push_id)
    try:
        check_confirmations(client=client, enqueue=dispatch_delivery)  # follow-up verdicts
    except Exception:
        logger.exception("Checking confirming runs failed")
    summary.requeued = due_deliveries()
    for notification_id in summary.requeued:
        dispatch_delivery(notification_id)
    return summary
