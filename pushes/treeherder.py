"""The only module that talks to Treeherder, through its public REST API (`/api/...`, each endpoint
named on the method that calls it; real answers are recorded in fakeherder/recordings/).

Every failure upstream — timeout, refused connection, HTTP error, an HTML page where JSON was expected,
JSON of the wrong shape — surfaces as one `TreeherderError` carrying the reason, URL and status.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from buildwatch import __version__, upstream
from pushes.rules import Bug, BugSuggestion, Job, Push, Revision, TextLogError

logger = logging.getLogger(__name__)

MAX_PUSH_COUNT = 1000
JOBS_PAGE_SIZE = 2000  # the server's MAX_JOBS_COUNT; 2001 is a 400
MAX_JOB_PAGES = 100  # 200,000 jobs: far past any real push, but a bound on a looping `next`
# Connections kept per host and process: a worker's poll cycle (BUILDWATCH_POLL_CONCURRENCY, at most 64)
# and a failure summary's one concurrent round (logs + bug suggestions of 15 jobs) without urllib3
# dropping connections it then reopens.
POOL_SIZE = 64
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Byte caps per endpoint (the decoded body; read in a stream and stopped there): a few times the largest
# real answer. An upstream that ignores `count` or loops fills no worker's memory.
MAX_BYTES = 2_000_000
PUSH_LIST_MAX_BYTES = 8_000_000  # 1,000 pushes with their revisions
JOBS_MAX_BYTES = 16_000_000  # one page of 2,000 jobs
TEXT_MAX_BYTES = 4_000_000  # error lines, bug suggestions
ERROR_BODY_BYTES = 64_000
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class TreeherderError(Exception):
    """Anything that went wrong talking to Treeherder: `status` is None when no HTTP answer came."""

    def __init__(self, reason: str, url: str = "", status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url
        self.status = status

    def __str__(self) -> str:
        shown = self.status is not None and not self.reason.startswith("HTTP ")
        status = f" (HTTP {self.status})" if shown else ""
        return f"Treeherder: {self.reason}{status} — {self.url}" if self.url else f"Treeherder: {self.reason}"


class TreeherderNotFound(TreeherderError):
    """404: unknown repository, push or job."""


@dataclass(slots=True)
class LogErrors:
    errors: list[TextLogError]
    parse_status: str  # "parsed" | "pending" | "failed" | "skipped-size" | "unknown"

    @property
    def parsed(self) -> bool:
        return self.parse_status == "parsed"


@dataclass(frozen=True, slots=True)
class JobLogUrl:
    """One log of a job, from /api/project/{repo}/job-log-url/."""

    name: str
    url: str
    parse_status: str


class _BadRow(ValueError):
    """One row of a payload cannot be read; the caller decides whether to skip it or give up."""


# --- Field readers -------------------------------------------------------------------------------------


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise _BadRow(f"{name} is not an integer: {value!r}")
    return value


def _opt_int(value: Any, name: str) -> int | None:
    return None if value is None or value == "" else _int(value, name)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def parse_last_modified(value: str | None) -> datetime | None:
    """Treeherder's `last_modified` is a naive ISO datetime in UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(value: Any, name: str) -> int | None:
    """Epoch seconds; 0 and null both mean "not yet"."""
    if value is None:
        return None
    if isinstance(value, float):
        value = int(value)
    stamp = _int(value, name)
    return stamp or None


def _duration(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- Payload parsers (public: the fake Treeherder's tests and benchmarks use them too) -------------------


def parse_push(data: Any) -> Push:
    if not isinstance(data, Mapping):
        raise _BadRow(f"push is not an object: {type(data).__name__}")
    try:
        revisions_data = data.get("revisions") or []
        if not isinstance(revisions_data, list):
            raise _BadRow("revisions is not a list")
        revisions = tuple(
            Revision(
                revision=_str(r.get("revision")),
                author=_str(r.get("author")),
                comments=_str(r.get("comments")),
            )
            for r in revisions_data
            if isinstance(r, Mapping)
        )
        return Push(
            id=_int(data["id"], "id"),
            revision=_str(data["revision"]),
            author=_str(data.get("author")),
            push_timestamp=_int(data.get("push_timestamp") or 0, "push_timestamp"),
            revisions=revisions,
            revision_count=_opt_int(data.get("revision_count"), "revision_count"),
            repository_id=_opt_int(data.get("repository_id"), "repository_id"),
        )
    except KeyError as missing:
        raise _BadRow(f"push lacks {missing}") from None


def job_from_dict(data: Mapping[str, Any], *, push_id: int | None = None) -> Job:
    """A Job from a dict of Treeherder job properties (either endpoint, any order, extras ignored)."""
    if "id" not in data or "state" not in data:
        raise _BadRow("job lacks id or state")
    row_push_id = data.get("push_id", data.get("result_set_id", push_id))
    if row_push_id is None:
        raise _BadRow("job lacks push_id")
    return Job(
        id=_int(data["id"], "id"),
        push_id=_int(row_push_id, "push_id"),
        task_id=_str(data.get("task_id")) or None,
        platform=_str(data.get("platform")),
        platform_option=_str(data.get("platform_option")),
        job_type_name=_str(data.get("job_type_name")),
        job_type_symbol=_str(data.get("job_type_symbol")),
        job_group_name=_str(data.get("job_group_name")),
        job_group_symbol=_str(data.get("job_group_symbol")),
        state=_str(data["state"]),
        result=_str(data.get("result")) or "unknown",
        start_timestamp=_timestamp(data.get("start_timestamp"), "start_timestamp"),
        end_timestamp=_timestamp(data.get("end_timestamp"), "end_timestamp"),
        tier=_opt_int(data.get("tier"), "tier"),
        retry_id=_opt_int(data.get("retry_id"), "retry_id") or 0,
        duration=_duration(data.get("duration")),
        last_modified=_str(data.get("last_modified")) or None,
        failure_classification_id=_opt_int(
            data.get("failure_classification_id"), "failure_classification_id"
        ),
    )


def parse_jobs(payload: Any, *, push_id: int | None = None, url: str = "") -> list[Job]:
    """Jobs from one page of either jobs endpoint: `/api/jobs/` (`count/next/results` + property names)
    or `/api/project/{repo}/jobs/` (`meta/results`, rows as lists with `return_type=list`, else dicts).

    A single unreadable row is logged and skipped; a payload that is wrong as a whole raises."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("results"), list):
        raise TreeherderError("jobs answer has no `results` list", url)
    rows = payload["results"]
    names = payload.get("job_property_names")
    if rows and isinstance(rows[0], list | tuple):
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise TreeherderError("jobs answer has list rows but no `job_property_names`", url)
        if "id" not in names or "state" not in names:
            raise TreeherderError("`job_property_names` lacks id or state", url)
    jobs: list[Job] = []
    bad = 0
    for row in rows:
        try:
            if isinstance(row, list | tuple):
                if len(row) != len(names):
                    raise _BadRow(f"row has {len(row)} values for {len(names)} property names")
                data = dict(zip(names, row, strict=True))
            elif isinstance(row, Mapping):
                data = row
            else:
                raise _BadRow(f"row is a {type(row).__name__}")
            jobs.append(job_from_dict(data, push_id=push_id))
        except _BadRow as problem:
            bad += 1
            logger.warning("Skipping unreadable Treeherder job row from %s: %s", url, problem)
    if rows and bad == len(rows):
        raise TreeherderError(f"no readable job row in {len(rows)} rows", url)
    return jobs


def text_log_error_from_dict(data: Any, *, job_id: int | None = None) -> TextLogError:
    if not isinstance(data, Mapping) or "id" not in data or not isinstance(data.get("line"), str):
        raise _BadRow("text log error lacks id or line")
    job = data.get("job", job_id)
    if isinstance(job, Mapping):  # older serializers nested the job
        job = job.get("id", job_id)
    return TextLogError(
        id=_int(data["id"], "id"),
        line=data["line"],
        line_number=_opt_int(data.get("line_number"), "line_number") or 0,
        job=_int(job, "job"),
        new_failure=data["new_failure"] if isinstance(data.get("new_failure"), bool) else None,
    )


def _bug(data: Any) -> Bug:
    if not isinstance(data, Mapping):
        raise _BadRow("bug is not an object")
    return Bug(
        id=_opt_int(data.get("id"), "id"),
        summary=_str(data.get("summary")),
        status=_str(data.get("status")),
        resolution=_str(data.get("resolution")),
        internal_id=_opt_int(data.get("internal_id"), "internal_id"),
        keywords=_str(data.get("keywords")),
        whiteboard=_str(data.get("whiteboard")),
    )


def bug_suggestion_from_dict(data: Any) -> BugSuggestion:
    if not isinstance(data, Mapping) or not isinstance(data.get("search"), str):
        raise _BadRow("bug suggestion lacks search")
    bugs = data.get("bugs") or {}
    if not isinstance(bugs, Mapping):
        raise _BadRow("bugs is not an object")
    open_recent = bugs.get("open_recent") or []
    all_others = bugs.get("all_others") or []
    if not isinstance(open_recent, list) or not isinstance(all_others, list):
        raise _BadRow("bug lists are not lists")
    path_end = data.get("path_end")
    return BugSuggestion(
        search=data["search"],
        path_end=path_end if isinstance(path_end, str) and path_end else None,
        line_number=_opt_int(data.get("line_number"), "line_number"),
        open_recent=[_bug(bug) for bug in open_recent],
        all_others=[_bug(bug) for bug in all_others],
        # Older Treeherders send neither: missing is "unknown", never 0 / False.
        counter=_opt_int(data.get("counter"), "counter"),
        failure_new_in_rev=data["failure_new_in_rev"]
        if isinstance(data.get("failure_new_in_rev"), bool)
        else None,
    )


def overall_parse_status(log_urls: Any) -> str:
    """One status for a job's logs: any pending wins, then failed, then skipped-size; all parsed is parsed."""
    statuses = (
        {item.get("parse_status") for item in log_urls if isinstance(item, Mapping)}
        if isinstance(log_urls, list)
        else set()
    )
    for status in ("pending", "failed", "skipped-size"):
        if status in statuses:
            return status
    return "parsed" if statuses == {"parsed"} else "unknown"


def _read_rows[T](rows: Any, reader: Callable[[Any], T], url: str, what: str) -> list[T]:
    if not isinstance(rows, list):
        raise TreeherderError(f"{what} answer is not a list", url)
    items: list[T] = []
    for row in rows:
        try:
            items.append(reader(row))
        except _BadRow as problem:
            logger.warning("Skipping unreadable Treeherder %s from %s: %s", what, url, problem)
    if rows and not items:
        raise TreeherderError(f"no readable {what} in {len(rows)} rows", url)
    return items


def _iso_utc(moment: datetime) -> str:
    """Treeherder's `last_modified` filters take a naive ISO datetime in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


# --- HTTP ---------------------------------------------------------------------------------------------


def _error_reason(response: requests.Response) -> str:
    """`{"detail": ...}` or a bare JSON string, as Treeherder's errors come; else a short text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("detail"), str):
        detail = body["detail"]
    elif isinstance(body, str):
        detail = body
    elif "html" in response.headers.get("Content-Type", ""):
        detail = ""
    else:
        detail = response.text.strip()
    detail = " ".join(detail.split())[:200]
    return f"HTTP {response.status_code}: {detail}" if detail else f"HTTP {response.status_code}"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def default_user_agent(site_url: str | None = None) -> str:
    return f"BuildWatch/{__version__} (+{site_url})" if site_url else f"BuildWatch/{__version__}"


def _setting(name: str) -> Any:
    from django.conf import settings

    return getattr(settings, name)


def _site_url() -> str | None:
    try:
        return _setting("SITE_URL")
    except Exception:  # no Django settings: the client is used standalone (fake server tests, benchmarks)
        return None


class TreeherderClient:
    """Named, typed Treeherder endpoints over one `requests.Session`.

    Connection errors, 5xx and 429 are retried `max_retries` times with exponential backoff, honouring
    `Retry-After` up to `retry_after_max` seconds (a longer wait gives up at once rather than block)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        session: requests.Session | None = None,
        max_retries: int = 2,
        backoff: float = 0.5,
        retry_after_max: float = 10.0,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        within_page: bool = False,
    ) -> None:
        self.base_url = (base_url if base_url is not None else _setting("TREEHERDER_URL")).rstrip("/")
        self.timeout = timeout if timeout is not None else _setting("TREEHERDER_PAGE_TIMEOUT")
        self.session = session if session is not None else _session()
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.retry_after_max = retry_after_max
        self.headers = {
            "User-Agent": user_agent or default_user_agent(_site_url()),
            "Accept": "application/json",
        }
        self._sleep = sleep
        # A page's client also keeps to the page's total budget (buildwatch.upstream.page_budget).
        self.within_page = within_page

    def __repr__(self) -> str:
        return f"TreeherderClient({self.base_url!r}, timeout={self.timeout})"

    # --- transport ---

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _get(self, path: str, params: Mapping[str, Any] | None = None, *, max_bytes: int = MAX_BYTES) -> Any:
        """GET a JSON document within one total deadline (`timeout`, and the page's budget for page
        clients: buildwatch.upstream), retrying what is worth retrying while the deadline leaves room;
        raise TreeherderError for the rest. A body over `max_bytes` is an error, read no further."""
        url = self._url(path)
        deadline = upstream.Deadline(self.timeout, within_page=self.within_page)
        attempt = 0
        while True:
            delay = self.backoff * (2**attempt)
            try:
                response = self._send(url, params, deadline, max_bytes)
            except requests.ConnectionError as problem:  # includes ConnectTimeout
                if attempt < self.max_retries and deadline.sleep(delay, self._sleep):
                    attempt += 1
                    logger.info("Treeherder connection failed (%s), retry %d", problem, attempt)
                    continue
                reason = (
                    "timed out connecting" if isinstance(problem, requests.Timeout) else "connection failed"
                )
                raise TreeherderError(
                    f"{reason} after {attempt + 1} attempt{'s' if attempt else ''}", _full_url(url, params)
                ) from problem
            except (requests.Timeout, upstream.DeadlineExceeded) as problem:
                # A slow answer is not retried: the caller already waited the whole deadline.
                raise TreeherderError(
                    f"timed out after {deadline.seconds:g} s", _full_url(url, params)
                ) from problem
            except upstream.TooLarge as problem:
                limit = upstream.format_bytes(problem.max_bytes)
                raise TreeherderError(
                    f"sent more than {limit}; BuildWatch stopped reading", _full_url(url, params)
                ) from problem
            except requests.RequestException as problem:
                raise TreeherderError(f"request failed: {problem}", _full_url(url, params)) from problem

            status = response.status_code
            if status in RETRY_STATUSES or status >= 500:
                wait = _retry_after(response)
                allowed = wait is None or wait <= self.retry_after_max
                if (
                    attempt < self.max_retries
                    and allowed
                    and deadline.sleep(delay if wait is None else wait, self._sleep)
                ):
                    attempt += 1
                    logger.info("Treeherder answered %d for %s, retry %d", status, response.url, attempt)
                    continue
                reason = _error_reason(response)
                if wait is not None and wait > self.retry_after_max:
                    reason += f" (asked to retry after {wait:g} s)"
                raise TreeherderError(reason, response.url, status)
            if status == 404:
                raise TreeherderNotFound(_error_reason(response), response.url, status)
            if status >= 400:
                raise TreeherderError(_error_reason(response), response.url, status)
            return self._json(response)

    def _send(
        self, url: str, params: Mapping[str, Any] | None, deadline: upstream.Deadline, max_bytes: int
    ) -> requests.Response:
        """One attempt: headers and body both before the deadline; an error's body is read only a little."""
        if deadline.expired():
            raise upstream.DeadlineExceeded(deadline.seconds)
        response = self.session.get(
            url, params=params, headers=self.headers, timeout=deadline.timeouts(), stream=True
        )
        if response.status_code < 400:
            return upstream.load_body(response, deadline, max_bytes)
        try:
            return upstream.load_body(response, deadline, ERROR_BODY_BYTES)
        except upstream.TooLarge:
            response._content = b""
            return response

    @staticmethod
    def _json(response: requests.Response) -> Any:
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            # Treeherder answers an unknown path, or one missing its trailing slash, with its web app.
            kind = content_type.split(";")[0].strip() or "no content type"
            raise TreeherderError(f"expected JSON, got {kind}", response.url, response.status_code)
        try:
            return response.json()
        except ValueError as problem:
            raise TreeherderError("answer is not valid JSON", response.url, response.status_code) from problem

    @staticmethod
    def _repo(repo: str) -> str:
        if not isinstance(repo, str) or not _REPO_RE.match(repo):
            raise TreeherderNotFound(f"not a repository name: {repo!r}")
        return repo

    # --- endpoints ---

    def repositories(self) -> list[str]:
        """Names of the active repositories."""
        payload = self._get("/api/repository/")
        url = self._url("/api/repository/")
        repos = _read_rows(payload, _repository_name, url, "repository")
        return [name for name in repos if name]

    def pushes(
        self, repo: str, *, count: int = 20, author: str | None = None, id_lt: int | None = None
    ) -> list[Push]:
        """Newest first. `author` is Treeherder's case-insensitive exact match; `id_lt` pages back."""
        params: dict[str, Any] = {"count": min(max(int(count), 1), MAX_PUSH_COUNT)}
        if author:
            params["author"] = author
        if id_lt is not None:
            params["id__lt"] = int(id_lt)
        path = f"/api/project/{self._repo(repo)}/push/"
        payload = self._get(path, params, max_bytes=PUSH_LIST_MAX_BYTES)
        if not isinstance(payload, Mapping):
            raise TreeherderError("push list is not an object", _full_url(self._url(path), params))
        rows = payload.get("results")
        if isinstance(rows, list):
            rows = rows[: params["count"]]  # an upstream ignoring `count` gets no more rows used
        return _read_rows(rows, parse_push, _full_url(self._url(path), params), "push")

    def pushes_by_id(self, repo: str, push_ids: Sequence[int]) -> list[Push]:
        """The pushes of these ids that exist (the list's `id__in`), in one request; at most 1,000."""
        ids = sorted({int(push_id) for push_id in push_ids})[:MAX_PUSH_COUNT]
        if not ids:
            return []
        params = {"id__in": ",".join(map(str, ids)), "count": len(ids)}
        path = f"/api/project/{self._repo(repo)}/push/"
        payload = self._get(path, params)
        if not isinstance(payload, Mapping):
            raise TreeherderError("push list is not an object", _full_url(self._url(path), params))
        return _read_rows(payload.get("results"), parse_push, _full_url(self._url(path), params), "push")

    def push(self, repo: str, push_id: int) -> Push:
        path = f"/api/project/{self._repo(repo)}/push/{int(push_id)}/"
        payload = self._get(path)
        try:
            return parse_push(payload)
        except _BadRow as problem:
            raise TreeherderError(f"push answer unreadable: {problem}", self._url(path)) from None

    def push_status(self, repo: str, push_id: int) -> dict[str, int]:
        """Counts by state and result (tier 1/2, unclassified only): a hint, never a failure count."""
        path = f"/api/project/{self._repo(repo)}/push/{int(push_id)}/status/"
        payload = self._get(path)
        if not isinstance(payload, Mapping):
            raise TreeherderError("push status is not an object", self._url(path))
        return {
            str(key): value
            for key, value in payload.items()
            if isinstance(value, int) and not isinstance(value, bool)
        }

    def jobs(self, repo: str, push_id: int, *, last_modified_gt: datetime | None = None) -> list[Job]:
        """Every job of a push, following `/api/jobs/` `next` links (ordered by id) to the last page.

        With `last_modified_gt` only jobs changed since then; bulk updates on the server skip
        `last_modified`, so callers should still re-read the whole push now and then."""
        self._repo(repo)
        push_id = int(push_id)
        path = "/api/jobs/"
        params: dict[str, Any] = {"push_id": push_id, "count": JOBS_PAGE_SIZE}
        if last_modified_gt is not None:
            params["last_modified__gt"] = _iso_utc(last_modified_gt)
        first_params = dict(params)
        jobs: dict[int, Job] = {}  # by id: a job moved across a page boundary mid-read is kept once
        seen_pages: set[tuple[tuple[str, str], ...]] = set()
        for _ in range(MAX_JOB_PAGES):
            url = _full_url(self._url(path), params)
            payload = self._get(path, params, max_bytes=JOBS_MAX_BYTES)
            for job in parse_jobs(payload, push_id=push_id, url=url):
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
                params["last_modified__gt"] = _iso_utc(last_modified_gt)
            payload = self._get(path, params, max_bytes=JOBS_MAX_BYTES)
            for job in parse_jobs(payload, push_id=push_id, url=_full_url(self._url(path), params)):
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
            return job_from_dict(payload)
        except _BadRow as problem:
            raise TreeherderError(f"job answer unreadable: {problem}", self._url(path)) from None

    def text_log_errors(self, repo: str, job_id: int) -> list[TextLogError]:
        """The job's error lines (at most 40), ordered by id; empty until its log is parsed."""
        job_id = int(job_id)
        path = f"/api/project/{self._repo(repo)}/jobs/{job_id}/text_log_errors/"
        payload = self._get(path, max_bytes=TEXT_MAX_BYTES)
        return _read_rows(
            payload,
            lambda row: text_log_error_from_dict(row, job_id=job_id),
            self._url(path),
            "text log error",
        )

    def log_errors(self, repo: str, job_id: int) -> LogErrors:
        """Error lines plus whether the log was parsed, so "no errors" differs from "not parsed yet"."""
        errors = self.text_log_errors(repo, job_id)
        if errors:
            return LogErrors(errors=errors, parse_status="parsed")
        payload = self._get(f"/api/project/{self._repo(repo)}/job-log-url/", {"job_id": int(job_id)})
        if not isinstance(payload, list):
            raise TreeherderError(
                "job log urls answer is not a list", self._url(f"/api/project/{repo}/job-log-url/")
            )
        return LogErrors(errors=[], parse_status=overall_parse_status(payload))

    def job_log_urls(self, repo: str, job_id: int) -> list[JobLogUrl]:
        """The job's logs (empty until it has completed); only http(s) URLs are kept."""
        path = f"/api/project/{self._repo(repo)}/job-log-url/"
        payload = self._get(path, {"job_id": int(job_id)})
        if not isinstance(payload, list):
            raise TreeherderError("job log urls answer is not a list", self._url(path))
        return [
            JobLogUrl(_str(row.get("name")), row["url"], _str(row.get("parse_status")) or "unknown")
            for row in payload
            if isinstance(row, Mapping)
            and isinstance(row.get("url"), str)
            and row["url"].startswith(("https://", "http://"))
        ]

    def bug_suggestions(self, repo: str, job_id: int) -> list[BugSuggestion]:
        path = f"/api/project/{self._repo(repo)}/jobs/{int(job_id)}/bug_suggestions/"
        payload = self._get(path, max_bytes=TEXT_MAX_BYTES)
        return _read_rows(payload, bug_suggestion_from_dict, self._url(path), "bug suggestion")

    def failure_classifications(self) -> dict[int, str]:
        """{id: name} from /api/failureclassification/ (e.g. 4: "intermittent")."""
        path = "/api/failureclassification/"
        rows = self._get(path)
        if not isinstance(rows, list):
            raise TreeherderError("failure classification answer is not a list", self._url(path))
        names = {}
        for row in rows:
            if (
                isinstance(row, Mapping)
                and isinstance(row.get("id"), int)
                and isinstance(row.get("name"), str)
            ):
                names[row["id"]] = row["name"]
        return names

    def decision_task(self, repo: str, push_id: int) -> str | None:
        """The push's decision task id, or None while Treeherder knows none."""
        path = f"/api/project/{self._repo(repo)}/push/decisiontask/"
        try:
            payload = self._get(path, {"push_ids": int(push_id)})
        except TreeherderNotFound:
            return None
        if not isinstance(payload, Mapping):
            raise TreeherderError("decision task answer is not an object", self._url(path))
        entry = payload.get(str(int(push_id)))
        task_id = entry.get("id") if isinstance(entry, Mapping) else None
        return task_id if isinstance(task_id, str) and task_id else None


def _repository_name(data: Any) -> str:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise _BadRow("repository lacks name")
    return data["name"] if data.get("active_status", "active") == "active" else ""


def _full_url(url: str, params: Mapping[str, Any] | None) -> str:
    return requests.Request("GET", url, params=params).prepare().url or url


# --- One Session per process ---------------------------------------------------------------------------

_session_state: dict[str, Any] = {"pid": None, "session": None}


def _session() -> requests.Session:
    """The process's one Session (connection pool); a forked worker builds its own."""
    if _session_state["pid"] != os.getpid() or _session_state["session"] is None:
        session = requests.Session()
        session.headers.update({"Accept": "application/json"})
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _session_state.update(pid=os.getpid(), session=session)
    return _session_state["session"]


def get_client(*, background: bool = False) -> TreeherderClient:
    """A client configured from settings: page views get the short timeout, background work the long one."""
    timeout = _setting("TREEHERDER_BACKGROUND_TIMEOUT" if background else "TREEHERDER_PAGE_TIMEOUT")
    agent = default_user_agent(_setting("SITE_URL"))
    session = _session()
    session.headers["User-Agent"] = agent
    return TreeherderClient(
        _setting("TREEHERDER_URL"),
        timeout=timeout,
        session=session,
        user_agent=agent,
        # A page must answer soon: one retry and short waits; background work can afford more patience.
        max_retries=2 if background else 1,
        retry_after_max=10.0 if background else 3.0,
        within_page=not background,
    )


__all__ = [
    "Bug",
    "BugSuggestion",
    "JobLogUrl",
    "LogErrors",
    "TreeherderClient",
    "TreeherderError",
    "TreeherderNotFound",
    "default_user_agent",
    "get_client",
    "job_from_dict",
    "parse_jobs",
    "parse_push",
]
