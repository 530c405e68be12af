"""One total deadline for every upstream call: connect + headers + body, retries included.

`requests`' timeout bounds each socket operation, not the response: a server that sends one byte every
few seconds keeps a read going forever, and a retry starts the clock again. Every HTTP module
(pushes/treeherder/transport.py, pushes/taskcluster.py, the web push channel) therefore

1. starts a `Deadline` when a call begins (at most its timeout, and at most what is left of the page's
   budget, see `page_budget`),
2. sends with `stream=True` and `timeout=deadline.timeouts()`, so connecting and waiting for headers
   stop at the deadline, and
3. reads the body with `load_body(response, deadline, max_bytes)`: one socket read at a time, each
   bounded by the time left, stopping when the deadline passes or the body outgrows `max_bytes`.

This module works on the response object it is given and imports no HTTP library.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHUNK_BYTES = 64 * 1024
MIN_ATTEMPT_SECONDS = 0.05  # less than this left: do not start (another) attempt


class UpstreamError(Exception):
    """The answer could not be read within its deadline or its size cap."""


class DeadlineExceeded(UpstreamError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


class TooLarge(UpstreamError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"answer larger than {format_bytes(max_bytes)}")
        self.max_bytes = max_bytes


def format_bytes(count: int) -> str:
    return f"{count / 1_000_000:g} MB" if count >= 1_000_000 else f"{count / 1000:g} kB"


# The budget of the request being served, (ends at, its seconds): a page waits at most this long for
# Treeherder in total, however many reads and attempts it makes. A contextvar, so threads started with
# the copied context (the failure summary's pool) share it.
_page_deadline: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "page_deadline", default=None
)


@contextmanager
def page_budget(seconds: float) -> Iterator[None]:
    """Every Deadline started inside ends no later than `seconds` from now."""
    token = _page_deadline.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _page_deadline.reset(token)


def page_spent() -> bool:
    """Whether the budget of the request being served (`page_budget`) leaves too little for another
    read: a page then shows what is cached rather than start reads bound to time out. False outside a
    request's budget."""
    page = _page_deadline.get()
    return page is not None and page[0] - time.monotonic() < MIN_ATTEMPT_SECONDS


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """A budget of `seconds` inside the current one, never past it: every Deadline started inside (by
    page clients) ends by then. One part of a page (its failures' evidence) or of a poll keeps to it."""
    now = time.monotonic()
    outer = _page_deadline.get()
    if outer is not None and outer[0] <= now + seconds:
        yield
        return
    with page_budget(seconds):
        yield


def budget_left() -> float | None:
    """Seconds left of the current budget (`page_budget`, `within`); None outside one."""
    outer = _page_deadline.get()
    return None if outer is None else max(0.0, outer[0] - time.monotonic())


class Deadline:
    """A moment (time.monotonic) by which a whole call must be done.

    `seconds`, for messages ("timed out after …"), is how long the caller has waited for the upstream
    when the deadline passes: the call's own timeout, or the page's whole budget when that ends first
    (a page that spent 2.6 s of its 3 s on earlier reads has waited 3 s, not this call's last 0.4 s)."""

    def __init__(self, seconds: float, *, within_page: bool = False) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        page = _page_deadline.get() if within_page else None
        if page is not None and page[0] < self.at:
            self.at, self.seconds = page

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() < MIN_ATTEMPT_SECONDS

    def timeouts(self, connect: float | None = None) -> tuple[float, float]:
        """(connect, read) timeouts for the next attempt: neither outlives the deadline."""
        left = max(self.remaining(), MIN_ATTEMPT_SECONDS)
        return (min(connect, left) if connect else left, left)

    def sleep(self, seconds: float, sleep: Any = time.sleep) -> bool:
        """Sleep before a retry if the deadline leaves room for it and an attempt after; else False."""
        if seconds + MIN_ATTEMPT_SECONDS * 2 > self.remaining():
            return False
        sleep(max(seconds, 0.0))
        return True


def _socket(response: Any) -> Any:
    raw = getattr(response, "raw", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    return getattr(connection, "sock", None)


def read_body(response: Any, deadline: Deadline, max_bytes: int) -> bytes:
    """The (decoded) body of a response sent with stream=True, read before `deadline` and no larger
    than `max_bytes`; raises DeadlineExceeded or TooLarge, closing the response."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not response.headers.get("Content-Encoding"):
        response.close()
        raise TooLarge(max_bytes)
    raw, sock = response.raw, _socket(response)
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline.remaining()
            if left <= 0:
                raise DeadlineExceeded(deadline.seconds)
            if sock is not None:
                sock.settimeout(left)  # this one read, too, ends by the deadline
            try:
                chunk = raw.read1(CHUNK_BYTES, decode_content=True)
            except Exception as problem:  # the HTTP library's read timeout or reset
                if deadline.remaining() <= 0 or "timed out" in str(problem).lower():
                    raise DeadlineExceeded(deadline.seconds) from problem
                raise
            if not chunk:  # urllib3's read1 answers b"" only at the end of the body
                break
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(max_bytes)
            parts.append(chunk)
    except UpstreamError:
        response.close()
        raise
    return b"".join(parts)


def load_body(response: Any, deadline: Deadline, max_bytes: int) -> Any:
    """Read the body as `read_body` does and keep it on the response, so `.json()`, `.text` and
    `.content` work as on a response read without stream=True."""
    body = read_body(response, deadline, max_bytes)
    response._content = body
    response._content_consumed = True
    return response
