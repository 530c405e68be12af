"""Accounts-side pages: settings, watch/unwatch, and the list of watched pushes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from . import selectors
from .forms import SettingsForm
from .models import PushState, UserSettings, Watch

# Sections other features render into the settings page; absent templates are simply skipped.
SETTINGS_SECTIONS = ("notifications/_webpush_section.html", "notifications/_taskcluster_section.html")


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _login_url(next_url: str) -> str:
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}"


def _safe_url(request: HttpRequest, url: str | None) -> str | None:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def _back_url(request: HttpRequest) -> str | None:
    """Where the user came from: an explicit `next`, else the Referer, if it is on this site."""
    return _safe_url(request, request.POST.get("next") or request.GET.get("next")) or _safe_url(
        request, request.headers.get("Referer")
    )


def _push_url(repo: str, push_id: int) -> str:
    try:
        return reverse("push_detail", args=[repo, push_id])
    except NoReverseMatch:  # the push pages are optional for this app
        return reverse("watching")


def login_required_htmx(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but an htmx request gets a 401 that sends the whole page to the login page
    (instead of swapping the login form into a button), and a plain POST comes back to the page it was
    sent from after signing in (a POST-only URL cannot be `next`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        back = _back_url(request)
        if request.htmx:
            current = _safe_url(request, request.htmx.current_url_abs_path) or back or "/"
            response = HttpResponse("Sign in first.", status=401, content_type="text/plain")
            response["HX-Redirect"] = _login_url(current)
            return response
        if request.method == "GET":
            return redirect_to_login(request.get_full_path())
        return HttpResponseRedirect(_login_url(back or "/"))

    return wrapper


def _push_id(raw: str) -> int:
    # The model stores a signed 64-bit integer; anything larger names no push.
    value = int(raw)
    if value >= 2**63:
        raise Http404("No such push.")
    return value


def _watch_answer(
    request: HttpRequest, repo: str, push_id: int, *, watched: bool, message: str
) -> HttpResponse:
    back = _back_url(request)
    if _is_htmx(request):
        context = {"repo": repo, "push_id": push_id, "watched": watched, "watch_next": back or ""}
        return render(request, "notifications/watch_button.html", context)
    messages.success(request, message)
    return redirect(back or _push_url(repo, push_id))


@require_POST
@login_required_htmx
def watch(request: HttpRequest, repo: str, push_id: str) -> HttpResponse:
    pid = _push_id(push_id)
    # The poller fills the state in; the page must not wait for Treeherder here.
    PushState.objects.get_or_create(repo=repo, push_id=pid)
    Watch.objects.get_or_create(user=request.user, repo=repo, push_id=pid)
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
    deleted, _ = Watch.objects.filter(user=request.user, repo=repo, push_id=pid).delete()
    if not deleted:
        raise Http404(f"You are not watching {repo} push {pid}.")
    return _watch_answer(request, repo, pid, watched=False, message=f"Stopped watching {repo} push {pid}.")


@require_GET
@vary_on_headers("HX-Request")
@login_required_htmx
def watching(request: HttpRequest) -> HttpResponse:
    rows = selectors.watch_rows(request.user)
    context = {
        "running_rows": [row for row in rows if not row.finished],
        "finished_rows": [row for row in rows if row.finished],
        "notifications": selectors.recent_notifications(request.user),
    }
    template = "notifications/watching.html"
    if _is_htmx(request):
        template += "#watch-lists"  # the periodic refresh while pushes run
    return render(request, template, context)


def _optional_templates(names: tuple[str, ...]) -> list[str]:
    found = []
    for name in names:
        try:
            get_template(name)
        except TemplateDoesNotExist:
            continue
        found.append(name)
    return found


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
            if not _is_htmx(request):
                messages.success(request, "Settings saved.")
                return redirect("settings")
            saved = True
            form = SettingsForm(instance=user_settings)
    else:
        form = SettingsForm(instance=user_settings)
    context = {
        "form": form,
        "saved": saved,
        "user_settings": user_settings,
        "sections": _optional_templates(SETTINGS_SECTIONS),
    }
    template = "notifications/settings.html"
    if _is_htmx(request):
        template += "#settings-form"
    return render(request, template, context)


def home(request: HttpRequest) -> HttpResponse:
    """`/`: the signed-in user's default repository, `try` for everyone else."""
    repo = selectors.default_repo(request.user)
    try:
        return redirect("push_list", repo)
    except NoReverseMatch:
        return redirect(f"/{repo}/")
