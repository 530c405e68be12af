"""What every watcher's notification says of a finished push, computed once per push and stored as JSON in
PushState.summary (`finished_summary`): its counts, failing platform groups and, for a failed push, the
push page's own failure summary (pushes.evidence.failure_summary) with each group's class, evidence and
links, as the email, Matrix and web push templates read them (notifications/channels/content.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from pushes import display, links, rules, triage, verdict
from pushes.evidence import failure_summary


def finished_summary(repo: str, jobs: list[rules.Job], revision: str = "") -> dict[str, Any]:
    """What every watcher's notification shows, computed once per push and stored as JSON in
    PushState.summary: counts, the failing tier-1 platform groups and, for a failed push, the push
    page's own triaged failure summary (pushes.evidence.failure_summary: same jobs, logs and classes)."""
    counts = rules.job_counts(jobs)
    failing_groups = [
        {"name": group.display_name, "failed": failed}
        for group in rules.platform_groups(jobs)
        if (failed := sum(rules.is_failure(job) for job in group.jobs))
    ]
    summary: dict[str, Any] = {
        "failed": rules.has_failures(jobs),
        "verdict": verdict.Verdict.PASSED.value,
        "verdict_label": "passed",
        "triage_line": "",
        "total": counts.total,
        "completed": counts.completed,
        "failed_jobs": sum(group["failed"] for group in failing_groups),  # tier 1, as the email says
        "by_result": counts.by_result,
        "failing_groups": failing_groups,
        "failure_groups": [],
        "more_failure_groups": 0,
        "failed_total": 0,  # every failed job the failure summary considered, tier 2 and 3 included
        "examined_jobs": 0,  # of them, triaged: their evidence read (or explained by a classification)
        "logs_not_parsed": 0,
        "logs_unreadable": 0,  # not triaged: Treeherder did not give their evidence (or not in time)
        "evidence_pending": False,
        "complete": True,
        "base": None,
    }
    if not summary["failed"]:  # a passed push's email lists no failures: no log is read for it
        return summary
    failures = failure_summary(repo, jobs, revision=revision, finished=True, background=True)
    unreadable = len(failures.not_read)
    base = failures.base.push if failures.base else None
    summary.update(
        verdict=failures.verdict.value,
        verdict_label=failures.verdict_label,
        triage_line=failures.triage_line,
        failure_groups=[
            _group_json(repo, revision, group, failures.jobs_by_id, failures.base)
            for group in failures.top_groups
        ],
        more_failure_groups=len(failures.more_groups),
        failed_total=failures.failed_total,
        examined_jobs=failures.triaged_count,
        logs_not_parsed=len(failures.unparsed),
        logs_unreadable=unreadable,
        evidence_pending=bool(unreadable)
        or any(group.base == triage.BaseState.PENDING for group in failures.groups),
        complete=failures.complete,
        base=_base_json(base) if base else None,
    )
    return summary


def _base_json(base: triage.BasePush) -> dict[str, Any]:
    return {
        "repo": base.repo,
        "push_id": base.push_id,
        "url": links.treeherder_push_url(settings.TREEHERDER_URL, base.repo, base.revision),
    }


def _group_json(
    repo: str,
    revision: str,
    group: triage.FailureGroup,
    jobs: dict[int, rules.Job],
    check: triage.BaseCheck | None,
) -> dict[str, Any]:
    """One failure group as the notification templates read it: class, evidence (what the base push says
    of it in words), job and log links."""
    base = settings.TREEHERDER_URL
    base_push = check.push if check else None
    return {
        "key": group.key,
        "jobs": group.affected_job_count,
        "triage": group.triage.value,
        "triage_label": group.triage.label,
        "tier1": group.tier1,
        "seen_count": group.seen_count,
        "base": group.base.value if group.base else "",
        "base_note": display.base_words(group.base, base_push, check.reason if check else ""),
        "bugs": [
            {"id": bug.id, "summary": bug.summary, "url": links.bugzilla_url(str(bug.id)) if bug.id else ""}
            for bug in group.bugs
        ],
        "links": [
            {
                "name": f"{job.platform} {display.job_symbol(job)}",
                "job_url": links.treeherder_job_url(base, repo, revision, job),
                "log_url": links.treeherder_log_url(base, repo, job.id),
            }
            for job in (jobs[job_id] for job_id in group.job_ids[:5] if job_id in jobs)
        ],
    }
