"""The push a try push is based on, and what it says of the failures that would be new.

Push Health (`push/health/`) names the base push — the parent push on autoland or mozilla-central — and
which of its failures it says failed there too (`failedInParent`). It is slow and may be withdrawn: it is
a cross-check and the source of the base push, never a dependency. Where it does not answer, the failures
say "base push unknown" and the triage goes on. With a base push known, its jobs are read (cached: once
for a finished base push) and, for the job types of the failures that would be new, the evidence of the
ones that failed there (pushes.evidence: stored like any job's), so that "the same job type failing with
the same key" can be told (triage.BaseCheck).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from buildwatch import upstream

from . import cached, rules, triage
from .rules import Job
from .treeherder.client import TreeherderClient, get_client
from .treeherder.errors import TreeherderNotFound
from .treeherder.parsing import PushHealth

if TYPE_CHECKING:
    from .evidence import Round

HEALTH_RUNNING_TTL = 10 * 60  # a running push's Push Health: its base does not change, its rows may
HEALTH_FINISHED_TTL = 6 * 3600
BASE_JOBS_FINISHED_TTL = 3600  # a finished base push's jobs (sheriffs may still reclassify them)


def health_client(background: bool) -> TreeherderClient:
    """Push Health is slow and a cross-check: asked once per read, never retried at once (the failure is
    remembered briefly, pushes.cached, and the next page or poll asks again)."""
    return get_client(background=background, max_retries=0, within_page=True)


def health(repo: str, revision: str, finished: bool, background: bool) -> PushHealth | str | None:
    """Push Health's answer for the push, cached; a reason when it did not answer; None while another
    reader is asking it (not waited for)."""
    try:
        return cached.read(
            f"health:{repo}:{revision}",
            lambda: health_client(background).push_health(repo, revision),
            HEALTH_FINISHED_TTL if finished else HEALTH_RUNNING_TTL,
            wait=False,
        ).value
    except cached.Busy:
        return None
    except (cached.Unavailable, TreeherderNotFound) as problem:
        return f"Push Health did not answer ({problem.reason or problem})"


def _base_jobs(round_: Round, base: triage.BasePush) -> list[Job] | str | None:
    """The base push's jobs, cached; a reason when Treeherder did not give them; None when they are not
    read this time (being read elsewhere, or the round's time is up)."""
    key = f"basejobs:{base.repo}:{base.push_id}"
    if round_.time_left() < upstream.MIN_ATTEMPT_SECONDS:
        return None
    try:
        return cached.read(
            key,
            lambda: round_.client.jobs(base.repo, base.push_id),
            lambda jobs: BASE_JOBS_FINISHED_TTL if rules.looks_finished(jobs) else cached.short_ttl(),
            wait=False,
        ).value
    except cached.Busy:
        return None
    except (cached.Unavailable, TreeherderNotFound) as problem:
        if round_.time_left() < upstream.MIN_ATTEMPT_SECONDS:  # cut short by the round's end
            cached.forget_failure(key)
            return None
        return f"its jobs could not be read ({problem.reason or problem})"


Collect = Callable[["Round", str, Sequence[Job]], list[triage.JobLog]]


def check(
    round_: Round, answer: PushHealth | str | None, job_names: Sequence[str], collect: Collect
) -> triage.BaseCheck:
    """What the base push says of the failures in jobs of these types: the base push from Push Health's
    `answer`, its jobs of these types, and the evidence of those that failed (read with `collect`)."""
    if answer is None:
        return triage.BaseCheck(push=None, reason="Push Health not read yet", pending=True)
    if isinstance(answer, str):
        return triage.BaseCheck(push=None, reason=answer)
    flagged = frozenset(
        (row.job_name, row.test_name) for row in answer.need_investigation if row.failed_in_parent
    )
    if answer.base is None:
        return triage.BaseCheck(
            push=None, reason="Treeherder knows no base push for it", failed_in_parent=flagged
        )
    jobs = _base_jobs(round_, answer.base)
    if not isinstance(jobs, list):
        return triage.BaseCheck(
            push=answer.base, reason=jobs or "", failed_in_parent=flagged, pending=jobs is None
        )
    wanted = set(job_names)
    concerned = [job for job in jobs if job.job_type_name in wanted]
    failed = triage.failed_jobs(concerned)
    logs = {log.job.id: log for log in collect(round_, answer.base.repo, failed)} if failed else {}
    by_name: dict[str, list[triage.JobLog]] = {}
    for job in concerned:
        by_name.setdefault(job.job_type_name, []).append(
            logs.get(job.id) or triage.JobLog(job=job, read=False)
        )
    return triage.BaseCheck(push=answer.base, jobs=by_name, failed_in_parent=flagged)
