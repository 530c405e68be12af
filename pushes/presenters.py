"""What the push page templates show, built from cached data: job rows and chips, job sections of a
platform group, group summaries. Shared by the page, its fragments and its live refresh."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from . import failure_view, jobview, live, rules, services
from .jobview import JobFilter
from .rules import Job, Push
from .treeherder import TreeherderNotFound


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
    status = rules.job_status(job)
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
        colour=rules.result_colour(status),
        symbol=rules.job_symbol(job),
        duration=duration,
        running_since=running_since,
        task_url=rules.taskcluster_task_url(settings.TASKCLUSTER_ROOT_URL, job.task_id)
        if job.task_id
        else "",
        treeherder_url=rules.treeherder_job_url(th, repo, revision, job),
        detail_url=f"/{repo}/pushes/{job.push_id}/jobs/{job.id}/",
        log_url=f"/{repo}/jobs/{job.id}/log/",
        logviewer_url=f"{th}/logviewer?{urlencode({'job_id': job.id, 'repo': repo})}",
    )


def job_rows(repo: str, revision: str, jobs: Iterable[Job], fetched_at: float) -> list[JobRow]:
    return [job_row(repo, revision, job, fetched_at) for job in jobs]


def shows_chips(jfilter: JobFilter, anchor: str) -> bool:
    """Compact view: a group's jobs as chips, rows for the failures only. Tier 2/3 jobs of every
    platform share one group: always rows, which name the platform."""
    return jfilter.view == "compact" and jfilter.show != "failures" and anchor != jobview.OTHER_ANCHOR


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


@dataclass(frozen=True, slots=True)
class GroupRow:
    name: str
    anchor: str
    status: rules.State
    counts: rules.JobCounts
    url: str  # the group's jobs (a fragment for htmx, a page without)
    section: JobSection | None = None  # shown at once (failing groups, filter matches)
    other: bool = False
    html: str = ""  # the section rendered (views.section_html)

    @property
    def colour(self) -> str:
        return self.status.colour

    @property
    def open(self) -> bool:
        return self.section is not None


def group_url(repo: str, push_id: int, jfilter: JobFilter, **params: str) -> str:
    return f"{reverse('push_jobs', args=[repo, push_id])}?{jfilter.query(**params)}"


def group_rows(
    repo: str,
    push_id: int,
    summary: services.JobsSummary,
    jfilter: JobFilter,
    sections: dict[str, JobSection],
) -> list[GroupRow]:
    """Tier-1 groups, failing ones first (then by name, SPEC §3's order), then the tier-2/3 group. With a
    filter on, only the groups it matches."""
    rows = []
    for group in summary.groups:
        anchor = jobview.group_anchor(group.platform, group.platform_option)
        if jfilter.active and anchor not in sections:
            continue
        url = group_url(repo, push_id, jfilter, platform=group.platform, option=group.platform_option)
        rows.append(
            GroupRow(group.display_name, anchor, group.status, group.counts, url, sections.get(anchor))
        )
    rows.sort(key=lambda row: row.status != rules.State.FAILING)
    if summary.other_counts.total and (not jfilter.active or jobview.OTHER_ANCHOR in sections):
        url = group_url(repo, push_id, jfilter, tier="other")
        rows.append(
            GroupRow(
                "Tier 2 and 3 jobs",
                jobview.OTHER_ANCHOR,
                summary.other_status,
                summary.other_counts,
                url,
                sections.get(jobview.OTHER_ANCHOR),
                other=True,
            )
        )
    return rows


@dataclass(slots=True)
class Sections:
    """The job sections a page shows at once, and the failure-summary matches of a search."""

    by_anchor: dict[str, JobSection] = field(default_factory=dict)
    test_matches: frozenset[int] = frozenset()


def page_sections(repo: str, revision: str, push_id: int, jfilter: JobFilter, finished: bool) -> Sections:
    """Failing groups open with their jobs; with a filter on, every group with a match, showing the matches."""
    found = Sections()
    if not jfilter.active:
        fetched = services.failing_groups_jobs(repo, push_id)
        for (platform, option), jobs in fetched.value.items():
            anchor = jobview.group_anchor(platform, option)
            found.by_anchor[anchor] = job_section(
                repo, revision, jobs, fetched.fetched_at, jfilter, anchor=anchor
            )
        return found
    if jfilter.q:
        groups = failure_view.failure_view(repo, push_id).summary.groups
        found.test_matches = jobview.test_name_matches(jfilter.q, groups)
    fetched = services.jobs(repo, push_id)
    by_anchor: dict[str, list[Job]] = {}
    for job in fetched.value:
        if jfilter.matches(job, found.test_matches):
            by_anchor.setdefault(jobview.job_anchor(job), []).append(job)
    for anchor, matching in by_anchor.items():
        found.by_anchor[anchor] = job_section(
            repo,
            revision,
            matching,
            fetched.fetched_at,
            jfilter,
            anchor=anchor,
            test_matches=found.test_matches,
        )
    return found


# --- The live part of a push page ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveState:
    fetched: services.Fetched[services.JobsSummary] | None
    error: str
    log: live.ChangeLog | None

    @property
    def token(self) -> str:
        return self.log.token if self.log else ""


def live_state(repo: str, push_id: int) -> LiveState:
    """The push's summary and its change log, consistent: the summary is re-read when a fetch landed
    between the two reads (a token never claims changes the page does not show)."""
    fetched, error = fetch_summary(repo, push_id)
    log = live.change_log(repo, push_id)
    if fetched is not None and log is not None and log.latest > fetched.fetched_at:
        fetched, error = fetch_summary(repo, push_id)
    return LiveState(fetched, error, log)


def fetch_summary(repo: str, push_id: int) -> tuple[services.Fetched[services.JobsSummary] | None, str]:
    try:
        return services.jobs_summary(repo, push_id), ""
    except (services.Unavailable, TreeherderNotFound) as exc:
        return None, exc.reason


def badge(repo: str, push_id: int, fetched: services.Fetched[services.JobsSummary] | None) -> rules.Badge:
    """The push's badge; a failing push's says whether its failures are new (its failure summary is
    read from per-job caches the failure fragment fills too)."""
    if fetched is None:
        return rules.push_badge(rules.State.PENDING)
    summary = fetched.value
    if summary.state != rules.State.FAILING:
        return rules.push_badge(summary.state)
    view = failure_view.failure_view(repo, push_id)  # cached per fetch, shared with the failure section
    if view.jobs_fetched is None:
        return rules.push_badge(summary.state)
    return rules.push_badge(summary.state, view.summary)


def poll_context(
    repo: str, push: Push, state: LiveState, jfilter: JobFilter, open_anchors: Iterable[str]
) -> dict:
    """The poller, the tab title and the totals: what every refresh answers."""
    summary = state.fetched.value if state.fetched else services.summarize([])
    push_badge = badge(repo, push.id, state.fetched)
    title = rules.display_title(push.revisions) or push.revision[:12]
    params = {"since": state.token, "open": ",".join(sorted(set(open_anchors)))}
    finished = bool(state.fetched) and summary.finished
    return {
        "jobs_fetched": state.fetched,
        "jobs_error": state.error,
        "counts": summary.counts,
        "badge": push_badge,
        "favicon": static(f"img/favicon-{push_badge.key}.svg"),
        "finished": finished,
        # A finished push still polls while its failure summary waits for logs or bug suggestions.
        "polling": not finished
        or (summary.counts.failed > 0 and not failure_view.failure_view(repo, push.id).settled),
        "tab_title": f"{push_badge.title} · {title} · {repo}",
        "jfilter": jfilter,
        "refresh_url": f"{reverse('push_refresh', args=[repo, push.id])}?{jfilter.query(**params)}",
    }


def live_context(repo: str, push: Push, state: LiveState, jfilter: JobFilter) -> dict:
    """Everything #push-live shows."""
    summary = state.fetched.value if state.fetched else services.summarize([])
    finished = bool(state.fetched) and summary.finished
    sections = Sections()
    if state.fetched:
        try:
            sections = page_sections(repo, push.revision, push.id, jfilter, finished)
        except (services.Unavailable, TreeherderNotFound):
            pass
    groups = group_rows(repo, push.id, summary, jfilter, sections.by_anchor)
    context = poll_context(repo, push, state, jfilter, [group.anchor for group in groups if group.open])
    context["groups"] = groups
    return context


def refresh_context(
    repo: str, push: Push, state: LiveState, delta: live.Delta, jfilter: JobFilter, open_anchors: set[str]
) -> dict:
    """What a live refresh sends: see templates/pushes/push_refresh.html."""
    context = poll_context(repo, push, state, jfilter, open_anchors)
    context["changed"] = bool(delta) and state.fetched is not None
    if not context["changed"]:
        return context
    summary = state.fetched.value
    changed_anchors = {jobview.job_anchor(job) for job in delta.jobs.values()}
    context["changed_groups"] = [
        group
        for group in group_rows(repo, push.id, summary, JobFilter(), {})
        if group.anchor in changed_anchors
    ]
    new_anchors = {jobview.job_anchor(delta.jobs[job_id]) for job_id in delta.new_ids} & open_anchors
    context["redrawn"] = [_redrawn(repo, push, anchor, jfilter) for anchor in sorted(new_anchors)]
    chips, rows, appended = [], [], {}
    for job in jobview.sort_jobs(delta.jobs.values()):
        anchor = jobview.job_anchor(job)
        if anchor not in open_anchors or anchor in new_anchors or not jfilter.matches(job):
            continue
        compact = shows_chips(jfilter, anchor)
        row = job_row(repo, push.revision, job, state.fetched.fetched_at)
        if compact:
            chips.append(row)
        if job.id in delta.failed_ids and (compact or jfilter.show == "failures"):
            appended.setdefault(anchor, []).append(row)
        elif not compact or row.failed:
            rows.append(row)
    context.update(chips=chips, rows=rows, appended_rows=sorted(appended.items()))
    return context


def _redrawn(repo: str, push: Push, anchor: str, jfilter: JobFilter) -> JobSection:
    """A whole open group again (it has new jobs: retriggers), from the group's cached jobs."""
    fetched = services.jobs(repo, push.id)
    jobs = [job for job in fetched.value if jobview.job_anchor(job) == anchor]
    return job_section(repo, push.revision, jobs, fetched.fetched_at, jfilter, anchor=anchor)


# --- Push list status cells ---------------------------------------------------------------------------

STATUS_WORKERS = 8


@dataclass(frozen=True, slots=True)
class StatusCell:
    push_id: int
    fetched: services.Fetched[services.JobsSummary] | None
    error: str
    counts: rules.JobCounts
    badge: rules.Badge
    finished: bool


def status_cell(repo: str, push_id: int) -> StatusCell:
    fetched, error = fetch_summary(repo, push_id)
    summary = fetched.value if fetched else services.summarize([])
    return StatusCell(
        push_id,
        fetched,
        error,
        summary.counts,
        badge(repo, push_id, fetched),
        bool(fetched) and summary.finished,
    )


def status_cells(repo: str, push_ids: Sequence[int]) -> list[StatusCell]:
    """Every row's status in one go: cached ones at once, the others read concurrently."""
    if len(push_ids) <= 1:
        return [status_cell(repo, push_id) for push_id in push_ids]
    with ThreadPoolExecutor(max_workers=min(STATUS_WORKERS, len(push_ids))) as pool:
        return list(pool.map(lambda push_id: status_cell(repo, push_id), push_ids))
