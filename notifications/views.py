"""Accounts-side pages: settings, watch/unwatch, and the list of watched pushes."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.models import UserSettings, default_repo
from buildwatch.htmx import back_url, login_required_htmx, wants_fragment
from pushes import eta_text

from . import etas as etas_of
from . import selectors, watches
from .forms import SettingsForm

# Sections of the settings page: web push and Matrix (this app), the Taskcluster credentials (accounts).
SETTINGS_SECTIONS = (
    "notifications/_webpush_section.html",
    "notifications/_matrix_section.html",
    "accounts/_taskcluster_section.html",
)


def _push_url(repo: str, push_id: int) -> str:
    return reverse("push_detail", args=[repo, push_id])


def _push_id(raw: str) -> int:
    # The model stores a signed 64-bit integer; anything larger names no push.
    value = int(raw)
    if value >= 2**63:
        raise Http404("No such push.")
    return value


def _watch_answer(
    request: HttpRequest, repo: str, push_id: int, *, watched: bool, message: str
) -> HttpResponse:
    back = back_url(request)
    if wants_fragment(request):
        context = {"repo": repo, "push_id": push_id, "watched": watched, "watch_next": back or ""}
        return render(request, "notifications/watch_button.html", context)
    messages.success(request, message)
    return redirect(back or _push_url(repo, push_id))


@require_POST
@login_required_htmx
def watch(request: HttpRequest, repo: str, push_id: str) -> HttpResponse:
    pid = _push_id(push_id)
    try:
        push = watches.check_watchable(request.user, repo, pid)
        watches.start_watching(request.user, repo, push)
    except watches.NotWatchable as refused:
        if wants_fragment(request):
            return HttpResponse(refused.message, status=refused.status, content_type="text/plain")
        messages.error(request, refused.message)
        return redirect(back_url(request) or "watching")
    return _watch_answer(
        request,
        repo,
        pid,
        watched=True,
        message=f"Watching {repo} push {pid}: you will be told when it finishes.",
    )


@require_POST
@login_required_htmx
def unwatch(request: HttpRequest, repo: str, push_id: str) -> HttpResponse:
    pid = _push_id(push_id)
    if not watches.stop_watching(request.user, repo, pid):
        raise Http404(f"You are not watching {repo} push {pid}.")
    return _watch_answer(request, repo, pid, watched=False, message=f"Stopped watching {repo} push {pid}.")


@require_GET
@vary_on_headers("HX-Request")
@login_required_htmx
def watching(request: HttpRequest) -> HttpResponse:
    rows = selectors.watch_rows(request.user)
    etas = etas_of.running_estimates(row.state for row in rows if row.state is not None and not row.finished)
    rows = [
        replace(row, eta=eta_text.eta_line(etas[row.state.pk].eta))
        if row.state and row.state.pk in etas
        else row
        for row in rows
    ]
    context = {
        "running_rows": [row for row in rows if not row.finished],
        "finished_rows": [row for row in rows if row.finished],
        "notifications": selectors.recent_notifications(request.user),
    }
    template = "notifications/watching.html"
    if wants_fragment(request):
        template += "#watch-lists"  # the periodic refresh while pushes run
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@login_required_htmx
def settings_view(request: HttpRequest) -> HttpResponse:
    user_settings = UserSettings.for_user(request.user)
    saved = False
    if request.method == "POST":
        form = SettingsForm(request.POST, instance=user_settings)
        if form.is_valid():
            form.save()
            if not wants_fragment(request):
                messages.success(request, "Settings saved.")
                return redirect("settings")
            saved = True
            form = SettingsForm(instance=user_settings)
    else:
        form = SettingsForm(instance=user_settings)
    context = {
        "form": form,
        "saved": saved,
        "sections": SETTINGS_SECTIONS,
    }
    template = "notifications/settings.html"
    if wants_fragment(request):
        template += "#settings-form"
    return render(request, template, context)


def home(request: HttpRequest) -> HttpResponse:
    """`/`: the signed-in user's default repository, `try` for everyone else."""
    return redirect("push_list", default_repo(request.user))
