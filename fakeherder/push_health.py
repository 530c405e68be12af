"""Treeherder's Push Health backend as today's server answers it (`treeherder/push_health/`, served by
`PushViewSet.health` and `.health_summary` in `treeherder/webapp/api/push.py`; its UI was removed):

- `/api/project/{repo}/push/health/?revision=R`: the push's base (`metrics.commitHistory.details`: the
  parent push on autoland or mozilla-central, its id, revision, `exactMatch`, `jobCounts`), and its test
  failures that need investigation: only jobs the log parser marked "new failure not classified" (6), one
  row per test, platform, config and job type, each with `failedInParent` (today's code always sends
  False), `isInvestigated`, `failedInJobs`; `knownIssues` is always empty; `jobs` holds those jobs only.
- `/api/project/{repo}/push/health_summary/?revision=R[,R2]` (or `?author=&count=`): counts per push.

Shapes only, built from the fake's jobs; no code was copied.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import HttpError, check_repo
from .payloads import fake_push_payload, iso
from .timeline import FakeJob, FakePush, option_hash, small_id

if TYPE_CHECKING:
    from .server import FakeTreeherder

SKIPPED_JOB_PREFIXES = ("build", "repackage", "hazard", "valgrind", "spidermonkey")


def _push_by_revision(fake: FakeTreeherder, repo: str, revision: str) -> FakePush | None:
    return next((push for push in fake.visible_pushes(repo) if revision and push.revision == revision), None)


def _repository(fake: FakeTreeherder, name: str) -> Any:
    """RepositorySerializer's fields (the list endpoint adds two of its own)."""
    for row in fake.repositories:
        if row["name"] == name:
            return {k: v for k, v in row.items() if k not in ("pushLogUrl", "revisionHrefPrefix")}
    return True  # the server's `not parent_repo or …` when it knows no such repository


def _commits(push: FakePush) -> list[dict[str, Any]]:
    return [
        {"comments": r["comments"], "author": r["author"], "revision": r["revision"]} for r in push.revisions
    ]


def commit_history(fake: FakeTreeherder, push: FakePush) -> dict[str, Any]:
    """`metrics.commitHistory.details`: the parent push when one is known, else the nulls (and the
    `parentRepository: true`) the server sends when mozci finds no parent."""
    base = fake.pushes.get(push.base) if push.base is not None else None
    details: dict[str, Any] = {
        "parentSha": None,
        "exactMatch": False,
        "parentPushRevision": None,
        "parentRepository": True,
        "id": None,
        "jobCounts": None,
        "revisions": _commits(push),
        "revisionCount": push.revision_count,
        "currentPush": fake_push_payload(push),
    }
    if base is not None and base.push_timestamp <= fake.now():
        details.update(
            parentSha=base.revision,
            exactMatch=True,
            parentPushRevision=base.revision,
            parentRepository=_repository(fake, base.repo),
            id=base.id,
            jobCounts=status_counts(fake, base),
        )
    return details


def _clean_config(option: str) -> str:
    return "opt" if option in ("pgo", "shippable") else option


def _test_name(line: str) -> str | None:
    """The test of a TEST-UNEXPECTED line (its second `|` part), as the server's clean_test keeps it."""
    if "TEST-UNEXPECTED-" not in line or "|" not in line:
        return None
    parts = line.split("|")
    return parts[1].strip().replace("\\", "/").lstrip("/") or None


def status_counts(fake: FakeTreeherder, found: FakePush) -> dict[str, int]:
    """Treeherder's Push.get_status() (the push's `status/`, Push Health's `status` and `jobCounts`):
    jobs by state and result, tier 1/2, not classified only."""
    status = {"completed": 0, "pending": 0, "running": 0}
    now = fake.now()
    for job, state, _ in fake.snapshot(found).views:
        if job.tier == 3 or job.classification_at(now) not in (None, 1):
            continue
        if state == "completed":
            status["completed"] += 1
            status[job.result] = status.get(job.result, 0) + 1
        else:
            status[state] = status.get(state, 0) + 1
    return status


def _job_dict(job: FakeJob, now: float) -> dict[str, Any]:
    """A job as push health's job_to_dict has it."""
    return {
        "id": job.id, "machine_platform_id": small_id("platform:" + job.platform),
        "option_collection_hash": option_hash(job.platform_option),
        "job_type_id": small_id("type:" + job.job_type_name), "job_group_id": small_id("group:" + job.job_group_name),
        "result": job.result, "state": "completed", "failure_classification_id": job.classification_at(now),
        "push_id": job.push_id, "start_time": iso(job.start_at), "job_type_name": job.job_type_name,
        "job_type_symbol": job.job_type_symbol, "platform": job.platform, "task_id": job.task_id,
        "run_id": job.retry_id,
    }  # fmt: skip


def _completed(fake: FakeTreeherder, push: FakePush) -> list[FakeJob]:
    return [job for job, state, _ in fake.snapshot(push).views if state == "completed" and job.tier <= 2]


def test_failures(fake: FakeTreeherder, push: FakePush) -> tuple[str, dict[str, Any], dict[str, list]]:
    """(result, {needInvestigation, knownIssues}, jobs by name) over the jobs marked new failures (6)."""
    now = fake.now()
    completed = _completed(fake, push)
    is_test = [j for j in completed if "build" not in j.job_type_name and j.platform != "lint"]
    new_jobs = [j for j in is_test if j.result == "testfailed" and j.classification_at(now) == 6]
    if not new_jobs:
        return "none", {"needInvestigation": [], "knownIssues": []}, {}
    jobs_by_name: dict[str, list[dict]] = {}
    for job in new_jobs:
        jobs_by_name.setdefault(job.job_type_name, []).append(_job_dict(job, now))
    rows: dict[str, dict[str, Any]] = {}
    for job in new_jobs:
        config, platform = _clean_config(job.platform_option), job.platform
        for _, _, line, new in job.errors:
            test = _test_name(line) if new else None
            if not test:
                continue
            key = re.sub(r"\W+", "", f"t{test}{config}{platform}{job.job_type_name}{job.job_group_name}")
            row = rows.setdefault(key, {
                "testName": test, "action": "test", "jobName": job.job_type_name, "jobSymbol": job.job_type_symbol,
                "jobGroup": job.job_group_name, "jobGroupSymbol": job.job_group_symbol, "platform": platform,
                "config": config, "key": key, "jobKey": f"{config}{platform}{job.job_type_name}{job.job_group_name}",
                "suggestedClassification": "New Failure", "confidence": 0, "tier": job.tier, "totalFailures": 0,
                "totalJobs": sum(1 for j in is_test if j.job_type_name == job.job_type_name
                                 and j.result in ("success", "testfailed")),
                "failedInParent": False, "isClassifiedIntermittent": False, "isInvestigated": False,
                "investigatedTestId": None, "failedInJobs": [],
            })  # fmt: skip
            if job.id not in row["failedInJobs"]:
                row["failedInJobs"].append(job.id)
                row["totalFailures"] += 1
    need = sorted(
        (row for row in rows.values() if not row["jobName"].startswith(SKIPPED_JOB_PREFIXES)),
        key=lambda row: row["testName"],
    )
    return ("fail" if need else "pass"), {"needInvestigation": need, "knownIssues": []}, jobs_by_name


def _job_results(fake: FakeTreeherder, jobs: list[FakeJob], failure: str) -> tuple[str, list[dict], int]:
    """The server's get_job_results: (result, failed jobs, in progress) for builds or lint jobs."""
    now = fake.now()
    if not jobs:
        return "none", [], 0
    failures = [_job_dict(job, now) for job in jobs if job.result == failure]
    return ("fail" if failures else "pass"), failures, 0


def _builds(fake: FakeTreeherder, push: FakePush) -> tuple[str, list[dict], int]:
    views = fake.snapshot(push).views
    builds = [job for job, state, _ in views if "build" in job.job_type_name.lower() and job.tier <= 2]
    result, failures, _ = _job_results(fake, [j for j in builds if j.completed(fake.now())], "busted")
    running = sum(1 for job, state, _ in views if job in builds and state != "completed")
    return ("unknown" if running and result != "fail" else result), failures, running


def _push_result(*results: str) -> str:
    overall = "pass"
    for result in results:
        if result == "indeterminate" or (result == "unknown" and overall != "fail"):
            overall = result
        elif result == "fail":
            overall = result
    return overall


def _checked_push(fake: FakeTreeherder, repo: str, query: dict[str, str]) -> FakePush:
    check_repo(repo)
    revision = query.get("revision", "")
    found = _push_by_revision(fake, repo, revision)
    if found is None:
        raise HttpError(404, f"No push with revision: {revision or None}")
    return found


def health(fake: FakeTreeherder, repo: str, query: dict[str, str]) -> dict[str, Any]:
    push = _checked_push(fake, repo, query)
    test_result, tests, jobs = test_failures(fake, push)
    build_result, build_failures, _ = _builds(fake, push)
    lint_result, lint_failures = "none", []
    status = status_counts(fake, push)
    status["testfailed"] = len(tests["needInvestigation"]) + len(build_failures) + len(lint_failures)
    return {
        "revision": push.revision,
        "id": push.id,
        "result": _push_result(test_result, lint_result, build_result),
        "jobs": jobs,
        "metrics": {
            "commitHistory": {
                "name": "Commit History", "result": "none", "details": commit_history(fake, push),
            },
            "linting": {"name": "Linting", "result": lint_result, "details": lint_failures},
            "tests": {"name": "Tests", "result": test_result, "details": tests},
            "builds": {"name": "Builds", "result": build_result, "details": build_failures},
        },
        "status": status,
    }  # fmt: skip


def health_summary(fake: FakeTreeherder, repo: str, query: dict[str, str]) -> list[dict[str, Any]]:
    check_repo(repo)
    if query.get("revision"):
        wanted = set(query["revision"].split(","))
        pushes = [push for push in fake.visible_pushes(repo) if push.revision in wanted]
    else:
        author = query.get("author", "")
        pushes = [push for push in fake.visible_pushes(None if query.get("all_repos") else repo)
                  if push.author == author][: int(query.get("count") or 10)]  # fmt: skip
    summaries = []
    for push in pushes:
        test_result, tests, _ = test_failures(fake, push)
        build_result, build_failures, builds_running = _builds(fake, push)
        need = len(tests["needInvestigation"]) + len(build_failures)
        status = status_counts(fake, push)
        status["testfailed"] = need
        summaries.append({
            "revision": push.revision, "repository": push.repo,
            "testFailureCount": len(tests["needInvestigation"]), "testInProgressCount": 0,
            "buildFailureCount": len(build_failures), "buildInProgressCount": builds_running,
            "lintFailureCount": 0, "lintingInProgressCount": 0, "needInvestigation": need, "status": status,
            "history": [fake_push_payload(push)] if query.get("with_history") else None,
            "metrics": {
                "linting": {"name": "Linting", "result": "none"},
                "tests": {"name": "Tests", "result": test_result},
                "builds": {"name": "Builds", "result": build_result},
            },
        })  # fmt: skip
    return summaries


__all__ = ["commit_history", "health", "health_summary", "status_counts", "test_failures"]
