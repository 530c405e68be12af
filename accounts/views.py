"""The Taskcluster credentials section of /settings/: save or remove the client retrigger signs with.

The settings page itself is the notifications app's; it includes this app's section template, and these
views answer htmx with that section alone or, without JavaScript, send the browser back to the page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from buildwatch.htmx import HtmxHttpRequest, login_required_htmx, wants_fragment

from .forms import TaskclusterCredentialsForm
from .models import TaskclusterCredentials

SECTION_TEMPLATE = "accounts/_taskcluster_section.html"


def _section(
    request: HtmxHttpRequest, form: TaskclusterCredentialsForm | None = None, notice: str = ""
) -> HttpResponse:
    request.user.refresh_from_db()  # drop a cached (maybe just deleted) credentials row
    return render(request, SECTION_TEMPLATE, {"tc_form": form, "tc_notice": notice})


@require_POST
@login_required_htmx
def save_credentials(request: HtmxHttpRequest) -> HttpResponse:
    form = TaskclusterCredentialsForm(request.POST)
    if not form.is_valid():
        if wants_fragment(request):
            return _section(request, form)
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else "Taskcluster"
            for error in errors:
                messages.error(request, f"Taskcluster {label.lower()}: {error}")
        return redirect("settings")
    credentials = TaskclusterCredentials.objects.filter(user=request.user).first() or TaskclusterCredentials(
        user=request.user
    )
    credentials.client_id = form.cleaned_data["client_id"]
    credentials.set_access_token(form.cleaned_data["access_token"])
    credentials.save()
    notice = "Taskcluster credentials saved."
    if wants_fragment(request):
        return _section(request, notice=notice)
    messages.success(request, notice)
    return redirect("settings")


@require_POST
@login_required_htmx
def delete_credentials(request: HtmxHttpRequest) -> HttpResponse:
    deleted, _ = TaskclusterCredentials.objects.filter(user=request.user).delete()
    notice = (
        "Taskcluster credentials removed." if deleted else "There were no Taskcluster credentials to remove."
    )
    if wants_fragment(request):
        return _section(request, notice=notice)
    messages.success(request, notice)
    return redirect("settings")
