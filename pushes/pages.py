"""What the push pages share (pushes/views.py and pushes/live_views.py both use it): is this a repository
Treeherder knows (`check_repo`), the `push_page` decorator (an unknown repository or push is a 404,
Treeherder down with nothing cached a 503 page), one page or its htmx fragment (`render_page`), and the
push header (`header`).

An htmx request (not a history restore) gets only the partial it asked for ("page.html#partial");
every fragment URL also works as a plain page or redirect, so the site works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render as render_template
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from buildwatch.htmx import wants_fragment

from . import cached, links, rules, services
from .rules import Push
from .treeherder.errors import TreeherderNotFound

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


def push_page(view: PushView) -> Callable[..., HttpResponse]:
    """A GET page about one push: unknown repo or push → 404; Treeherder down with nothing cached →
    a 503 page (or a fragment saying so); otherwise the view gets the (possibly stale) push."""

    @require_GET
    @vary_on_headers("HX-Request")
    @wraps(view)
    def wrapper(request: HttpRequest, repo: str, push_id: int, **kwargs: Any) -> HttpResponse:
        check_repo(repo)
        try:
            push = _push_or_404(repo, push_id)
        except cached.Unavailable as exc:
            context = {"repo": repo, "push_id": push_id, "error": exc.reason}
            return render_page(request, "pushes/push_unavailable.html", "unavailable", context, status=503)
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
