"""The follow-up verdict: watch the runs "confirm failures" asked for and tell the user once.

Called by the beat (`cycle.poll_cycle`) for every confirmation still waiting (no new watch needed):
the push's jobs are read once per push, each ConfirmRequest gets its verdict when all its runs have
finished (pushes.confirm.verdict_of), and when every confirmation a user made on a push has one, that
user gets one follow-up notification (Notification.kind = followup, the same exactly-once ledger).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from pushes import rules
from pushes.confirm import verdict_of
from pushes.models import ConfirmRequest
from pushes.treeherder import TreeherderClient, TreeherderError, get_client

from .models import Notification
from .outbox import Enqueue, record_rows, send_after_commit

logger = logging.getLogger(__name__)

WAIT_AT_MOST = timedelta(days=2)  # confirming runs that never finish are not watched forever


def check_confirmations(
    *, client: TreeherderClient | None = None, enqueue: Enqueue | None = None
) -> list[int]:
    """Store the verdicts that are due and record the follow-up rows; returns the new row ids."""
    now = timezone.now()
    waiting = list(
        ConfirmRequest.objects.filter(
            outcome="success", finished_at__isnull=True, requested_at__gte=now - WAIT_AT_MOST
        )
    )
    pushes = {(request.repo, request.push_id) for request in waiting}
    for repo, push_id in sorted(pushes):
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
    created: list[int] = []
    for user_id, repo, push_id in sorted({(r.user_id, r.repo, r.push_id) for r in waiting}):
        created += _record_followup(user_id, repo, push_id, enqueue)
    return created


def _record_followup(user_id: int, repo: str, push_id: int, enqueue: Enqueue | None) -> list[int]:
    requests = list(
        ConfirmRequest.objects.filter(user_id=user_id, repo=repo, push_id=push_id, outcome="success")
    )
    if not requests or any(request.finished_at is None for request in requests):
        return []
    groups = [
        {"key": r.group_key, "verdict": r.verdict["verdict"], "label": r.verdict["label"]} for r in requests
    ]
    reproduced = sum(group["verdict"] == "reproduced" for group in groups)
    title = f"{rules.repo_label(repo)} push: {reproduced} of {len(groups)} confirmed failure{'s' if len(groups) != 1 else ''} reproduced"
    body = "\n".join(f"{group['label']}: {group['key']}" for group in groups)
    user = requests[0].user
    with transaction.atomic():
        created = record_rows(
            user, repo, push_id, Notification.Kind.FOLLOWUP, title, body, {"groups": groups}
        )
        send_after_commit(created, enqueue)
    return created
