"""The "confirm these failures" page: GET shows what would run again (never changes anything), POST
(signed in, CSRF) asks Taskcluster through pushes.confirm. Other methods are a 405, an unknown
repository a 404."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.models import TaskclusterCredentials, confirm_times

from . import cached, pages, services
from .confirm import confirm_failures as run_confirm
from .confirm import new_failure_groups, split_confirmed
from .models import ConfirmRequest
from .treeherder.errors import TreeherderNotFound


class ConfirmForm(forms.Form):
    times = forms.IntegerField(min_value=1, max_value=5, label="Runs of each failing job")


@require_http_methods(["GET", "POST"])
@login_required
def confirm_failures(request: HttpRequest, repo: str, push_id: int) -> HttpResponse:
    """Treeherder down, slow or answering garbage with nothing cached: the page says so (503) and, on
    POST, nothing is run again (the new failures cannot be known)."""
    pages.check_repo(repo)
    initial = {"times": confirm_times(request.user)}
    form = ConfirmForm(request.POST if request.method == "POST" else None, initial=initial)
    context = {"repo": repo, "push_id": push_id, "form": form, "groups": [], "confirming": [], "error": ""}
    try:
        if request.method == "POST" and form.is_valid():
            context["outcome"] = run_confirm(request.user, repo, push_id, form.cleaned_data["times"])
            if any(group.task_ids for group in context["outcome"].groups):
                services.note_retrigger(repo, push_id)  # the push's pages show the new runs
        groups, context["jobs_by_id"] = new_failure_groups(repo, push_id)
        context["groups"], context["confirming"] = split_confirmed(repo, push_id, groups)
    except (cached.Unavailable, TreeherderNotFound) as exc:
        context["error"] = getattr(exc, "reason", "") or str(exc)
    context["has_credentials"] = TaskclusterCredentials.objects.filter(user=request.user).exists()
    context["requests"] = ConfirmRequest.objects.filter(user=request.user, repo=repo, push_id=push_id)
    status = 400 if request.method == "POST" and not form.is_valid() else 200
    if context["error"] and "outcome" not in context:
        status = 503
    return render(request, "pushes/confirm.html", context, status=status)
