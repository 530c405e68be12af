"""The Treeherder endpoints the fake serves, as the real API answers them (shapes, paging, filters, errors).

Each handler takes the fake and the request's parts and returns the JSON body, raises `HttpError`, or
(for an unknown path) returns None: the real server answers 200 with its HTML app then.
"""

from __future__ import annotations

import copy
import math
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import push_health, triage
from .errors import HttpError, check_repo
from .payloads import (
    DATE_FORMAT,
    PROJECT_PROPERTY_NAMES,
    UI_PROPERTY_NAMES,
    fake_job_properties,
    fake_push_payload,
    iso,
    job_log_url,
    push_list_payload,
    text_log_error,
)
from .timeline import FakeJob, FakePush, load_recording

if TYPE_CHECKING:
    from .server import FakeTreeherder
    from .world import Snapshot

MAX_PUSH_COUNT = 1000
MAX_JOBS_COUNT = 2000
COUNT_DETAIL = f"Specified count exceeds API MAX_JOBS_COUNT value: {MAX_JOBS_COUNT}"
PREFIX_RE = re.compile(r"^\d\d:\d\d:\d\d\s+\w+\s+-\s+(\d+ INFO\s+)?")


def parse_date(value: str) -> str | None:
    """A query date as a comparable last_modified string (UTC, no zone), or None when unparsable."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime(DATE_FORMAT)


def visible_push(fake: FakeTreeherder, repo: str, push_id: str) -> FakePush:
    push = fake.pushes.get(int(push_id)) if push_id.isdigit() else None
    if push is None or push.repo != repo or push.push_timestamp > fake.now():
        raise HttpError(404, f"No push with id: {push_id}")
    return push


def visible_job(fake: FakeTreeherder, repo: str, job_id: str) -> FakeJob:
    job = fake.jobs_by_id.get(int(job_id)) if job_id.isdigit() else None
    if job is None or fake.pushes[job.push_id].repo != repo or job.state_at(fake.now()) is None:
        raise HttpError(404, f"No job with id: {job_id}")
    return job


# --- Pushes ---------------------------------------------------------------------------------------------

_ID_FILTERS: list[tuple[str, Callable[[FakePush, int], bool]]] = [
    ("id__lt", lambda p, v: p.id < v), ("id__lte", lambda p, v: p.id <= v),
    ("id__gt", lambda p, v: p.id > v), ("id__gte", lambda p, v: p.id >= v), ("id", lambda p, v: p.id == v),
]  # fmt: skip
_TIME_FILTERS: list[tuple[str, Callable[[FakePush, float], bool]]] = [
    ("push_timestamp__lt", lambda p, v: p.push_timestamp < v),
    ("push_timestamp__lte", lambda p, v: p.push_timestamp <= v),
    ("push_timestamp__gt", lambda p, v: p.push_timestamp > v),
    ("push_timestamp__gte", lambda p, v: p.push_timestamp >= v),
]  # fmt: skip


def _tie_order(push: FakePush, count: int) -> int:
    """Where a push goes among pushes of the same second. Treeherder orders by `-time` alone, so
    PostgreSQL returns ties in no particular order, which can change with the LIMIT: the fake's order is
    not the ids' and changes with `count`, so a client that relies on an order among ties fails here too."""
    return zlib.crc32(f"{push.id}:{count}".encode())


def push_list(fake: FakeTreeherder, repo: str, query: dict[str, str]) -> dict:
    """`/api/project/{repo}/push/`: newest push *time* first (Treeherder's `order_by("-time")`), so a push
    ingested late (a higher id, an older time) is listed at its time, not at its id."""
    try:
        count = int(query.get("count", 10))
    except ValueError:
        raise HttpError(400, {"detail": "Valid count value required"}) from None
    if count > MAX_PUSH_COUNT:
        raise HttpError(400, {"detail": f"Specified count exceeds api limit: {MAX_PUSH_COUNT}"})
    if count < 1:
        raise HttpError(400, {"detail": "count requires a positive integer"})
    check_repo(repo)
    pushes = sorted(fake.visible_pushes(repo), key=lambda p: (-p.push_timestamp, _tie_order(p, count)))
    author = query.get("author")
    if author:
        if author.startswith("-"):
            pushes = [p for p in pushes if p.author.lower() != author[1:].lower()]
        else:
            pushes = [p for p in pushes if p.author.lower() == author.lower()]
    if query.get("author_contains"):
        pushes = [p for p in pushes if query["author_contains"].lower() in p.author.lower()]
    if query.get("revision"):
        pushes = [p for p in pushes if any(r["revision"].startswith(query["revision"]) for r in p.revisions)]
    if query.get("id__in"):
        try:
            wanted = {int(value) for value in query["id__in"].split(",")}
        except ValueError:
            raise HttpError(400, {"detail": "Invalid id__in specification"}) from None
        pushes = [p for p in pushes if p.id in wanted]
    for key, time_test in _TIME_FILTERS:
        if query.get(key):  # as Treeherder: an empty value is no filter, any float a moment
            try:
                moment = float(query[key])
            except ValueError:
                raise HttpError(400, {"detail": f"Invalid timestamp specified for {key}"}) from None
            pushes = [p for p in pushes if time_test(p, moment)]
    for key, id_test in _ID_FILTERS:
        try:
            number = int(query.get(key) or 0)
        except ValueError:  # Treeherder's own message, "timestamp" and all
            raise HttpError(400, {"detail": f"Invalid timestamp specified for {key}"}) from None
        if number:
            pushes = [p for p in pushes if id_test(p, number)]
    return push_list_payload([fake_push_payload(p) for p in pushes[:count]], repo, **query)


def push(fake: FakeTreeherder, repo: str, push_id: str) -> dict:
    check_repo(repo)
    return fake_push_payload(visible_push(fake, repo, push_id))


def push_status(fake: FakeTreeherder, repo: str, push_id: str) -> dict:
    check_repo(repo)
    return push_health.status_counts(fake, visible_push(fake, repo, push_id))


def decision_task(fake: FakeTreeherder, repo: str, query_list: dict[str, list[str]]) -> dict:
    check_repo(repo)
    ids = [part for value in query_list.get("push_ids", []) for part in value.split(",") if part.strip()]
    now = fake.now()
    found = {}
    for push_id in ids:
        found_push = fake.pushes.get(int(push_id)) if push_id.strip().isdigit() else None
        decision = found_push.decision if found_push and found_push.repo == repo else None
        if decision and decision.state_at(now) is not None:
            found[str(found_push.id)] = {"id": decision.task_id, "run": str(decision.retry_id)}
    if not found:
        raise HttpError(404, f"No decision tasks found for pushes: {ids}")
    return found


# --- Jobs -----------------------------------------------------------------------------------------------


def _compare(value: str, op: str, bound: str) -> bool:
    if op == "gt":
        return value > bound
    if op == "gte":
        return value >= bound
    if op == "lt":
        return value < bound
    return value <= bound


def _simple_match(job: FakeJob, state: str, filters: dict[str, str]) -> bool:
    values = {
        "state": state,
        "result": job.result if state == "completed" else "unknown",
        "job_type_name": job.job_type_name,
        "task_id": job.task_id,
        "tier": str(job.tier),
        "id": str(job.id),
    }
    return all(values[key] == value for key, value in filters.items())


def _filtered(fake: FakeTreeherder, repo: str | None, query: dict[str, str],
              on_bad_date: Callable[[str, str], None]) -> list[tuple[Snapshot, int]]:  # fmt: skip
    """(snapshot, index) of the jobs matching the query, ordered by job id."""
    push_id = query.get("push_id") or query.get("result_set_id")
    if push_id is not None:
        found = fake.pushes.get(int(push_id)) if push_id.isdigit() else None
        visible = found and (repo is None or found.repo == repo) and found.push_timestamp <= fake.now()
        pushes = [found] if visible else []
    else:
        pushes = fake.visible_pushes(repo)
    bounds = []
    for op in ("gt", "gte", "lt", "lte"):
        key = f"last_modified__{op}"
        if key in query:
            value = parse_date(query[key])
            if value is None:
                on_bad_date(key, query[key])
            bounds.append((op, value))
    simple = {
        k: query[k] for k in ("state", "result", "job_type_name", "task_id", "tier", "id") if k in query
    }
    id_in = {int(v) for v in query.get("id__in", "").split(",") if v.strip().isdigit()}
    matches = []
    for each in pushes:
        snap = fake.snapshot(each)
        for index, (job, state, lm) in enumerate(snap.views):
            if bounds and not all(_compare(lm, op, value) for op, value in bounds):
                continue
            if id_in and job.id not in id_in:
                continue
            if simple and not _simple_match(job, state, simple):
                continue
            matches.append((snap, index))
    if len(pushes) > 1:
        matches.sort(key=lambda m: m[0].views[m[1]][0].id)
    return matches


def jobs_ui(fake: FakeTreeherder, query: dict[str, str], base: str) -> dict:
    """`/api/jobs/`: ordered by id, `count` rows a page, absolute next/previous links."""
    try:
        count = int(query.get("count", MAX_JOBS_COUNT))
    except ValueError:
        count = MAX_JOBS_COUNT
    if count > MAX_JOBS_COUNT:
        raise HttpError(400, {"detail": COUNT_DETAIL})
    count = count if count >= 1 else MAX_JOBS_COUNT
    page_text = query.get("page", "1")
    page = int(page_text) if page_text.isdigit() else 0

    def bad_date(key: str, value: str) -> None:
        raise HttpError(400, {key: ["Enter a valid date/time."]})

    matches = _filtered(fake, None, query, bad_date)
    pages = max(1, math.ceil(len(matches) / count))
    if page < 1 or page > pages:
        raise HttpError(404, {"detail": "Invalid page."})
    chunk = matches[(page - 1) * count : page * count]

    def link(number: int) -> str:
        params = {k: v for k, v in query.items() if k != "page"}
        if number > 1:
            params["page"] = str(number)
        return f"{base}/api/jobs/?{urlencode(sorted(params.items()))}"

    return {
        "count": len(matches),
        "next": link(page + 1) if page < pages else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": [snap.rows(UI_PROPERTY_NAMES)[index] for snap, index in chunk],
        "job_property_names": UI_PROPERTY_NAMES,
    }


def jobs_project(fake: FakeTreeherder, repo: str, query: dict[str, str]) -> dict:
    try:
        offset = int(query.get("offset", 0))
        count = int(query.get("count", 10))
    except ValueError:
        raise HttpError(400, "Invalid value for offset or count") from None
    for key in query:
        if key.startswith("last_modified") and parse_date(query[key]) is None:
            raise HttpError(400, f"Invalid date value for `last_modified`: {query[key]}")
    if count > MAX_JOBS_COUNT:
        raise HttpError(400, {"detail": COUNT_DETAIL})
    check_repo(repo)
    matches = _filtered(fake, repo, query, lambda key, value: None)[offset : offset + count]
    rows = [snap.rows(PROJECT_PROPERTY_NAMES)[index] for snap, index in matches]
    body: dict[str, Any]
    if query.get("return_type", "dict").lower() == "list":
        body = {"results": rows, "job_property_names": PROJECT_PROPERTY_NAMES}
    else:
        body = {"results": [dict(zip(PROJECT_PROPERTY_NAMES, row, strict=True)) for row in rows]}
    body["meta"] = {"repository": repo, "offset": offset, "count": count}
    return body


def _log_urls(fake: FakeTreeherder, job: FakeJob) -> list[dict]:
    base = f"{fake.url}/api/queue/v1/task/{job.task_id}/runs/{job.retry_id}/artifacts/public"
    logs = [{"name": "live_backing_log", "url": f"{base}/logs/live_backing.log"}]
    if job.kind in ("test", "retrigger"):
        logs.append({"name": "errorsummary_json", "url": f"{base}/test_info/errorsummary.log"})
    return logs


def job(fake: FakeTreeherder, repo: str, job_id: str) -> dict:
    check_repo(repo)
    found = visible_job(fake, repo, job_id)
    now = fake.now()
    state = found.state_at(now)
    props = fake_job_properties(found, state, iso(found.last_modified_at(now)), now)
    body = {name: props[name] for name in PROJECT_PROPERTY_NAMES}
    body["resource_uri"] = f"/api/project/{repo}/jobs/{found.id}/"
    body["logs"] = _log_urls(fake, found) if state == "completed" else []
    body["taskcluster_metadata"] = {"task_id": found.task_id, "retry_id": found.retry_id}
    body["autoclassify_status"] = (
        "crossreferenced" if found.parsed(now) and state == "completed" else "pending"
    )
    return body


def _errors_now(fake: FakeTreeherder, found: FakeJob) -> list[tuple[int, int, str, bool]]:
    now = fake.now()
    return found.errors if found.completed(now) and found.parsed(now) else []


def text_log_errors(fake: FakeTreeherder, repo: str, job_id: str) -> list[dict]:
    check_repo(repo)
    found = visible_job(fake, repo, job_id)
    return [
        text_log_error(eid, found.id, line, number, new)
        for eid, number, line, new in _errors_now(fake, found)
    ]


def known_bugs() -> dict[str, dict]:
    """Bug suggestions by test path: the recorded ones, and an intermittent the scenarios' failures hit."""
    known = {
        entry["path_end"]: entry["bugs"]
        for entry in load_recording("bug_suggestions.json")
        if entry["path_end"]
    }
    path = "devtools/client/webconsole/test/browser/browser_console_enable_network_monitoring.js"
    known[path] = {
        "open_recent": [
            {"id": None, "internal_id": 4242, "status": "NEW", "resolution": "", "dupe_of": None,
             "summary": f"Intermittent {path} | A promise chain failed to handle a rejection",
             "crash_signature": "", "keywords": "intermittent-failure", "whiteboard": "", "occurrences": 3}
        ],
        "all_others": [],
    }  # fmt: skip
    known.update(triage.known_bugs())
    return known


def _path_end(clean: str) -> str | None:
    parts = [part.strip() for part in clean.split(" | ")]
    if len(parts) < 2:
        return None
    for part in parts[1:]:
        candidate = part.split(":")[-1].split(" ")[0]
        if "/" in candidate or re.search(r"\.(js|html|xhtml|toml|ini)$", candidate):
            return candidate.lstrip("/") if candidate.startswith("/") and "." in candidate else candidate
    return None


def bug_suggestions(fake: FakeTreeherder, repo: str, job_id: str) -> list[dict]:
    check_repo(repo)
    found = visible_job(fake, repo, job_id)
    suggestions = []
    for _, number, line, new in _errors_now(fake, found):
        clean = PREFIX_RE.sub("", line).strip()
        path = _path_end(clean)
        bugs = fake.known_bugs.get(path or "", {"open_recent": [], "all_others": []})
        suggestions.append({
            "search": clean,
            "search_terms": [path.rsplit("/", 1)[-1]] if path else [clean[:100]],
            "path_end": path,
            "bugs": copy.deepcopy(bugs),
            "line_number": number,
            "counter": 0 if new else found.seen_on_central,
            "failure_new_in_rev": new,
        })  # fmt: skip
    return suggestions


def job_log_urls(fake: FakeTreeherder, repo: str, query_list: dict[str, list[str]]) -> list[dict]:
    check_repo(repo)
    now = fake.now()
    ids = [part for value in query_list.get("job_id", []) for part in value.split(",") if part.strip()]
    rows = []
    for job_id in ids:
        found = fake.jobs_by_id.get(int(job_id)) if job_id.strip().isdigit() else None
        if found is None or fake.pushes[found.push_id].repo != repo or not found.completed(now):
            continue
        status = "parsed" if found.parsed(now) else "pending"
        for offset, log in enumerate(_log_urls(fake, found)):
            rows.append(job_log_url(found.id * 2 + offset, found.id, log["name"], log["url"], status))
    return rows


# --- Routing --------------------------------------------------------------------------------------------

PROJECT_RE = re.compile(r"^/api/project/(?P<repo>[^/]+)/(?P<rest>.*)$")
ROUTES: list[tuple[re.Pattern[str], Callable[..., Any]]] = [
    (re.compile(r"^push/$"), lambda fake, repo, m, q, ql: push_list(fake, repo, q)),
    (re.compile(r"^push/decisiontask/$"), lambda fake, repo, m, q, ql: decision_task(fake, repo, ql)),
    (re.compile(r"^push/health/$"), lambda fake, repo, m, q, ql: push_health.health(fake, repo, q)),
    (re.compile(r"^push/health_summary/$"), lambda fake, repo, m, q, ql: push_health.health_summary(fake, repo, q)),
    (re.compile(r"^push/(?P<id>[^/]+)/$"), lambda fake, repo, m, q, ql: push(fake, repo, m["id"])),
    (re.compile(r"^push/(?P<id>[^/]+)/status/$"), lambda fake, repo, m, q, ql: push_status(fake, repo, m["id"])),
    (re.compile(r"^jobs/$"), lambda fake, repo, m, q, ql: jobs_project(fake, repo, q)),
    (re.compile(r"^jobs/(?P<id>[^/]+)/$"), lambda fake, repo, m, q, ql: job(fake, repo, m["id"])),
    (re.compile(r"^jobs/(?P<id>[^/]+)/text_log_errors/$"),
     lambda fake, repo, m, q, ql: text_log_errors(fake, repo, m["id"])),
    (re.compile(r"^jobs/(?P<id>[^/]+)/bug_suggestions/$"),
     lambda fake, repo, m, q, ql: bug_suggestions(fake, repo, m["id"])),
    (re.compile(r"^job-log-url/$"), lambda fake, repo, m, q, ql: job_log_urls(fake, repo, ql)),
]  # fmt: skip


def answer(fake: FakeTreeherder, path: str, query: dict[str, str], query_list: dict[str, list[str]],
           base: str) -> Any:  # fmt: skip
    """The JSON body for a GET of a Treeherder path, or None for a path the API does not have."""
    if path == "/api/repository/":
        return fake.repositories
    if path == "/api/failureclassification/":
        return fake.classifications
    if path == "/api/jobs/":
        return jobs_ui(fake, query, base)
    project = PROJECT_RE.match(path)
    if not project:
        return None
    for pattern, handler in ROUTES:
        route = pattern.match(project["rest"])
        if route:
            return handler(fake, project["repo"], route, query, query_list)
    return None
