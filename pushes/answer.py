"""The push page's answer first (issue 28): what the failure summary says of each failed job (its platform
with its option, the line it failed at in Treeherder's log viewer, the raw log, a Bugzilla "file a bug"
link for a new failure), and which platform groups failed only in known ways ("known only" rather than a
red "failing"). Pure, like pushes.presenters: a function of its arguments and the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings

from . import jobrows, jobview, links, rules
from .jobrows import JobRow
from .rules import Job, Push, TextLogError
from .triage import INTERMITTENT_CLASSIFICATIONS, KNOWN_TRIAGES, FailureGroup, Triage, clean_line
from .verdict import FailureSummary

if TYPE_CHECKING:
    from .display import Badge
    from .failure_view import FailureView
    from .reads import FailureSection
    from .services import JobsSummary

# Each triage class's section on the page (the header badge links to the first of them).
SECTION_IDS = {
    Triage.NEW: "failures-new",
    Triage.UNKNOWN: "failures-untriaged",
    Triage.BASE: "failures-base",
    Triage.PREEXISTING: "failures-preexisting",
    Triage.INTERMITTENT: "failures-known",
}


@dataclass(frozen=True, slots=True)
class FailureJob:
    """One job of a failure group as the summary lists it: "linux64 debug M(bc1) · line 8151 · raw log";
    its other links are its row's (pushes.jobrows.JobRow)."""

    row: JobRow
    platform: str  # with its option: "linux64 debug"
    line_number: int | None  # where this group's first line is in the job's log
    viewer_url: str  # Treeherder's log viewer, at that line

    @property
    def job(self) -> Job:
        return self.row.job

    @property
    def symbol(self) -> str:
        return self.row.symbol

    @property
    def treeherder_url(self) -> str:
        return self.row.treeherder_url

    @property
    def log_url(self) -> str:
        return self.row.log_url

    @property
    def task_url(self) -> str:
        return self.row.task_url


def failure_jobs(
    repo: str, group: FailureGroup, rows: Mapping[int, JobRow], limit: int = 10
) -> list[FailureJob]:
    """The first `limit` jobs of a failure group (from their rows), each with the line of the group it
    failed at."""
    first_error: dict[int, TextLogError] = {}
    for error in group.errors:
        first_error.setdefault(error.job, error)
    found = []
    for job_id in group.job_ids[:limit]:
        row = rows.get(job_id)
        if row is None:
            continue
        error = first_error.get(job_id)
        line = error.line_number if error and error.line_number else None
        found.append(
            FailureJob(
                row=row,
                platform=rules.group_display_name(row.job.platform or "", row.job.platform_option or ""),
                line_number=line,
                viewer_url=links.treeherder_log_url(settings.TREEHERDER_URL, repo, job_id, line),
            )
        )
    return found


def file_bug_url(repo: str, push: Push, group: FailureGroup, jobs: list[FailureJob]) -> str:
    """Bugzilla's new-bug form for a new failure, prefilled as Treeherder's "file a bug": the failure line
    as the summary; the line, the test's path, the job's log at the line and the push in the
    description. Treeherder's bug suggestions carry no product or component, so Bugzilla asks for them."""
    sample = group.sample
    line = clean_line(sample.line) if sample else group.key
    first = jobs[0] if jobs else None
    push_url = links.treeherder_push_url(settings.TREEHERDER_URL, repo, push.revision)
    lines = [f"Failing on {repo} push {push.id}: {push_url}", ""]
    if first is not None:
        where = f"{first.platform} {first.symbol}"
        at = f" (line {first.line_number})" if first.line_number else ""
        lines += [f"Job: {where} {first.treeherder_url}", f"Log{at}: {first.viewer_url}"]
        if first.task_url:
            lines.append(f"Task: {first.task_url}")
        lines.append("")
    lines += ["Failure line:", line, "", "Filed from BuildWatch."]
    return links.bugzilla_file_bug_url(line, "\n".join(lines))


def known_jobs(summary: FailureSummary) -> set[int]:
    """The failed jobs explained in a known way: classified intermittent on Treeherder, or their log read
    and every failure group they are in failing before this push or a known intermittent."""
    triages: dict[int, set[Triage]] = {}
    for group in summary.groups:
        for job_id in group.job_ids:
            triages.setdefault(job_id, set()).add(group.triage)
    known = set()
    for log in summary.logs:
        job = log.job
        if job.failure_classification_id in INTERMITTENT_CLASSIFICATIONS:
            known.add(job.id)
        elif log.parsed and log.errors and triages.get(job.id) and triages[job.id] <= KNOWN_TRIAGES:
            known.add(job.id)
    return known


def known_only_anchors(summary: FailureSummary | None, failed: Mapping[str, int]) -> frozenset[str]:
    """The platform groups (anchors) whose failed jobs are all explained in a known way: `failed`, each
    group's count of failed jobs, must match the failed jobs the summary holds for it (a job it has not
    triaged keeps its group "failing")."""
    if summary is None:
        return frozenset()
    known = known_jobs(summary)
    by_anchor: dict[str, list[int]] = {}
    for log in summary.logs:
        by_anchor.setdefault(jobview.job_anchor(log.job), []).append(log.job.id)
    return frozenset(
        anchor
        for anchor, ids in by_anchor.items()
        if ids and failed.get(anchor) == len(ids) and all(job_id in known for job_id in ids)
    )


def known_only(summary: JobsSummary, failures: FailureView | None) -> frozenset[str]:
    """The groups whose failures the failure summary all explains in a known way."""
    if failures is None or failures.jobs_fetched is None:
        return frozenset()
    failed = {
        jobview.group_anchor(group.platform, group.platform_option): group.counts.failed
        for group in summary.groups
    }
    failed[jobview.OTHER_ANCHOR] = summary.other_counts.failed
    return known_only_anchors(failures.summary, failed)


def badge_target(push_badge: Badge, failures: FailureView | None) -> str:
    """Where the badge links: the new failures' section when it names new failures, else the summary."""
    if failures is None or failures.jobs_fetched is None or not failures.summary.failed_total:
        return ""
    if push_badge.key == "failing" and failures.summary.new_count:
        return SECTION_IDS[Triage.NEW]
    return "failures"


def failure_evidence(
    repo: str, push: Push, summary: FailureSummary, rows: Mapping[int, JobRow]
) -> dict[str, Any]:
    """Each failure group's jobs as the summary lists them (platform with option, the line in the log
    viewer, the raw log), a "file a bug" link for each new one, and each class's section id."""
    jobs = {group.key: failure_jobs(repo, group, rows) for group in summary.groups}
    file_bug = {
        group.key: file_bug_url(repo, push, group, jobs[group.key])
        for group in summary.groups
        if group.triage == Triage.NEW
    }
    return {"failure_jobs": jobs, "file_bug": file_bug, "section_ids": SECTION_IDS}


def failure_section_context(
    repo: str, push: Push, section: FailureSection, now: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the failure section shows around its failure groups, and what the failure groups show (unless
    the read side found them rendered for its digest, fragments.failure_body renders them from it).
    Nothing in the failure groups is per user: they are rendered once per digest for everyone."""
    view = section.view
    summary = view.summary
    # What the Confirm button still offers: the new failures nobody sent to run again yet.
    confirming_new = sum(group.key in section.confirmed for group in summary.new_groups)
    context = {
        "summary": summary,
        "unconfirmed_new": summary.new_count - confirming_new,
        "confirming_new": confirming_new,
        "jobs_fetched": view.jobs_fetched,
        "jobs_error": view.error,
        "finished": view.finished,
        "failures_digest": section.digest,
    }
    push_url = links.treeherder_push_url(settings.TREEHERDER_URL, repo, push.revision)
    base = summary.base.push if summary.base else None
    base_url = links.treeherder_push_url(settings.TREEHERDER_URL, base.repo, base.revision) if base else ""
    context.update(base_push=base, base_url=base_url)
    rows = {
        job_id: jobrows.job_row(repo, push.revision, job, now) for job_id, job in summary.jobs_by_id.items()
    }
    body = {
        "repo": repo,
        "push": push,
        "summary": summary,
        "base_push": base,
        "base_url": base_url,
        # Each confirmation with a Treeherder link to its group's confirming runs.
        "confirmed": {
            key: {
                "request": request,
                "runs_url": f"{push_url}&{urlencode({'searchStr': ' '.join(request.job_type_names[:1])})}",
            }
            for key, request in section.confirmed.items()
        },
        "job_links": rows,
        **failure_evidence(repo, push, summary, rows),
        "classifications": section.classifications,
    }
    return context, body
