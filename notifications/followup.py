"""The follow-up verdict: watch the runs "confirm failures" asked for and tell the user once.

Called by the beat (`cycle.poll_cycle`) for every confirmation still waiting (no new watch needed):
the push's jobs are read once per push, each ConfirmRequest gets its verdict when all its runs have
finished (pushes.confirm.verdict_of), and when every confirmation a user made on a push and no follow-up
reported yet has one, that user gets one follow-up notification for them (Notification.kind = followup,
the same exactly-once ledger, one occasion per batch): confirming more failures later brings another.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from pushes import display
from pushes.confirm import verdict_of
from pushes.models import ConfirmRequest
from pushes.treeherder.client import TreeherderClient, get_client
from pushes.treeherder.errors import TreeherderError

from .models import Notification
from .outbox import Enqueue, record_rows, send_after_commit

logger = logging.getLogger(__name__)

WAIT_AT_MOST = timedelta(days=2)  # confirming runs that never finish are not watched forever


def check_confirmations(
    *, client: TreeherderClient | None = None, enqueue: Enqueue | None = None
) -> list[int]:
    """Store the verdicts that are due and record the follow-up rows; returns the new row ids."""
    now = timezone.now()
    unreported = list(_unreported(now))
    waiting = [request for request in unreported if request.finished_at is None]
    for repo, push_id in sorted({(request.repo, request.push_id) for request in waiting}):
        try:
            jobs = list((client or get_client(background=True)).jobs(repo, push_id))
        except TreeherderError as problem:
            logger.warning("Confirming runs of %s push %s not read: %s", repo, push_id, problem)
            continue
        for request in (r for r in waiting if (r.repo, r.push_id) == (repo, push_id)):
            verdict = verdict_of(request, jobs)
            if verdict is not None:
                ConfirmRequest.objects.filter(pk=request.pk, finished_at__isnull=True).update(
                    verdict=verdict, finished_at=now
                )
                request.finished_at = now
    batches: dict[tuple[int, str, int], list[ConfirmRequest]] = {}
    for request in unreported:
        batches.setdefault((request.user_id, request.repo, request.push_id), []).append(request)
    created: list[int] = []
    for (user_id, repo, push_id), batch in sorted(batches.items()):
        if all(request.finished_at is not None for request in batch):  # else: not yet, nothing locked
            created += _record_followup(user_id, repo, push_id, enqueue)
    return created


def _unreported(now: datetime) -> QuerySet[ConfirmRequest]:
    """Confirmations no follow-up reported yet: finished lately, or still waiting (and not given up on)."""
    recent = now - WAIT_AT_MOST
    return (
        ConfirmRequest.objects.accepted()
        .filter(reported_at__isnull=True)
        .filter(Q(finished_at__gte=recent) | Q(finished_at__isnull=True, requested_at__gte=recent))
    )


def _record_followup(user_id: int, repo: str, push_id: int, enqueue: Enqueue | None) -> list[int]:
    """One follow-up for the user's unreported confirmations of the push, once every one has its verdict.
    A later batch (new failures confirmed after the first follow-up) gets a follow-up of its own."""
    now = timezone.now()
    with transaction.atomic():
        # Read again, locked: two beats at the same moment report a batch once and never half of one.
        requests = list(
            _unreported(now).filter(user_id=user_id, repo=repo, push_id=push_id).select_for_update()
        )
        if not requests or any(request.finished_at is None for request in requests):
            return []
        groups = [
            {"key": r.group_key, "verdict": r.verdict["verdict"], "label": r.verdict["label"]}
            for r in requests
        ]
        reproduced = sum(group["verdict"] == "reproduced" for group in groups)
        title = f"{display.repo_label(repo)} push: {reproduced} of {len(groups)} confirmed failure{'s' if len(groups) != 1 else ''} reproduced"
        body = "\n".join(f"{group['label']}: {group['key']}" for group in groups)
        created = record_rows(
            requests[0].user, repo, push_id, Notification.Kind.FOLLOWUP, title, body, {"groups": groups},
            occasion=f"confirm:{min(request.pk for request in requests)}",
        )  # fmt: skip
        ConfirmRequest.objects.filter(pk__in=[request.pk for request in requests]).update(reported_at=now)
        send_after_commit(created, enqueue)
    return created
