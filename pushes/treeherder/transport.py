"""The one module that makes Treeherder's HTTP calls (a test checks that nothing else imports `requests`):
a Session per process, the User-Agent, one total deadline per call (and the page's budget for page
clients: buildwatch.upstream), bounded retries honouring Retry-After, a byte cap on every body, and JSON
or a `TreeherderError`. pushes.treeherder.client names the endpoints on top of it.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from buildwatch import __version__, upstream

from .errors import TreeherderError, TreeherderNotFound

logger = logging.getLogger(__name__)

# Connections kept per host and process: a worker's poll cycle (BUILDWATCH_POLL_CONCURRENCY, at most 64)
# and a failure summary's one concurrent round (logs + bug suggestions of 15 jobs) without urllib3
# dropping connections it then reopens.
POOL_SIZE = 64
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Byte caps per endpoint (the decoded body; read in a stream and stopped there): a few times the largest
# real answer. An upstream that ignores `count` or loops fills no worker's memory.
MAX_BYTES = 2_000_000
ERROR_BODY_BYTES = 64_000


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


def setting(name: str) -> Any:
    from django.conf import settings

    return getattr(settings, name)


def _site_url() -> str | None:
    try:
        return setting("SITE_URL")
    except Exception:  # no Django settings: the client is used standalone (fake server tests, benchmarks)
        return None


class Transport:
    """GET JSON from one Treeherder over one `requests.Session`.

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
        self.base_url = (base_url if base_url is not None else setting("TREEHERDER_URL")).rstrip("/")
        self.timeout = timeout if timeout is not None else setting("TREEHERDER_PAGE_TIMEOUT")
        self.session = session if session is not None else shared_session()
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
                    f"{reason} after {attempt + 1} attempt{'s' if attempt else ''}", full_url(url, params)
                ) from problem
            except (requests.Timeout, upstream.DeadlineExceeded) as problem:
                # A slow answer is not retried: the caller already waited the whole deadline.
                raise TreeherderError(
                    f"timed out after {deadline.seconds:g} s", full_url(url, params)
                ) from problem
            except upstream.TooLarge as problem:
                limit = upstream.format_bytes(problem.max_bytes)
                raise TreeherderError(
                    f"sent more than {limit}; BuildWatch stopped reading", full_url(url, params)
                ) from problem
            except requests.RequestException as problem:
                raise TreeherderError(f"request failed: {problem}", full_url(url, params)) from problem

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


def full_url(url: str, params: Mapping[str, Any] | None) -> str:
    return requests.Request("GET", url, params=params).prepare().url or url


# --- One Session per process ---------------------------------------------------------------------------

_session_state: dict[str, Any] = {"pid": None, "session": None}


def shared_session() -> requests.Session:
    """The process's one Session (connection pool); a forked worker builds its own."""
    if _session_state["pid"] != os.getpid() or _session_state["session"] is None:
        session = requests.Session()
        session.headers.update({"Accept": "application/json"})
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _session_state.update(pid=os.getpid(), session=session)
    return _session_state["session"]
