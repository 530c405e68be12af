"""A push's jobs as the page shows them, from data already read: a job's row (its status, colour, symbol,
duration and links) and the job section of a platform group (rows, chips, what the filter hides). No
I/O, like pushes.presenters (a test checks the imports)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings

from . import display, jobview, links, rules
from .jobview import JobFilter, shows_chips
from .rules import Job


@dataclass(frozen=True, slots=True)
class JobRow:
    job: Job
    status: str
    colour: str
    symbol: str
    duration: float | None  # minutes; None for pending jobs
    running_since: int | None  # epoch seconds a running job started (the page ticks its elapsed time)
    task_url: str
    treeherder_url: str
    detail_url: str
    log_url: str
    logviewer_url: str

    @property
    def failed(self) -> bool:
        return rules.is_failure(self.job)

    @property
    def completed(self) -> bool:
        return self.job.state == "completed"


def job_row(repo: str, revision: str, job: Job, fetched_at: float) -> JobRow:
    status = display.job_status(job)
    duration = rules.job_duration(job) if job.state in ("running", "completed") else None
    running_since = None
    if job.state == "running":
        if job.start_timestamp:
            running_since = int(job.start_timestamp)
        elif duration is not None:  # /api/jobs/ sends minutes run so far instead of a start time
            running_since = int(fetched_at - duration * 60)
        if running_since is not None:
            duration = max(0.0, (fetched_at - running_since) / 60)
    th = settings.TREEHERDER_URL
    return JobRow(
        job=job,
        status=status,
        colour=display.result_colour(status),
        symbol=display.job_symbol(job),
        duration=duration,
        running_since=running_since,
        task_url=links.taskcluster_task_url(settings.TASKCLUSTER_ROOT_URL, job.task_id)
        if job.task_id
        else "",
        treeherder_url=links.treeherder_job_url(th, repo, revision, job),
        detail_url=f"/{repo}/pushes/{job.push_id}/jobs/{job.id}/",
        log_url=f"/{repo}/jobs/{job.id}/log/",
        logviewer_url=links.treeherder_log_url(th, repo, job.id),
    )


def job_rows(repo: str, revision: str, jobs: Iterable[Job], fetched_at: float) -> list[JobRow]:
    return [job_row(repo, revision, job, fetched_at) for job in jobs]


@dataclass(frozen=True, slots=True)
class ChipGroup:
    symbol: str
    rows: list[JobRow]


@dataclass(frozen=True, slots=True)
class JobSection:
    """The jobs of one group as shown: rows (failures in compact view, every job in rows view) and chips."""

    anchor: str
    view: str
    fetched_at: float
    rows: list[JobRow]
    chips: list[ChipGroup]
    total: int
    hidden: int = 0  # jobs the filter hides
    other: bool = False  # tier 2/3: rows name their platform


def job_section(
    repo: str,
    revision: str,
    jobs: Sequence[Job],
    fetched_at: float,
    jfilter: JobFilter,
    *,
    anchor: str,
    test_matches: frozenset[int] = frozenset(),
) -> JobSection:
    shown = [job for job in jobs if jfilter.matches(job, test_matches)]
    ordered = jobview.sort_jobs(shown)
    rows_by_id = {row.job.id: row for row in job_rows(repo, revision, ordered, fetched_at)}
    if not shows_chips(jfilter, anchor):
        rows, chips = list(rows_by_id.values()), []
    else:
        rows = [row for row in rows_by_id.values() if row.failed]
        chips = [
            ChipGroup(group.symbol, [rows_by_id[job.id] for job in group.jobs])
            for group in jobview.chip_groups(ordered)
        ]
    return JobSection(
        anchor=anchor,
        view=jfilter.view,
        fetched_at=fetched_at,
        rows=rows,
        chips=chips,
        total=len(jobs),
        hidden=len(jobs) - len(shown),
        other=anchor == jobview.OTHER_ANCHOR,
    )
