"""The addresses BuildWatch links to outside itself, built in one place: Treeherder (a push, a job, a job's
log viewer), Taskcluster (a task, a task group) and Bugzilla. Pure like pushes.rules (a test checks the
imports): bases come from the callers (settings.TREEHERDER_URL, settings.TASKCLUSTER_ROOT_URL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from .rules import Job


def treeherder_repo_url(base: str, repo: str) -> str:
    return f"{base}/jobs?repo={repo}"


def treeherder_push_url(base: str, repo: str, revision: str) -> str:
    return f"{base}/jobs?repo={repo}&revision={revision}"


def treeherder_job_url(base: str, repo: str, revision: str, job: Job) -> str:
    url = treeherder_push_url(base, repo, revision)
    return (
        f"{url}&selectedTaskRun={job.task_id}.{job.retry_id}"
        if job.task_id
        else f"{url}&selectedJob={job.id}"
    )


def treeherder_log_url(base: str, repo: str, job_id: int, line_number: int | None = None) -> str:
    """Treeherder's log viewer for a job (its parsed log, error lines highlighted), scrolled to
    `line_number` when given."""
    url = f"{base}/logviewer?job_id={job_id}&repo={repo}"
    return f"{url}&lineNumber={line_number}" if line_number else url


def taskcluster_task_url(root: str, task_id: str) -> str:
    return f"{root}/tasks/{task_id}"


def taskcluster_group_url(root: str, task_group_id: str) -> str:
    """A task group: a push's decision task id names the group of every task it made."""
    return f"{root}/tasks/groups/{task_group_id}"


def bugzilla_url(bug: str) -> str:
    return f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"


BUGZILLA = "https://bugzilla.mozilla.org"
SHORT_DESC_LIMIT = 255  # Bugzilla's summary field


def bugzilla_file_bug_url(
    summary: str,
    description: str,
    *,
    product: str = "",
    component: str = "",
    base: str = BUGZILLA,
) -> str:
    """Bugzilla's "new bug" form, prefilled as Treeherder's "file a bug" does: the summary (the failure
    line), the description (the failure line and where to see it), and product and component only when
    known (Bugzilla then asks). Opening it files nothing: the reader submits the form in Bugzilla."""
    params = {"bug_type": "defect"}
    if product:
        params["product"] = product
        if component:
            params["component"] = component
    params["short_desc"] = summary.strip()[:SHORT_DESC_LIMIT]
    params["comment"] = description
    return f"{base}/enter_bug.cgi?{urlencode(params)}"
