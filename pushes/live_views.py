"""The live parts of the push pages and the job links: the push page's refresh (only what changed), the
push list's one poller, a job's details (a chip clicked) and its log. Thin views over pushes.presenters."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from . import cached, live, presenters, services
from .forms import push_list_query
from .jobview import JobFilter
from .rules import Push
from .treeherder.errors import TreeherderNotFound
from .views import (
    _check_repo,
    _page,
    _push_header,
    _wants_fragment,
    failures_oob,
    list_poll,
    push_page,
    push_rows,
)

MAX_OPEN = 200
MAX_DIGEST = 64
MAX_IDS = 100
# Which of a job's logs the "log" link opens: the full task log first.
LOG_PREFERENCE = ("live_backing_log", "builds-4h")


def _ints(text: str, limit: int) -> list[int]:
    return [int(part) for part in text.split(",")[:limit] if part.strip().isdigit()]


@push_page
def push_refresh(request: HttpRequest, repo: str, push_id: int, push: cached.Fetched[Push]) -> HttpResponse:
    """`?since=TOKEN&open=ANCHORS&failures=DIGEST[&shown=ANCHORS]`: the poller, plus what changed after
    TOKEN in the groups that are open (and groups new to the page: `shown`, with a filter on, lists the
    groups it shows), and the failure section when it no longer has that digest. A token the change
    log cannot answer gets the whole live section (HX-Retarget)."""
    jfilter = JobFilter.from_query(request.GET)
    if not _wants_fragment(request):
        return redirect(f"{reverse('push_detail', args=[repo, push_id])}?{jfilter.query()}")
    state = presenters.live_state(repo, push_id)
    delta = live.since(state.log, request.GET.get("since"))
    failures = failures_oob(request, repo, push.value, request.GET.get("failures", "")[:MAX_DIGEST])
    if delta is None or state.fetched is None:
        context = {
            **_push_header(repo, push.value),
            **presenters.live_context(repo, push.value, state, jfilter),
            "failures_oob": failures,
        }
        response = render(request, "pushes/push_detail.html#live", context)
        response["HX-Retarget"], response["HX-Reswap"] = "#push-live", "outerHTML"
        return response
    open_anchors = set(request.GET.get("open", "").split(",")[:MAX_OPEN]) - {""}
    # With a filter on, the page says which groups it shows (push.js): the others may be added.
    shown = set(request.GET["shown"].split(",")[:MAX_OPEN]) - {""} if "shown" in request.GET else None
    context = {
        "repo": repo,
        **presenters.refresh_context(repo, push.value, state, delta, jfilter, open_anchors, shown),
        "failures_oob": failures,
    }
    return render(request, "pushes/push_refresh.html", context)


@require_GET
@vary_on_headers("HX-Request")
def push_list_live(request: HttpRequest, repo: str) -> HttpResponse:
    """One request per refresh for the whole push list: the rows still running get their status cells,
    and (on the first page, `top`) pushes newer than the top row are added above it."""
    if not _wants_fragment(request):
        return redirect("push_list", repo=repo)
    _check_repo(repo)
    query = push_list_query(request.GET)
    ids = _ints(request.GET.get("ids", ""), MAX_IDS)
    top = _ints(request.GET.get("top", ""), 1)
    new_pushes: list[Push] = []
    if top:
        try:
            listed = services.push_list(repo, count=query["count"], author=query["author"] or None).value
        except (cached.Unavailable, TreeherderNotFound):
            listed = []
        new_pushes = [push for push in listed if push.id > top[0]]
    new_rows = push_rows(request, repo, new_pushes)
    cells = presenters.status_cells(repo, [*ids, *(push.id for push in new_pushes)])
    for row, cell in zip(new_rows, cells[len(ids) :], strict=True):
        row["status"] = cell
    following = [cell.push_id for cell in cells if not cell.finished]
    newest = max([*top, *(push.id for push in new_pushes)]) if top else None
    context = {"repo": repo, "statuses": cells[: len(ids)], "new_rows": new_rows}
    context.update(list_poll(repo, query["author"], query["count"], following, newest, load=False))
    return render(request, "pushes/push_list.html#list_refresh", context)


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
    row = presenters.job_row(repo, push.value.revision, job, fetched.fetched_at)
    context = {**_push_header(repo, push.value), "row": row, "jobs_fetched": fetched}
    return _page(request, "pushes/job_detail.html", "card", context)


@require_GET
def job_log(request: HttpRequest, repo: str, job_id: int) -> HttpResponse:
    """The job's log, found through Treeherder's job-log-url (cached): a redirect, or a page saying why not."""
    _check_repo(repo)
    try:
        logs = services.job_log_urls(repo, job_id)
    except TreeherderNotFound as exc:
        raise Http404(f"No job {job_id} in repository “{repo}”.") from exc
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
