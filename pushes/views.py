"""The push pages: thin views over pushes.services (cached Treeherder reads) and pushes.rules.

An htmx request (not a history restore) gets only the partial it asked for ("page.html#partial");
every fragment URL also works as a plain page or redirect, so the site works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from buildwatch.htmx import wants_fragment as _wants_fragment  # one definition for every app

from . import hooks, rules, services
from .forms import JobsQuery, push_list_query
from .rules import Job, Push
from .treeherder import TreeherderNotFound


def _page(request: HttpRequest, template: str, partial: str, context: dict, status: int = 200) -> HttpResponse:
    if _wants_fragment(request):
        # htmx does not swap error answers by default: a fragment always answers 200 and says what is wrong.
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context, status=status)


def _check_repo(repo: str) -> None:
    if not services.is_known_repo(repo):
        raise Http404(f"Unknown repository “{repo}”: Treeherder has no repository of that name.")


def _push_or_404(repo: str, push_id: int) -> services.Fetched[Push]:
    try:
        return services.push(repo, push_id)
    except TreeherderNotFound as exc:
        raise Http404(f"No push {push_id} in repository “{repo}”.") from exc


PushView = Callable[[HttpRequest, str, int, services.Fetched[Push]], HttpResponse]


def push_page(view: PushView) -> Callable[[HttpRequest, str, int], HttpResponse]:
    """A GET page about one push: unknown repo or push → 404; Treeherder down with nothing cached →
    a 503 page (or a fragment saying so); otherwise the view gets the (possibly stale) push."""

    @require_GET
    @vary_on_headers("HX-Request")
    @wraps(view)
    def wrapper(request: HttpRequest, repo: str, push_id: int) -> HttpResponse:
        _check_repo(repo)
        try:
            push = _push_or_404(repo, push_id)
        except services.Unavailable as exc:
            context = {"repo": repo, "push_id": push_id, "error": exc.reason}
            return _page(request, "pushes/push_unavailable.html", "unavailable", context, status=503)
        return view(request, repo, push_id, push)

    return wrapper


def _default_author(user: Any) -> str:
    """The signed-in user's Treeherder author email, read without creating a settings row on GET."""
    if not getattr(user, "is_authenticated", False):
        return ""
    return hooks.author_email(user)


# --- Context helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRow:
    job: Job
    status: str
    colour: str
    symbol: str
    duration: float | None
    task_url: str
    treeherder_url: str


@dataclass(frozen=True, slots=True)
class GroupRow:
    name: str
    anchor: str
    status: str
    colour: str
    counts: rules.JobCounts
    url: str


def job_rows(repo: str, push: Push, jobs: list[Job]) -> list[JobRow]:
    rows = []
    for job in jobs:
        status = rules.job_status(job)
        rows.append(
            JobRow(
                job=job,
                status=status,
                colour=rules.result_colour(status),
                symbol=rules.job_symbol(job),
                duration=rules.job_duration(job),
                task_url=rules.taskcluster_task_url(settings.TASKCLUSTER_ROOT_URL, job.task_id) if job.task_id else "",
                treeherder_url=rules.treeherder_job_url(settings.TREEHERDER_URL, repo, push.revision, job),
            )
        )
    return rows


def _group_url(repo: str, push_id: int, **params: str) -> str:
    from urllib.parse import urlencode

    return f"{reverse('push_jobs', args=[repo, push_id])}?{urlencode(params)}"


def _push_summary(repo: str, push: Push, fetched: services.Fetched[services.JobsSummary] | None, error: str) -> dict:
    """The changing part of a push page: state, counts, groups; also what the tab title shows."""
    summary = fetched.value if fetched else services.summarize([])
    badge = _badge(repo, push.id, fetched)
    groups = [
        GroupRow(
            name=group.display_name,
            anchor=f"g-{slugify(group.display_name) or 'none'}",
            status=group.status,
            colour=group.status.colour,
            counts=group.counts,
            url=_group_url(repo, push.id, platform=group.platform, option=group.platform_option),
        )
        for group in summary.groups
    ]
    title = rules.display_title(push.revisions) or push.revision[:12]
    return {
        "jobs_fetched": fetched,
        "jobs_error": error,
        "counts": summary.counts,
        "badge": badge,
        "favicon": static(f"img/favicon-{badge.key}.svg"),
        "finished": bool(fetched) and summary.finished,
        "groups": groups,
        "other_counts": summary.other_counts,
        "other_status": summary.other_status,
        "other_url": _group_url(repo, push.id, tier="other"),
        "tab_title": f"{badge.title} · {title} · {repo}",
    }


def _push_header(repo: str, push: Push, decision_task: str | None = None) -> dict:
    bug = rules.bug_number(push.revisions)
    return {
        "repo": repo,
        "push": push,
        "title": rules.display_title(push.revisions) or push.revision[:12],
        "author": rules.author_handle(push.author),
        "bug": bug,
        "bug_url": rules.bugzilla_url(bug) if bug else "",
        "treeherder_url": rules.treeherder_push_url(settings.TREEHERDER_URL, repo, push.revision),
        "taskcluster_url": f"{settings.TASKCLUSTER_ROOT_URL}/tasks/groups/{decision_task}" if decision_task else "",
    }


def _badge(repo: str, push_id: int, fetched: services.Fetched[services.JobsSummary] | None) -> rules.Badge:
    """The push's badge; a failing push's says whether its failures are new (its failure summary is
    read from per-job caches the failure fragment fills too)."""
    if fetched is None:
        return rules.push_badge(rules.State.PENDING)
    summary = fetched.value
    if summary.state != rules.State.FAILING:
        return rules.push_badge(summary.state)
    try:
        failed = services.push_failed_jobs(repo, push_id).value
    except (services.Unavailable, TreeherderNotFound):
        return rules.push_badge(summary.state)
    return rules.push_badge(summary.state, services.failure_summary(repo, failed, finished=summary.finished))


def _fetch_summary(repo: str, push_id: int) -> tuple[services.Fetched[services.JobsSummary] | None, str]:
    try:
        return services.jobs_summary(repo, push_id), ""
    except (services.Unavailable, TreeherderNotFound) as exc:
        return None, exc.reason


def _watched(request: HttpRequest, repo: str, push_ids: list[int]) -> set[int]:
    if not request.user.is_authenticated:
        return set()
    return hooks.watched_push_ids(request.user, repo, push_ids)


# --- Views --------------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def push_list(request: HttpRequest, repo: str) -> HttpResponse:
    _check_repo(repo)
    query = push_list_query(request.GET)
    mine = _default_author(request.user)
    author = query["author"] if "author" in request.GET else mine
    context: dict[str, Any] = {
        "repo": repo,
        "author": author,
        "mine": mine,
        "count": query["count"],
        "rows": [],
        "error": "",
        "fetched": None,
    }
    try:
        fetched = services.push_list(repo, count=query["count"], author=author or None, id_lt=query["id_lt"])
    except TreeherderNotFound as exc:
        raise Http404(f"Unknown repository “{repo}”: Treeherder has no repository of that name.") from exc
    except services.Unavailable as exc:
        context["error"] = exc.reason
        return render(request, "pushes/push_list.html", context, status=503)
    pushes = fetched.value
    watched = _watched(request, repo, [push.id for push in pushes])
    context["fetched"] = fetched
    context["rows"] = [
        {
            "push": push,
            "title": rules.display_title(push.revisions) or push.revision[:12],
            "author": rules.author_handle(push.author),
            "bug": rules.bug_number(push.revisions),
            "watched": push.id in watched,
        }
        for push in pushes
    ]
    if len(pushes) >= query["count"] and pushes:
        params = {"count": query["count"], "id__lt": pushes[-1].id}
        if "author" in request.GET or not mine:
            params["author"] = author
        from urllib.parse import urlencode

        context["older_url"] = f"?{urlencode(params)}"
    return render(request, "pushes/push_list.html", context)


@require_GET
@vary_on_headers("HX-Request")
def push_status(request: HttpRequest, repo: str, push_id: int) -> HttpResponse:
    """The lazily loaded status cell of one push-list row."""
    if not _wants_fragment(request):
        return redirect("push_detail", repo=repo, push_id=push_id)
    _check_repo(repo)
    fetched, error = _fetch_summary(repo, push_id)
    summary = fetched.value if fetched else services.summarize([])
    context = {
        "repo": repo,
        "push_id": push_id,
        "jobs_fetched": fetched,
        "error": error,
        "counts": summary.counts,
        "badge": _badge(repo, push_id, fetched),
        "finished": bool(fetched) and summary.finished,
    }
    return render(request, "pushes/push_list.html#status_cell", context)


@push_page
def push_detail(request: HttpRequest, repo: str, push_id: int, push: services.Fetched[Push]) -> HttpResponse:
    fetched, error = _fetch_summary(repo, push_id)
    # The Taskcluster link is in the header only: live refreshes skip that lookup.
    decision = None if _wants_fragment(request) else services.decision_task(repo, push_id)
    context = {**_push_header(repo, push.value, decision), **_push_summary(repo, push.value, fetched, error)}
    context["push_fetched"] = push
    context["watched"] = push_id in _watched(request, repo, [push_id])
    return _page(request, "pushes/push_detail.html", "live", context)


@push_page
def push_jobs(request: HttpRequest, repo: str, push_id: int, push: services.Fetched[Push]) -> HttpResponse:
    """The jobs of one platform group (or all tier-2/3 jobs): loaded when a group is opened."""
    form = JobsQuery(request.GET)
    if not form.is_valid():
        raise Http404("No such group of jobs.")
    platform, option, tier = form.cleaned_data["platform"], form.cleaned_data["option"], form.cleaned_data["tier"]
    try:
        jobs_fetched, error = services.group_jobs(repo, push_id, platform=platform, option=option, tier=tier), ""
    except (services.Unavailable, TreeherderNotFound) as exc:
        jobs_fetched, error = None, exc.reason
    selected = jobs_fetched.value if jobs_fetched else []
    group_name = "Tier 2 and 3 jobs" if tier == "other" else rules.group_display_name(platform, option)
    context = {
        **_push_header(repo, push.value),
        "group_name": group_name,
        "rows": job_rows(repo, push.value, selected),
        "jobs_fetched": jobs_fetched,
        "jobs_error": error,
    }
    return _page(request, "pushes/push_jobs.html", "jobs", context)


@push_page
def push_failures(request: HttpRequest, repo: str, push_id: int, push: services.Fetched[Push]) -> HttpResponse:
    try:
        jobs_fetched, error = services.push_failed_jobs(repo, push_id), ""
    except (services.Unavailable, TreeherderNotFound) as exc:
        jobs_fetched, error = None, exc.reason
    try:
        finished = services.jobs_summary(repo, push_id).value.finished
    except (services.Unavailable, TreeherderNotFound):
        finished = False
    summary = services.failure_summary(repo, jobs_fetched.value if jobs_fetched else [], finished=finished)
    context = {
        **_push_header(repo, push.value),
        "summary": summary,
        "job_links": {
            job_id: job_rows(repo, push.value, [job])[0] for job_id, job in summary.jobs_by_id.items()
        },
        "jobs_fetched": jobs_fetched,
        "jobs_error": error,
        "finished": bool(jobs_fetched) and finished,
        "classifications": services.failure_classifications() if summary.groups else {},
    }
    return _page(request, "pushes/push_failures.html", "failures", context)


def bad_push_id(request: HttpRequest, repo: str, value: str) -> HttpResponse:
    raise Http404(f"“{value}” is not a push id: push ids are whole numbers.")
