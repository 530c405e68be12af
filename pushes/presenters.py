"""What the push page templates show, from data already read (pushes.reads): job rows and chips, job
sections of a platform group, group summaries, the poller and totals of the live section, what a live
refresh sends, the failure section, push-list status cells. No I/O here (a test checks the imports):
every function is a function of its arguments and the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from . import answer, display, eta_text, jobview, links, rules
from .jobview import JobFilter, RefreshPlan, shows_chips
from .rules import Job, Push

if TYPE_CHECKING:  # the read side's data, named in annotations only
    from .cached import Fetched
    from .estimates import Estimate
    from .failure_view import FailureView
    from .reads import FailureSection, LivePage, LiveState, Refresh, Shell, Status
    from .services import JobsSummary


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


@dataclass(frozen=True, slots=True)
class GroupRow:
    name: str
    anchor: str
    status: rules.State
    counts: rules.JobCounts
    url: str  # the group's jobs (a fragment for htmx, a page without)
    section: JobSection | None = None  # shown at once (failing groups, filter matches)
    other: bool = False
    html: str = ""  # the section rendered (fragments.section_html)
    known_only: bool = False  # failing, but every failed job failed before this push or intermittently

    @property
    def colour(self) -> str:
        return "orange" if self.known_only else self.status.colour

    @property
    def label(self) -> str:
        return "known only" if self.known_only else self.status.label

    @property
    def open(self) -> bool:
        return self.section is not None


def group_url(repo: str, push_id: int, jfilter: JobFilter, base: str = "", **params: str) -> str:
    return f"{base or reverse('push_jobs', args=[repo, push_id])}?{jfilter.query(**params)}"


def group_rows(
    repo: str,
    push_id: int,
    summary: JobsSummary,
    jfilter: JobFilter,
    sections: dict[str, JobSection],
    failures: FailureView | None = None,
) -> list[GroupRow]:
    """Tier-1 groups, failing ones first (then by name, SPEC §3's order), then the tier-2/3 group. With a
    filter on, only the groups it matches. A failing group whose failures the failure summary (`failures`)
    all explains in a known way says "known only"."""
    rows = []
    base = reverse("push_jobs", args=[repo, push_id])  # once, not once per group
    known = answer.known_only(summary, failures)
    for group in summary.groups:
        anchor = jobview.group_anchor(group.platform, group.platform_option)
        if jfilter.active and anchor not in sections:
            continue
        url = group_url(repo, push_id, jfilter, base, platform=group.platform, option=group.platform_option)
        rows.append(
            GroupRow(
                group.display_name, anchor, group.status, group.counts, url, sections.get(anchor),
                known_only=group.status == rules.State.FAILING and anchor in known,
            )
        )  # fmt: skip
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
                known_only=summary.other_status == rules.State.FAILING and jobview.OTHER_ANCHOR in known,
            )
        )
    return rows


@dataclass(slots=True)
class Sections:
    """The job sections a page shows at once, and the failure-summary matches of a search."""

    by_anchor: dict[str, JobSection] = field(default_factory=dict)
    test_matches: frozenset[int] = frozenset()


def page_sections(repo: str, revision: str, page: LivePage, jfilter: JobFilter) -> Sections:
    """Failing groups open with their jobs; with a filter on, every group with a match, showing the matches."""
    found = Sections()
    if page.failing is not None:
        for (platform, option), jobs in page.failing.value.items():
            anchor = jobview.group_anchor(platform, option)
            found.by_anchor[anchor] = job_section(
                repo, revision, jobs, page.failing.fetched_at, jfilter, anchor=anchor
            )
    elif page.jobs is not None:
        found.test_matches = test_matches(jfilter, page.failures)
        found.by_anchor = matching_sections(repo, revision, page.jobs, jfilter, found.test_matches)
    return found


def test_matches(jfilter: JobFilter, failures: FailureView | None) -> frozenset[int]:
    """The failed jobs a search matches by test name or error line (from the failure summary)."""
    if not jfilter.q or failures is None:
        return frozenset()
    return jobview.test_name_matches(jfilter.q, failures.summary.groups)


def matching_sections(
    repo: str,
    revision: str,
    fetched: Fetched[list[Job]],
    jfilter: JobFilter,
    matches: frozenset[int],
    anchors: Iterable[str] | None = None,
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


# --- The push page's shell ----------------------------------------------------------------------------


def whole_page_url(repo: str, push_id: int, jfilter: JobFilter | None = None) -> str:
    """The push page in one response, waiting for Treeherder (`whole=1`: never the shell): where a
    browser without JavaScript and the shell's links go."""
    query = (jfilter or JobFilter()).query(whole="1")
    return f"{reverse('push_detail', args=[repo, push_id])}?{query}"


def shell_context(repo: str, push_id: int, shell: Shell, jfilter: JobFilter) -> dict[str, Any]:
    """The push page's shell: what was cached (the push for the header, the last counts) and where its
    placeholders load the rest from (the header when it was not all cached, the live section, the
    failure summary), each with a link that works without JavaScript."""
    push = shell.push.value if shell.push else None
    title = (rules.display_title(push.revisions) or push.revision[:12]) if push else f"push {push_id}"
    query = jfilter.query()
    return {
        "shell": True,
        "repo": repo,
        "push_id": push_id,
        "jfilter": jfilter,
        "tab_title": f"Reading… · {title} · {repo}",
        "favicon": static("img/favicon.svg"),
        "header_url": "" if shell.header_complete else reverse("push_header", args=[repo, push_id]),
        "live_url": reverse("push_detail", args=[repo, push_id]) + (f"?{query}" if query else ""),
        "whole_url": whole_page_url(repo, push_id, jfilter),
        "last": shell.last,
    }


# --- The live part of a push page ---------------------------------------------------------------------


def badge(state: LiveState, failures: FailureView | None) -> display.Badge:
    """The push's badge; a failing push's says whether its failures are new."""
    if state.fetched is None:
        return display.push_badge(rules.State.PENDING)
    summary = state.summary
    if summary.state != rules.State.FAILING or failures is None or failures.jobs_fetched is None:
        return display.push_badge(summary.state)
    return display.push_badge(summary.state, failures.summary)


def poll_context(
    repo: str,
    push: Push,
    state: LiveState,
    failures: FailureView | None,
    jfilter: JobFilter,
    open_anchors: Iterable[str],
    estimate: Estimate | None = None,
) -> dict[str, Any]:
    """The poller, the tab title (with a running push's ETA), the totals and the header's ETA: what
    every refresh answers."""
    summary = state.summary
    push_badge = badge(state, failures)
    title = rules.display_title(push.revisions) or push.revision[:12]
    params = {"since": state.token, "open": ",".join(sorted(set(open_anchors)))}
    finished = state.finished
    settled = failures is not None and failures.settled
    eta = eta_text.eta_line(estimate.eta) if estimate is not None and not finished else None
    when = f"ETA {eta.clock} · " if eta is not None and eta.known else ""
    return {
        "eta": eta,
        "jobs_fetched": state.fetched,
        "jobs_error": state.error,
        "counts": summary.counts,
        "badge": push_badge,
        "badge_target": answer.badge_target(push_badge, failures),
        "favicon": static(f"img/favicon-{push_badge.key}.svg"),
        "finished": finished,
        # A finished push still polls while its failure summary waits for logs or bug suggestions.
        "polling": not finished or (summary.counts.failed > 0 and not settled),
        "tab_title": f"{push_badge.title} · {when}{title} · {repo}",
        "jfilter": jfilter,
        "refresh_url": f"{reverse('push_refresh', args=[repo, push.id])}?{jfilter.query(**params)}",
        "since_token": state.token,  # push.js: a group's jobs read before it are read again
    }


def live_context(repo: str, push: Push, page: LivePage, jfilter: JobFilter) -> dict[str, Any]:
    """Everything #push-live shows; its groups as already rendered when the page read them."""
    if page.groups_html is not None:
        html, open_anchors = page.groups_html
        context = poll_context(repo, push, page.state, page.failures, jfilter, open_anchors, page.estimate)
        context.update(groups=bool(html.strip()), groups_html=html)
        return context
    sections = page_sections(repo, push.revision, page, jfilter)
    groups = group_rows(repo, push.id, page.state.summary, jfilter, sections.by_anchor, page.failures)
    open_anchors = [group.anchor for group in groups if group.open]
    context = poll_context(repo, push, page.state, page.failures, jfilter, open_anchors, page.estimate)
    context["groups"] = groups
    return context


def refresh_context(
    repo: str, push: Push, refresh: Refresh, jfilter: JobFilter, open_anchors: set[str]
) -> dict[str, Any]:
    """What a live refresh sends (templates/pushes/push_refresh.html): the poller and totals, and where
    the jobs that changed go (jobview.refresh_plan says where and why)."""
    state = refresh.state
    context = poll_context(repo, push, state, refresh.failures, jfilter, open_anchors, refresh.estimate)
    plan = refresh.plan
    context["changed"] = plan is not None
    # The failure summary changed: the failing groups' summaries again ("failing" or "known only").
    relabel = refresh.failure_section is not None and state.fetched is not None and not jfilter.active
    context["failures_changed"] = relabel
    if not relabel and plan is None:
        return context
    rows = group_rows(repo, push.id, state.summary, JobFilter(), {}, refresh.failures)
    sent = set(plan.on_page) | set(plan.added) if plan is not None else set()
    context["relabelled"] = (
        [group for group in rows if group.status == rules.State.FAILING and group.anchor not in sent]
        if relabel
        else []
    )
    if plan is None:
        return context
    fetched_at = state.fetched.fetched_at if state.fetched else 0.0
    context["changed_groups"] = [group for group in rows if group.anchor in plan.on_page]
    context["added_groups"] = _added_groups(
        repo, push, state.summary, jfilter, plan, refresh.jobs, refresh.failures
    )
    context["was_empty"] = plan.was_empty
    context["redrawn"] = _redrawn(repo, push, jfilter, plan, refresh.jobs) if plan.redraw else []
    context.update(
        chips=job_rows(repo, push.revision, plan.chips, fetched_at),
        rows=job_rows(repo, push.revision, plan.rows, fetched_at),
        appended_rows=[
            (anchor, job_rows(repo, push.revision, jobs, fetched_at)) for anchor, jobs in plan.appended
        ],
    )
    return context


def _added_groups(
    repo: str,
    push: Push,
    summary: JobsSummary,
    jfilter: JobFilter,
    plan: RefreshPlan,
    fetched: Fetched[list[Job]] | None,
    failures: FailureView | None = None,
) -> list[GroupRow]:
    """Groups new to the page, as the page would show them: closed without a filter (a failing one
    opens itself, once), with their matching jobs under one."""
    if not plan.added:
        return []
    sections: dict[str, JobSection] = {}
    if jfilter.active and fetched is not None:
        sections = matching_sections(repo, push.revision, fetched, jfilter, plan.matches, plan.added)
    rows = group_rows(repo, push.id, summary, jfilter, sections, failures)
    return [group for group in rows if group.anchor in plan.added]


def _redrawn(
    repo: str, push: Push, jfilter: JobFilter, plan: RefreshPlan, fetched: Fetched[list[Job]] | None
) -> list[JobSection]:
    """Whole open groups again (a job shows in them that did not: new runs, new matches), from the
    push's jobs, as the page shows them."""
    if fetched is None:
        return []
    if jfilter.active:
        return sorted(
            matching_sections(repo, push.revision, fetched, jfilter, plan.matches, plan.redraw).values(),
            key=lambda section: section.anchor,
        )
    by_anchor: dict[str, list[Job]] = {}
    for job in fetched.value:
        if (anchor := jobview.job_anchor(job)) in plan.redraw:
            by_anchor.setdefault(anchor, []).append(job)
    return [
        job_section(repo, push.revision, jobs, fetched.fetched_at, jfilter, anchor=anchor)
        for anchor, jobs in sorted(by_anchor.items())
    ]


# --- The failure section --------------------------------------------------------------------------------


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
        "job_links": {
            job_id: job_row(repo, push.revision, job, now) for job_id, job in summary.jobs_by_id.items()
        },
        **answer.failure_evidence(repo, push, summary),
        "classifications": section.classifications,
    }
    return context, body


# --- Push list status cells ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCell:
    push_id: int
    fetched: Fetched[JobsSummary] | None
    error: str
    counts: rules.JobCounts
    badge: display.Badge
    finished: bool
    eta: eta_text.EtaLine | None = None  # a running push's


def status_cell(status: Status) -> StatusCell:
    state = status.state
    return StatusCell(
        status.push_id,
        state.fetched,
        state.error,
        state.summary.counts,
        badge(state, status.failures),
        state.finished,
        eta_text.eta_line(status.estimate.eta) if status.estimate and not state.finished else None,
    )


def status_cells(statuses: Sequence[Status]) -> list[StatusCell]:
    return [status_cell(status) for status in statuses]
