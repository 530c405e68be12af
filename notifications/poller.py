"""The poller: poll one watched push incrementally and apply the settle rule.

A poll has three steps, so the cycle (notifications/cycle.py) can run many at once on one worker:
`begin_poll` claims the push with a conditional UPDATE on PushState (database), `fetch` reads Treeherder
(HTTP only: the cycle runs it in a thread), `finish_poll` stores what changed and, when the push is
ready to notify, marks it finished in the same transaction that records its ledger rows
(notifications/outbox.py), which the channels then deliver. `poll_push` runs the three in a row.

The settle rule: a push that looks finished is told about only after a second, full read finds the
same jobs. That confirming read is due BUILDWATCH_SETTLE_SECONDS after the first (PushState.confirm_at;
the task schedules it), not a whole poll interval later.
"""

from __future__ import annotations

import logging
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

from .early import record_early_alerts
from .jobstore import Tally, stored_jobs, write_jobs
from .models import PushState, Watch
from .outbox import Enqueue, record_due_notifications
from .snapshot import PUSH_FIELDS, advance_cursor, fill_push_fields, parse_last_modified

logger = logging.getLogger(__name__)

FULL_READ_EVERY_POLLS = 10  # incremental polls miss bulk updates: re-read everything this often
# Treeherder's writers commit concurrently: a job stamped just before the newest one we saw can become
# visible after our read. Asking again for a few seconds before the cursor costs a few rows, loses none.
CURSOR_OVERLAP = timedelta(seconds=5)
WATCH_MAX_AGE = timedelta(days=14)  # a push that never finishes is not polled forever
CONFIRM_EARLY = timedelta(seconds=2)  # a confirming poll may run this much before confirm_at (clock skew)


def poll_seconds() -> int:
    return max(int(settings.BUILDWATCH_POLL_SECONDS), 1)


def settle_seconds() -> int:
    return max(int(settings.BUILDWATCH_SETTLE_SECONDS), 1)


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
    confirm_in: int | None = None  # looks finished: the confirming poll is due in this many seconds
    jobs_written: int = 0


@dataclass
class PollPlan:
    """A claimed poll: what to ask Treeherder for."""

    state: PushState
    now: datetime
    full: bool
    since: datetime | None  # last_modified__gt of an incremental read
    needs_push: bool  # no title yet: read the push too


@dataclass
class Fetched:
    push: rules.Push | None = None
    jobs: list[rules.Job] = field(default_factory=list)
    error: TreeherderError | None = None


def _claim_poll(state: PushState, now: datetime, min_interval: float, confirm: bool) -> bool:
    """Two beats poll the same push twice: the first conditional UPDATE wins this interval. A confirming
    poll wins only while its confirm_at is still set (a regular poll that got there first clears it)."""
    query = PushState.objects.filter(pk=state.pk).exclude(state=PushState.State.FINISHED)
    if confirm:
        query = query.filter(confirm_at__isnull=False, confirm_at__lte=now + CONFIRM_EARLY)
    elif min_interval > 0:
        query = query.filter(
            Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=now - timedelta(seconds=min_interval))
        )
    return query.update(last_polled_at=now, confirm_at=None) == 1


def _needs_full_read(state: PushState, now: datetime) -> bool:
    if not state.jobs_cursor or state.last_full_read_at is None:
        return True
    if now - state.last_full_read_at >= full_read_interval():
        return True
    # It looked finished last time: confirm on a full read (bulk updates skip last_modified) before
    # anyone is told. This is the settle rule's second read.
    return state.confirm_at is not None or Tally.stored(state).looks_finished()


def begin_poll(
    repo: str,
    push_id: int,
    *,
    enqueue: Enqueue | None = None,
    min_interval: float | None = None,
    confirm: bool = False,
) -> PollPlan | PollResult:
    """Claim the push (database only). A PollResult when there is nothing to read: another poller has
    it, or it already finished (then a watcher who came late is told, without asking Treeherder)."""
    now = timezone.now()
    state, _ = PushState.objects.get_or_create(repo=repo, push_id=push_id)
    result = PollResult(repo=repo, push_id=push_id, state=state.state)
    if state.state == PushState.State.FINISHED:
        result.notifications = record_due_notifications(state, now, enqueue)
        return result
    if min_interval is None:
        min_interval = poll_seconds() / 2
    if not _claim_poll(state, now, min_interval, confirm):
        return result
    full = confirm or _needs_full_read(state, now)
    since = None if full else parse_last_modified(state.jobs_cursor)
    return PollPlan(
        state=state,
        now=now,
        full=full or since is None,
        since=since - CURSOR_OVERLAP if since else None,
        needs_push=not state.revision,
    )


def fetch(plan: PollPlan, client: TreeherderClient) -> Fetched:
    """Ask Treeherder (no database access: the cycle runs this in its threads)."""
    state = plan.state
    try:
        push = client.push(state.repo, state.push_id) if plan.needs_push else None
        jobs = client.jobs(state.repo, state.push_id, last_modified_gt=None if plan.full else plan.since)
    except TreeherderError as problem:
        return Fetched(error=problem)
    return Fetched(push=push, jobs=jobs)


def finish_poll(plan: PollPlan, fetched: Fetched, *, enqueue: Enqueue | None = None) -> PollResult:
    """Store what changed, apply the rules, record the due notifications (database)."""
    state, now = plan.state, plan.now
    result = PollResult(repo=state.repo, push_id=state.push_id, polled=True, state=state.state)
    if fetched.error is not None:
        return _failed(result, fetched.error)
    ready = plan.full and rules.ready_to_notify(fetched.jobs, state.job_count)
    revision = fetched.push.revision if fetched.push else state.revision
    summary = finished_summary(state.repo, fetched.jobs, revision) if ready else None
    looks_finished = False
    with transaction.atomic():
        locked = PushState.objects.select_for_update().get(pk=state.pk)
        if locked.state != PushState.State.FINISHED:
            written = write_jobs(locked, fetched.jobs, full=plan.full)
            looks_finished = written.tally.looks_finished() and not ready
            update = _updated_fields(locked, plan, fetched, written.tally, ready, looks_finished)
            if ready:
                locked.summary = summary or {}
                update.append("summary")
                result.finished_now = True
            locked.save(update_fields=update)
            result.jobs_written = written.changed + written.deleted
        Watch.objects.filter(repo=state.repo, push_id=state.push_id, notified_at__isnull=True).exclude(
            last_state=locked.state
        ).update(last_state=locked.state)
        if locked.state == PushState.State.FINISHED:
            result.notifications = record_due_notifications(locked, now, enqueue)
    if locked.state != PushState.State.FINISHED and locked.failed_count:
        result.notifications = _early_alerts(locked, fetched.jobs if plan.full else None, now, enqueue)
    result.full_read = plan.full
    result.state = locked.state
    result.job_count = locked.job_count
    result.confirm_in = settle_seconds() if looks_finished else None
    return result


def _updated_fields(
    locked: PushState, plan: PollPlan, fetched: Fetched, tally: Tally, ready: bool, looks_finished: bool
) -> list[str]:
    update = tally.store(locked)
    if fetched.push is not None:
        fill_push_fields(locked, fetched.push)
        update += PUSH_FIELDS
    if ready:
        locked.state = PushState.State.FINISHED
        locked.finished_at = plan.now
        update.append("finished_at")
    elif tally.running or tally.completed:
        locked.state = PushState.State.RUNNING
    else:
        locked.state = PushState.State.PENDING
    locked.jobs_cursor = advance_cursor("" if plan.full else locked.jobs_cursor, fetched.jobs)
    locked.last_error = ""
    locked.confirm_at = plan.now + timedelta(seconds=settle_seconds()) if looks_finished else None
    update += ["state", "jobs_cursor", "last_error", "confirm_at"]
    if plan.full:
        locked.last_full_read_at = plan.now
        update.append("last_full_read_at")
    return update


def _early_alerts(
    state: PushState, jobs: list[rules.Job] | None, now: datetime, enqueue: Enqueue | None
) -> list[int]:
    """Still running with a failed job: an early alert may be due. It needs every job, which an
    incremental read does not bring: those are read back from the job rows, only for such pushes."""
    wanted = Watch.objects.filter(
        repo=state.repo, push_id=state.push_id, notified_at__isnull=True, early_alert=True
    ).exists()
    if not wanted:
        return []
    try:
        return record_early_alerts(state, jobs if jobs is not None else stored_jobs(state), now, enqueue)
    except Exception:  # the early alert must never stop the push from being polled
        logger.exception("Early alert for %s push %s failed", state.repo, state.push_id)
        return []


def _failed(result: PollResult, problem: TreeherderError) -> PollResult:
    """Treeherder errors are recorded on the PushState, never raised; the next cycle tries again."""
    logger.warning("Polling %s push %s failed: %s", result.repo, result.push_id, problem)
    reason = str(problem)
    if isinstance(problem, TreeherderNotFound):
        reason = f"Treeherder does not know this push: {problem}"
    PushState.objects.filter(repo=result.repo, push_id=result.push_id).update(last_error=reason[:2000])
    result.error = reason
    return result


def poll_push(
    repo: str,
    push_id: int,
    *,
    client: TreeherderClient | None = None,
    enqueue: Enqueue | None = None,
    min_interval: float | None = None,
    confirm: bool = False,
) -> PollResult:
    """Fetch one push once (however many users watch it), apply the rules, and when it is ready to
    notify, mark it finished and record the due notifications; `enqueue(notification_id)` runs after
    commit for every new ledger row. `confirm`: the settle rule's confirming read (see begin_poll)."""
    begun = begin_poll(repo, push_id, enqueue=enqueue, min_interval=min_interval, confirm=confirm)
    if isinstance(begun, PollResult):
        return begun
    return finish_poll(begun, fetch(begun, client or get_client(background=True)), enqueue=enqueue)


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
        failure_groups=[
            _group_json(repo, revision, group, failures.jobs_by_id) for group in failures.top_groups
        ],
        more_failure_groups=len(failures.more_groups),
        failed_total=failures.failed_total,
        examined_jobs=len(failures.logs),
        logs_not_parsed=len(failures.unparsed) - unreadable,
        logs_unreadable=unreadable,
    )
    return summary


def _group_json(
    repo: str, revision: str, group: rules.FailureGroup, jobs: dict[int, rules.Job]
) -> dict[str, Any]:
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
