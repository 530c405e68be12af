"""The durable copy of failed jobs' evidence (pushes.models.JobEvidence): read in a query per few thousand
jobs, written in batches (a query per EVIDENCE_BATCH rows, never one per job), only once final — its log
parsed, or given up on by Treeherder. pushes/evidence.py decides what to read and what is final.
Kept BUILDWATCH_EVIDENCE_RETENTION_DAYS after it was read (prune, daily): a pruned job is only read again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import rules, triage
from .models import JobEvidence
from .treeherder.parsing import BadRow, bug_suggestion_from_dict, bug_suggestion_to_dict

READ_IDS = 5000  # job ids per query: SQLite allows 32,766 variables in one
EVIDENCE_BATCH = 500  # rows per INSERT … ON CONFLICT
PRUNE_BATCH = 5000  # ids per DELETE: each is short, so a big table is never locked long


@dataclass(frozen=True, slots=True)
class Stored:
    parse_status: str
    suggestions: list[triage.BugSuggestion]


def load(repo: str, job_ids: Iterable[int]) -> dict[int, Stored]:
    """The stored evidence of these jobs of `repo`, by job id (jobs without any are left out)."""
    ids = sorted(set(job_ids))
    found: dict[int, Stored] = {}
    for start in range(0, len(ids), READ_IDS):
        rows = JobEvidence.objects.filter(repo=repo, job_id__in=ids[start : start + READ_IDS]).values_list(
            "job_id", "parse_status", "suggestions"
        )
        for job_id, parse_status, suggestions in rows:
            try:
                found[job_id] = Stored(parse_status, [bug_suggestion_from_dict(row) for row in suggestions])
            except (BadRow, TypeError):  # a row this code can no longer read: read the job again
                continue
    return found


def save(repo: str, evidence: Sequence[tuple[rules.Job, str, Sequence[triage.BugSuggestion]]]) -> int:
    """Keep the final evidence of these jobs (job, parse status, suggestions) of `repo`; a row already
    there (another viewer, the poller) is overwritten with the same. Returns the rows written."""
    now = timezone.now()
    rows = [
        JobEvidence(
            repo=repo,
            job_id=job.id,
            push_id=job.push_id,
            parse_status=parse_status,
            suggestions=[bug_suggestion_to_dict(s) for s in suggestions],
            read_at=now,
        )
        for job, parse_status, suggestions in evidence
        if parse_status in triage.FINAL_PARSE_STATUSES
    ]
    if rows:
        JobEvidence.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["repo", "job_id"],
            update_fields=["parse_status", "suggestions", "read_at"], batch_size=EVIDENCE_BATCH,
        )  # fmt: skip
    return len(rows)


def prune(days: int | None = None, *, batch: int = PRUNE_BATCH) -> int:
    """Delete the evidence read more than `days` (BUILDWATCH_EVIDENCE_RETENTION_DAYS) ago; 0 keeps it all.
    Returns the rows deleted. A DELETE per `batch` ids, each its own transaction: a time limit or a crash
    midway loses nothing, the next day's run goes on.

    Rows of pushes still watched are not spared, on purpose. Deleting evidence never loses anything: a page
    or the poller that needs a job's evidence and finds none reads it again from Treeherder (once: the
    row written then is new). And it almost never happens: read_at is never earlier than the push, so an
    old row belongs to an old push, and a watch is polled for WATCH_MAX_AGE (14 days, notifications/
    poller.py) after it was made; a push still unfinished 60 days on is Treeherder's exception, and costs
    one re-read of its failed jobs at worst. Sparing them would join every DELETE to PushState for that."""
    days = settings.BUILDWATCH_EVIDENCE_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    old = JobEvidence.objects.filter(read_at__lt=timezone.now() - timedelta(days=days)).order_by()
    deleted = 0
    while ids := list(old.values_list("id", flat=True)[:batch]):
        deleted += JobEvidence.objects.filter(id__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return deleted
