"""What the push page templates show, built from cached data: job rows and chips, job sections of a
platform group, group summaries. Shared by the page, its fragments and its live refresh."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from . import cached, display, failure_view, jobview, links, live, rules, services
from .jobview import JobFilter
from .rules import Job, Push
from .treeherder.errors import TreeherderNotFound


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


def group_url(repo: str, push_id: int, jfilter: JobFilter, base: str = "", **params: str) -> str:
    return f"{base or reverse('push_jobs', args=[repo, push_id])}?{jfilter.query(**params)}"


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
    base = reverse("push_jobs", args=[repo, push_id])  # once, not once per group
    for group in summary.groups:
        anchor = jobview.group_anchor(group.platform, group.platform_option)
        if jfilter.active and anchor not in sections:
            continue
        url = group_url(repo, push_id, jfilter, base, platform=group.platform, option=group.platform_option)
        rows.append(
            GroupRow(group.display_name, anchor, group.status, group.counts, url, sections.get(anchor))
        )
    rows.sort(key=lambda row: row.status != rules.State.FAILING)
    if summary.other_counts.total and (not jfilter.active or jobview.OTHER_ANCHOR in sections):
        url = group_url(repo, push_id, jfilter, base, tier="other")
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


def page_sections(repo: str, revision: str, push_id: int, jfilter: JobFilter) -> Sections:
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
    found.test_matches = test_matches(repo, push_id, jfilter)
    found.by_anchor = matching_sections(
        repo, revision, services.jobs(repo, push_id), jfilter, found.test_matches
    )
    return found


def test_matches(repo: str, push_id: int, jfilter: JobFilter) -> frozenset[int]:
    """The failed jobs a search matches by test name or error line (from the cached failure summary)."""
    if not jfilter.q:
        return frozenset()
    return jobview.test_name_matches(jfilter.q, failure_view.failure_view(repo, push_id).summary.groups)


def matching_sections(
    repo: str,
    revision: str,
    fetched: cached.Fetched[list[Job]],
    jfilter: JobFilter,
    matches: frozenset[int],
    anchors: set[str] | None = None,
) -> dict[str, JobSection]:
    """With a filter on: the section of every group (of `anchors`, default all) with a match, showing
    the matches."""
    by_anchor: dict[str, list[Job]] = {}
    for job in fetched.value:
        anchor = jobview.job_anchor(job)
        if (anchors is None or anchor in anchors) and jfilter.matches(job, matches):
            by_anchor.setdefault(anchor, []).append(job)
    return {
        anchor: job_section(
            repo, revision, jobs, fetched.fetched_at, jfilter, anchor=anchor, test_matches=matches
        )
        for anchor, jobs in by_anchor.items()
    }


# --- The live part of a push page ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveState:
    fetched: cached.Fetched[services.JobsSummary] | None
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


def fetch_summary(repo: str, push_id: int) -> tuple[cached.Fetched[services.JobsSummary] | None, str]:
    try:
        return services.jobs_summary(repo, push_id), ""
    except (cached.Unavailable, TreeherderNotFound) as exc:
        return None, exc.reason


def badge(repo: str, push_id: int, fetched: cached.Fetched[services.JobsSummary] | None) -> display.Badge:
    """The push's badge; a failing push's says whether its failures are new (its failure summary is
    read from per-job caches the failure fragment fills too)."""
    if fetched is None:
        return display.push_badge(rules.State.PENDING)
    summary = fetched.value
    if summary.state != rules.State.FAILING:
        return display.push_badge(summary.state)
    view = failure_view.failure_view(repo, push_id)  # cached per fetch, shared with the failure section
    if view.jobs_fetched is None:
        return display.push_badge(summary.state)
    return display.push_badge(summary.state, view.summary)


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
        "since_token": state.token,  # push.js: a group's jobs read before it are read again
    }


def live_context(repo: str, push: Push, state: LiveState, jfilter: JobFilter) -> dict:
    """Everything #push-live shows."""
    summary = state.fetched.value if state.fetched else services.summarize([])
    sections = Sections()
    if state.fetched:
        try:
            sections = page_sections(repo, push.revision, push.id, jfilter)
        except (cached.Unavailable, TreeherderNotFound):
            pass
    groups = group_rows(repo, push.id, summary, jfilter, sections.by_anchor)
    context = poll_context(repo, push, state, jfilter, [group.anchor for group in groups if group.open])
    context["groups"] = groups
    return context


def refresh_context(
    repo: str,
    push: Push,
    state: LiveState,
    delta: live.Delta,
    jfilter: JobFilter,
    open_anchors: set[str],
    shown: set[str] | None = None,
) -> dict:
    """What a live refresh sends (templates/pushes/push_refresh.html), none of it moving what the reader
    is reading:
    - the summaries of the groups on the page whose jobs changed, and the changed chips and rows of
      the open ones, swapped in place;
    - a job that now shows in an open group and did not before (a new run; with a filter on, a job that
      starts matching it) is appended to the group's rows, or where the group shows chips the group is
      redrawn;
    - a group that was not on the page (its first jobs; with a filter, its first match) is added at the
      end of the groups;
    - a job that stops matching the filter (an unfinished job finishing under "Unfinished") stays where
      it is, with its new status, until the page is reloaded or the filter changed.
    Which groups are on the page: with a filter on, the page says (`shown`); without one, every group
    that had jobs at the token."""
    context = poll_context(repo, push, state, jfilter, open_anchors)
    context["changed"] = bool(delta) and state.fetched is not None
    if not context["changed"]:
        return context
    summary = state.fetched.value
    matches = test_matches(repo, push.id, jfilter)
    by_anchor: dict[str, list[Job]] = {}
    for job in jobview.sort_jobs(delta.jobs.values()):
        by_anchor.setdefault(jobview.job_anchor(job), []).append(job)
    totals = {jobview.group_anchor(g.platform, g.platform_option): g.counts.total for g in summary.groups}
    totals[jobview.OTHER_ANCHOR] = summary.other_counts.total
    if jfilter.active:  # a page that does not say (an older tab): its groups are updated, none added
        on_page = shown if shown is not None else set(by_anchor)
        candidates = set(by_anchor) - on_page
    else:
        candidates = {
            anchor
            for anchor, jobs in by_anchor.items()
            if sum(job.id in delta.new_ids for job in jobs) >= totals.get(anchor, 0) > 0
        }
        on_page = set(by_anchor) - candidates
    context["changed_groups"] = [
        group for group in group_rows(repo, push.id, summary, JobFilter(), {}) if group.anchor in on_page
    ]
    context["added_groups"] = _added_groups(repo, push, summary, jfilter, matches, candidates)
    if jfilter.active:
        context["was_empty"] = not shown
    else:  # every group of the push is new: the page said "No tier-1 jobs yet"
        context["was_empty"] = not {anchor for anchor, total in totals.items() if total} - candidates
    redraw: set[str] = set()
    chips, rows, appended = [], [], {}
    for anchor, jobs in by_anchor.items():
        if anchor not in on_page or anchor not in open_anchors:
            continue
        compact = shows_chips(jfilter, anchor)
        for job in jobs:
            before = delta.before(job)
            now, then = jfilter.matches(job, matches), before is not None and jfilter.matches(before, matches)
            if not now and not then:
                continue
            row = job_row(repo, push.revision, job, state.fetched.fetched_at)
            if now and not then:  # it shows here from now on
                if compact:
                    redraw.add(anchor)
                else:
                    appended.setdefault(anchor, []).append(row)
                continue
            if compact:
                chips.append(row)
            if compact and now and job.id in delta.failed_ids:
                appended.setdefault(anchor, []).append(row)  # its failure row, below the others
            elif not compact or row.failed or (before is not None and rules.is_failure(before)):
                rows.append(row)
    context["redrawn"] = _redrawn(repo, push, redraw, jfilter, matches) if redraw else []
    context.update(
        chips=[row for row in chips if jobview.job_anchor(row.job) not in redraw],
        rows=[row for row in rows if jobview.job_anchor(row.job) not in redraw],
        appended_rows=sorted((a, r) for a, r in appended.items() if a not in redraw),
    )
    return context


def _added_groups(
    repo: str,
    push: Push,
    summary: services.JobsSummary,
    jfilter: JobFilter,
    matches: frozenset[int],
    anchors: set[str],
) -> list[GroupRow]:
    """Groups new to the page, as the page would show them: closed without a filter (a failing one
    opens itself, once), with their matching jobs under one."""
    if not anchors:
        return []
    sections: dict[str, JobSection] = {}
    if jfilter.active:
        fetched = services.jobs(repo, push.id)
        sections = matching_sections(repo, push.revision, fetched, jfilter, matches, anchors)
    rows = group_rows(repo, push.id, summary, jfilter, sections)
    return [group for group in rows if group.anchor in anchors]


def _redrawn(
    repo: str, push: Push, anchors: set[str], jfilter: JobFilter, matches: frozenset[int]
) -> list[JobSection]:
    """Whole open groups again (a job shows in them that did not: new runs, new matches), from the
    push's cached jobs, as the page shows them."""
    fetched = services.jobs(repo, push.id)
    if jfilter.active:
        return sorted(
            matching_sections(repo, push.revision, fetched, jfilter, matches, anchors).values(),
            key=lambda section: section.anchor,
        )
    by_anchor: dict[str, list[Job]] = {}
    for job in fetched.value:
        if (anchor := jobview.job_anchor(job)) in anchors:
            by_anchor.setdefault(anchor, []).append(job)
    return [
        job_section(repo, push.revision, jobs, fetched.fetched_at, jfilter, anchor=anchor)
        for anchor, jobs in sorted(by_anchor.items())
    ]


# --- Push list status cells ---------------------------------------------------------------------------

STATUS_WORKERS = 8


@dataclass(frozen=True, slots=True)
class StatusCell:
    push_id: int
    fetched: cached.Fetched[services.JobsSummary] | None
    error: str
    counts: rules.JobCounts
    badge: display.Badge
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
