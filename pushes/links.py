"""The addresses BuildWatch links to outside itself, built in one place: Treeherder (a push, a job, a job's
log viewer), Taskcluster (a task, a task group) and Bugzilla. Pure like pushes.rules (a test checks the
imports): bases come from the callers (settings.TREEHERDER_URL, settings.TASKCLUSTER_ROOT_URL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def treeherder_log_url(base: str, repo: str, job_id: int) -> str:
    """Treeherder's log viewer for a job (its parsed log, error lines highlighted)."""
    return f"{base}/logviewer?job_id={job_id}&repo={repo}"


def taskcluster_task_url(root: str, task_id: str) -> str:
    return f"{root}/tasks/{task_id}"


def taskcluster_group_url(root: str, task_group_id: str) -> str:
    """A task group: a push's decision task id names the group of every task it made."""
    return f"{root}/tasks/groups/{task_group_id}"


def bugzilla_url(bug: str) -> str:
    return f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
