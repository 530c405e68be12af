"""The poller and delivery (SPEC §3 "finished"/"notification", §7): poll a push, decide, record the
ledger, deliver. Tasks (notifications/tasks.py) and the management command are thin callers of these.

Exactly once, in three layers:
1. one poll of a push per interval, claimed with a conditional UPDATE on PushState.last_polled_at;
2. one ledger row per (user, push, channel) (unique constraint + get_or_create), written in the same
   transaction that marks the push finished and the watches notified;
3. delivery claims its row with a conditional UPDATE (pending → sending, or a 'sending' claim older
   than the task hard time limit, i.e. a dead worker's) and sends only when it updated exactly one row.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from pushes import rules
from pushes.treeherder import TreeherderClient, TreeherderError, TreeherderNotFound, get_client

from .channels.matrix import channel as matrix_channel
from .email import send_email
from .models import Notification, PushState, PushSubscription, UserSettings, Watch
from .transports import TransportError
from .webpush import send_webpush, vapid_problem

logger = logging.getLogger(__name__)

# Compact job snapshot (PushState.jobs_snapshot): {"<job id>": [fields below]} — enough to rebuild
# rules.Job for every rule the poller and the email apply.
SNAPSHOT_FIELDS = (
    "state",
    "result",
    "tier",
    "platform",
    "platform_option",
    "job_type_name",
    "job_type_symbol",
    "job_group_name",
    "job_group_symbol",
    "task_id",
    "retry_id",
    "failure_classification_id",
)
FULL_READ_EVERY_POLLS = 10  # incremental polls miss bulk updates: re-read everything this often
# Treeherder's writers commit concurrently: a job stamped just before the newest one we saw can become
# visible after our read. Asking again for a few seconds before the cursor costs a few rows, loses none.
CURSOR_OVERLAP = timedelta(seconds=5)
MAX_LOG_JOBS = 15  # failed jobs whose error lines go into the email (SPEC §3 failure summary)
TOP_FAILURE_GROUPS = 10
AUTO_WATCH_WINDOW = timedelta(hours=24)
AUTO_WATCH_COUNT = 10
AUTO_WATCH_REPO = "try"  # the pushes people wait on; the default repository only picks a list page
WATCH_MAX_AGE = timedelta(days=14)  # a push that never finishes is not polled forever
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 900  # well below the Redis visibility timeout (1 h): ETA tasks stay unacked
SWEEP_GRACE = timedelta(seconds=10)  # a fresh row was just queued by on_commit; leave it to that task

Enqueue = Callable[[int], Any]


# --- Snapshot ---------------------------------------------------------------------------------------


def encode_job(job: rules.Job) -> list[Any]:
    return [getattr(job, name) for name in SNAPSHOT_FIELDS]


def decode_jobs(snapshot: dict[str, list[Any]], push_id: int) -> list[rules.Job]:
    jobs = []
    for job_id, values in snapshot.items():
        data = dict(zip(SNAPSHOT_FIELDS, values, strict=False))
        jobs.append(
            rules.Job(
                id=int(job_id),
                push_id=push_id,
                task_id=data.get("task_id"),
                platform=data.get("platform") or "",
                platform_option=data.get("platform_option") or "",
                job_type_name=data.get("job_type_name") or "",
                job_type_symbol=data.get("job_type_symbol") or "",
                job_group_name=data.get("job_group_name") or "",
                job_group_symbol=data.get("job_group_symbol") or "",
                state=data.get("state") or "unknown",
                result=data.get("result") or "unknown",
                start_timestamp=None,
                end_timestamp=None,
                tier=data.get("tier"),
                retry_id=data.get("retry_id") or 0,
                failure_classification_id=data.get("failure_classification_id"),
            )
        )
    return jobs


def _parse_last_modified(value: str | None) -> datetime | None:
    """Treeherder's `last_modified` is a naive ISO datetime in UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _advance_cursor(cursor: str, jobs: Iterable[rules.Job]) -> str:
    newest = _parse_last_modified(cursor)
    for job in jobs:
        moment = _parse_last_modified(job.last_modified)
        if moment is not None and (newest is None or moment > newest):
            newest = moment
    return newest.isoformat() if newest else ""


# --- Polling one push -------------------------------------------------------------------------------


def poll_seconds() -> int:
    return max(int(settings.BUILDWATCH_POLL_SECONDS), 1)


def full_read_interval() -> timedelta:
    return timedelta(seconds=FULL_READ_EVERY_POLLS * poll_seconds())


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
        result.notifications = _record_due_notifications(state, now, enqueue)
        return result
    if min_interval is None:
        min_interval = poll_seconds() / 2
    if not _claim_poll(state, now, min_interval):
        result.state = state.state
        return result
    result.polled = True
    client = client or get_client(background=True)
    previous_jobs = decode_jobs(state.jobs_snapshot, push_id)
    full = _needs_full_read(state, previous_jobs, now)
    try:
        push = None
        if not state.revision:
            push = client.push(repo, push_id)
        if full:
            fetched = client.jobs(repo, push_id)
            snapshot = {str(job.id): encode_job(job) for job in fetched}
            cursor = _advance_cursor("", fetched)
        else:
            since = _parse_last_modified(state.jobs_cursor)
            fetched = client.jobs(repo, push_id, last_modified_gt=since - CURSOR_OVERLAP if since else None)
            snapshot = dict(state.jobs_snapshot)
            snapshot.update({str(job.id): encode_job(job) for job in fetched})
            cursor = _advance_cursor(state.jobs_cursor, fetched)
    except TreeherderError as problem:
        logger.warning("Polling %s push %s failed: %s", repo, push_id, problem)
        reason = str(problem)
        if isinstance(problem, TreeherderNotFound):
            reason = f"Treeherder does not know this push: {problem}"
        PushState.objects.filter(pk=state.pk).update(last_error=reason[:2000])
        result.error = reason
        result.state = state.state
        return result

    jobs = decode_jobs(snapshot, push_id)
    ready = full and rules.ready_to_notify(jobs, state.job_count)
    summary = push_summary(repo, jobs, client) if ready else None
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
            if push is not None:
                _fill_push_fields(locked, push)
            locked.state = new_state
            locked.job_count = counts.total
            locked.completed_count = counts.completed
            locked.failed_count = counts.failed
            locked.jobs_snapshot = snapshot
            locked.jobs_cursor = cursor
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
            result.notifications = _record_due_notifications(locked, now, enqueue)
    result.full_read = full
    result.state = locked.state
    result.job_count = locked.job_count
    return result


def _fill_push_fields(state: PushState, push: rules.Push) -> None:
    state.revision = push.revision[:40]
    state.author = push.author[:255]
    state.title = rules.display_title(push.revisions) or f"push {push.id}"
    state.push_timestamp = push.push_timestamp or None


def push_summary(repo: str, jobs: list[rules.Job], client: TreeherderClient) -> dict[str, Any]:
    """What every watcher's email shows, computed once per push: counts, failing platform groups and
    the top failure groups from the error lines of at most MAX_LOG_JOBS failed tier-1 jobs."""
    counts = rules.job_counts(jobs)
    failing_groups = [
        {"name": group.display_name, "failed": sum(rules.is_failure(job) for job in group.jobs)}
        for group in rules.platform_groups(jobs)
        if group.status == "failing"
    ]
    failed_jobs = sorted(
        (job for job in jobs if rules.is_failure(job) and rules.effective_tier(job) == 1), key=lambda j: j.id
    )
    examined = failed_jobs[:MAX_LOG_JOBS]
    errors: list[rules.TextLogError] = []
    not_parsed = unreadable = 0

    def fetch(job: rules.Job) -> Any:
        try:
            return client.log_errors(repo, job.id)
        except TreeherderError as problem:
            return problem

    if examined:
        with ThreadPoolExecutor(max_workers=min(4, len(examined))) as pool:
            for outcome in pool.map(fetch, examined):
                if isinstance(outcome, TreeherderError):
                    unreadable += 1
                elif not outcome.parsed:
                    not_parsed += 1
                else:
                    errors.extend(outcome.errors)
    groups = rules.failure_groups(errors)
    return {
        "failed": rules.has_failures(jobs),
        "total": counts.total,
        "completed": counts.completed,
        "failed_jobs": len(failed_jobs),
        "by_result": counts.by_result,
        "failing_groups": failing_groups,
        "failure_groups": [
            {"key": group.key, "jobs": group.affected_job_count} for group in groups[:TOP_FAILURE_GROUPS]
        ],
        "more_failure_groups": max(len(groups) - TOP_FAILURE_GROUPS, 0),
        "examined_jobs": len(examined),
        "logs_not_parsed": not_parsed,
        "logs_unreadable": unreadable,
    }


def _record_due_notifications(state: PushState, now: datetime, enqueue: Enqueue | None) -> list[int]:
    """One ledger row per (watcher, channel) for a finished push; the watches are marked notified.
    Idempotent: a second poller finds the watches notified and the rows already there."""
    created_ids: list[int] = []
    summary = state.summary or {}
    failed = bool(summary.get("failed", state.failed_count > 0))
    title = rules.notification_title(state.repo, rules.Verdict.FAILED if failed else rules.Verdict.PASSED)
    body = state.title or f"push {state.push_id}"
    with transaction.atomic():
        watches = list(
            Watch.objects.select_for_update()
            .filter(repo=state.repo, push_id=state.push_id, notified_at__isnull=True)
            .select_related("user")
        )
        for watch in watches:
            user_settings = UserSettings.for_user(watch.user)
            for channel, skip_reason in _channels(watch.user, user_settings):
                notification, created = Notification.objects.get_or_create(
                    user=watch.user,
                    repo=state.repo,
                    push_id=state.push_id,
                    channel=channel,
                    defaults={
                        "title": title[:255],
                        "body": body,
                        "status": Notification.Status.SKIPPED if skip_reason else Notification.Status.PENDING,
                        "last_error": skip_reason,
                    },
                )
                if created and not skip_reason:
                    created_ids.append(notification.pk)
            watch.notified_at = now
            watch.last_state = PushState.State.FINISHED
            watch.save(update_fields=["notified_at", "last_state"])
        if enqueue is not None:
            for notification_id in created_ids:
                transaction.on_commit(lambda nid=notification_id: enqueue(nid), robust=True)
    return created_ids


def _channels(user: Any, user_settings: UserSettings) -> list[tuple[str, str]]:
    """(channel, reason to skip or "") for every channel this user wants."""
    if not user_settings.notifications_enabled:
        return []
    channels = []
    if user_settings.email_enabled:
        channels.append((Notification.Channel.EMAIL, "" if user.email else "the account has no email address"))
    if user_settings.webpush_enabled and PushSubscription.objects.filter(user=user).exists():
        channels.append((Notification.Channel.WEBPUSH, vapid_problem()))
    if matrix_channel.wanted(user, user_settings):
        channels.append((Notification.Channel.MATRIX, matrix_channel.skip_reason(None, user_settings)))
    return channels


# --- Delivery ---------------------------------------------------------------------------------------


def stale_claim_after() -> timedelta:
    """A 'sending' claim older than the task hard time limit belongs to a dead worker."""
    return timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT) + 5)


def backoff_seconds(attempts: int) -> int:
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


@dataclass
class DeliveryOutcome:
    notification_id: int
    status: str  # sent | failed | skipped | retry | not-claimed
    retry_in: int | None = None
    error: str = ""


def _claimable(now: datetime) -> Q:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return (Q(status=Notification.Status.PENDING) & due) | Q(
        status=Notification.Status.SENDING, claimed_at__lt=now - stale_claim_after()
    )


def deliver(notification_id: int) -> DeliveryOutcome:
    """Claim the ledger row and send it; safe to call any number of times, from any number of workers."""
    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(_claimable(now))
        .update(status=Notification.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return DeliveryOutcome(notification_id, "not-claimed")
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    mine = Notification.objects.filter(pk=notification_id, status=Notification.Status.SENDING, claimed_at=now)

    skip_reason = _skip_reason(notification)
    if skip_reason:
        mine.update(status=Notification.Status.SKIPPED, last_error=skip_reason)
        return DeliveryOutcome(notification_id, "skipped", error=skip_reason)
    try:
        _send(notification)
    except TransportError as problem:
        error, permanent = problem.message, problem.permanent
        retry_after = getattr(problem, "retry_after", None)
        if retry_after is not None and not permanent:
            return _retry_after(mine, notification_id, error, retry_after)
    except Exception as problem:  # a bug or a soft time limit: retry like a transient failure
        logger.exception("Delivering notification %s crashed", notification_id)
        error, permanent = f"{type(problem).__name__}: {problem}", False
    else:
        mine.update(status=Notification.Status.SENT, sent_at=timezone.now(), last_error="")
        return DeliveryOutcome(notification_id, "sent")

    logger.warning("Notification %s attempt %s failed: %s", notification_id, notification.attempts, error)
    if permanent or notification.attempts >= MAX_ATTEMPTS:
        mine.update(status=Notification.Status.FAILED, last_error=error[:2000])
        return DeliveryOutcome(notification_id, "failed", error=error)
    delay = backoff_seconds(notification.attempts)
    mine.update(
        status=Notification.Status.PENDING,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return DeliveryOutcome(notification_id, "retry", retry_in=delay, error=error)


def _retry_after(mine: Any, notification_id: int, error: str, seconds: float) -> DeliveryOutcome:
    """The upstream said when to ask again (a rate limit): not a failed attempt, so it does not count
    towards MAX_ATTEMPTS; a little jitter keeps a backlog from coming back all at once."""
    delay = min(max(math.ceil(seconds * (1 + random.random() / 4)), 1), BACKOFF_MAX_SECONDS)
    mine.update(
        status=Notification.Status.PENDING,
        attempts=F("attempts") - 1,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return DeliveryOutcome(notification_id, "retry", retry_in=delay, error=error)


def _skip_reason(notification: Notification) -> str:
    """The user may have switched off notifications (e.g. one-click unsubscribe) after the row was made."""
    user_settings = UserSettings.for_user(notification.user)
    if not user_settings.notifications_enabled:
        return "notifications were turned off before delivery"
    if notification.channel == Notification.Channel.EMAIL and not user_settings.email_enabled:
        return "email was turned off before delivery"
    if notification.channel == Notification.Channel.WEBPUSH and not user_settings.webpush_enabled:
        return "web push was turned off before delivery"
    if notification.channel == Notification.Channel.WEBPUSH:
        return vapid_problem()
    if notification.channel == Notification.Channel.MATRIX:
        return matrix_channel.skip_reason(notification, user_settings)
    return ""


def _send(notification: Notification) -> None:
    if notification.channel == Notification.Channel.EMAIL:
        send_email(notification)
    elif notification.channel == Notification.Channel.WEBPUSH:
        send_webpush(notification)
    elif notification.channel == Notification.Channel.MATRIX:
        matrix_channel.send(notification)
    else:
        raise TransportError(f"unknown channel {notification.channel!r}", permanent=True)


def due_deliveries(limit: int = 500) -> list[int]:
    """Rows a lost task left behind: pending and due (not just created), or claimed by a dead worker."""
    now = timezone.now()
    query = Notification.objects.filter(_claimable(now)).exclude(
        status=Notification.Status.PENDING, created_at__gt=now - SWEEP_GRACE, attempts=0
    )
    return list(query.order_by("pk").values_list("pk", flat=True)[:limit])


# --- The cycle --------------------------------------------------------------------------------------


def auto_watch_new_pushes(client: TreeherderClient | None = None) -> int:
    """Watch new try pushes of users who asked for it: one push-list request per distinct author.

    Auto-watch is about try, whatever list a user opens first: their default repository only picks
    the page, and an autoland or central push is landed code, not a try run someone waits on.
    """
    now = timezone.now()
    wanted = UserSettings.objects.filter(auto_watch=True, notifications_enabled=True).select_related("user")
    by_author: dict[tuple[str, str], list[UserSettings]] = {}
    for user_settings in wanted:
        author = user_settings.effective_author_email.strip().lower()
        if author and user_settings.user.is_active:
            by_author.setdefault((AUTO_WATCH_REPO, author), []).append(user_settings)
    if not by_author:
        return 0
    client = client or get_client(background=True)
    created = 0
    for (repo, author), members in by_author.items():
        try:
            pushes = client.pushes(repo, author=author, count=AUTO_WATCH_COUNT)
        except TreeherderError as problem:
            logger.warning("Auto-watch: listing %s pushes of %s failed: %s", repo, author, problem)
            continue
        for push in pushes:
            pushed_at = datetime.fromtimestamp(push.push_timestamp or 0, UTC)
            for user_settings in members:
                since = max(user_settings.auto_watch_since or now - AUTO_WATCH_WINDOW, now - AUTO_WATCH_WINDOW)
                if pushed_at < since:
                    continue
                _, made = Watch.objects.get_or_create(
                    user=user_settings.user, repo=repo, push_id=push.id, defaults={"auto": True}
                )
                if made:
                    created += 1
                    state, _ = PushState.objects.get_or_create(repo=repo, push_id=push.id)
                    if not state.revision:  # the list already told us: saves a push() call later
                        _fill_push_fields(state, push)
                        state.save(update_fields=["revision", "author", "title", "push_timestamp"])
    return created


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
    summary.requeued = due_deliveries()
    for notification_id in summary.requeued:
        dispatch_delivery(notification_id)
    return summary
