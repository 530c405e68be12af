"""The retrigger button's POST, and the Taskcluster credentials section of /settings/."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from notifications.views import login_required_htmx

from . import services
from .models import TaskclusterCredentials
from .retrigger import MAX_TIMES, SUCCESS, UNCERTAIN, retrigger_job

SECTION_TEMPLATE = "notifications/_taskcluster_section.html"
# Taskcluster's own schemas for a client id and an access token.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9!@/:.+|_-]+$")
ACCESS_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22,66}$")


class RetriggerForm(forms.Form):
    times = forms.IntegerField(min_value=1, max_value=MAX_TIMES, required=False)


class TaskclusterCredentialsForm(forms.Form):
    client_id = forms.CharField(
        label="Client id",
        max_length=256,
        help_text="The Taskcluster client you created for BuildWatch, e.g. mozilla-auth0/ad|Mozilla-LDAP|you/buildwatch.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    access_token = forms.CharField(
        label="Access token",
        max_length=66,
        strip=True,
        help_text="Shown once by Taskcluster when you create or reset the client. Stored encrypted; never shown again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    def clean_client_id(self) -> str:
        value = self.cleaned_data["client_id"].strip()
        if not CLIENT_ID_RE.match(value):
            raise forms.ValidationError("A client id has letters, digits and !@/:.+|_- only, no spaces.")
        return value

    def clean_access_token(self) -> str:
        value = self.cleaned_data["access_token"]
        if not ACCESS_TOKEN_RE.match(value):
            raise forms.ValidationError("An access token is 22 to 66 letters, digits, - or _.")
        return value


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


@require_POST
@login_required_htmx  # htmx: a 401 that sends the page to sign in, not the login form swapped in
def retrigger(request: HttpRequest, repo: str, job_id: int | str) -> HttpResponse:
    job_id = int(job_id)
    form = RetriggerForm(request.POST)
    if not form.is_valid():
        context = {"repo": repo, "job_id": job_id, "form_errors": form.errors.get("times")}
        if _is_htmx(request):  # htmx swaps only 2xx answers: show the message in place of the button
            return render(request, "pushes/retrigger_result.html#result", context)
        return render(request, "pushes/retrigger_result.html", context, status=400)
    outcome = retrigger_job(request.user, repo, job_id, form.cleaned_data.get("times") or 1)
    if outcome.kind in (SUCCESS, UNCERTAIN) and outcome.job is not None:
        services.note_retrigger(repo, outcome.job.push_id)  # the push's pages show the new runs
    template = "pushes/retrigger_result.html" + ("#result" if _is_htmx(request) else "")
    return render(request, template, {"repo": repo, "job_id": job_id, "outcome": outcome})


def _section(request: HttpRequest, form: TaskclusterCredentialsForm | None = None, notice: str = "") -> HttpResponse:
    request.user.refresh_from_db()  # drop a cached (maybe just deleted) credentials row
    return render(request, SECTION_TEMPLATE, {"tc_form": form, "tc_notice": notice})


@require_POST
@login_required_htmx
def save_credentials(request: HttpRequest) -> HttpResponse:
    form = TaskclusterCredentialsForm(request.POST)
    if not form.is_valid():
        if _is_htmx(request):
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
    if _is_htmx(request):
        return _section(request, notice=notice)
    messages.success(request, notice)
    return redirect("settings")


@require_POST
@login_required_htmx
def delete_credentials(request: HttpRequest) -> HttpResponse:
    deleted, _ = TaskclusterCredentials.objects.filter(user=request.user).delete()
    notice = "Taskcluster credentials removed." if deleted else "There were no Taskcluster credentials to remove."
    if _is_htmx(request):
        return _section(request, notice=notice)
    messages.success(request, notice)
    return redirect("settings")
