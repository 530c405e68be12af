"""What the push pages share (pushes/views.py and pushes/live_views.py both use it): is this a repository
Treeherder knows (`check_repo`), the `push_page` decorator (an unknown repository or push is a 404,
Treeherder down with nothing cached a 503 page), one page or its htmx fragment (`render_page`), whether
a request gets the push page's shell (`wants_shell`), and the push header (`header`).

An htmx request (not a history restore) gets only the partial it asked for ("page.html#partial");
every fragment URL also works as a plain page or redirect, so the site works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, overload

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render as render_template
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from buildwatch.htmx import wants_fragment

from . import answer, cached, fragments, links, rules, services
from .presenters import whole_page_url
from .rules import Push
from .treeherder.errors import TreeherderNotFound

if TYPE_CHECKING:
    from .reads import FailureSection

PushView = Callable[..., HttpResponse]  # (request, repo, push_id, push, **url kwargs)


def render_page(
    request: HttpRequest, template: str, partial: str, context: dict, status: int = 200
) -> HttpResponse:
    """The page, or for htmx the partial it swaps in."""
    if wants_fragment(request):
        # htmx does not swap error answers by default: a fragment always answers 200 and says what is wrong.
        return render_template(request, f"{template}#{partial}", context)
    return render_template(request, template, context, status=status)


def check_repo(repo: str) -> None:
    if not services.is_known_repo(repo):
        raise Http404(f"Unknown repository “{repo}”: Treeherder has no repository of that name.")


def _push_or_404(repo: str, push_id: int) -> cached.Fetched[Push]:
    try:
        return services.push(repo, push_id)
    except TreeherderNotFound as exc:
        raise Http404(f"No push {push_id} in repository “{repo}”.") from exc


def wants_shell(request: HttpRequest) -> bool:
    """A browser navigating to the push page (`Sec-Fetch-Dest: document`) gets its shell when the page
    is not all cached: htmx loads the parts that wait on Treeherder. Everything else — htmx fragments,
    `?whole=1` (browsers without JavaScript land there), clients that are not browsers (curl, scripts,
    tests' clients) — gets the whole page in one response."""
    return (
        not wants_fragment(request)
        and "whole" not in request.GET
        and request.headers.get("Sec-Fetch-Dest") == "document"
    )


# The ids of the push page shell's placeholders: htmx names the one a request comes from (HX-Trigger).
SHELL_PARTS = frozenset({"push-header", "push-live", "failures"})


def shell_part(request: HttpRequest) -> bool:
    """An htmx request from a placeholder of the push page's shell (or the part it became, asking
    again): it shows what the reads in flight bring (the shell's prefetch started them), never the last
    good copy meanwhile — a part arrives once and is not refreshed by the poller before its interval."""
    htmx = getattr(request, "htmx", None)
    return wants_fragment(request) and bool(htmx) and htmx.trigger in SHELL_PARTS


@overload
def push_page(view: PushView) -> Callable[..., HttpResponse]: ...
@overload
def push_page(*, unavailable: str) -> Callable[[PushView], Callable[..., HttpResponse]]: ...
def push_page(view: PushView | None = None, *, unavailable: str = "unavailable") -> Any:
    """A GET page about one push: unknown repo or push → 404; Treeherder down with nothing cached →
    a 503 page (or, to htmx, the fragment `unavailable` of pushes/push_unavailable.html, which says
    so in its part of the page); otherwise the view gets the (possibly stale) push.

    A fragment of a push or repository Treeherder does not know (the push page's shell asks for its
    parts before anything was read) sends the browser to the whole page, which answers 404."""
    if view is None:
        return lambda view: push_page(view, unavailable=unavailable)

    @require_GET
    @vary_on_headers("HX-Request")
    @wraps(view)
    def wrapper(request: HttpRequest, repo: str, push_id: int, **kwargs: Any) -> HttpResponse:
        if shell_part(request):
            with cached.awaiting_fetch():
                return page(request, repo, push_id, **kwargs)
        return page(request, repo, push_id, **kwargs)

    def page(request: HttpRequest, repo: str, push_id: int, **kwargs: Any) -> HttpResponse:
        try:
            check_repo(repo)
            push = _push_or_404(repo, push_id)
        except cached.Unavailable as exc:
            context = {"repo": repo, "push_id": push_id, "error": exc.reason}
            if wants_fragment(request):
                return render_template(request, f"pushes/push_unavailable.html#{unavailable}", context)
            return render_template(request, "pushes/push_unavailable.html", context, status=503)
        except Http404:
            if not wants_fragment(request):
                raise
            return HttpResponseClientRedirect(whole_page_url(repo, push_id))
        return view(request, repo, push_id, push, **kwargs)

    return wrapper


def header(repo: str, push: Push, decision_task: str | None = None) -> dict[str, Any]:
    """The push header: title, author, Bug, and links to Treeherder, Taskcluster (its decision task's
    group, when known) and Bugzilla."""
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


def failure_section_html(
    request: HttpRequest, repo: str, push: Push, section: FailureSection, now: float, *, oob: bool = False
) -> str:
    """The failure section as the push page shows it (pushes/push_failures.html#failures): inline in a
    whole page, or out of band in a live refresh (`oob`) when its digest changed."""
    failures, body = answer.failure_section_context(repo, push, section, now)
    failures["failures_body"] = fragments.failure_body(request, section, body)
    context = {**failures, **header(repo, push), "oob": oob, "self_refresh": False}
    return render_to_string("pushes/push_failures.html#failures", context, request=request)
