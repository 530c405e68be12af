"""What the push page templates show, from data already read (pushes.reads): job rows and chips, job
sections of a platform group (pushes/jobrows.py), group summaries, the poller and totals of the live
section, what a live refresh sends, push-list status cells; the failure section's context is
pushes/answer.py's. No I/O here (a test checks the imports):
every function is a function of its arguments and the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.templatetags.static import static
from django.urls import reverse

from . import answer, display, eta_text, jobview, rules
from .jobrows import JobSection, job_rows, job_section
from .jobview import JobFilter, RefreshPlan
from .rules import Job, Push

if TYPE_CHECKING:  # the read side's data, named in annotations only
    from .cached import Fetched
    from .estimates import Estimate
    from .failure_view import FailureView
    from .reads import LivePage, LiveState, Refresh, Shell, Status
    from .services import JobsSummary


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
