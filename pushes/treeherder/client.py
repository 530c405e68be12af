"""Treeherder's endpoints, each named on the method that calls it: paths, parameters, `/api/jobs/` paging
and `last_modified__gt`, over pushes.treeherder.transport (the HTTP) and pushes.treeherder.parsing (the
payloads). `get_client()` configures one from settings: a page's client answers soon, background work's
is more patient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pushes.rules import REPO_NAME, Job, Push
from pushes.triage import BugSuggestion

from . import parsing
from .errors import TreeherderError, TreeherderNotFound
from .parsing import BadRow, Evidence, JobLogUrl, PushHealth
from .transport import Transport, default_user_agent, full_url, setting, shared_session

MAX_PUSH_COUNT = 1000
JOBS_PAGE_SIZE = 2000  # the server's MAX_JOBS_COUNT; 2001 is a 400
MAX_JOB_PAGES = 100  # 200,000 jobs: far past any real push, but a bound on a looping `next`
PUSH_LIST_MAX_BYTES = 8_000_000  # 1,000 pushes with their revisions
JOBS_MAX_BYTES = 16_000_000  # one page of 2,000 jobs
TEXT_MAX_BYTES = 4_000_000  # bug suggestions
HEALTH_MAX_BYTES = 16_000_000  # Push Health of a push with thousands of failures
_REPO_RE = re.compile(REPO_NAME)


class TreeherderClient(Transport):
    """Named, typed Treeherder endpoints (the transport's retries, deadline and byte caps apply to each)."""

    def __repr__(self) -> str:
        return f"TreeherderClient({self.base_url!r}, timeout={self.timeout})"

    @staticmethod
    def _repo(repo: str) -> str:
        if not isinstance(repo, str) or not _REPO_RE.fullmatch(repo):
            raise TreeherderNotFound(f"not a repository name: {repo!r}")
        return repo

    # --- endpoints ---

    def repositories(self) -> list[str]:
        """Names of the active repositories."""
        payload = self._get("/api/repository/")
        url = self._url("/api/repository/")
        repos = parsing.read_rows(payload, parsing.repository_name, url, "repository")
        return [name for name in repos if name]

    def pushes(
        self,
        repo: str,
        *,
        count: int = 20,
        author: str | None = None,
        push_timestamp_lte: int | None = None,
    ) -> list[Push]:
        """Newest push time first (Treeherder orders by time alone: pushes of one second come in no
        particular order). `author` is Treeherder's case-insensitive exact match; `push_timestamp_lte`
        (epoch seconds) pages back in time, as Treeherder's UI does (see pushes.paging)."""
        params: dict[str, Any] = {"count": min(max(int(count), 1), MAX_PUSH_COUNT)}
        if author:
            params["author"] = author
        if push_timestamp_lte is not None:
            params["push_timestamp__lte"] = int(push_timestamp_lte)
        path = f"/api/project/{self._repo(repo)}/push/"
        payload = self._get(path, params, max_bytes=PUSH_LIST_MAX_BYTES)
        if not isinstance(payload, Mapping):
            raise TreeherderError("push list is not an object", full_url(self._url(path), params))
        rows = payload.get("results")
        if isinstance(rows, list):
            rows = rows[: params["count"]]  # an upstream ignoring `count` gets no more rows used
        return parsing.read_rows(rows, parsing.parse_push, full_url(self._url(path), params), "push")

    def pushes_by_id(self, repo: str, push_ids: Sequence[int]) -> list[Push]:
        """The pushes of these ids that exist (the list's `id__in`), in one request; at most 1,000."""
        ids = sorted({int(push_id) for push_id in push_ids})[:MAX_PUSH_COUNT]
        if not ids:
            return []
        params = {"id__in": ",".join(map(str, ids)), "count": len(ids)}
        path = f"/api/project/{self._repo(repo)}/push/"
        payload = self._get(path, params)
        if not isinstance(payload, Mapping):
            raise TreeherderError("push list is not an object", full_url(self._url(path), params))
        return parsing.read_rows(
            payload.get("results"), parsing.parse_push, full_url(self._url(path), params), "push"
        )

    def push(self, repo: str, push_id: int) -> Push:
        path = f"/api/project/{self._repo(repo)}/push/{int(push_id)}/"
        payload = self._get(path)
        try:
            return parsing.parse_push(payload)
        except BadRow as problem:
            raise TreeherderError(f"push answer unreadable: {problem}", self._url(path)) from None

    def push_status(self, repo: str, push_id: int) -> dict[str, int]:
        """Counts by state and result (tier 1/2, unclassified only): a hint, never a failure count."""
        path = f"/api/project/{self._repo(repo)}/push/{int(push_id)}/status/"
        return parsing.parse_push_status(self._get(path), self._url(path))

    def jobs(self, repo: str, push_id: int, *, last_modified_gt: datetime | None = None) -> list[Job]:
        """Every job of a push, following `/api/jobs/` `next` links (ordered by id) to the last page.

        With `last_modified_gt` only jobs changed since then; bulk updates on the server skip
        `last_modified`, so callers should still re-read the whole push now and then."""
        self._repo(repo)
        push_id = int(push_id)
        path = "/api/jobs/"
        params: dict[str, Any] = {"push_id": push_id, "count": JOBS_PAGE_SIZE}
        if last_modified_gt is not None:
            params["last_modified__gt"] = parsing.iso_utc(last_modified_gt)
        first_params = dict(params)
        jobs: dict[int, Job] = {}  # by id: a job moved across a page boundary mid-read is kept once
        seen_pages: set[tuple[tuple[str, str], ...]] = set()
        for _ in range(MAX_JOB_PAGES):
            url = full_url(self._url(path), params)
            payload = self._get(path, params, max_bytes=JOBS_MAX_BYTES)
            for job in parsing.parse_jobs(payload, push_id=push_id, url=url):
                jobs[job.id] = job
            next_url = payload.get("next")
            if not next_url:
                return list(jobs.values())
            if not isinstance(next_url, str):
                raise TreeherderError("jobs answer has a `next` that is not a URL", url)
            # Only the query of `next` is used, over our own filters: its host can differ from ours
            # behind proxies, and recorded links are relative (`/jobs/?page=2`) or drop `count`.
            params = {**first_params, **dict(parse_qsl(urlsplit(next_url).query))}
            key = tuple(sorted(params.items()))
            if key in seen_pages:
                raise TreeherderError("jobs `next` link loops", url)
            seen_pages.add(key)
        raise TreeherderError(f"push has more than {MAX_JOB_PAGES} pages of jobs", self._url(path))

    def project_jobs(
        self,
        repo: str,
        push_id: int,
        *,
        last_modified_gt: datetime | None = None,
        page_size: int = JOBS_PAGE_SIZE,
    ) -> list[Job]:
        """The same through `/api/project/{repo}/jobs/` with offset paging (no explicit order there,
        so `jobs()` is preferred); pages until one comes back shorter than `page_size`."""
        path = f"/api/project/{self._repo(repo)}/jobs/"
        push_id = int(push_id)
        page_size = min(max(int(page_size), 1), JOBS_PAGE_SIZE)
        jobs: dict[int, Job] = {}
        for page in range(MAX_JOB_PAGES):
            params: dict[str, Any] = {
                "push_id": push_id,
                "count": page_size,
                "offset": page * page_size,
                "return_type": "list",
            }
            if last_modified_gt is not None:
                params["last_modified__gt"] = parsing.iso_utc(last_modified_gt)
            payload = self._get(path, params, max_bytes=JOBS_MAX_BYTES)
            for job in parsing.parse_jobs(payload, push_id=push_id, url=full_url(self._url(path), params)):
                jobs[job.id] = job
            if len(payload["results"]) < page_size:
                return list(jobs.values())
        raise TreeherderError(f"push has more than {MAX_JOB_PAGES} pages of jobs", self._url(path))

    def job(self, repo: str, job_id: int) -> Job:
        path = f"/api/project/{self._repo(repo)}/jobs/{int(job_id)}/"
        payload = self._get(path)
        if not isinstance(payload, Mapping):
            raise TreeherderError("job answer is not an object", self._url(path))
        try:
            return parsing.job_from_dict(payload)
        except BadRow as problem:
            raise TreeherderError(f"job answer unreadable: {problem}", self._url(path)) from None

    def failure_evidence(self, repo: str, job_id: int) -> Evidence:
        """A failed job's error lines with their bug suggestions, and whether its log was parsed.

        `bug_suggestions/` has one row per error line (the line without its harness prefix, as
        Treeherder's own failure summary shows it), so one request is the evidence of a parsed job. An
        empty answer asks `job-log-url/` whether the log is parsed yet; when it is, the suggestions are
        read once more (the lines may have landed between the two reads) before "no error lines" is
        believed."""
        suggestions = self.bug_suggestions(repo, job_id)
        if suggestions:
            return Evidence("parsed", suggestions)
        status = parsing.overall_parse_status(
            self._get(f"/api/project/{self._repo(repo)}/job-log-url/", {"job_id": int(job_id)})
        )
        if status == "parsed":
            return Evidence("parsed", self.bug_suggestions(repo, job_id))
        return Evidence(status, [])

    def job_log_urls(self, repo: str, job_id: int) -> list[JobLogUrl]:
        """The job's logs (empty until it has completed); only http(s) URLs are kept."""
        path = f"/api/project/{self._repo(repo)}/job-log-url/"
        return parsing.parse_job_log_urls(self._get(path, {"job_id": int(job_id)}), self._url(path))

    def bug_suggestions(self, repo: str, job_id: int) -> list[BugSuggestion]:
        path = f"/api/project/{self._repo(repo)}/jobs/{int(job_id)}/bug_suggestions/"
        payload = self._get(path, max_bytes=TEXT_MAX_BYTES)
        return parsing.read_rows(payload, parsing.bug_suggestion_from_dict, self._url(path), "bug suggestion")

    def push_health(self, repo: str, revision: str) -> PushHealth:
        """Push Health's assessment of a push: its base push (`metrics.commitHistory`) and the failures
        it says need investigation. Slow on the real server; its UI was removed in 2026, the backend
        stays. Under the project (`/api/project/{repo}/push/health/`): the project-less path is the
        web app's HTML."""
        path = f"/api/project/{self._repo(repo)}/push/health/"
        if not isinstance(revision, str) or not revision.isalnum():
            raise TreeherderNotFound(f"not a revision: {revision!r}")
        payload = self._get(path, {"revision": revision}, max_bytes=HEALTH_MAX_BYTES)
        return parsing.parse_push_health(payload, full_url(self._url(path), {"revision": revision}))

    def failure_classifications(self) -> dict[int, str]:
        """{id: name} from /api/failureclassification/ (e.g. 4: "intermittent")."""
        path = "/api/failureclassification/"
        return parsing.parse_failure_classifications(self._get(path), self._url(path))

    def decision_task(self, repo: str, push_id: int) -> str | None:
        """The push's decision task id, or None while Treeherder knows none."""
        path = f"/api/project/{self._repo(repo)}/push/decisiontask/"
        try:
            payload = self._get(path, {"push_ids": int(push_id)})
        except TreeherderNotFound:
            return None
        return parsing.parse_decision_task(payload, push_id, self._url(path))


def get_client(
    *, background: bool = False, max_retries: int | None = None, within_page: bool | None = None
) -> TreeherderClient:
    """A client configured from settings: page views get the short timeout, background work the long one.
    `max_retries` and `within_page` (keep to the budget of buildwatch.upstream.page_budget) override
    what `background` chooses."""
    timeout = setting("TREEHERDER_BACKGROUND_TIMEOUT" if background else "TREEHERDER_PAGE_TIMEOUT")
    agent = default_user_agent(setting("SITE_URL"))
    session = shared_session()
    session.headers["User-Agent"] = agent
    return TreeherderClient(
        setting("TREEHERDER_URL"),
        timeout=timeout,
        session=session,
        user_agent=agent,
        # A page must answer soon: one retry and short waits; background work can afford more patience.
        max_retries=max_retries if max_retries is not None else (2 if background else 1),
        retry_after_max=10.0 if background else 3.0,
        within_page=within_page if within_page is not None else not background,
    )
