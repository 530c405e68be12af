"""What a Pulse message changes: a poll of its push now (the woken poll), and how much the beat may
rely on the listener (its liveness, the safety net). Treeherder stays the truth: a message only says
"read this push now", through the same claim and ledger as every poll (notifications/poller.py), so a
lost or duplicated message changes when a push is read, never what anyone is told.

- A task message (completed, failed, exception) → one poll, incremental, that may not confirm a finish
  before BUILDWATCH_SETTLE_SECONDS (`PollPlan.settle`); a failure's poll is also the early-alert check.
- task-group-resolved → the finishing poll: a full read, and the settle rule shortened to
  RESOLVED_SETTLE (Taskcluster says no task is left to run). Treeherder ingests the queue's events a
  few seconds late: until its jobs agree (finished, the same count twice), read again every
  RECHECK_SECONDS, at most RECHECKS times; after that the push is polled by the beat as without Pulse.
- The beat (notifications/cycle.py) polls every watched push as it always has, unless the listener is
  live (connected, and a message heard within PULSE_SILENCE_SECONDS): then a push Pulse follows (its
  repository in PULSE_REPOS, its task group known) is read at least every PULSE_SAFETY_POLL_SECONDS,
  in case its messages are lost. A push with a failure whose early alert still waits for evidence, a
  push whose last read failed and a push whose resolution Treeherder never agreed with are polled as
  always.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from pushes.treeherder.client import TreeherderClient, get_client

from . import early, poller
from .models import PushState, Watch
from .outbox import Enqueue
from .pulse import Kind

logger = logging.getLogger(__name__)

CLAIM_GAP = 1.0  # a woken poll skips a push another poll claimed this recently (then tries once more)
RESOLVED_SETTLE = 1.0  # seconds between two agreeing reads of a push whose task group resolved
RECHECK_SECONDS = 2.0
RECHECKS = 15  # a resolved push is re-read for about RECHECKS * RECHECK_SECONDS, then left to the beat
DISAGREED_FOR = 3600  # seconds a push whose resolution Treeherder did not confirm is polled by the beat
STATUS_KEY = "pulse:listener"
STATUS_EVERY = 5.0  # seconds between the listener's status writes
STATUS_STALE = 30.0  # a status older than this: the listener is gone


@dataclass
class WakeOutcome:
    result: poller.PollResult
    again_in: float | None = None  # read once more this many seconds from now (same kind)
    confirm_in: int | None = None  # the settle rule's confirming read is due in this many seconds


def woken_poll(
    repo: str,
    push_id: int,
    kind: Kind,
    attempt: int = 0,
    *,
    enqueue: Enqueue | None = None,
    client: TreeherderClient | None = None,
) -> WakeOutcome:
    """Poll one push because a message said it moved; what the task should schedule next."""
    resolved = kind == Kind.RESOLVED
    begun = poller.begin_poll(
        repo,
        push_id,
        enqueue=enqueue,
        min_interval=CLAIM_GAP,
        settle=RESOLVED_SETTLE if resolved else float(poller.settle_seconds()),
        full=resolved,
    )
    if isinstance(begun, poller.PollResult):  # finished already, or another poll has it right now
        again = begun.state != PushState.State.FINISHED and attempt < (RECHECKS if resolved else 1)
        return WakeOutcome(begun, again_in=CLAIM_GAP if again else None)
    result = poller.finish_poll(
        begun, poller.fetch(begun, client or get_client(background=True)), enqueue=enqueue
    )
    outcome = WakeOutcome(result, confirm_in=result.confirm_in)
    if resolved and result.state != PushState.State.FINISHED:
        if attempt < RECHECKS:
            outcome.again_in = RECHECK_SECONDS
        else:
            logger.info("Treeherder does not agree that %s push %s finished: left to the beat", repo, push_id)
            cache.set(_disagreed_key(repo, push_id), True, DISAGREED_FOR)
    return outcome


def followed_task_groups() -> dict[str, tuple[str, int]] | None:
    """{task group: (repo, push id)} of every watched push not finished yet whose task group the
    poller knows: the messages the listener acts on. None when the database cannot be read (the
    listener keeps what it had)."""
    watched = Watch.objects.filter(
        repo=OuterRef("repo"), push_id=OuterRef("push_id"), notified_at__isnull=True
    )
    try:
        rows = (
            PushState.objects.exclude(task_group="")
            .exclude(state=PushState.State.FINISHED)
            .filter(Exists(watched))
            .values_list("task_group", "repo", "push_id")
        )
        return {group: (repo, int(push_id)) for group, repo, push_id in rows}
    except DatabaseError:
        logger.warning("Could not read the watched pushes' task groups", exc_info=True)
        connection.close()
        return None


# --- The listener's liveness, and the beat's safety net ---------------------------------------------------


def record_status(*, connected: bool, last_message: float) -> None:
    """The listener says how it is (every STATUS_EVERY seconds, and at once when it connects or loses
    Pulse); the beat reads it through the cache, so it takes a shared cache (Redis) to matter."""
    status = {"at": time.time(), "connected": connected, "last_message": last_message}
    try:
        cache.set(STATUS_KEY, status, int(STATUS_STALE * 2))
    except Exception:  # the cache down must not stop the listener: the beat then polls as always
        logger.warning("Could not record the Pulse listener's status in the cache", exc_info=True)


def listener_status() -> dict[str, Any] | None:
    try:
        return cache.get(STATUS_KEY)
    except Exception:
        logger.warning("Could not read the Pulse listener's status from the cache", exc_info=True)
        return None


def pulse_live(now: float | None = None) -> bool:
    """Pulse configured, the listener connected and recently heard from, and a message within
    PULSE_SILENCE_SECONDS."""
    status = listener_status() if settings.PULSE_URL else None
    if not isinstance(status, dict) or not status.get("connected"):
        return False
    now = time.time() if now is None else now
    return (
        now - float(status.get("at", 0)) <= STATUS_STALE
        and now - float(status.get("last_message", 0)) <= settings.PULSE_SILENCE_SECONDS
    )


def beat_pushes(pushes: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The pushes the beat polls this cycle: all of them, unless Pulse is live; then not those Pulse
    follows that were read within PULSE_SAFETY_POLL_SECONDS (see the module docstring)."""
    if not pushes or not pulse_live():
        return list(pushes)
    repos = set(settings.PULSE_REPOS)
    recent = timezone.now() - timedelta(seconds=settings.PULSE_SAFETY_POLL_SECONDS)
    followed = {
        (state.repo, state.push_id): state
        for state in PushState.objects.filter(
            repo__in=repos,
            push_id__in=[push_id for repo, push_id in pushes if repo in repos],
            last_polled_at__gte=recent,
            last_error="",
        ).exclude(task_group="")
    }
    if not followed:
        return list(pushes)
    failing = [state for state in followed.values() if state.failed_count]
    waiting = early.wanting_early_alerts(failing)  # their early alert waits for a log: poll as always
    disagreed = cache.get_many([_disagreed_key(*key) for key in followed])
    skip = {key for key in followed if key not in waiting and _disagreed_key(*key) not in disagreed}
    return [push for push in pushes if push not in skip]


def _disagreed_key(repo: str, push_id: int) -> str:
    return f"pulse:disagreed:{repo}:{push_id}"
