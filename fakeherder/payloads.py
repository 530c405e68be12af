"""Treeherder answers in the real API's shapes: the fake serves them, tests build `responses` mocks with them.

The property names of both jobs endpoints live here and only here. Rows are built by property name, so a
caller can pick any column order: a client must read rows by `job_property_names`, never by position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .timeline import REPOSITORY_IDS, FakeJob, FakePush, option_hash, small_id

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

# `/api/project/{repo}/jobs/?return_type=list` today (docs: Treeherder's JobsProjectViewSet): platform_option last.
PROJECT_PROPERTY_NAMES = [
    "build_architecture", "build_os", "build_platform", "build_platform_id", "build_system_type",
    "end_timestamp", "failure_classification_id", "id", "job_group_description", "job_group_id",
    "job_group_name", "job_group_symbol", "job_guid", "job_type_description", "job_type_id",
    "job_type_name", "job_type_symbol", "last_modified", "machine_name", "machine_platform_architecture",
    "machine_platform_os", "option_collection_hash", "platform", "push_id", "reason", "ref_data_name",
    "result", "result_set_id", "signature", "start_timestamp", "state", "submit_timestamp", "tier", "who",
    "task_id", "retry_id", "platform_option",
]  # fmt: skip
# `/api/jobs/` today (recordings/current_joblist_with_video_results_page_*.json).
UI_PROPERTY_NAMES = [
    "failure_classification_id", "id", "job_group_name", "job_group_symbol", "job_type_name",
    "job_type_symbol", "last_modified", "platform", "push_id", "push_revision", "result", "signature",
    "state", "tier", "task_id", "retry_id", "duration", "platform_option",
]  # fmt: skip


def iso(t: float) -> str:
    """Epoch seconds as Treeherder writes `last_modified`: UTC, microseconds, no zone."""
    return datetime.fromtimestamp(t, UTC).strftime(DATE_FORMAT)


# --- Builders for tests (and anyone faking Treeherder answers) --------------------------------------------


def job_properties(job_id: int, push_id: int = 1000, **overrides: Any) -> dict[str, Any]:
    """Every property either jobs endpoint may send, with plausible values for one completed job.
    A job that is not completed says `result: unknown`, like Treeherder, unless `result` is given."""
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
        "option_collection_hash": option_hash("opt"),
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
    if overrides.get("state", "completed") != "completed" and "result" not in overrides:
        props["result"] = "unknown"
    props.update(overrides)
    return props


def job_row(names: Sequence[str], props: Mapping[str, Any]) -> list[Any]:
    return [props.get(name) for name in names]


def api_jobs_page(
    rows: Iterable[Mapping[str, Any]],
    *,
    names: Sequence[str] = UI_PROPERTY_NAMES,
    next_url: str | None = None,
    previous_url: str | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """One page of `/api/jobs/` (`count/next/previous/results/job_property_names`)."""
    results = [job_row(names, props) for props in rows]
    return {
        "count": len(results) if count is None else count,
        "next": next_url,
        "previous": previous_url,
        "results": results,
        "job_property_names": list(names),
    }


def project_jobs_page(
    rows: Iterable[Mapping[str, Any]],
    *,
    repo: str = "try",
    offset: int = 0,
    count: int = 2000,
    names: Sequence[str] | None = PROJECT_PROPERTY_NAMES,
) -> dict[str, Any]:
    """One page of `/api/project/{repo}/jobs/`: rows as lists with `return_type=list` (`names`), as dicts
    of the project properties with `names=None` (the endpoint's default)."""
    meta = {"repository": repo, "offset": offset, "count": count}
    if names is None:
        return {
            "results": [{n: props.get(n) for n in PROJECT_PROPERTY_NAMES} for props in rows],
            "meta": meta,
        }
    return {
        "results": [job_row(names, props) for props in rows],
        "job_property_names": list(names),
        "meta": meta,
    }


def push_payload(
    push_id: int,
    *,
    revision: str,
    author: str,
    push_timestamp: int,
    revisions: Sequence[Mapping[str, str]],
    repository_id: int = REPOSITORY_IDS["try"],
    revision_count: int | None = None,
) -> dict[str, Any]:
    """One push as `/api/project/{repo}/push/{id}/` (and each row of the push list) answers it.
    `revisions`: {revision, author, comments}, top commit first; Treeherder sends at most 20."""
    return {
        "id": push_id,
        "revision": revision,
        "author": author,
        "revisions": [
            {"result_set_id": push_id, "repository_id": repository_id, **dict(r)}
            for r in list(revisions)[:20]
        ],
        "revision_count": len(revisions) if revision_count is None else revision_count,
        "push_timestamp": push_timestamp,
        "repository_id": repository_id,
        "branch": None,
    }


def push_list_payload(
    pushes: Iterable[Mapping[str, Any]], repo: str = "try", **filters: Any
) -> dict[str, Any]:
    results = list(pushes)
    return {"meta": {"count": len(results), "repository": repo, "filter_params": filters}, "results": results}


def text_log_error(
    error_id: int, job_id: int, line: str, line_number: int, new_failure: bool = False
) -> dict:
    return {
        "id": error_id,
        "line": line,
        "line_number": line_number,
        "new_failure": new_failure,
        "job": job_id,
    }


def job_log_url(row_id: int, job_id: int, name: str, url: str, parse_status: str = "parsed") -> dict:
    """One row of `/api/project/{repo}/job-log-url/?job_id=...`; `parse_status` pending|parsed|failed."""
    return {"id": row_id, "job_id": job_id, "name": name, "url": url, "parse_status": parse_status}


def decision_tasks_payload(tasks: Mapping[int, tuple[str, int]]) -> dict[str, dict[str, str]]:
    """`/api/project/{repo}/push/decisiontask/?push_ids=...`: push id -> (task id, run)."""
    return {str(push_id): {"id": task_id, "run": str(run)} for push_id, (task_id, run) in tasks.items()}


def repositories_payload(names: Iterable[str]) -> list[dict[str, Any]]:
    return [{"id": number, "name": name, "active_status": "active"} for number, name in enumerate(names, 1)]


# --- The fake's own jobs and pushes ---------------------------------------------------------------------


def treeherder_duration(submitted: float, started: float | None, ended: float | None, now: float) -> int:
    """`/api/jobs/`'s `duration` as Treeherder computes it (model `Job.get_duration`): whole minutes, at
    least 1, from the start (from the submit time while a job has not started) to the end (to now while
    it has not ended)."""
    seconds = (ended if ended is not None else now) - (started if started is not None else submitted)
    return max(round(max(seconds, 60.0) / 60), 1)


def fake_job_properties(job: FakeJob, state: str, last_modified: str, now: float) -> dict[str, Any]:
    """Every property of a fake job as both jobs endpoints would send it at `now`."""
    started = state in ("running", "completed")
    completed = state == "completed"
    duration = treeherder_duration(
        job.submitted_at, job.start_at if started else None, job.end_at if completed else None, now
    )
    return {
        "build_architecture": "-", "build_os": "-", "build_platform": job.platform,
        "build_platform_id": small_id("platform:" + job.platform), "build_system_type": "taskcluster",
        "duration": duration, "end_timestamp": int(job.end_at) if completed else 0,
        "failure_classification_id": job.classification_at(now), "id": job.id, "job_group_description": "",
        "job_group_id": small_id("group:" + job.job_group_name), "job_group_name": job.job_group_name,
        "job_group_symbol": job.job_group_symbol, "job_guid": job.job_guid, "job_type_description": "",
        "job_type_id": small_id("type:" + job.job_type_name), "job_type_name": job.job_type_name,
        "job_type_symbol": job.job_type_symbol, "last_modified": last_modified,
        "machine_name": f"i-0{job.signature[:16]}" if started else "unknown",
        "machine_platform_architecture": "-", "machine_platform_os": "-",
        "option_collection_hash": option_hash(job.platform_option), "platform": job.platform,
        "push_id": job.push_id, "push_revision": job.push_revision, "reason": "scheduled",
        "ref_data_name": job.signature, "result": job.result if completed else "unknown",
        "result_set_id": job.push_id, "signature": job.signature,
        "start_timestamp": int(job.start_at) if started else 0, "state": state,
        "submit_timestamp": int(job.submitted_at), "tier": job.tier, "who": job.who, "task_id": job.task_id,
        "retry_id": job.retry_id, "platform_option": job.platform_option,
    }  # fmt: skip


def fake_push_payload(push: FakePush) -> dict[str, Any]:
    return push_payload(
        push.id,
        revision=push.revision,
        author=push.author,
        push_timestamp=push.push_timestamp,
        revisions=push.revisions,
        repository_id=REPOSITORY_IDS[push.repo],
        revision_count=push.revision_count,
    )
