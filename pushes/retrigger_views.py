"""The Retrigger button's POST (the Taskcluster work is pushes.retrigger's)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from buildwatch.htmx import HtmxHttpRequest, login_required_htmx, wants_fragment

from . import services
from .forms import RetriggerForm
from .retrigger import SUCCESS, UNCERTAIN, retrigger_job


def _fragment(request: HtmxHttpRequest) -> str:
    """The answer htmx swaps in: a row under the job when the button is in a job row (its target, the
    row, is named jr-ID), else the result box in place of the button (a job's card)."""
    target = (request.htmx.target or "") if request.htmx else ""
    return "row_result" if target.startswith("jr-") else "result"


@require_POST
@login_required_htmx  # htmx: a 401 that sends the page to sign in, not the login form swapped in
def retrigger(request: HtmxHttpRequest, repo: str, job_id: int | str) -> HttpResponse:
    job_id = int(job_id)
    form = RetriggerForm(request.POST)
    if not form.is_valid():
        context = {"repo": repo, "job_id": job_id, "form_errors": form.errors.get("times")}
        if wants_fragment(request):  # htmx swaps only 2xx answers: show the message in place of the button
            return render(request, f"pushes/retrigger_result.html#{_fragment(request)}", context)
        return render(request, "pushes/retrigger_result.html", context, status=400)
    outcome = retrigger_job(request.user, repo, job_id, form.cleaned_data.get("times") or 1)
    if outcome.kind in (SUCCESS, UNCERTAIN) and outcome.job is not None:
        services.note_retrigger(repo, outcome.job.push_id)  # the push's pages show the new runs
    template = "pushes/retrigger_result.html" + (f"#{_fragment(request)}" if wants_fragment(request) else "")
    return render(request, template, {"repo": repo, "job_id": job_id, "outcome": outcome})
