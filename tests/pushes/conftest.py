"""Fixtures for the pushes tests, and `responses` registrations of Treeherder's real URLs whose answers
are built by the fake Treeherder's payload builders (fakeherder.payloads): one source for the shapes
and the property names of both jobs endpoints."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from fakeherder import (
    decision_tasks_payload,
    job_log_url,
    job_properties,
    push_payload,
    repositories_payload,
)
from fakeherder.payloads import api_jobs_page
from pushes.treeherder.client import TreeherderClient

BASE_URL = "https://treeherder.test"
TH = "https://treeherder.mozilla.org"


class SleepRecorder:
    """Stands in for time.sleep in the client: records the waits, never waits."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def th_client(sleeps: SleepRecorder) -> TreeherderClient:
    """A client on BASE_URL with its own Session, fast backoff and recorded (not real) sleeps."""
    import requests

    return TreeherderClient(BASE_URL, timeout=12, session=requests.Session(), backoff=0.25, sleep=sleeps)


# --- The push pages' Treeherder (TH), over `responses` -----------------------------------------------------


def job(
    job_id: int,
    *,
    push_id: int = 100,
    platform: str = "linux64",
    option: str = "opt",
    state: str = "completed",
    name: str | None = None,
    symbol: str = "M1",
    group: str = "M",
    **properties: Any,
) -> dict[str, Any]:
    """job_properties() of push 100 on linux64/opt, Mochitests: the push page tests' usual job."""
    properties.setdefault("task_id", f"Task{job_id}Id")
    properties.setdefault("last_modified", "2026-11-24T10:00:00.000000")
    return job_properties(
        job_id, push_id, platform=platform, platform_option=option, state=state, job_type_symbol=symbol,
        job_group_symbol=group, job_type_name=name or f"test-{platform}/{option}-mochitest-{job_id}",
        **properties,
    )  # fmt: skip


def push(
    push_id: int = 100,
    *,
    comments: str = "Bug 1234567 - Make the thing faster r?reviewer",
    author: str = "dev@mozilla.com",
    revision: str = "abcdef1234567890abcdef1234567890abcdef12",
    timestamp: int = 1764000000,
) -> dict[str, Any]:
    """A two-commit try push: the try syntax on top, `comments` below it."""
    revisions = [
        {"revision": "f" * 40, "author": author, "comments": "try: -b o -p linux64"},
        {"revision": revision, "author": author, "comments": comments},
    ]
    return push_payload(
        push_id, revision=revision, author=author, push_timestamp=timestamp, revisions=revisions
    )


def mock_repositories(
    rsps: responses.RequestsMock, names: tuple[str, ...] = ("try", "autoland", "mozilla-central")
) -> None:  # noqa: E501
    rsps.get(f"{TH}/api/repository/", json=repositories_payload(names))


def mock_push(rsps: responses.RequestsMock, data: dict, repo: str = "try") -> None:
    rsps.get(f"{TH}/api/project/{repo}/push/{data['id']}/", json=data)


def mock_jobs(rsps: responses.RequestsMock, rows: list[dict[str, Any]]) -> responses.BaseResponse:
    return rsps.get(f"{TH}/api/jobs/", json=api_jobs_page(rows))


def mock_decision(rsps: responses.RequestsMock, push_id: int = 100, repo: str = "try") -> None:
    rsps.get(
        f"{TH}/api/project/{repo}/push/decisiontask/",
        json=decision_tasks_payload({push_id: ("DecisionTaskId", 0)}),
    )


def suggestion_row(line: str, line_number: int, *, counter: int | None = None, bugs: list[dict] | None = None,
                   new: bool | None = None) -> dict[str, Any]:  # fmt: skip
    """One row of `bug_suggestions/` as today's server sends it (`counter` None: an older server's row)."""
    row: dict[str, Any] = {
        "search": line, "search_terms": [], "path_end": None, "line_number": line_number,
        "bugs": {"open_recent": bugs or [], "all_others": []},
    }  # fmt: skip
    if counter is not None or new is not None:
        row.update(counter=counter, failure_new_in_rev=new)
    return row


def mock_log_errors(
    rsps: responses.RequestsMock,
    job_id: int,
    lines: list[str],
    repo: str = "try",
    parse_status: str = "parsed",
    counter: int | None = None,
) -> None:
    """The job's evidence: its bug suggestions (one row per error line, no known bug; `counter`: times
    autoland/mozilla-central saw it, None: an older server's row), or, without lines, its logs' parse
    status."""
    rows = [suggestion_row(line, 10 + i, counter=counter) for i, line in enumerate(lines)]
    rsps.get(f"{TH}/api/project/{repo}/jobs/{job_id}/bug_suggestions/", json=rows)
    if not lines:
        rsps.get(
            f"{TH}/api/project/{repo}/job-log-url/",
            match=[matchers.query_param_matcher({"job_id": str(job_id)})],
            json=[job_log_url(1, job_id, "live_backing_log", "https://x/log", parse_status)],
        )
