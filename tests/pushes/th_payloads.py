"""Treeherder payloads in the real API's shapes, for the push page tests (responses mocks)."""

from __future__ import annotations

from typing import Any

import responses
from responses import matchers

TH = "https://treeherder.mozilla.org"
JOB_NAMES = [
    "duration", "failure_classification_id", "id", "job_group_name", "job_group_symbol", "job_type_name",
    "job_type_symbol", "last_modified", "option_collection_hash", "platform", "platform_option", "push_id",
    "result", "signature", "state", "tier", "task_id", "retry_id",
]  # fmt: skip


def job(
    job_id: int,
    *,
    push_id: int = 100,
    platform: str = "linux64",
    option: str = "opt",
    state: str = "completed",
    result: str = "success",
    tier: int = 1,
    name: str | None = None,
    symbol: str = "M1",
    group: str = "M",
) -> list[Any]:
    values = {
        "duration": 12, "failure_classification_id": 1, "id": job_id, "job_group_name": "Mochitests",
        "job_group_symbol": group, "job_type_name": name or f"test-{platform}/{option}-mochitest-{job_id}",
        "job_type_symbol": symbol, "last_modified": "2026-11-24T10:00:00.000000", "option_collection_hash": "x",
        "platform": platform, "platform_option": option, "push_id": push_id,
        "result": result if state == "completed" else "unknown", "signature": "s", "state": state,
        "tier": tier, "task_id": f"Task{job_id}Id", "retry_id": 0,
    }  # fmt: skip
    return [values[name] for name in JOB_NAMES]


def jobs_page(rows: list[list[Any]], next_url: str | None = None) -> dict:
    return {"count": len(rows), "next": next_url, "previous": None, "results": rows, "job_property_names": JOB_NAMES}


def push(push_id: int = 100, *, comments: str = "Bug 1234567 - Make the thing faster r?reviewer", author: str = "dev@mozilla.com", revision: str = "abcdef1234567890abcdef1234567890abcdef12", timestamp: int = 1764000000) -> dict:  # noqa: E501
    return {
        "id": push_id,
        "revision": revision,
        "author": author,
        "push_timestamp": timestamp,
        "revision_count": 2,
        "repository_id": 4,
        "revisions": [
            {"result_set_id": push_id, "repository_id": 4, "revision": "f" * 40, "author": author, "comments": "try: -b o -p linux64"},
            {"result_set_id": push_id, "repository_id": 4, "revision": revision, "author": author, "comments": comments},
        ],
    }


def mock_repositories(rsps: responses.RequestsMock, names: tuple[str, ...] = ("try", "autoland", "mozilla-central")) -> None:
    rsps.get(f"{TH}/api/repository/", json=[{"id": i, "name": name, "active_status": "active"} for i, name in enumerate(names)])


def mock_push(rsps: responses.RequestsMock, data: dict, repo: str = "try") -> None:
    rsps.get(f"{TH}/api/project/{repo}/push/{data['id']}/", json=data)


def mock_jobs(rsps: responses.RequestsMock, rows: list[list[Any]]) -> responses.BaseResponse:
    return rsps.get(f"{TH}/api/jobs/", json=jobs_page(rows))


def mock_decision(rsps: responses.RequestsMock, push_id: int = 100, repo: str = "try") -> None:
    rsps.get(f"{TH}/api/project/{repo}/push/decisiontask/", json={str(push_id): {"id": "DecisionTaskId", "run": "0"}})


def mock_log_errors(rsps: responses.RequestsMock, job_id: int, lines: list[str], repo: str = "try", parse_status: str = "parsed") -> None:
    rsps.get(
        f"{TH}/api/project/{repo}/jobs/{job_id}/text_log_errors/",
        json=[{"id": job_id * 100 + i, "line": line, "line_number": 10 + i, "job": job_id, "new_failure": False} for i, line in enumerate(lines)],
    )
    if not lines:
        rsps.get(
            f"{TH}/api/project/{repo}/job-log-url/",
            match=[matchers.query_param_matcher({"job_id": str(job_id)})],
            json=[{"id": 1, "job_id": job_id, "name": "live_backing_log", "url": "https://x/log", "parse_status": parse_status}],
        )
