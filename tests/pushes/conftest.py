"""Treeherder payload builders for the client's tests (and anyone faking Treeherder answers).

Rows are built by property name, so a test can pick any column order: the client must read them by
`job_property_names`, never by position."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from pushes.treeherder import TreeherderClient

BASE_URL = "https://treeherder.test"

# `/api/jobs/` today (current_joblist_with_video_results_page_*.json).
API_JOBS_NAMES = [
    "failure_classification_id",
    "id",
    "job_group_name",
    "job_group_symbol",
    "job_type_name",
    "job_type_symbol",
    "last_modified",
    "platform",
    "push_id",
    "push_revision",
    "result",
    "signature",
    "state",
    "tier",
    "task_id",
    "retry_id",
    "duration",
    "platform_option",
]

# `/api/project/{repo}/jobs/?return_type=list` today (TREEHERDER-API.md): platform_option last.
PROJECT_JOBS_NAMES = (
    "build_architecture, build_os, build_platform, build_platform_id, build_system_type, end_timestamp, "
    "failure_classification_id, id, job_group_description, job_group_id, job_group_name, job_group_symbol, "
    "job_guid, job_type_description, job_type_id, job_type_name, job_type_symbol, last_modified, "
    "machine_name, machine_platform_architecture, machine_platform_os, option_collection_hash, platform, "
    "push_id, reason, ref_data_name, result, result_set_id, signature, start_timestamp, state, "
    "submit_timestamp, tier, who, task_id, retry_id, platform_option"
).split(", ")


def job_properties(job_id: int, push_id: int = 1000, **overrides: Any) -> dict[str, Any]:
    """Every property either jobs endpoint may send, with plausible values for one completed job."""
    props: dict[str, Any] = {
        "build_architecture": "x86_64",
        "build_os": "linux",
        "build_platform": "linux1804-64",
        "build_platform_id": 665,
        "build_system_type": "taskcluster",
        "duration": 12,
        "end_timestamp": 1_700_000_900,
        "failure_classification_id": 1,
        "id": job_id,
        "job_group_description": "",
        "job_group_id": 448,
        "job_group_name": "Mochitests",
        "job_group_symbol": "M",
        "job_guid": f"guid-{job_id}/0",
        "job_type_description": "",
        "job_type_id": 214778,
        "job_type_name": f"test-linux1804-64/opt-mochitest-{job_id}",
        "job_type_symbol": str(job_id % 40),
        "last_modified": "2026-11-24T17:00:00.123456",
        "machine_name": "i-0e040b25b59698068",
        "machine_platform_architecture": "x86_64",
        "machine_platform_os": "linux",
        "option_collection_hash": "102210fe594ee9b33d82058545b1ed14f4c8206e",
        "platform": "linux1804-64",
        "platform_option": "opt",
        "push_id": push_id,
        "push_revision": "ba9c692786e95143b8df3f4b3e9b504dfbc589a0",
        "reason": "scheduled",
        "ref_data_name": "6fa22307f1f7d626d29a1adc4b49ea470569702c",
        "result": "success",
        "result_set_id": push_id,
        "retry_id": 0,
        "signature": "6fa22307f1f7d626d29a1adc4b49ea470569702c",
        "start_timestamp": 1_700_000_100,
        "state": "completed",
        "submit_timestamp": 1_700_000_000,
        "task_id": f"Task{job_id:018d}",
        "tier": 1,
        "who": "someone@mozilla.com",
    }
    props.update(overrides)
    return props


def job_row(names: Sequence[str], props: dict[str, Any]) -> list[Any]:
    return [props.get(name) for name in names]


def api_jobs_page(
    rows: Iterable[dict[str, Any]],
    *,
    names: Sequence[str] = API_JOBS_NAMES,
    next_url: str | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """One page of `/api/jobs/` (`count/next/previous/job_property_names/results`)."""
    results = [job_row(names, props) for props in rows]
    return {
        "count": len(results) if count is None else count,
        "next": next_url,
        "previous": None,
        "job_property_names": list(names),
        "results": results,
    }


def project_jobs_page(
    rows: Iterable[dict[str, Any]],
    *,
    repo: str = "try",
    offset: int = 0,
    count: int = 2000,
    names: Sequence[str] = PROJECT_JOBS_NAMES,
) -> dict[str, Any]:
    """One page of `/api/project/{repo}/jobs/?return_type=list` (`meta/results/job_property_names`)."""
    results = [job_row(names, props) for props in rows]
    return {
        "results": results,
        "job_property_names": list(names),
        "meta": {"repository": repo, "offset": offset, "count": count},
    }


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

    return TreeherderClient(BASE_URL, timeout=2, session=requests.Session(), backoff=0.25, sleep=sleeps)
