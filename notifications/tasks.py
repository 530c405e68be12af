"""Celery tasks: thin shells over notifications.poller and .outbox (the logic is testable without a broker).

Settings give every task acks_late + reject_on_worker_lost + soft/hard time limits; each task is
idempotent, so a redelivered or duplicated message (two beats, a killed worker) does no harm.
"""

from __future__ import annotations

from celery import shared_task

from . import outbox, poller, watches


def _enqueue_delivery(notification_id: int) -> None:
    deliver_notification.delay(notification_id)


@shared_task(name="notifications.tasks.poll_watched_pushes")
def poll_watched_pushes() -> dict:
    """The beat task: fan out one poll_push per distinct watched push, re-queue lost deliveries."""
    expires = poller.poll_seconds() * 2

    def dispatch_poll(repo: str, push_id: int) -> None:
        # A poll that waited longer than two intervals in the queue is superseded by a newer one.
        poll_push.apply_async((repo, push_id), expires=expires)

    summary = poller.poll_cycle(dispatch_poll=dispatch_poll, dispatch_delivery=_enqueue_delivery)
    return {"pushes": len(summary.pushes), "auto_watched": summary.auto_watched, "requeued": len(summary.requeued)}


@shared_task(name="notifications.tasks.poll_push")
def poll_push(repo: str, push_id: int) -> dict:
    result = poller.poll_push(repo, int(push_id), enqueue=_enqueue_delivery)
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
