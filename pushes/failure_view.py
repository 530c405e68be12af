"""The failure summary as the push page shows it, computed once per fetch of the push's jobs and shared
by every viewer, the badge, the search by test name and the live refresh.

The summary of a fetch is cached beside it (`failure_view`). Until it is *settled* (a log not parsed yet,
bug suggestions not read yet, the push still running) the cached copy lives only `short_ttl()`, as long as
the per-job caches it is read from: so logs parsed and suggestions arriving later still show, within one
refresh interval. Its `digest` names what the section shows; the page sends it back with every live
refresh (`…/live/?failures=DIGEST`) and gets the section again, out of band, only when it differs.
Confirmations (stored in our database, not upstream) are part of the digest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

from . import cached, evidence, links, rules, services
from .rules import Job
from .treeherder.errors import TreeherderNotFound
from .treeherder.parsing import parse_last_modified

KEY = "bw:failures:v3"  # v3: a view carries a pushes.cached.Fetched (pickled by module)
HTML_TTL = 300
PENDING_PARSE = frozenset({"pending", "unknown"})  # Treeherder will still parse these logs


@dataclass(frozen=True, slots=True)
class FailureView:
    summary: rules.FailureSummary
    jobs_fetched: cached.Fetched[list[Job]] | None  # when the failed jobs were read (None: Treeherder
    # down); their list is left out, the summary has the jobs it shows
    error: str
    finished: bool  # the push is finished (its jobs were read)
    digest: str  # what the section shows of the summary (not of confirmations)

    @property
    def settled(self) -> bool:
        """Nothing in it can still change without the jobs changing: every chosen log was read (parsed, or
        Treeherder gave up on it) and every parsed log with errors has its bug suggestions."""
        if not self.jobs_fetched or self.jobs_fetched.stale or not self.finished:
            return False
        now = time.time()
        for log in self.summary.logs:
            if log.error:
                return False
            if log.parse_status in PENDING_PARSE and now - (_ended_at(log.job) or now) < rules.LOG_PARSE_WAIT:
                return False
            if log.parsed and log.errors and log.suggestions is None:
                return False
        return True


def _ended_at(job: Job) -> float | None:
    """When the job ended: /api/jobs/ has no end_timestamp, and a completed job's last_modified is then."""
    if job.end_timestamp:
        return float(job.end_timestamp)
    moment = parse_last_modified(job.last_modified)
    return moment.timestamp() if moment else None


def _digest(*parts: object) -> str:
    # repr of frozen dataclasses made of lists, strings and numbers: the same in every process.
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def failure_view(repo: str, push_id: int) -> FailureView:
    """The push's triaged failure summary, cached per fetch of its jobs (see the module's docstring)."""
    try:
        failed, error = services.push_failed_jobs(repo, push_id), ""
    except (cached.Unavailable, TreeherderNotFound) as exc:
        failed, error = None, exc.reason
    key = f"{KEY}:{repo}:{push_id}:{failed.fetched_at:.3f}" if failed and not failed.stale else ""
    if key and (hit := cache.get(key)) is not None:
        return hit
    try:
        finished = bool(failed) and services.jobs_summary(repo, push_id).value.finished
    except (cached.Unavailable, TreeherderNotFound):
        finished = False
    summary = evidence.failure_summary(repo, failed.value if failed else [], finished=finished)
    digest = _digest(bool(failed), error, finished, summary)
    if failed:  # the section needs when and whether they were read, not the jobs (the summary has them)
        failed = replace(failed, value=[])
    view = FailureView(summary, failed, error, finished, digest)
    if key:
        cache.set(key, view, services.FINISHED_TTL if view.settled else cached.short_ttl())
    return view


def confirmations(repo: str, push_id: int, revision: str) -> dict[str, dict]:
    """The latest "confirm failures" request of each failure group of the push (anyone's: a verdict is a
    fact about the push), with a Treeherder link to the group's confirming runs."""
    from .models import ConfirmRequest

    found: dict[str, dict] = {}
    for request in ConfirmRequest.objects.accepted().filter(repo=repo, push_id=push_id):
        search = " ".join(request.job_type_names[:1])
        url = (
            links.treeherder_push_url(settings.TREEHERDER_URL, repo, revision)
            + "&"
            + urlencode({"searchStr": search})
        )
        found[request.group_key] = {"request": request, "runs_url": url}
    return found


def page_digest(view: FailureView, confirmed: dict[str, dict]) -> str:
    """What the page's failure section shows: the summary and the confirmations' verdicts."""
    verdicts = sorted(
        (key, found["request"].pk, repr(found["request"].verdict)) for key, found in confirmed.items()
    )
    return _digest(view.digest, verdicts) if verdicts else view.digest


def body_html(repo: str, push_id: int, digest: str, waiting: bool, render: Callable[[], str]) -> SafeString:
    """The failure groups rendered, shared by every viewer while the digest holds (nothing in them is
    per user). Not while a confirmation waits: its "requested N minutes ago" must stay true."""
    html = (
        render() if waiting else cache.get_or_set(f"{KEY}:html:{repo}:{push_id}:{digest}", render, HTML_TTL)
    )
    return mark_safe(html)  # noqa: S308 - our own template's output
