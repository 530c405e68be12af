"""Treeherder's payloads read into pushes.rules' dataclasses (public: the fake Treeherder's tests and
benchmarks use them too). Every endpoint's shape is known here and nowhere else; pushes.treeherder.client
says which endpoint to ask.

A single unreadable row (`BadRow`) is logged and skipped; a payload that is wrong as a whole raises
`TreeherderError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pushes.rules import Job, Push, Revision
from pushes.triage import BasePush, Bug, BugSuggestion

from .errors import TreeherderError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What Treeherder says of one failed job: its bug suggestions, one per error line of its log (the
    line cleaned of its harness prefix, the bugs that match it, how often autoland/mozilla-central saw
    it), and whether its log was parsed ("no error lines" and "not parsed yet" both answer [])."""

    parse_status: str  # "parsed" | "pending" | "failed" | "skipped-size" | "unknown"
    suggestions: list[BugSuggestion]


@dataclass(frozen=True, slots=True)
class HealthFailure:
    """One `needInvestigation` row of Push Health: a test failing in one job type on one platform and
    config (only in jobs the log parser marked new failures), and whether it failed on the parent push."""

    test_name: str
    job_name: str
    platform: str
    config: str
    tier: int | None
    failed_in_parent: bool
    job_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PushHealth:
    """Push Health's answer as BuildWatch uses it: the base push (None: Treeherder knows of none) and the
    failures it says need investigation."""

    base: BasePush | None
    need_investigation: list[HealthFailure]
    result: str = ""


@dataclass(frozen=True, slots=True)
class JobLogUrl:
    """One log of a job, from /api/project/{repo}/job-log-url/."""

    name: str
    url: str
    parse_status: str


class BadRow(ValueError):
    """One row of a payload cannot be read; the caller decides whether to skip it or give up."""


# --- Field readers -------------------------------------------------------------------------------------


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise BadRow(f"{name} is not an integer: {value!r}")
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


# --- Payload parsers -------------------------------------------------------------------------------------


def parse_push(data: Any) -> Push:
    if not isinstance(data, Mapping):
        raise BadRow(f"push is not an object: {type(data).__name__}")
    try:
        revisions_data = data.get("revisions") or []
        if not isinstance(revisions_data, list):
            raise BadRow("revisions is not a list")
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
        raise BadRow(f"push lacks {missing}") from None


def job_from_dict(data: Mapping[str, Any], *, push_id: int | None = None) -> Job:
    """A Job from a dict of Treeherder job properties (either endpoint, any order, extras ignored)."""
    if "id" not in data or "state" not in data:
        raise BadRow("job lacks id or state")
    row_push_id = data.get("push_id", data.get("result_set_id", push_id))
    if row_push_id is None:
        raise BadRow("job lacks push_id")
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
                    raise BadRow(f"row has {len(row)} values for {len(names)} property names")
                data = dict(zip(names, row, strict=True))
            elif isinstance(row, Mapping):
                data = row
            else:
                raise BadRow(f"row is a {type(row).__name__}")
            jobs.append(job_from_dict(data, push_id=push_id))
        except BadRow as problem:
            bad += 1
            logger.warning("Skipping unreadable Treeherder job row from %s: %s", url, problem)
    if rows and bad == len(rows):
        raise TreeherderError(f"no readable job row in {len(rows)} rows", url)
    return jobs


def _bug(data: Any) -> Bug:
    if not isinstance(data, Mapping):
        raise BadRow("bug is not an object")
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
        raise BadRow("bug suggestion lacks search")
    bugs = data.get("bugs") or {}
    if not isinstance(bugs, Mapping):
        raise BadRow("bugs is not an object")
    open_recent = bugs.get("open_recent") or []
    all_others = bugs.get("all_others") or []
    if not isinstance(open_recent, list) or not isinstance(all_others, list):
        raise BadRow("bug lists are not lists")
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


def bug_suggestion_to_dict(suggestion: BugSuggestion) -> dict[str, Any]:
    """The row `bug_suggestion_from_dict` reads back (BuildWatch keeps evidence in Treeherder's shape),
    without `all_others` (bugs no triage rule reads: closed or not intermittent)."""
    return {
        "search": suggestion.search,
        "path_end": suggestion.path_end,
        "line_number": suggestion.line_number,
        "counter": suggestion.counter,
        "failure_new_in_rev": suggestion.failure_new_in_rev,
        "bugs": {
            "open_recent": [
                {
                    "id": bug.id,
                    "summary": bug.summary,
                    "status": bug.status,
                    "resolution": bug.resolution,
                    "internal_id": bug.internal_id,
                    "keywords": bug.keywords,
                    "whiteboard": bug.whiteboard,
                }
                for bug in suggestion.open_recent
            ],  # fmt: skip
            "all_others": [],
        },
    }


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


def read_rows[T](rows: Any, reader: Callable[[Any], T], url: str, what: str) -> list[T]:
    if not isinstance(rows, list):
        raise TreeherderError(f"{what} answer is not a list", url)
    items: list[T] = []
    for row in rows:
        try:
            items.append(reader(row))
        except BadRow as problem:
            logger.warning("Skipping unreadable Treeherder %s from %s: %s", what, url, problem)
    if rows and not items:
        raise TreeherderError(f"no readable {what} in {len(rows)} rows", url)
    return items


def iso_utc(moment: datetime) -> str:
    """Treeherder's `last_modified` filters take a naive ISO datetime in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def repository_name(data: Any) -> str:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise BadRow("repository lacks name")
    return data["name"] if data.get("active_status", "active") == "active" else ""


def parse_push_status(payload: Any, url: str) -> dict[str, int]:
    if not isinstance(payload, Mapping):
        raise TreeherderError("push status is not an object", url)
    return {
        str(key): value
        for key, value in payload.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


def parse_job_log_urls(payload: Any, url: str) -> list[JobLogUrl]:
    """Only http(s) URLs are kept."""
    if not isinstance(payload, list):
        raise TreeherderError("job log urls answer is not a list", url)
    return [
        JobLogUrl(_str(row.get("name")), row["url"], _str(row.get("parse_status")) or "unknown")
        for row in payload
        if isinstance(row, Mapping)
        and isinstance(row.get("url"), str)
        and row["url"].startswith(("https://", "http://"))
    ]


def parse_failure_classifications(rows: Any, url: str) -> dict[int, str]:
    if not isinstance(rows, list):
        raise TreeherderError("failure classification answer is not a list", url)
    names = {}
    for row in rows:
        if isinstance(row, Mapping) and isinstance(row.get("id"), int) and isinstance(row.get("name"), str):
            names[row["id"]] = row["name"]
    return names


def parse_decision_task(payload: Any, push_id: int, url: str) -> str | None:
    if not isinstance(payload, Mapping):
        raise TreeherderError("decision task answer is not an object", url)
    entry = payload.get(str(int(push_id)))
    task_id = entry.get("id") if isinstance(entry, Mapping) else None
    return task_id if isinstance(task_id, str) and task_id else None


def _health_failure(data: Any) -> HealthFailure:
    if not isinstance(data, Mapping) or not isinstance(data.get("testName"), str):
        raise BadRow("needInvestigation row lacks testName")
    jobs = data.get("failedInJobs")
    return HealthFailure(
        test_name=data["testName"],
        job_name=_str(data.get("jobName")),
        platform=_str(data.get("platform")),
        config=_str(data.get("config")),
        tier=_opt_int(data.get("tier"), "tier"),
        # Today's server sends it, older ones do not: missing is "not known to fail there".
        failed_in_parent=data.get("failedInParent") is True,
        job_ids=tuple(job for job in jobs if isinstance(job, int)) if isinstance(jobs, list) else (),
    )


def _base_push(details: Any) -> BasePush | None:
    """`metrics.commitHistory.details`: the parent push when Treeherder found one (its id and revision),
    else None (no parent found: nulls, and `parentRepository: true`; a git repository: no details)."""
    if not isinstance(details, Mapping):
        return None
    repository = details.get("parentRepository")
    push_id = details.get("id")
    revision = details.get("parentPushRevision")
    if not isinstance(repository, Mapping) or not isinstance(repository.get("name"), str):
        return None
    if (
        isinstance(push_id, bool)
        or not isinstance(push_id, int)
        or not isinstance(revision, str)
        or not revision
    ):
        return None
    counts = details.get("jobCounts")
    unfinished = (
        sum(
            value for key, value in counts.items() if key in ("pending", "running") and isinstance(value, int)
        )
        if isinstance(counts, Mapping)
        else 0
    )
    return BasePush(
        repo=repository["name"],
        push_id=push_id,
        revision=revision,
        exact_match=details.get("exactMatch") is True,
        unfinished_jobs=unfinished,
    )


def parse_push_health(payload: Any, url: str) -> PushHealth:
    """`/api/project/{repo}/push/health/`: the base push and the `needInvestigation` rows (one unreadable
    row is skipped; an answer without `metrics` is wrong as a whole)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("metrics"), Mapping):
        raise TreeherderError("push health answer has no `metrics`", url)
    metrics = payload["metrics"]
    history = metrics.get("commitHistory")
    tests = metrics.get("tests")
    details = tests.get("details") if isinstance(tests, Mapping) else None
    rows = details.get("needInvestigation") if isinstance(details, Mapping) else None
    failures: list[HealthFailure] = []
    for row in rows if isinstance(rows, list) else []:
        try:
            failures.append(_health_failure(row))
        except BadRow as problem:
            logger.warning("Skipping unreadable Push Health row from %s: %s", url, problem)
    return PushHealth(
        base=_base_push(history.get("details") if isinstance(history, Mapping) else None),
        need_investigation=failures,
        result=_str(payload.get("result")),
    )
