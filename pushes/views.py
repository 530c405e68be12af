"""The push list (its page, its one live refresh, a row's status cell) and the push page (its live section,
a group's jobs, the failure summary). Each view reads everything first (pushes.reads, or pushes.services
for a single read), hands the data to pushes.presenters, and renders (pushes.pages, pushes.fragments).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.models import author_email
from buildwatch.htmx import wants_fragment

from . import (
    answer,
    cached,
    estimates,
    eta_text,
    fragments,
    jobrows,
    jobview,
    pages,
    paging,
    presenters,
    reads,
    rules,
    services,
)
from .forms import JobsQuery, push_list_query
from .jobview import SHOW_CHOICES, VIEW_CHOICES, JobFilter
from .pages import push_page
from .rules import Push
from .treeherder.errors import TreeherderNotFound

MAX_IDS = 100
NOT_LISTED = "not read: reload the list to see this push's status"


def _default_author(user: Any) -> str:
    """The signed-in user's Treeherder author email, read without creating a settings row on GET."""
    if not getattr(user, "is_authenticated", False):
        return ""
    return author_email(user)


# --- The push list ------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def push_list(request: HttpRequest, repo: str) -> HttpResponse:
    if "repo" in request.GET:
        return _switch_repo(request)
    pages.check_repo(repo)
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
        "repo_choices": _repo_choices(repo),
        "keep_author": "author" in request.GET,
    }
    if query["author_error"]:
        context["author_error"] = query["author_error"]
        return render(request, "pushes/push_list.html", context, status=400)
    older = query["older"]
    try:
        if older is None and query["id_lt"] is not None:
            return _older_than_push(request, repo, query["id_lt"], query["count"], author)
        fetched = services.push_list(repo, count=query["count"], author=author or None, older=older)
    except TreeherderNotFound as exc:
        raise Http404(f"Unknown repository “{repo}”: Treeherder has no repository of that name.") from exc
    except cached.Unavailable as exc:
        context["error"] = exc.reason
        return render(request, "pushes/push_list.html", context, status=503)
    pushes = fetched.value
    context["fetched"] = fetched
    context["rows"] = push_rows(request, repo, pushes)
    following = paging.after(pushes, older)
    if len(pushes) >= query["count"] and following is not None:
        context["older_url"] = f"?{urlencode(_list_params(request, query['count'], author, following))}"
    ids = [push.id for push in pushes]
    context.update(
        list_poll(
            repo, author, query["count"], ids, max(ids, default=0) if older is None else None, load=True
        )
    )
    return render(request, "pushes/push_list.html", context)


def _repo_choices(repo: str) -> list[str]:
    choices = services.repository_choices()
    return choices if repo in choices else [repo, *choices]


def _switch_repo(request: HttpRequest) -> HttpResponse:
    """The repository selector's GET form (`?repo=X`, works without JavaScript): the list of X, with the
    author chosen here (if one was)."""
    chosen = request.GET["repo"].strip()
    if not re.fullmatch(rules.REPO_NAME, chosen):
        raise Http404(f"Unknown repository “{chosen}”: Treeherder has no repository of that name.")
    url = reverse("push_list", args=[chosen])
    if "author" in request.GET:
        url += f"?{urlencode({'author': request.GET['author']})}"
    return redirect(url)


def _list_params(request: HttpRequest, count: int, author: str, older: paging.Older) -> dict[str, Any]:
    """A link to the page `older` starts, with the same count and (when chosen) author."""
    params: dict[str, Any] = {"count": count, **older.query()}
    if "author" in request.GET or not _default_author(request.user):
        params["author"] = author
    return params


def _older_than_push(request: HttpRequest, repo: str, push_id: int, count: int, author: str) -> HttpResponse:
    """An "Older pushes" link from before the list paged by time (`?id__lt=N`, N the last push it
    showed) goes to the pushes older than push N by time. Raises cached.Unavailable when Treeherder is
    down and push N is not cached."""
    try:
        push = services.push(repo, push_id).value
    except TreeherderNotFound:
        raise Http404(
            f"No push {push_id} in repository “{repo}”: this link lists the pushes older than it, "
            "and Treeherder no longer has it."
        ) from None
    older = paging.Older(push.push_timestamp, frozenset({push.id}))
    params = _list_params(request, count, author, older)
    return redirect(f"{reverse('push_list', args=[repo])}?{urlencode(params)}")


def push_rows(request: HttpRequest, repo: str, pushes: list[Push]) -> list[dict[str, Any]]:
    # The Watch buttons are the viewer's: the template asks notifications' watch_tags for them.
    return [
        {
            "push": push,
            "title": rules.display_title(push.revisions) or push.revision[:12],
            "author": rules.author_handle(push.author),
            "bug": rules.bug_number(push.revisions),
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


def _ints(text: str, limit: int) -> list[int]:
    # ASCII digits only: "²" is a digit to str.isdigit but not to int().
    parts = (part.strip() for part in text.split(",")[:limit])
    return [int(part) for part in parts if part.isascii() and part.isdigit() and len(part) <= 19]


@require_GET
@vary_on_headers("HX-Request")
def push_list_live(request: HttpRequest, repo: str) -> HttpResponse:
    """One request per refresh for the whole push list: the rows still running get their status cells,
    and (on the first page, `top`) pushes newer than the top row are added above it. It keeps to one
    budget for Treeherder (the request's page budget: reads.statuses), and reads for an anonymous caller
    only the pushes a list has shown (`services.listed_push_ids`): at most MAX_IDS of them."""
    if not wants_fragment(request):
        return redirect("push_list", repo=repo)
    pages.check_repo(repo)
    query = push_list_query(request.GET)
    ids = _ints(request.GET.get("ids", ""), MAX_IDS)
    top = _ints(request.GET.get("top", ""), 1)
    new_pushes: list[Push] = []
    if top and not query["author_error"]:
        try:
            listed = services.push_list(repo, count=query["count"], author=query["author"] or None).value
        except (cached.Unavailable, TreeherderNotFound):
            listed = []
        new_pushes = [push for push in listed if push.id > top[0]]
    new_rows = push_rows(request, repo, new_pushes)
    wanted = [*ids, *(push.id for push in new_pushes)]
    # Anyone may send any ids: for an anonymous caller only pushes BuildWatch has listed are read.
    readable = set(wanted) if request.user.is_authenticated else services.listed_push_ids(repo, wanted)
    read = iter(reads.statuses(repo, [push_id for push_id in wanted if push_id in readable]))
    found = [next(read) if push_id in readable else reads.unread(push_id, NOT_LISTED) for push_id in wanted]
    cells = presenters.status_cells(found)
    for row, cell in zip(new_rows, cells[len(ids) :], strict=True):
        row["status"] = cell
    following = [cell.push_id for cell in cells if not cell.finished and cell.push_id in readable]
    newest = max([*top, *(push.id for push in new_pushes)]) if top else None
    context = {"repo": repo, "statuses": cells[: len(ids)], "new_rows": new_rows}
    context.update(list_poll(repo, query["author"], query["count"], following, newest, load=False))
    return render(request, "pushes/push_list.html#list_refresh", context)


@require_GET
@vary_on_headers("HX-Request")
def push_status(request: HttpRequest, repo: str, push_id: int) -> HttpResponse:
    """The lazily loaded status cell of one push-list row."""
    if not wants_fragment(request):
        return redirect("push_detail", repo=repo, push_id=push_id)
    pages.check_repo(repo)
    context = {"repo": repo, "status": presenters.status_cell(reads.status(repo, push_id))}
    return render(request, "pushes/push_list.html#status_cell", context)


# --- The push page ------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request", "Sec-Fetch-Dest")
def push_detail(request: HttpRequest, repo: str, push_id: int) -> HttpResponse:
    """The push page. A browser navigating to it gets it whole when everything it shows is cached (one
    response, no wait), else at once its shell (pages.wants_shell): the header, the filters, the last
    counts, and placeholders that load the header, the live section (badge, totals, groups) and the
    failure summary as fragments as Treeherder answers. htmx asks here for the live section."""
    if not pages.wants_shell(request):
        return _push_detail(request, repo, push_id, inline_failures="whole" in request.GET)
    try:
        with cached.cache_only():
            return _push_detail(request, repo, push_id, inline_failures=True)
    except cached.NotCached:
        pass
    shell = reads.shell(repo, push_id)  # what is cached now; then the reads its parts need start
    reads.prefetch(repo, push_id)
    jfilter = JobFilter.from_query(request.GET)
    context = presenters.shell_context(repo, push_id, shell, jfilter)
    if shell.push is not None:
        context.update(pages.header(repo, shell.push.value, shell.decision_task))
    context.update(show_choices=SHOW_CHOICES, view_choices=VIEW_CHOICES)
    return render(request, "pushes/push_detail.html", context)


@push_page(unavailable="live_unavailable")
def _push_detail(
    request: HttpRequest,
    repo: str,
    push_id: int,
    push: cached.Fetched[Push],
    *,
    inline_failures: bool = False,
) -> HttpResponse:
    """The whole page (or to htmx its live section). `inline_failures`: with the failure summary in it
    rather than loaded by htmx — when it waits for everything anyway (`?whole=1`), or when it is cached
    (a browser's warm page: one response); other clients load it as before."""
    jfilter = JobFilter.from_query(request.GET)
    fragment = wants_fragment(request)
    signed_in = request.user.is_authenticated
    page = reads.live_page(repo, push_id, jfilter, signed_in=signed_in, whole=not fragment)
    live = presenters.live_context(repo, push.value, page, jfilter)
    if page.groups_html is None:
        live.update(fragments.live_groups(request, repo, push_id, jfilter, live, page.groups_key))
    context = {**pages.header(repo, push.value, page.decision_task), **live}
    context.update(push_fetched=push, show_choices=SHOW_CHOICES, view_choices=VIEW_CHOICES)
    context["push_id"] = push_id
    context["whole"] = "whole" in request.GET  # the filters keep a page without JavaScript whole
    if inline_failures and not fragment:
        try:
            section = reads.failure_section(repo, push.value)
        except cached.NotCached:  # a warm page whose failure summary is not: htmx loads it
            pass
        else:
            context["failures_html"] = pages.failure_section_html(
                request, repo, push.value, section, time.time()
            )
    return pages.render_page(request, "pushes/push_detail.html", "live", context)


@push_page(unavailable="header_unavailable")
def push_header(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    """The push header, for the push page's shell when the push or its decision task was not cached."""
    if not wants_fragment(request):
        return redirect("push_detail", repo=repo, push_id=push_id)
    context = pages.header(repo, push.value, services.decision_task(repo, push_id))
    context["watch_button"] = request.user.is_authenticated
    if (found := estimates.estimate(repo, push_id)) is not None:  # when the jobs are cached already
        context["eta"] = eta_text.eta_line(found.eta)
    return render(request, "pushes/_push_header.html", context)


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
    anchor = jobview.OTHER_ANCHOR if tier == "other" else jobview.group_anchor(platform, option)
    jfilter = JobFilter.from_query(request.GET)
    fragment = wants_fragment(request)
    group = reads.group_jobs(
        repo, push_id, platform=platform, option=option, tier=tier, anchor=anchor, jfilter=jfilter,
        signed_in=request.user.is_authenticated, fragment=fragment,
    )  # fmt: skip
    jobs = group.fetched.value if group.fetched else []
    fetched_at = group.fetched.fetched_at if group.fetched else 0.0
    if group.fetched and fragment:  # the same for everyone until the next fetch
        if group.html is not None:
            return HttpResponse(group.html)
        section = jobrows.job_section(repo, push.value.revision, jobs, fetched_at, jfilter, anchor=anchor)
        context = {"repo": repo, "section": section, "jobs_fetched": group.fetched}
        return HttpResponse(fragments.render_jobs(request, group.key, context))
    section = jobrows.job_section(repo, push.value.revision, jobs, fetched_at, jfilter, anchor=anchor)
    group_name = "Tier 2 and 3 jobs" if tier == "other" else rules.group_display_name(platform, option)
    context = {**pages.header(repo, push.value), "group_name": group_name, "section": section}
    context.update(jobs_fetched=group.fetched, jobs_error=group.error)
    return pages.render_page(request, "pushes/push_jobs.html", "jobs", context)


@push_page(unavailable="failures_unavailable")
def push_failures(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    """The failure summary: a fragment the push page loads once (its poller refreshes it from then on),
    or a page of its own that refreshes itself (`?self=1`)."""
    section = reads.failure_section(repo, push.value)
    failures, body = answer.failure_section_context(repo, push.value, section, time.time())
    failures["failures_body"] = fragments.failure_body(request, section, body)
    # Its own page has the push page's header, Taskcluster link included.
    decision = None if wants_fragment(request) else services.decision_task(repo, push_id)
    context = {**pages.header(repo, push.value, decision), **failures}
    context["self_refresh"] = not wants_fragment(request) or "self" in request.GET
    return pages.render_page(request, "pushes/push_failures.html", "failures", context)


def bad_push_id(request: HttpRequest, repo: str, value: str) -> HttpResponse:
    raise Http404(f"“{value}” is not a push id: push ids are whole numbers.")
