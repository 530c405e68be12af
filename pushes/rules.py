"""BuildWatch's domain rules (SPEC §3), as pure functions over plain dataclasses.

No Django, no HTTP, no clock: everything here is a function of its arguments, so it can be tested
exhaustively and shared by the pages, the poller and the emails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FAILURE_RESULTS = frozenset({"testfailed", "busted", "exception"})
UNFINISHED_STATES = frozenset({"unscheduled", "pending", "running"})
BOILERPLATE_PREFIXES = ("Fuzzy", "try:", "a=try")
BUG_RE = re.compile(r"Bug (\d+)")

# Colour names, used as CSS classes: text labels always go with them.
RESULT_COLOURS = {
    "success": "green",
    "testfailed": "red",
    "busted": "orange",
    "exception": "purple",
    "retry": "yellow",
    "usercancel": "gray",
    "unknown": "gray",
    "running": "blue",
    "pending": "gray",
    "unscheduled": "gray",
}
GROUP_STATUS_COLOURS = {"failing": "red", "running": "blue", "pending": "gray", "passing": "green"}


@dataclass(frozen=True, slots=True)
class Revision:
    revision: str
    author: str
    comments: str


@dataclass(frozen=True, slots=True)
class Push:
    id: int
    revision: str
    author: str
    push_timestamp: int
    revisions: tuple[Revision, ...] | list[Revision] = ()
    revision_count: int | None = None
    repository_id: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    push_id: int
    task_id: str | None
    platform: str
    platform_option: str
    job_type_name: str
    job_type_symbol: str
    job_group_name: str
    job_group_symbol: str
    state: str
    result: str
    start_timestamp: int | None
    end_timestamp: int | None
    tier: int | None
    retry_id: int = 0
    duration: float | None = None  # minutes, as /api/jobs/ reports it
    last_modified: str | None = None
    failure_classification_id: int | None = None


@dataclass(frozen=True, slots=True)
class TextLogError:
    id: int
    line: str
    line_number: int
    job: int
    new_failure: bool = False


@dataclass(frozen=True, slots=True)
class PlatformGroup:
    platform: str
    platform_option: str
    display_name: str
    status: str
    jobs: list[Job] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return GROUP_STATUS_COLOURS[self.status]


@dataclass(frozen=True, slots=True)
class FailureGroup:
    key: str
    affected_job_count: int
    errors: list[TextLogError] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class JobCounts:
    total: int = 0
    completed: int = 0
    running: int = 0
    pending: int = 0  # pending and unscheduled
    failed: int = 0
    by_result: dict[str, int] = field(default_factory=dict)

    @property
    def percent_complete(self) -> int:
        return int(100 * self.completed / self.total) if self.total else 0


# --- Messages --------------------------------------------------------------------------------------


def short_message(comments: str | None) -> str:
    """The first line that is non-empty after stripping whitespace, stripped; "" if none."""
    for line in (comments or "").split("\n"):
        stripped = line.strip()
        if stripped:
            return stripped
    return ""


def clean_try_message(raw: str) -> str:
    """Turn `Fuzzy query='foo 'bar` / `try: -b do -p all` into a readable `foo · bar`."""
    text = raw
    if text.startswith("Fuzzy "):
        text = text[6:]
    if text.startswith("try: "):
        text = text[5:]
    if "query=" in text:
        text = text.split("query=", 1)[1]
    tokens = [token[1:] if token.startswith("'") else token for token in text.split(" ")]
    # A whitespace-only token (a tab between spaces) counts as empty: kept, the final strip would eat
    # into a separator and leave a dangling "·" at either end.
    return " · ".join(token for token in tokens if token.strip()).strip()


def _is_boilerplate(message: str) -> bool:
    return message.startswith(BOILERPLATE_PREFIXES)


def display_title(revisions: Sequence[Revision]) -> str:
    """The first real commit message of a push, else the cleaned try syntax of its top commit."""
    for revision in revisions:
        message = short_message(revision.comments)
        if message and not _is_boilerplate(message):
            return message
    if not revisions:
        return ""
    return clean_try_message(short_message(revisions[0].comments))


def bug_number(revisions: Sequence[Revision]) -> str | None:
    for revision in revisions:
        match = BUG_RE.search(revision.comments or "")
        if match:
            return match.group(1)
    return None


def author_handle(email: str | None) -> str:
    email = email or ""
    return email[: -len("@mozilla.com")] if email.endswith("@mozilla.com") else email


# --- Jobs ------------------------------------------------------------------------------------------


def effective_tier(job: Job) -> int:
    return 1 if job.tier is None else job.tier


def display_result(job: Job) -> str:
    """A job not completed is `unknown` whatever its result says; other values pass through."""
    if job.state != "completed":
        return "unknown"
    return job.result or "unknown"


def job_status(job: Job) -> str:
    """What a job badge shows: its state while not completed, else its display result."""
    return job.state if job.state in UNFINISHED_STATES else display_result(job)


def result_colour(status: str) -> str:
    """Colour class of a job status or result; values we do not know (e.g. superseded) are neutral."""
    return RESULT_COLOURS.get(status, "neutral")


def is_failure(job: Job) -> bool:
    return job.state == "completed" and job.result in FAILURE_RESULTS


def group_status(jobs: Iterable[Job]) -> str:
    jobs = list(jobs)
    if any(is_failure(job) for job in jobs):
        return "failing"
    if any(job.state == "running" for job in jobs):
        return "running"
    # Unscheduled jobs are waiting too: they show as pending.
    if any(job.state in ("pending", "unscheduled") for job in jobs):
        return "pending"
    return "passing"


def platform_groups(jobs: Iterable[Job]) -> list[PlatformGroup]:
    """Tier-1 jobs grouped by (platform, platform_option), sorted by display name."""
    grouped: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        if effective_tier(job) != 1:
            continue
        grouped.setdefault((job.platform or "", job.platform_option or ""), []).append(job)
    groups = [
        PlatformGroup(
            platform=platform,
            platform_option=option,
            display_name=f"{platform} {option}" if option else platform,
            status=group_status(members),
            jobs=members,
        )
        for (platform, option), members in grouped.items()
    ]
    return sorted(groups, key=lambda group: group.display_name)


def job_counts(jobs: Iterable[Job]) -> JobCounts:
    total = completed = running = pending = failed = 0
    by_result: dict[str, int] = {}
    for job in jobs:
        total += 1
        if job.state == "completed":
            completed += 1
            result = display_result(job)
            by_result[result] = by_result.get(result, 0) + 1
            failed += is_failure(job)
        elif job.state == "running":
            running += 1
        else:
            pending += 1
    return JobCounts(total, completed, running, pending, failed, by_result)


def worst_status(jobs: Iterable[Job]) -> str:
    """The single status a push shows in a list: failing > running > pending > passing."""
    return group_status(jobs)


# --- Failures --------------------------------------------------------------------------------------


def group_key(line: str) -> str:
    parts = line.split(" | ")
    if len(parts) >= 2 and ("TEST-UNEXPECTED" in parts[0] or "PROCESS-CRASH" in parts[0]):
        return parts[1].strip()
    return line[:100].strip()


def failure_groups(errors: Iterable[TextLogError]) -> list[FailureGroup]:
    """Errors grouped by key; most affected jobs first, ties by key ascending."""
    grouped: dict[str, list[TextLogError]] = {}
    for error in errors:
        grouped.setdefault(group_key(error.line), []).append(error)
    groups = []
    for key, members in grouped.items():
        job_ids = list(dict.fromkeys(error.job for error in members))
        groups.append(FailureGroup(key=key, affected_job_count=len(job_ids), errors=members, job_ids=job_ids))
    return sorted(groups, key=lambda group: (-group.affected_job_count, group.key))


# --- Finished and notifications ----------------------------------------------------------------------


def is_finished(jobs: Iterable[Job]) -> bool:
    jobs = list(jobs)
    return bool(jobs) and not any(job.state in UNFINISHED_STATES for job in jobs)


def is_decision_or_action(job: Job) -> bool:
    name = job.job_type_name or ""
    return "Decision Task" in name or name.startswith(("Action", "action-callback")) or job.job_type_symbol == "D"


def ready_to_notify(jobs: Sequence[Job], previous_job_count: int | None) -> bool:
    """`is_finished`, plus the settle rule: Treeherder shows only the decision task for the first
    minutes of a push, so a push of only decision/action tasks, or whose job count changed since the
    previous poll (or that was never polled before), waits one more poll."""
    if not is_finished(jobs):
        return False
    if all(is_decision_or_action(job) for job in jobs):
        return False
    return previous_job_count is not None and previous_job_count == len(jobs)


def has_failures(jobs: Iterable[Job]) -> bool:
    """A push failed when any tier-1 job is a failure."""
    return any(is_failure(job) and effective_tier(job) == 1 for job in jobs)


def repo_label(repo: str) -> str:
    return "Try" if repo == "try" else repo[:1].upper() + repo[1:]


def notification_title(repo: str, failed: bool) -> str:
    return f"{repo_label(repo)} push {'failed' if failed else 'passed'}"


# --- Links -----------------------------------------------------------------------------------------


def treeherder_push_url(base: str, repo: str, revision: str) -> str:
    return f"{base}/jobs?repo={repo}&revision={revision}"


def treeherder_job_url(base: str, repo: str, revision: str, job: Job) -> str:
    url = treeherder_push_url(base, repo, revision)
    return f"{url}&selectedTaskRun={job.task_id}.{job.retry_id}" if job.task_id else f"{url}&selectedJob={job.id}"


def taskcluster_task_url(root: str, task_id: str) -> str:
    return f"{root}/tasks/{task_id}"


def bugzilla_url(bug: str) -> str:
    return f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
