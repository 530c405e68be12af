"""The failure summary as the push page shows it, and when it can still change: plain data, no I/O (the
read side, pushes.reads, computes one per fetch of the push's jobs and caches it for every viewer, the
badge, the search by test name and the live refresh).

Until a view is *settled* (a log not parsed yet, bug suggestions not read yet, the push still running) the
read side keeps it only `short_ttl()`, as long as the per-job caches it is read from: so logs parsed and
suggestions arriving later still show, within one refresh interval. Its `digest` names what the section
shows; the page sends it back with every live refresh (`…/live/?failures=DIGEST`) and gets the section
again, out of band, only when it differs. Confirmations (stored in our database, not upstream) are part
of the page's digest (`page_digest`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import triage, verdict
from .rules import Job
from .treeherder.parsing import parse_last_modified

if TYPE_CHECKING:
    from .cached import Fetched
    from .models import ConfirmRequest

PENDING_PARSE = frozenset({"pending", "unknown"})  # Treeherder will still parse these logs
# The base push may still answer for a failure that would be new: being read, or still running.
UNSETTLED_BASE = frozenset({triage.BaseState.PENDING, triage.BaseState.RUNNING})


@dataclass(frozen=True, slots=True)
class FailureView:
    summary: verdict.FailureSummary
    jobs_fetched: Fetched[list[Job]] | None  # when the failed jobs were read (None: Treeherder
    # down); their list is left out, the summary has the jobs it shows
    error: str
    finished: bool  # the push is finished (its jobs were read)
    digest: str  # what the section shows of the summary (not of confirmations)

    @property
    def settled(self) -> bool:
        """Nothing in it can still change without the jobs changing: every failed job's evidence was read
        (parsed, or Treeherder gave up on it, or a classification explains it), every parsed log with
        errors has its bug suggestions, and the base push has said its word on what would be new."""
        if not self.jobs_fetched or self.jobs_fetched.stale or not self.finished:
            return False
        now = time.time()
        if any(group.base in UNSETTLED_BASE for group in self.summary.groups):
            return False
        for log in self.summary.logs:
            if log.evidence_missing and not log.classified:
                return False
            if (
                log.parse_status in PENDING_PARSE
                and now - (_ended_at(log.job) or now) < triage.LOG_PARSE_WAIT
            ):
                return False
            if log.parsed and log.errors and log.suggestions is None:
                return False
        return True


def view_of(
    summary: verdict.FailureSummary, jobs_fetched: Fetched[list[Job]] | None, error: str, finished: bool
) -> FailureView:
    """The view of a summary, with its digest (`jobs_fetched`: whether and when the failed jobs were read)."""
    return FailureView(
        summary, jobs_fetched, error, finished, _digest(bool(jobs_fetched), error, finished, summary)
    )


def _ended_at(job: Job) -> float | None:
    """When the job ended: /api/jobs/ has no end_timestamp, and a completed job's last_modified is then."""
    if job.end_timestamp:
        return float(job.end_timestamp)
    moment = parse_last_modified(job.last_modified)
    return moment.timestamp() if moment else None


def _digest(*parts: object) -> str:
    # repr of frozen dataclasses made of lists, strings and numbers: the same in every process.
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def page_digest(view: FailureView, confirmed: Mapping[str, ConfirmRequest]) -> str:
    """What the page's failure section shows: the summary and the confirmations' verdicts (`confirmed`:
    each failure group's latest confirm request)."""
    verdicts = sorted((key, request.pk, repr(request.verdict)) for key, request in confirmed.items())
    return _digest(view.digest, verdicts) if verdicts else view.digest
