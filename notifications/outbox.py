"""The outbox: the exactly-once ledger of notifications (healthchecks' claim by conditional UPDATE).

1. `record_due_notifications` writes one Notification row per (watcher, wanted channel) of a finished
   push — unique constraint + get_or_create — in the transaction that marks the watches notified;
2. `deliver` claims its row with a conditional UPDATE (pending and due → sending, or a 'sending' claim
   older than the task hard time limit, i.e. a dead worker's) and sends only when it updated one row;
3. a failed send goes back to pending with backoff, or to failed (permanent, or out of attempts); a
   channel told when to ask again (TransportError.retry_after, e.g. a rate limit) is scheduled for then,
   and that attempt is not counted;
4. `due_deliveries` is the beat's sweep for rows whose task was lost.
Channels (notifications/channels/) decide who wants what, what to skip, and how to send.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import UserSettings
from pushes import display
from pushes.verdict import Verdict

from . import channels
from .channels import TransportError
from .models import ChannelSettings, Notification, PushState, Watch

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30  # the default of settings.BUILDWATCH_RETRY_SECONDS
BACKOFF_MAX_SECONDS = 900  # well below the Redis visibility timeout (1 h): ETA tasks stay unacked
SWEEP_GRACE = timedelta(seconds=10)  # a fresh row was just queued by on_commit; leave it to that task

Enqueue = Callable[[int], Any]


# --- Recording ----------------------------------------------------------------------------------------


def record_due_notifications(state: PushState, now: datetime, enqueue: Enqueue | None) -> list[int]:
    """One ledger row per (watcher, channel) for a finished push; the watches are marked notified.
    Idempotent: a second poller finds the watches notified and the rows already there.
    `enqueue(notification_id)` runs after commit for every new row that is to be sent."""
    created_ids: list[int] = []
    summary = state.summary or {}
    failed = bool(summary.get("failed", state.failed_count > 0))
    verdict = summary.get("verdict") or (Verdict.FAILED if failed else Verdict.PASSED)
    title = display.notification_title(state.repo, verdict)
    # Every channel's message starts with the triage ("2 new failures · 1 known intermittent"), then
    # the push's title.
    body = "\n".join(filter(None, [summary.get("triage_line", ""), state.title or f"push {state.push_id}"]))
    with transaction.atomic():
        watches = list(
            Watch.objects.select_for_update()
            .filter(repo=state.repo, push_id=state.push_id, notified_at__isnull=True)
            .select_related("user")
        )
        for watch in watches:
            created_ids += record_rows(
                watch.user, state.repo, state.push_id, Notification.Kind.FINAL, title, body
            )
            watch.notified_at = now
            watch.last_state = PushState.State.FINISHED
            watch.save(update_fields=["notified_at", "last_state"])
        send_after_commit(created_ids, enqueue)
    return created_ids


def record_rows(
    user: Any,
    repo: str,
    push_id: int,
    kind: str,
    title: str,
    body: str,
    detail: dict[str, Any] | None = None,
    occasion: str = "",
) -> list[int]:
    """The ledger rows of one message of `kind` to `user`, one per channel they want (inside the caller's
    transaction): new rows a channel cannot send are recorded skipped, with the reason. Idempotent: the
    unique (user, push, channel, kind, occasion) row is made once. Returns the new rows to send."""
    user_settings = UserSettings.for_user(user)
    prefs = ChannelSettings.all_of(user)
    created_ids = []
    for channel in _wanted_channels(user, user_settings, prefs):
        skip_reason = channel.skip_reason(
            Notification(
                user=user, repo=repo, push_id=push_id, channel=channel.name, kind=kind, occasion=occasion
            ),
            prefs[channel.name],
        )
        notification, created = Notification.objects.get_or_create(
            user=user,
            repo=repo,
            push_id=push_id,
            channel=channel.name,
            kind=kind,
            occasion=occasion,
            defaults={
                "title": title[:255],
                "body": body,
                "detail": detail or {},
                "status": Notification.Status.SKIPPED if skip_reason else Notification.Status.PENDING,
                "last_error": skip_reason,
            },
        )
        if created and not skip_reason:
            created_ids.append(notification.pk)
    return created_ids


def send_after_commit(notification_ids: list[int], enqueue: Enqueue | None) -> None:
    """Queue each new row once the transaction that recorded it commits (never a row that rolled back)."""
    if enqueue is not None:
        for notification_id in notification_ids:
            transaction.on_commit(lambda nid=notification_id: enqueue(nid), robust=True)


def _wanted_channels(
    user: Any, user_settings: UserSettings, prefs: dict[str, ChannelSettings]
) -> list[channels.Channel]:
    if not user_settings.notifications_enabled:
        return []
    return [channel for channel in channels.all() if channel.wanted(user, prefs[channel.name])]


# --- Delivery -----------------------------------------------------------------------------------------


def stale_claim_after() -> timedelta:
    """A 'sending' claim older than the task hard time limit belongs to a dead worker."""
    return timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT) + 5)


def backoff_seconds(attempts: int) -> int:
    base = int(getattr(settings, "BUILDWATCH_RETRY_SECONDS", BACKOFF_BASE_SECONDS))
    return min(base * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


@dataclass
class DeliveryOutcome:
    notification_id: int
    status: str  # sent | failed | skipped | retry | uncertain | not-claimed
    retry_in: int | None = None
    error: str = ""


def _due(now: datetime) -> Q:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(status=Notification.Status.PENDING) & due


def _abandoned(now: datetime) -> Q:
    """A 'sending' claim older than the hard time limit: its worker died, maybe after sending."""
    return Q(status=Notification.Status.SENDING, claimed_at__lt=now - stale_claim_after())


def _claimable(now: datetime) -> Q:
    return _due(now) | _abandoned(now)


def _claim(notification_id: int, now: datetime) -> bool | None:
    """Claim the row with a conditional UPDATE: None when another worker has it (or nothing is due),
    else whether this is a dead worker's claim taken over (that attempt may have delivered)."""
    rows = Notification.objects.filter(pk=notification_id)
    claim = {"status": Notification.Status.SENDING, "claimed_at": now, "attempts": F("attempts") + 1}
    if rows.filter(_due(now)).update(**claim) == 1:
        return False
    if rows.filter(_abandoned(now)).update(**claim) == 1:
        return True
    return None


def deliver(notification_id: int) -> DeliveryOutcome:
    """Claim the ledger row and send it; safe to call any number of times, from any number of workers."""
    now = timezone.now()
    taken_over = _claim(notification_id, now)
    if taken_over is None:
        return DeliveryOutcome(notification_id, "not-claimed")
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    mine = Notification.objects.filter(pk=notification_id, status=Notification.Status.SENDING, claimed_at=now)
    if taken_over:
        outcome = _after_uncertain(notification, mine, "the worker sending it stopped mid-send")
        if outcome is not None:
            return outcome

    channel = channels.CHANNELS.get(notification.channel)
    skip_reason = _skip_reason(notification, channel)
    if skip_reason:
        mine.update(status=Notification.Status.SKIPPED, last_error=skip_reason)
        return DeliveryOutcome(notification_id, "skipped", error=skip_reason)
    try:
        if channel is None:
            raise TransportError(f"unknown channel {notification.channel!r}", permanent=True)
        channel.send(notification)
    except TransportError as problem:
        if problem.uncertain:
            return _after_uncertain(notification, mine, problem.message) or _retry(
                notification, mine, problem.message
            )
        error, permanent = problem.message, problem.permanent
        if problem.retry_after is not None and not permanent:
            return _retry_after(mine, notification_id, error, problem.retry_after)
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
    return _retry(notification, mine, error)


def _retry(notification: Notification, mine: Any, error: str) -> DeliveryOutcome:
    delay = backoff_seconds(notification.attempts)
    mine.update(
        status=Notification.Status.PENDING,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return DeliveryOutcome(notification.pk, "retry", retry_in=delay, error=error)


def _after_uncertain(notification: Notification, mine: Any, why: str) -> DeliveryOutcome | None:
    """An attempt may have delivered. The first time, note it and go on (the caller sends or retries
    the same message once more); the second time, stop: the row is 'delivery uncertain'."""
    if not notification.uncertain:
        logger.warning("Notification %s: delivery uncertain (%s): one more attempt", notification.pk, why)
        mine.update(uncertain=True, last_error=f"delivery uncertain: {why}"[:2000])
        notification.uncertain = True
        return None
    logger.warning("Notification %s: delivery uncertain again (%s): not sent again", notification.pk, why)
    mine.update(status=Notification.Status.UNCERTAIN, last_error=f"delivery uncertain: {why}"[:2000])
    return DeliveryOutcome(notification.pk, "uncertain", error=why)


def _retry_after(mine: Any, notification_id: int, error: str, seconds: float) -> DeliveryOutcome:
    """The upstream said when to ask again (a rate limit): not a failed attempt, so it does not count
    towards MAX_ATTEMPTS; a little jitter keeps a backlog from coming back all at once."""
    delay = min(max(math.ceil(seconds * (1 + random.random() / 4)), 1), BACKOFF_MAX_SECONDS)
    logger.info(
        "Notification %s: retry after %s s as the channel was told (%s)", notification_id, delay, error
    )
    mine.update(
        status=Notification.Status.PENDING,
        attempts=F("attempts") - 1,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return DeliveryOutcome(notification_id, "retry", retry_in=delay, error=error)


def _skip_reason(notification: Notification, channel: channels.Channel | None) -> str:
    """The user may have switched off notifications (e.g. one-click unsubscribe) after the row was made."""
    user_settings = UserSettings.for_user(notification.user)
    if not user_settings.notifications_enabled:
        return "notifications were turned off before delivery"
    if channel is None:
        return ""
    return channel.skip_reason(notification, ChannelSettings.of(notification.user, channel.name))


def due_deliveries(limit: int = 500) -> list[int]:
    """Rows a lost task left behind: pending and due (not just created), or claimed by a dead worker."""
    now = timezone.now()
    query = Notification.objects.filter(_claimable(now)).exclude(
        status=Notification.Status.PENDING, created_at__gt=now - SWEEP_GRACE, attempts=0
    )
    return list(query.order_by("pk").values_list("pk", flat=True)[:limit])
