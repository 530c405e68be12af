"""The push page's live refresh (only what changed) and the job links: a job's details (a chip clicked)
and its log. Like pushes/views.py: read (pushes.reads, pushes.services), present (pushes.presenters),
render (pushes.pages)."""

from __future__ import annotations

import time

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from buildwatch.htmx import wants_fragment

from . import cached, jobrows, pages, presenters, reads, services
from .jobview import JobFilter
from .pages import push_page
from .rules import Push
from .treeherder.errors import TreeherderNotFound

MAX_OPEN = 200
MAX_DIGEST = 64
# Which of a job's logs the "log" link opens: the full task log first.
LOG_PREFERENCE = ("live_backing_log", "builds-4h")


@push_page
def push_refresh(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    """`?since=TOKEN&open=ANCHORS&failures=DIGEST[&shown=ANCHORS]`: the poller, plus what changed after
    TOKEN in the groups that are open (and groups new to the page: `shown`, with a filter on, lists the
    groups it shows), and the failure section when it no longer has that digest. A token the change
    log cannot answer gets the whole live section (HX-Retarget)."""
    jfilter = JobFilter.from_query(request.GET)
    if not wants_fragment(request):
        return redirect(f"{reverse('push_detail', args=[repo, push_id])}?{jfilter.query()}")
    open_anchors = set(request.GET.get("open", "").split(",")[:MAX_OPEN]) - {""}
    # With a filter on, the page says which groups it shows (push.js): the others may be added.
    shown = set(request.GET["shown"].split(",")[:MAX_OPEN]) - {""} if "shown" in request.GET else None
    refresh = reads.refresh(
        repo, push.value, jfilter, since=request.GET.get("since"), open_anchors=open_anchors, shown=shown,
        failures_digest=request.GET.get("failures", "")[:MAX_DIGEST],
    )  # fmt: skip
    if refresh.whole is not None:
        live = presenters.live_context(repo, push.value, refresh.whole, jfilter)
    else:
        live = presenters.refresh_context(repo, push.value, refresh, jfilter, open_anchors)
    failures_oob = ""
    if (section := refresh.failure_section) is not None:  # out of band: it changed since the page's digest
        failures_oob = pages.failure_section_html(request, repo, push.value, section, time.time(), oob=True)
    if refresh.whole is not None:
        context = {**pages.header(repo, push.value), **live, "failures_oob": failures_oob}
        response = render(request, "pushes/push_detail.html#live", context)
        response["HX-Retarget"], response["HX-Reswap"] = "#push-live", "outerHTML"
        return response
    context = {"repo": repo, **live, "failures_oob": failures_oob}
    return render(request, "pushes/push_refresh.html", context)


@push_page
def job_detail(
    request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push], job_id: int
) -> HttpResponse:
    """One job's details (a chip clicked): its status, duration and every link, and Retrigger."""
    try:
        fetched = services.jobs(repo, push_id)
    except (cached.Unavailable, TreeherderNotFound) as exc:
        raise Http404(f"The jobs of push {push_id} are not available: {exc.reason}") from exc
    job = next((job for job in fetched.value if job.id == job_id), None)
    if job is None:
        raise Http404(f"No job {job_id} in push {push_id}.")
    row = jobrows.job_row(repo, push.value.revision, job, fetched.fetched_at)
    context = {**pages.header(repo, push.value), "row": row, "jobs_fetched": fetched}
    return pages.render_page(request, "pushes/job_detail.html", "card", context)


@require_GET
def job_log(request: HttpRequest, repo: str, job_id: int) -> HttpResponse:
    """The job's log, found through Treeherder's job-log-url (cached): a redirect, or a page saying why not."""
    pages.check_repo(repo)
    try:
        logs = services.job_log_urls(repo, job_id)
    except TreeherderNotFound as exc:
        raise Http404(
            f"Job {job_id} is not in repository “{repo}”: Treeherder has no job of that id there."
        ) from exc
    except cached.Unavailable as exc:
        return render(
            request, "pushes/job_log.html", {"repo": repo, "job_id": job_id, "error": exc.reason}, status=503
        )
    chosen = next(
        (log for name in LOG_PREFERENCE for log in logs if log.name == name), logs[0] if logs else None
    )
    if chosen is None:
        return render(request, "pushes/job_log.html", {"repo": repo, "job_id": job_id}, status=404)
    return redirect(chosen.url)
