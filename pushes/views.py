"""The push pages: thin views over pushes.services (cached Treeherder reads) and pushes.rules.

An htmx request (not a history restore) gets only the partial it asked for ("page.html#partial");
every fragment URL also works as a plain page or redirect, so the site works without JavaScript.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from buildwatch.htmx import wants_fragment as _wants_fragment  # one definition for every app

from . import cached, failure_view, hooks, jobview, links, presenters, rules, services
from .forms import JobsQuery, push_list_query
from .jobview import SHOW_CHOICES, VIEW_CHOICES, JobFilter
from .rules import Push
from .treeherder.errors import TreeherderNotFound


def _page(
    request: HttpRequest, template: str, partial: str, context: dict, status: int = 200
) -> HttpResponse:
    if _wants_fragment(request):
        # htmx does not swap error answers by default: a fragment always answers 200 and says what is wrong.
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context, status=status)


def _check_repo(repo: str) -> None:
    if not services.is_known_repo(repo):
        raise Http404(f"Unknown repository “{repo}”: Treeherder has no repository of that name.")


def _push_or_404(repo: str, push_id: int) -> cached.Fetched[Push]:
    try:
        return services.push(repo, push_id)
    except TreeherderNotFound as exc:
        raise Http404(f"No push {push_id} in repository “{repo}”.") from exc


PushView = Callable[..., HttpResponse]  # (request, repo, push_id, push, **url kwargs)


def push_page(view: PushView) -> Callable[..., HttpResponse]:
    """A GET page about one push: unknown repo or push → 404; Treeherder down with nothing cached →
    a 503 page (or a fragment saying so); otherwise the view gets the (possibly stale) push."""

    @require_GET
    @vary_on_headers("HX-Request")
    @wraps(view)
    def wrapper(request: HttpRequest, repo: str, push_id: int, **kwargs: Any) -> HttpResponse:
        _check_repo(repo)
        try:
            push = _push_or_404(repo, push_id)
        except cached.Unavailable as exc:
            context = {"repo": repo, "push_id": push_id, "error": exc.reason}
            return _page(request, "pushes/push_unavailable.html", "unavailable", context, status=503)
        return view(request, repo, push_id, push, **kwargs)

    return wrapper


def _default_author(user: Any) -> str:
    """The signed-in user's Treeherder author email, read without creating a settings row on GET."""
    if not getattr(user, "is_authenticated", False):
        return ""
    return hooks.author_email(user)


# --- Context helpers ----------------------------------------------------------------------------------


def _push_header(repo: str, push: Push, decision_task: str | None = None) -> dict:
    bug = rules.bug_number(push.revisions)
    return {
        "repo": repo,
        "push": push,
        "title": rules.display_title(push.revisions) or push.revision[:12],
        "author": rules.author_handle(push.author),
        "bug": bug,
        "bug_url": links.bugzilla_url(bug) if bug else "",
        "treeherder_url": links.treeherder_push_url(settings.TREEHERDER_URL, repo, push.revision),
        "taskcluster_url": links.taskcluster_group_url(settings.TASKCLUSTER_ROOT_URL, decision_task)
        if decision_task
        else "",
    }


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
    except cached.Unavailable as exc:
        context["error"] = exc.reason
        return render(request, "pushes/push_list.html", context, status=503)
    pushes = fetched.value
    context["fetched"] = fetched
    context["rows"] = push_rows(request, repo, pushes)
    if len(pushes) >= query["count"] and pushes:
        params = {"count": query["count"], "id__lt": pushes[-1].id}
        if "author" in request.GET or not mine:
            params["author"] = author
        context["older_url"] = f"?{urlencode(params)}"
    ids = [push.id for push in pushes]
    first_page = query["id_lt"] is None
    context.update(
        list_poll(repo, author, query["count"], ids, max(ids, default=0) if first_page else None, load=True)
    )
    return render(request, "pushes/push_list.html", context)


def push_rows(request: HttpRequest, repo: str, pushes: list[Push]) -> list[dict[str, Any]]:
    watched = _watched(request, repo, [push.id for push in pushes])
    return [
        {
            "push": push,
            "title": rules.display_title(push.revisions) or push.revision[:12],
            "author": rules.author_handle(push.author),
            "bug": rules.bug_number(push.revisions),
            "watched": push.id in watched,
            "status": None,
        }
        for push in pushes
    ]


def list_poll(
    repo: str, author: str, count: int, ids: list[int], top: int | None, *, load: bool
) -> dict[str, str]:
    """The push list's one poller: it reads the status of every row still running (`ids`) and, on the
    first page (`top`: the newest push shown), the pushes newer than the top one."""
    params: dict[str, Any] = {"author": author, "count": count, "ids": ",".join(map(str, ids))}
    if top is not None:
        params["top"] = top
    every = f"every {settings.BUILDWATCH_REFRESH_SECONDS}s"
    trigger = ", ".join(
        part for part in ("load" if load and ids else "", every if ids or top is not None else "") if part
    )
    return {
        "poll_url": f"{reverse('push_list_live', args=[repo])}?{urlencode(params)}",
        "poll_trigger": trigger,
    }


@require_GET
@vary_on_headers("HX-Request")
def push_status(request: HttpRequest, repo: str, push_id: int) -> HttpResponse:
    """The lazily loaded status cell of one push-list row."""
    if not _wants_fragment(request):
        return redirect("push_detail", repo=repo, push_id=push_id)
    _check_repo(repo)
    context = {"repo": repo, "status": presenters.status_cell(repo, push_id)}
    return render(request, "pushes/push_list.html#status_cell", context)


@push_page
def push_detail(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    jfilter = JobFilter.from_query(request.GET)
    state = presenters.live_state(repo, push_id)
    # The Taskcluster link is in the header only: fragments skip that lookup.
    decision = None if _wants_fragment(request) else services.decision_task(repo, push_id)
    context = {
        **_push_header(repo, push.value, decision),
        **_live_groups(request, repo, push.value, state, jfilter),
    }
    context.update(push_fetched=push, show_choices=SHOW_CHOICES, view_choices=VIEW_CHOICES)
    context["watched"] = push_id in _watched(request, repo, [push_id])
    return _page(request, "pushes/push_detail.html", "live", context)


GROUPS_TTL = 300


def _live_groups(
    request: HttpRequest, repo: str, push: Push, state: presenters.LiveState, jfilter: JobFilter
) -> dict[str, Any]:
    """What #push-live shows. Without a filter its groups (and the jobs of the open ones) are the same
    for every viewer of one fetch but for Retrigger buttons: rendered once per fetch and sign-in state.
    With a filter on they depend on the search's test-name matches too: rendered each time."""
    key = ""
    if state.fetched and not state.fetched.stale and not jfilter.active:
        signed_in = int(request.user.is_authenticated)
        at = f"{state.fetched.fetched_at:.3f}"
        key = f"bw:groups:v1:{repo}:{push.id}:{quote(jfilter.query())}:{signed_in}:{at}:{state.token}"
        if (hit := cache.get(key)) is not None:
            html, open_anchors = hit
            context = presenters.poll_context(repo, push, state, jfilter, open_anchors)
            context.update(groups=bool(html.strip()), groups_html=mark_safe(html))  # noqa: S308 - ours
            return context
    context = presenters.live_context(repo, push, state, jfilter)
    context["groups"] = [
        replace(group, html=section_html(request, repo, push.id, jfilter, group.section))
        if group.section
        else group
        for group in context["groups"]
    ]
    if key:
        html = render_to_string("pushes/push_detail.html#groups", {**context, "repo": repo}, request=request)
        open_anchors = [group.anchor for group in context["groups"] if group.open]
        cache.set(key, (html, open_anchors), GROUPS_TTL)
        context["groups_html"] = mark_safe(html)  # noqa: S308 - our own template's output
    return context


@push_page
def push_jobs(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    """The jobs of one platform group (or all tier-2/3 jobs): loaded when a group is opened."""
    form = JobsQuery(request.GET)
    if not form.is_valid():
        raise Http404("No such group of jobs.")
    platform, option, tier = (
        form.cleaned_data["platform"],
        form.cleaned_data["option"],
        form.cleaned_data["tier"],
    )
    try:
        jobs_fetched, error = (
            services.group_jobs(repo, push_id, platform=platform, option=option, tier=tier),
            "",
        )
    except (cached.Unavailable, TreeherderNotFound) as exc:
        jobs_fetched, error = None, exc.reason
    anchor = jobview.OTHER_ANCHOR if tier == "other" else jobview.group_anchor(platform, option)
    jfilter = JobFilter.from_query(request.GET)
    if jobs_fetched and _wants_fragment(request):  # the same for everyone until the next fetch
        key = _section_key(request, repo, push_id, anchor, jfilter, jobs_fetched.fetched_at)
        jobs = jobs_fetched.value
        html = _cached_html(
            key, lambda: _render_section(request, repo, push.value, jobs, anchor, jfilter, jobs_fetched)
        )
        return HttpResponse(html)
    jobs = jobs_fetched.value if jobs_fetched else []
    fetched_at = jobs_fetched.fetched_at if jobs_fetched else 0.0
    section = presenters.job_section(repo, push.value.revision, jobs, fetched_at, jfilter, anchor=anchor)
    group_name = "Tier 2 and 3 jobs" if tier == "other" else rules.group_display_name(platform, option)
    context = {**_push_header(repo, push.value), "group_name": group_name, "section": section}
    context.update(jobs_fetched=jobs_fetched, jobs_error=error)
    return _page(request, "pushes/push_jobs.html", "jobs", context)


# --- Rendered job sections, cached: a group of 300 jobs costs ~40 ms to render, a cache read ~1 ms ------

SECTION_TTL = 300


def _section_key(
    request: HttpRequest, repo: str, push_id: int, anchor: str, jfilter: JobFilter, at: float
) -> str:
    # Nothing per user in a section but whether Retrigger buttons show (the CSRF token is in the page's form).
    signed_in = int(request.user.is_authenticated)
    return f"bw:section:v1:{repo}:{push_id}:{anchor}:{quote(jfilter.query())}:{signed_in}:{at:.3f}"


def _cached_html(key: str, render: Callable[[], str]) -> str:
    html = cache.get(key)
    if html is None:
        html = render()
        cache.set(key, html, SECTION_TTL)
    return mark_safe(html)  # noqa: S308 - our own template's output


def _render_section(
    request: HttpRequest,
    repo: str,
    push: Push,
    jobs: list,
    anchor: str,
    jfilter: JobFilter,
    fetched: cached.Fetched,
) -> str:
    section = presenters.job_section(repo, push.revision, jobs, fetched.fetched_at, jfilter, anchor=anchor)
    context = {"repo": repo, "section": section, "jobs_fetched": fetched}
    return render_to_string("pushes/push_jobs.html#jobs", context, request=request)


def section_html(
    request: HttpRequest, repo: str, push_id: int, jfilter: JobFilter, section: presenters.JobSection
) -> str:
    key = _section_key(request, repo, push_id, section.anchor, jfilter, section.fetched_at)
    return _cached_html(
        key,
        lambda: render_to_string(
            "pushes/push_jobs.html#section", {"repo": repo, "section": section}, request=request
        ),
    )


@push_page
def push_failures(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    """The failure summary: a fragment the push page loads once (its poller refreshes it from then on),
    or a page of its own that refreshes itself (`?self=1`)."""
    context = {
        **_push_header(repo, push.value),
        **(failures_context(request, repo, push.value, failure_view.failure_view(repo, push_id)) or {}),
    }
    context["self_refresh"] = not _wants_fragment(request) or "self" in request.GET
    return _page(request, "pushes/push_failures.html", "failures", context)


def failures_oob(request: HttpRequest, repo: str, push: Push, shown: str) -> str:
    """The failure section for a live refresh, swapped out of band: only when the page shows one
    (`shown`: its digest) and it changed since."""
    if not shown:
        return ""
    context = failures_context(request, repo, push, failure_view.failure_view(repo, push.id), unless=shown)
    if context is None:
        return ""
    context.update(_push_header(repo, push), oob=True, self_refresh=False)
    return render_to_string("pushes/push_failures.html#failures", context, request=request)


def failures_context(
    request: HttpRequest, repo: str, push: Push, view: failure_view.FailureView, unless: str = ""
) -> dict[str, Any] | None:
    """What the failure section shows, or None when its digest is `unless` (what the page already shows).
    Its failure groups are rendered once per digest for every viewer."""
    summary = view.summary
    confirmed = failure_view.confirmations(repo, push.id, push.revision) if summary.groups else {}
    digest = failure_view.page_digest(view, confirmed)
    if unless and digest == unless:
        return None

    def render_body() -> str:
        body = {
            "repo": repo,
            "push": push,
            "summary": summary,
            "confirmed": confirmed,
            "job_links": {
                job_id: presenters.job_row(repo, push.revision, job, time.time())
                for job_id, job in summary.jobs_by_id.items()
            },
            "classifications": services.failure_classifications() if summary.groups else {},
        }
        return render_to_string("pushes/push_failures.html#failure_body", body, request=request)

    waiting = any(not found["request"].verdict for found in confirmed.values())
    # What the Confirm button still offers: the new failures nobody sent to run again yet.
    confirming_new = sum(group.key in confirmed for group in summary.new_groups)
    return {
        "summary": summary,
        "unconfirmed_new": summary.new_count - confirming_new,
        "confirming_new": confirming_new,
        "jobs_fetched": view.jobs_fetched,
        "jobs_error": view.error,
        "finished": view.finished,
        "failures_digest": digest,
        "failures_body": failure_view.body_html(repo, push.id, digest, waiting, render_body),
    }


def bad_push_id(request: HttpRequest, repo: str, value: str) -> HttpResponse:
    raise Http404(f"“{value}” is not a push id: push ids are whole numbers.")
