"""The durable copy of failed jobs' evidence (pushes.models.JobEvidence): read in a query per few thousand
jobs, written in batches (a query per EVIDENCE_BATCH rows, never one per job), only once final — its log
parsed, or given up on by Treeherder. pushes/evidence.py decides what to read and what is final.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils import timezone

from . import rules, triage
from .models import JobEvidence
from .treeherder.parsing import BadRow, bug_suggestion_from_dict, bug_suggestion_to_dict

READ_IDS = 5000  # job ids per query: SQLite allows 32,766 variables in one
EVIDENCE_BATCH = 500  # rows per INSERT … ON CONFLICT


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
