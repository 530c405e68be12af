"""BuildWatch's domain rules, as pure functions over plain dataclasses (docs/ARCHITECTURE.md names them).

No Django, no HTTP, no clock: everything here is a function of its arguments, so it can be tested
exhaustively and shared by the pages, the poller and the emails. Here: a push's title and author, its jobs'
results, platform groups and counts, its state and when it is finished. Failure triage is pushes.triage,
a push's verdict and failure summary pushes.verdict. How results look (colours, job symbols, a push's badge,
notification titles) is pushes.display; the addresses of Treeherder, Taskcluster and Bugzilla are
pushes.links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

FAILURE_RESULTS = frozenset({"testfailed", "busted", "exception"})
UNFINISHED_STATES = frozenset({"unscheduled", "pending", "running"})
BOILERPLATE_PREFIXES = ("Fuzzy", "try:", "a=try")
BUG_RE = re.compile(r"Bug (\d+)")
# A Treeherder repository name, the one pattern: the URLs of the push pages and of watching accept it, and
# the Treeherder client asks about nothing else (which names exist is Treeherder's list, read by the views).
REPO_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


class State(StrEnum):
    """The one word for a push or a platform group, everywhere it shows (pages, tab title, favicon,
    emails). Values are the group statuses pending, running, failing, passing; `label` is what a person reads."""

    PENDING = "pending"
    RUNNING = "running"
    FAILING = "failing"
    PASSING = "passing"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]

    @property
    def title(self) -> str:
        """With its sign, for the tab title and the big badge: "✓ passed"."""
        return _STATE_TITLES[self]

    @property
    def colour(self) -> str:
        return _STATE_COLOURS[self]


_STATE_LABELS = {
    State.PENDING: "pending",
    State.RUNNING: "running",
    State.FAILING: "failing",
    State.PASSING: "passed",
}
_STATE_TITLES = {state: f"{sign} {_STATE_LABELS[state]}" for state, sign in zip(State, "……✗✓", strict=True)}
_STATE_COLOURS = {State.PENDING: "gray", State.RUNNING: "blue", State.FAILING: "red", State.PASSING: "green"}


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
    new_failure: bool | None = None  # None: Treeherder did not say


@dataclass(frozen=True, slots=True)
class PlatformGroup:
    platform: str
    platform_option: str
    display_name: str
    status: State
    jobs: list[Job] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return self.status.colour


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


def is_failure(job: Job) -> bool:
    return job.state == "completed" and job.result in FAILURE_RESULTS


def group_status(jobs: Iterable[Job]) -> State:
    jobs = list(jobs)
    if any(is_failure(job) for job in jobs):
        return State.FAILING
    if any(job.state == "running" for job in jobs):
        return State.RUNNING
    # Unscheduled jobs are waiting too: they show as pending.
    if any(job.state in ("pending", "unscheduled") for job in jobs):
        return State.PENDING
    return State.PASSING


def group_display_name(platform: str, option: str) -> str:
    return f"{platform} {option}" if option else platform


def job_duration(job: Job) -> float | None:
    """Minutes the job ran: Treeherder's `duration` when it sends one, else end - start."""
    if job.duration is not None:
        return job.duration
    if job.start_timestamp and job.end_timestamp and job.end_timestamp >= job.start_timestamp:
        return (job.end_timestamp - job.start_timestamp) / 60
    return None


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
            display_name=group_display_name(platform, option),
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


def push_state(jobs: Sequence[Job]) -> State:
    """One word for a push: failing (any tier-1 failure, even while others run), pending (no jobs yet),
    running (not `looks_finished`), else passing."""
    if has_failures(jobs):
        return State.FAILING
    if not jobs:
        return State.PENDING
    if not looks_finished(jobs):
        return State.RUNNING
    return State.PASSING


# --- Finished --------------------------------------------------------------------------------------


def is_finished(jobs: Iterable[Job]) -> bool:
    jobs = list(jobs)
    return bool(jobs) and not any(job.state in UNFINISHED_STATES for job in jobs)


def is_decision_or_action(job: Job) -> bool:
    name = job.job_type_name or ""
    return (
        "Decision Task" in name
        or name.startswith(("Action", "action-callback"))
        or job.job_type_symbol == "D"
    )


def looks_finished(jobs: Sequence[Job]) -> bool:
    """Finished, and not just the decision/action tasks Treeherder shows for a push's first minutes."""
    return is_finished(jobs) and not all(is_decision_or_action(job) for job in jobs)


def ready_to_notify(jobs: Sequence[Job], previous_job_count: int | None) -> bool:
    """`looks_finished`, plus the settle rule: a push whose job count changed since the previous poll
    (or that was never polled before) waits one more poll."""
    return looks_finished(jobs) and previous_job_count is not None and previous_job_count == len(jobs)


def has_failures(jobs: Iterable[Job]) -> bool:
    """A push failed when any tier-1 job is a failure."""
    return any(is_failure(job) and effective_tier(job) == 1 for job in jobs)
