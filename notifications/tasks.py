"""Celery tasks: thin shells over notifications.cycle, .poller and .outbox (the logic is testable without a broker).

Settings give every task acks_late + reject_on_worker_lost + soft/hard time limits; each task is
idempotent, so a redelivered or duplicated message (two beats, a killed worker) does no harm.
"""

from __future__ import annotations

from celery import shared_task

from pushes import evidence_store

from . import cycle, outbox, poller, wake, watches
from .pulse import Kind

WAKE_EXPIRES = 600  # a wake-up older than this is no news: the beat has read the push since


def _enqueue_delivery(notification_id: int) -> None:
    deliver_notification.delay(notification_id)


def _schedule_confirm(repo: str, push_id: int, seconds: int) -> None:
    # The settle rule's second read, due `seconds` from now; expires if it waited a whole interval more.
    poll_push.apply_async((repo, push_id), {"confirm": True}, countdown=seconds,
                          expires=seconds + poller.poll_seconds())  # fmt: skip


@shared_task(name="notifications.tasks.poll_watched_pushes")
def poll_watched_pushes() -> dict:
    """The beat task: one concurrent poll cycle over every distinct watched push, in this worker."""
    summary = cycle.poll_cycle(dispatch_delivery=_enqueue_delivery, schedule_confirm=_schedule_confirm)
    return summary.as_dict()


@shared_task(name="notifications.tasks.poll_push")
def poll_push(repo: str, push_id: int, confirm: bool = False) -> dict:
    """One push now: the settle rule's confirming read (confirm=True), which may schedule another."""
    result = poller.poll_push(repo, int(push_id), enqueue=_enqueue_delivery, confirm=confirm)
    if result.confirm_in is not None:
        _schedule_confirm(repo, int(push_id), result.confirm_in)
    return {"state": result.state, "polled": result.polled, "error": result.error}


@shared_task(name="notifications.tasks.wake_push")
def wake_push(repo: str, push_id: int, kind: str = "completed", attempt: int = 0) -> dict:
    """A Pulse message said this push moved (`kind`: completed, failed, resolved): poll it now
    (notifications/wake.py), and schedule what that poll asks for: the confirming read, or a re-read
    of a resolved push Treeherder does not show finished yet."""
    outcome = wake.woken_poll(repo, int(push_id), Kind[kind.upper()], int(attempt), enqueue=_enqueue_delivery)
    if outcome.confirm_in is not None:
        _schedule_confirm(repo, int(push_id), outcome.confirm_in)
    if outcome.again_in is not None:
        wake_push.apply_async(
            (repo, int(push_id), kind, int(attempt) + 1), countdown=outcome.again_in, expires=WAKE_EXPIRES
        )
    result = outcome.result
    return {"state": result.state, "polled": result.polled, "error": result.error}


@shared_task(bind=True, name="notifications.tasks.deliver_notification")
def deliver_notification(self, notification_id: int) -> str:
    outcome = outbox.deliver(int(notification_id))
    if outcome.retry_in is not None:
        # Backoff stays far below the Redis visibility timeout; the ledger row carries next_attempt_at,
        # so the beat's sweep also picks it up should this message be lost.
        raise self.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.status


@shared_task(name="notifications.tasks.delete_orphan_push_states")
def delete_orphan_push_states() -> int:
    """Hourly (beat): PushStates no watch refers to any more are not kept (nor polled)."""
    return watches.delete_orphan_push_states()


@shared_task(name="notifications.tasks.prune_job_evidence")
def prune_job_evidence() -> int:
    """Daily (beat): failed jobs' evidence older than BUILDWATCH_EVIDENCE_RETENTION_DAYS is deleted."""
    return evidence_store.prune()
