"""The per-watch early-alert switch on /watching/ (a POST; a user changes only their own watch)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from buildwatch.htmx import login_required_htmx

from .models import Watch


@require_POST
@login_required_htmx
def toggle_early_alert(request: HttpRequest, repo: str, push_id: str) -> HttpResponse:
    updated = Watch.objects.filter(user=request.user, repo=repo, push_id=int(push_id)).update(
        early_alert=request.POST.get("on") == "1"
    )
    if not updated:
        raise Http404("You do not watch this push.")
    return redirect("watching")
