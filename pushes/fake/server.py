"""A fake Treeherder (and the bits of Taskcluster BuildWatch uses) on loopback, for tests and demos.

    from pushes.fake.server import FakeTreeherder
    fake = FakeTreeherder(scenario="quick", speed=0)   # speed 0: only advance() moves the clock
    url = fake.start()                                 # http://127.0.0.1:<port>, daemon thread
    fake.advance(300)                                  # pending -> running -> completed
    fake.stop()

It serves the real API's shapes (docs/TREEHERDER-API.md): push list/one push/status/decision task,
`/api/jobs/` (pages with absolute `next` links) and the project jobs endpoint (offset paging, `meta`),
`last_modified__gt` & co, one job with `logs`, text log errors (empty until "parsed"), job log urls
with `parse_status`, bug suggestions, failure classifications and repositories. A path without its
trailing slash, or an unknown path, answers 200 HTML like the real server. It also plays Taskcluster
for retriggers: the decision task's `public/actions.json`, task definitions and a hook trigger that
needs an `Authorization: Hawk ...` header and adds the retriggered jobs to the push.

Simulated time: `now = t0 + advanced + real seconds elapsed * speed` (t0: `start_time`, default the
real time at reset). Each job appears (unscheduled) once its push's decision task is done, turns
pending, running, completed; `last_modified` is its latest transition. Logs are "parsed" a while after
a job ends (`parse_delay`): until then text_log_errors/bug_suggestions are empty and job-log-url says
`pending`. Scenarios (scenarios.py) are deterministic; `reset(scenario)` rebuilds one.

Helpers for tests:
- `push_ids(author=None, repo="try", role=None)` visible pushes newest first; `push_id(role)` the push a
  scenario gave a role ("watched", "failing", "failed", "green", "xss" in quick; "big", "failed",
  "running", "decision", "future", ... in default); `roles()`; `push(id)` the FakePush.
- `jobs(push_id)` (project-endpoint dicts), `job_ids(push_id, result=, state=, tier=, name=)`,
  `decision_task_id(push_id)`, `is_finished(push_id)`, `state()`.
- `finish_push(push_id, failures=None, parsed=True)`; `bulk_update(job_ids, result=,
  failure_classification_id=)` (no last_modified change, like Treeherder's bulk updates); `add_push(author=, messages=, size=, plan=,
  pushed_ago=, repo=, role=)` -> id.
- `set_down(True)` (503 HTML), `set_garbage(True)` (200 truncated JSON), `fail_next(n, status, retry_after)`,
  `set_latency(seconds)`; `request_count`, `requests` [(method, path)], `request_paths(contains)`,
  `clear_requests()`; `triggers` (every hook trigger: payload, authorization, new_job_ids).

HTTP control (not counted in the request log): GET /__fake__/state, POST /__fake__/advance?seconds=N,
POST /__fake__/reset?scenario=NAME, POST /__fake__/finish?push_id=N[&failures=K],
POST /__fake__/down?on=1, POST /__fake__/garbage?on=1, POST /__fake__/latency?seconds=X,
GET /__fake__/requests, POST /__fake__/clear-requests, GET /__fake__/triggers.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from . import scenarios
from .scenarios import DEMO_AUTHOR, QUICK, SCENARIOS, Builder, FakeJob, FakePush, load_recording

MAX_PUSH_COUNT = 1000
MAX_JOBS_COUNT = 2000
COUNT_DETAIL = f"Specified count exceeds API MAX_JOBS_COUNT value: {MAX_JOBS_COUNT}"
HTML_PAGE = (
    b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Treeherder</title></head>"
    b"<body><noscript>You need to enable JavaScript to run this app.</noscript><div id=\"root\"></div>"
    b"</body></html>"
)
GARBAGE_BODY = b'{"results": [[1, 2, "'
DOWN_BODY = b"<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

PROJECT_PROPERTY_NAMES = [
    "build_architecture", "build_os", "build_platform", "build_platform_id", "build_system_type",
    "end_timestamp", "failure_classification_id", "id", "job_group_description", "job_group_id",
    "job_group_name", "job_group_symbol", "job_guid", "job_type_description", "job_type_id",
    "job_type_name", "job_type_symbol", "last_modified", "machine_name", "machine_platform_architecture",
    "machine_platform_os", "option_collection_hash", "platform", "push_id", "reason", "ref_data_name",
    "result", "result_set_id", "signature", "start_timestamp", "state", "submit_timestamp", "tier", "who",
    "task_id", "retry_id", "platform_option",
]  # fmt: skip
UI_PROPERTY_NAMES = [
    "failure_classification_id", "id", "job_group_name", "job_group_symbol", "job_type_name",
    "job_type_symbol", "last_modified", "platform", "push_id", "push_revision", "result", "signature",
    "state", "tier", "task_id", "retry_id", "duration", "platform_option",
]  # fmt: skip


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(DATE_FORMAT)


def parse_date(value: str) -> str | None:
    """A query date as a comparable last_modified string (UTC, no zone), or None when unparsable."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime(DATE_FORMAT)


@cache
def _small_id(text: str) -> int:
    return scenarios.small_id(text)


@cache
def _option_hash(option: str) -> str:
    return scenarios.option_hash(option)


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


# --- Snapshots: a push's visible jobs at one moment, rebuilt only when something changes ----------------


class Snapshot:
    def __init__(self, push: FakePush, now: float) -> None:
        self.version = push.version
        self.valid_from = now
        self.valid_until = math.inf
        views: list[tuple[FakeJob, str, str]] = []
        for job in push.jobs:
            change = job.next_change_after(now)
            if change is not None and change < self.valid_until:
                self.valid_until = change
            state = job.state_at(now)
            if state is not None:
                views.append((job, state, iso(job.last_modified_at(now))))
        views.sort(key=lambda view: view[0].id)
        self.views = views
        self.now = now
        self._project_rows: list[list] | None = None
        self._ui_rows: list[list] | None = None
        self.bodies: dict[tuple, bytes] = {}

    def valid(self, push: FakePush, now: float) -> bool:
        return push.version == self.version and self.valid_from <= now < self.valid_until

    def project_rows(self) -> list[list]:
        if self._project_rows is None:
            self._project_rows = [_project_row(job, state, lm) for job, state, lm in self.views]
        return self._project_rows

    def ui_rows(self) -> list[list]:
        if self._ui_rows is None:
            self._ui_rows = [_ui_row(job, state, lm, self.now) for job, state, lm in self.views]
        return self._ui_rows


def _project_row(job: FakeJob, state: str, last_modified: str) -> list:
    started = state in ("running", "completed")
    completed = state == "completed"
    return [
        "-", "-", job.platform, _small_id("platform:" + job.platform), "taskcluster",
        int(job.end_at) if completed else 0, job.failure_classification_id, job.id, "",
        _small_id("group:" + job.job_group_name), job.job_group_name, job.job_group_symbol, job.job_guid, "",
        _small_id("type:" + job.job_type_name), job.job_type_name, job.job_type_symbol, last_modified,
        f"i-0{job.signature[:16]}" if started else "unknown", "-", "-", _option_hash(job.platform_option),
        job.platform, job.push_id, "scheduled", job.signature, job.result if completed else "unknown",
        job.push_id, job.signature, int(job.start_at) if started else 0, state, int(job.appear_at), job.tier,
        job.who, job.task_id, job.retry_id, job.platform_option,
    ]  # fmt: skip


def _ui_row(job: FakeJob, state: str, last_modified: str, now: float) -> list:
    if state == "completed":
        duration = max(1, round((job.end_at - job.start_at) / 60))
    elif state == "running":
        duration = round((now - job.start_at) / 60)
    else:
        duration = 0
    return [
        job.failure_classification_id, job.id, job.job_group_name, job.job_group_symbol, job.job_type_name,
        job.job_type_symbol, last_modified, job.platform, job.push_id, job.push_revision,
        job.result if state == "completed" else "unknown", job.signature, state, job.tier, job.task_id,
        job.retry_id, duration, job.platform_option,
    ]  # fmt: skip


# --- Bug suggestions --------------------------------------------------------------------------------------

PREFIX_RE = re.compile(r"^\d\d:\d\d:\d\d\s+\w+\s+-\s+(\d+ INFO\s+)?")


def _known_bugs() -> dict[str, dict]:
    known = {entry["path_end"]: entry["bugs"] for entry in load_recording("bug_suggestions.json") if entry["path_end"]}
    path = "devtools/client/webconsole/test/browser/browser_console_enable_network_monitoring.js"
    known[path] = {
        "open_recent": [
            {"id": None, "internal_id": 4242, "status": "NEW", "resolution": "", "dupe_of": None,
             "summary": f"Intermittent {path} | A promise chain failed to handle a rejection",
             "crash_signature": "", "keywords": "intermittent-failure", "whiteboard": "", "occurrences": 3}
        ],
        "all_others": [],
    }  # fmt: skip
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


# --- The fake -------------------------------------------------------------------------------------------------


class FakeTreeherder:
    """See the module docstring. All public methods are thread-safe."""

    def __init__(
        self,
        scenario: str = "default",
        speed: float = 1.0,
        *,
        start_time: float | None = None,
        latency: float = 0.0,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = speed
        self.latency = latency
        self.down = False
        self.garbage = False
        self._fail_next: deque[tuple[int, float | None]] = deque()
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.requests: deque[tuple[str, str]] = deque(maxlen=20_000)
        self.request_count = 0
        self.triggers: list[dict] = []
        self._actions_template = load_recording("initialActions.json")
        self._task_template = load_recording("originalTask.json")
        self._repositories = load_recording("repositories.json")
        self._classifications = [
            {"id": row["pk"], "name": row["fields"]["name"]} for row in load_recording("failure_classification.json")
        ]
        self._known_bugs = _known_bugs()
        self.reset(scenario, start_time=start_time)

    # --- clock and scenario ---------------------------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return self.t0 + self._advanced + (time.monotonic() - self._real_start) * self.speed

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the new simulated time (epoch seconds)."""
        if seconds < 0:
            raise ValueError("time only moves forward; use reset() to start over")
        with self._lock:
            self._advanced += seconds
            return self.now()

    def reset(self, scenario: str | None = None, *, start_time: float | None = None) -> None:
        """Rebuild a scenario from scratch (the same one by default) at `start_time` (default: now)."""
        scenario = scenario or getattr(self, "scenario", "default")
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        with self._lock:
            self.scenario = scenario
            self.t0 = float(int(start_time if start_time is not None else time.time()))
            self._advanced = 0.0
            self._real_start = time.monotonic()
            self.pushes: dict[int, FakePush] = SCENARIOS[scenario](self.t0)
            self._recurring = 0
            self._next_recurring = self.t0 + scenarios.RECURRING_EVERY if scenario == "default" else math.inf
            self._snapshots: dict[int, Snapshot] = {}
            self._index()
            self.triggers = []

    def _arrivals(self) -> None:
        """Add the default scenario's recurring pushes whose time has come (any number at once)."""
        with self._lock:
            while self._next_recurring <= self.now():
                push = scenarios.recurring_push(self.t0, self._recurring, max(self.pushes) + 1, self._next_job_id)
                self.pushes[push.id] = push
                for job in push.jobs:
                    self._index_job(push, job)
                self._recurring += 1
                self._next_recurring += scenarios.RECURRING_EVERY

    def _index(self) -> None:
        self._jobs: dict[int, FakeJob] = {}
        self._tasks: dict[str, list[FakeJob]] = {}
        self._decisions: dict[str, FakePush] = {}
        self._next_job_id = 0
        for push in self.pushes.values():
            for job in push.jobs:
                self._index_job(push, job)

    def _index_job(self, push: FakePush, job: FakeJob) -> None:
        self._jobs[job.id] = job
        self._tasks.setdefault(job.task_id, []).append(job)
        if job.kind == "decision":
            self._decisions[job.task_id] = push
        self._next_job_id = max(self._next_job_id, job.id)

    # --- server ---------------------------------------------------------------------------------------

    def listen(self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False) -> str:
        """Bind the socket (port 0 picks a free one) without serving yet; returns the base URL."""
        server = _Server((host, port), _Handler)
        server.fake = self
        server.verbose = verbose
        self._server = server
        self.url = f"http://{host}:{server.server_address[1]}"
        return self.url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (also the Taskcluster root URL)."""
        url = self.listen(host, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-treeherder", daemon=True
        )
        self._thread.start()
        return url

    def serve_forever(self) -> None:
        """Serve the socket bound by listen() in the calling thread (the CLI); Ctrl-C stops it."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTreeherder:
        if not self.url:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- failure modes and request log ------------------------------------------------------------------

    def set_down(self, down: bool = True) -> None:
        """Answer every API request with 503 (HTML body)."""
        self.down = down

    def set_garbage(self, garbage: bool = True) -> None:
        """Answer every API request with 200 and truncated JSON."""
        self.garbage = garbage

    def set_latency(self, seconds: float) -> None:
        """Sleep this long before answering each API request."""
        self.latency = seconds

    def fail_next(self, count: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next `count` API requests answer `status` (with `Retry-After` when given)."""
        with self._lock:
            self._fail_next.extend([(status, retry_after)] * count)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_count = 0

    def request_paths(self, contains: str = "") -> list[str]:
        with self._lock:
            return [path for _, path in self.requests if contains in path]

    # --- helpers for tests ----------------------------------------------------------------------------

    def visible_pushes(self, repo: str | None = "try") -> list[FakePush]:
        self._arrivals()
        now = self.now()
        with self._lock:
            pushes = [p for p in self.pushes.values() if p.push_timestamp <= now and (repo is None or p.repo == repo)]
        return sorted(pushes, key=lambda p: p.id, reverse=True)

    def push_ids(self, author: str | None = None, repo: str | None = "try", *, role: str | None = None) -> list[int]:
        """Ids of the pushes visible now, newest first; `author` matches case-insensitively."""
        return [
            p.id
            for p in self.visible_pushes(repo)
            if (author is None or p.author.lower() == author.lower()) and (role is None or p.role == role)
        ]

    def push_id(self, role: str) -> int:
        """The push a scenario gave this role ("big", "failed", "watched", ...), visible or not."""
        with self._lock:
            for push in self.pushes.values():
                if push.role == role:
                    return push.id
        raise KeyError(f"no push with role {role!r} in scenario {self.scenario!r}")

    def roles(self) -> dict[str, int]:
        with self._lock:
            return {p.role: p.id for p in self.pushes.values() if p.role}

    def push(self, push_id: int) -> FakePush:
        with self._lock:
            return self.pushes[push_id]

    def jobs(self, push_id: int) -> list[dict]:
        """The push's visible jobs now, as the project endpoint's dicts."""
        snap = self.snapshot(self.pushes[push_id])
        return [dict(zip(PROJECT_PROPERTY_NAMES, row, strict=True)) for row in snap.project_rows()]

    def job_ids(self, push_id: int, *, result: str | None = None, state: str | None = None,
                tier: int | None = None, name: str | None = None) -> list[int]:
        return [
            job["id"]
            for job in self.jobs(push_id)
            if (result is None or (job["result"] == result and job["state"] == "completed"))
            and (state is None or job["state"] == state)
            and (tier is None or job["tier"] == tier)
            and (name is None or job["job_type_name"] == name)
        ]

    def decision_task_id(self, push_id: int) -> str | None:
        decision = self.pushes[push_id].decision
        return decision.task_id if decision else None

    def is_finished(self, push_id: int) -> bool:
        jobs = self.jobs(push_id)
        return bool(jobs) and all(job["state"] == "completed" for job in jobs)

    def finish_push(self, push_id: int, failures: int | None = None, *, parsed: bool = True) -> None:
        """Complete every job of the push now. `failures=N` makes exactly N tier-1 test jobs fail with
        the same test (and all others pass); None keeps the scenario's results. `parsed` makes the logs
        parsed at once."""
        now = self.now()
        with self._lock:
            push = self.pushes[push_id]
            if push.push_timestamp > now:
                push.push_timestamp = int(now)
            for job in push.jobs:
                job.appear_at = min(job.appear_at, now)
                job.pending_at = min(job.pending_at, now)
                job.start_at = min(job.start_at, now)
                if job.end_at > now:
                    job.end_at = now
                job.touched_at = now
                if parsed:
                    job.parse_delay = 0.0
            if failures is not None:
                builder = Builder(now, seed=push_id, first_push_id=push_id, first_job_id=0)
                builder.next_error_id = 10_000_000 + push_id % 1_000_000 * 50
                tests = [j for j in push.jobs if j.kind in ("test", "retrigger") and j.tier == 1]
                for job in push.jobs:
                    if job.kind != "decision":
                        job.result, job.errors, job.failure_classification_id = "success", [], 1
                for job in tests[:failures]:
                    builder.fail(job, scenarios.shared_failure_lines(), new_failure=True)
            push.version += 1
            self._index()

    def bulk_update(self, job_ids: Iterable[int], *, result: str | None = None,
                    failure_classification_id: int | None = None) -> None:
        """Change completed jobs the way Treeherder's bulk updates do (the switch to `superseded`,
        automatic reclassification): `last_modified` stays as it was, so only a full re-read sees it."""
        with self._lock:
            for job_id in job_ids:
                job = self._jobs[job_id]
                if result is not None:
                    job.result = result
                if failure_classification_id is not None:
                    job.failure_classification_id = failure_classification_id
                self.pushes[job.push_id].version += 1

    def add_push(
        self,
        *,
        author: str = DEMO_AUTHOR,
        messages: list[str] | None = None,
        size: int = 12,
        plan: str = "green",
        pushed_ago: float = 0.0,
        repo: str = "try",
        role: str = "",
    ) -> int:
        """A new push (quick pace) pushed `pushed_ago` seconds ago; returns its id."""
        now = self.now()
        with self._lock:
            push_id = max(self.pushes) + 1
            builder = Builder(now, seed=push_id, first_push_id=push_id, first_job_id=self._next_job_id)
            builder.next_error_id = 20_000_000 + push_id % 1_000_000 * 100
            builder.push(
                author=author,
                messages=messages or [f"Bug {1700000 + push_id % 100000} - Added by a test. r=dev"],
                pushed_at=now - pushed_ago,
                size=size,
                plan=plan,
                role=role,
                repo=repo,
                pace=QUICK,
                platforms=3,
                chunks=1,
            )
            self.pushes.update(builder.pushes)
            self._index()
            return push_id

    def snapshot(self, push: FakePush) -> Snapshot:
        now = self.now()
        with self._lock:
            snap = self._snapshots.get(push.id)
            if snap is None or not snap.valid(push, now):
                snap = Snapshot(push, now)
                self._snapshots[push.id] = snap
            return snap

    def state(self) -> dict:
        self._arrivals()
        now = self.now()
        pushes = []
        with self._lock:
            for push in sorted(self.pushes.values(), key=lambda p: p.id, reverse=True):
                states: dict[str, int] = {}
                for _, state, _ in self.snapshot(push).views:
                    states[state] = states.get(state, 0) + 1
                total = sum(states.values())
                pushes.append({
                    "id": push.id, "repo": push.repo, "role": push.role, "author": push.author,
                    "visible": push.push_timestamp <= now, "push_timestamp": push.push_timestamp,
                    "jobs": total, "states": states,
                    "finished": bool(total) and states.get("completed", 0) == total,
                    "decision_task": self.decision_task_id(push.id),
                })  # fmt: skip
            return {
                "scenario": self.scenario, "scenarios": sorted(SCENARIOS), "speed": self.speed,
                "t0": self.t0, "now": now, "now_iso": iso(now), "elapsed": now - self.t0, "down": self.down,
                "garbage": self.garbage, "latency": self.latency, "request_count": self.request_count,
                "pushes": pushes,
            }  # fmt: skip

    # --- Treeherder endpoints ---------------------------------------------------------------------------

    def _repo(self, repo: str) -> None:
        if repo not in scenarios.REPOSITORY_IDS:
            raise HttpError(404, {"detail": f"No project with name {repo}"})

    def _visible_push(self, repo: str, push_id: str) -> FakePush:
        push = self.pushes.get(int(push_id)) if push_id.isdigit() else None
        if push is None or push.repo != repo or push.push_timestamp > self.now():
            raise HttpError(404, f"No push with id: {push_id}")
        return push

    def _visible_job(self, repo: str, job_id: str) -> FakeJob:
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        if job is None or self.pushes[job.push_id].repo != repo or job.state_at(self.now()) is None:
            raise HttpError(404, f"No job with id: {job_id}")
        return job

    def push_json(self, push: FakePush) -> dict:
        repository_id = scenarios.REPOSITORY_IDS[push.repo]
        return {
            "id": push.id,
            "revision": push.revision,
            "author": push.author,
            "revisions": [
                {"result_set_id": push.id, "repository_id": repository_id, **revision}
                for revision in push.revisions[:20]
            ],
            "revision_count": push.revision_count,
            "push_timestamp": push.push_timestamp,
            "repository_id": repository_id,
            "branch": None,
        }

    def api_push_list(self, repo: str, query: dict[str, str]) -> dict:
        try:
            count = int(query.get("count", 10))
        except ValueError:
            raise HttpError(400, {"detail": "Valid count value required"}) from None
        if count > MAX_PUSH_COUNT:
            raise HttpError(400, {"detail": f"Specified count exceeds api limit: {MAX_PUSH_COUNT}"})
        if count < 1:
            raise HttpError(400, {"detail": "count requires a positive integer"})
        self._repo(repo)
        pushes = self.visible_pushes(repo)
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
        for key, test in (
            ("id__lt", lambda p, v: p.id < v), ("id__gt", lambda p, v: p.id > v),
            ("id__lte", lambda p, v: p.id <= v), ("id__gte", lambda p, v: p.id >= v),
            ("push_timestamp__gte", lambda p, v: p.push_timestamp >= v),
            ("push_timestamp__lte", lambda p, v: p.push_timestamp <= v),
        ):  # fmt: skip
            if key in query:
                try:
                    value = int(float(query[key]))
                except ValueError:
                    raise HttpError(400, {"detail": f"Invalid value for {key}"}) from None
                pushes = [p for p in pushes if test(p, value)]
        results = [self.push_json(p) for p in pushes[:count]]
        return {"meta": {"count": len(results), "repository": repo, "filter_params": dict(query)}, "results": results}

    def api_push_status(self, repo: str, push_id: str) -> dict:
        self._repo(repo)
        push = self._visible_push(repo, push_id)
        status = {"completed": 0, "pending": 0, "running": 0}
        for job, state, _ in self.snapshot(push).views:
            if job.tier == 3 or job.failure_classification_id not in (None, 1):
                continue
            if state == "completed":
                status["completed"] += 1
                status[job.result] = status.get(job.result, 0) + 1
            else:
                status[state] = status.get(state, 0) + 1
        return status

    def api_decision_task(self, repo: str, query_list: dict[str, list[str]]) -> dict:
        self._repo(repo)
        ids = [part for value in query_list.get("push_ids", []) for part in value.split(",") if part.strip()]
        now = self.now()
        found = {}
        for push_id in ids:
            push = self.pushes.get(int(push_id)) if push_id.strip().isdigit() else None
            decision = push.decision if push and push.repo == repo else None
            if decision and decision.state_at(now) is not None:
                found[str(push.id)] = {"id": decision.task_id, "run": str(decision.retry_id)}
        if not found:
            raise HttpError(404, f"No decision tasks found for pushes: {ids}")
        return found

    def _filtered(self, repo: str | None, query: dict[str, str], on_bad_date) -> list[tuple[Snapshot, int]]:
        """(snapshot, index) of the jobs matching the query, ordered by job id."""
        push_id = query.get("push_id") or query.get("result_set_id")
        if push_id is not None:
            push = self.pushes.get(int(push_id)) if push_id.isdigit() else None
            pushes = [push] if push and (repo is None or push.repo == repo) and push.push_timestamp <= self.now() else []
        else:
            pushes = [p for p in self.visible_pushes(repo)]
        bounds = []
        for op in ("gt", "gte", "lt", "lte"):
            key = f"last_modified__{op}"
            if key in query:
                value = parse_date(query[key])
                if value is None:
                    on_bad_date(key, query[key])
                bounds.append((op, value))
        simple = {k: query[k] for k in ("state", "result", "job_type_name", "task_id", "tier", "id") if k in query}
        id_in = {int(v) for v in query.get("id__in", "").split(",") if v.strip().isdigit()}
        matches = []
        for push in pushes:
            snap = self.snapshot(push)
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

    def api_jobs_ui(self, query: dict[str, str], base: str) -> dict:
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

        matches = self._filtered(None, query, bad_date)
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
            "results": [snap.ui_rows()[index] for snap, index in chunk],
            "job_property_names": UI_PROPERTY_NAMES,
        }

    def api_jobs_project(self, repo: str, query: dict[str, str]) -> dict:
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
        self._repo(repo)
        matches = self._filtered(repo, query, lambda key, value: None)[offset : offset + count]
        rows = [snap.project_rows()[index] for snap, index in matches]
        body: dict[str, Any]
        if query.get("return_type", "dict").lower() == "list":
            body = {"results": rows, "job_property_names": PROJECT_PROPERTY_NAMES}
        else:
            body = {"results": [dict(zip(PROJECT_PROPERTY_NAMES, row, strict=True)) for row in rows]}
        body["meta"] = {"repository": repo, "offset": offset, "count": count}
        return body

    def _log_urls(self, job: FakeJob) -> list[dict]:
        base = f"{self.url}/api/queue/v1/task/{job.task_id}/runs/{job.retry_id}/artifacts/public"
        logs = [{"name": "live_backing_log", "url": f"{base}/logs/live_backing.log"}]
        if job.kind in ("test", "retrigger"):
            logs.append({"name": "errorsummary_json", "url": f"{base}/test_info/errorsummary.log"})
        return logs

    def api_job(self, repo: str, job_id: str) -> dict:
        self._repo(repo)
        job = self._visible_job(repo, job_id)
        now = self.now()
        state = job.state_at(now)
        body = dict(zip(PROJECT_PROPERTY_NAMES, _project_row(job, state, iso(job.last_modified_at(now))), strict=True))
        body["resource_uri"] = f"/api/project/{repo}/jobs/{job.id}/"
        body["logs"] = self._log_urls(job) if state == "completed" else []
        body["taskcluster_metadata"] = {"task_id": job.task_id, "retry_id": job.retry_id}
        body["autoclassify_status"] = "crossreferenced" if job.parsed(now) and state == "completed" else "pending"
        return body

    def _errors_now(self, job: FakeJob) -> list[tuple[int, int, str, bool]]:
        now = self.now()
        return job.errors if job.completed(now) and job.parsed(now) else []

    def api_text_log_errors(self, repo: str, job_id: str) -> list[dict]:
        self._repo(repo)
        job = self._visible_job(repo, job_id)
        return [
            {"id": error_id, "line": line, "line_number": number, "new_failure": new, "job": job.id}
            for error_id, number, line, new in self._errors_now(job)
        ]

    def api_bug_suggestions(self, repo: str, job_id: str) -> list[dict]:
        self._repo(repo)
        job = self._visible_job(repo, job_id)
        suggestions = []
        counters: dict[str, int] = {}
        for _, number, line, new in self._errors_now(job):
            clean = PREFIX_RE.sub("", line).strip()
            path = _path_end(clean)
            bugs = self._known_bugs.get(path or "", {"open_recent": [], "all_others": []})
            counters[clean] = counters.get(clean, 0) + 1
            suggestions.append({
                "search": clean,
                "search_terms": [path.rsplit("/", 1)[-1]] if path else [clean[:100]],
                "path_end": path,
                "bugs": copy.deepcopy(bugs),
                "line_number": number,
                "counter": counters[clean],
                "failure_new_in_rev": new,
            })  # fmt: skip
        return suggestions

    def api_job_log_urls(self, repo: str, query_list: dict[str, list[str]]) -> list[dict]:
        self._repo(repo)
        now = self.now()
        ids = [part for value in query_list.get("job_id", []) for part in value.split(",") if part.strip()]
        rows = []
        for job_id in ids:
            job = self._jobs.get(int(job_id)) if job_id.strip().isdigit() else None
            if job is None or self.pushes[job.push_id].repo != repo or not job.completed(now):
                continue
            status = "parsed" if job.parsed(now) else "pending"
            for offset, log in enumerate(self._log_urls(job)):
                rows.append({"id": job.id * 2 + offset, "job_id": job.id, **log, "parse_status": status})
        return rows

    # --- Taskcluster endpoints --------------------------------------------------------------------------

    def _tc_not_found(self, what: str) -> HttpError:
        return HttpError(404, {"code": "ResourceNotFound", "message": f"{what} not found", "requestInfo": {}})

    def tc_actions(self, push: FakePush) -> dict:
        actions = copy.deepcopy(self._actions_template)
        decision = push.decision
        for action in actions["actions"]:
            payload = action.get("hookPayload", {}).get("decision")
            if not payload:
                continue
            payload["action"]["taskGroupId"] = decision.task_id
            payload["push"] = {"owner": push.author, "pushlog_id": str(push.id), "revision": push.revision}
            payload["repository"] = {
                "level": "1" if push.repo == "try" else "3",
                "project": push.repo,
                "url": f"https://hg.mozilla.org/{push.repo}",
            }
        return actions

    def tc_task(self, task_id: str) -> dict:
        jobs = self._tasks.get(task_id)
        if not jobs:
            raise self._tc_not_found(f"Task {task_id}")
        job = jobs[0]
        push = self.pushes[job.push_id]
        decision = push.decision
        task = copy.deepcopy(self._task_template)
        task["taskGroupId"] = decision.task_id if decision else task_id
        task["routes"] = [f"tc-treeherder.v2.{push.repo}.{push.revision}.{push.id}"]
        task["created"] = iso(job.appear_at)[:-3] + "Z"
        kind = {"decision": "decision-task", "build": "build"}.get(job.kind, "test")
        suite = re.sub(r"(-\d+)?$", "", job.job_type_name.split("-", 2)[-1].split("/", 1)[-1].split("-", 1)[-1])
        task["tags"] = {
            "kind": kind,
            "os": job.platform.split("-")[0].rstrip("0123456789"),
            "createdForUser": push.author,
            "retrigger": "true",
            "label": job.job_type_name,
            "worker-implementation": "generic-worker",
        }
        if kind == "test":
            task["tags"]["test-type"] = "mochitest" if "mochitest" in suite else suite.split("-")[0]
        task["metadata"] = {
            "owner": push.author,
            "source": f"https://hg.mozilla.org/{push.repo}/file/{push.revision}/taskcluster/kinds/{kind}",
            "description": f"{job.job_type_name} ([Treeherder push]({self.url}/jobs?repo={push.repo}"
            f"&revision={push.revision}))",
            "name": job.job_type_name,
        }
        task["extra"]["parent"] = task["taskGroupId"]
        task["extra"]["treeherder"].update(
            {"symbol": job.job_type_symbol, "groupSymbol": job.job_group_symbol, "groupName": job.job_group_name,
             "tier": job.tier, "machine": {"platform": job.platform}, "collection": {job.platform_option: True}}
        )  # fmt: skip
        task["extra"]["treeherder-platform"] = f"{job.platform}/{job.platform_option}"
        if kind == "decision-task":
            # Real decision tasks hold the scope that lets users' clients trigger the push's action hooks
            # (BuildWatch checks it before triggering, as Treeherder does).
            task["scopes"] = [
                f"assume:repo:hg.mozilla.org/{push.repo}:branch:default",
                "in-tree:hook-action:project-gecko/in-tree-action-*",
            ]
        return task

    def tc_task_status(self, task_id: str, *, state: str | None = None, group: str | None = None) -> dict:
        jobs = self._tasks.get(task_id)
        if not jobs and state is None:
            raise self._tc_not_found(f"Task {task_id}")
        now = self.now()
        job = jobs[-1] if jobs else None
        if group is None:
            decision = self.pushes[job.push_id].decision if job else None
            group = decision.task_id if decision else task_id
        if state is None:
            job_state = job.state_at(now) or "unscheduled"
            state = {"completed": "completed" if job.result == "success" else "failed"}.get(job_state, job_state)
        return {
            "status": {
                "taskId": task_id, "provisionerId": "gecko-1", "workerType": "decision",
                "taskQueueId": "gecko-1/decision", "schedulerId": "gecko-level-1", "projectId": "none",
                "taskGroupId": group, "deadline": iso(now + 86400)[:-3] + "Z",
                "expires": iso(now + 86400 * 28)[:-3] + "Z", "retriesLeft": 5, "state": state,
                "runs": [{"runId": 0, "state": state, "reasonCreated": "scheduled",
                          "scheduled": iso(now)[:-3] + "Z"}],
            }
        }  # fmt: skip

    def tc_artifact(self, task_id: str, name: str) -> tuple[str, bytes]:
        jobs = self._tasks.get(task_id)
        if not jobs:
            raise self._tc_not_found(f"Task {task_id}")
        if name == "public/actions.json" and task_id in self._decisions:
            return "application/json", json.dumps(self.tc_actions(self._decisions[task_id])).encode()
        if name == "public/logs/live_backing.log":
            job = jobs[-1]
            lines = [f"[taskcluster] Task {task_id} ({job.job_type_name}) on the fake Treeherder"]
            lines += [f"{line}" for _, _, line, _ in job.errors]
            return "text/plain; charset=utf-8", ("\n".join(lines) + "\n").encode()
        raise self._tc_not_found(f"Artifact {name}")

    def tc_trigger(self, group: str, hook: str, authorization: str | None, body: bytes) -> dict:
        if not (authorization or "").startswith("Hawk "):
            raise HttpError(
                401, {"code": "AuthenticationFailed", "message": "Hawk Authorization header required", "requestInfo": {}}
            )
        hooks = {(a.get("hookGroupId"), a.get("hookId")) for a in self._actions_template["actions"]}
        if (group, hook) not in hooks:
            raise self._tc_not_found(f"Hook {group}/{hook}")
        try:
            payload = json.loads(body or b"{}")
            user = payload["user"]
            action = payload["decision"]["action"].get("cb_name") or payload["decision"]["action"]["name"]
            task_group = user["taskGroupId"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise HttpError(400, {"code": "InputError", "message": "payload does not match the hook's schema",
                                  "requestInfo": {}}) from None  # fmt: skip
        push = self._decisions.get(task_group)
        if push is None:
            raise HttpError(400, {"code": "InputError", "message": f"unknown taskGroupId {task_group}",
                                  "requestInfo": {}})  # fmt: skip
        user_input = user.get("input") or {}
        requests: list[tuple[list[str], int]] = []
        if action == "retrigger-multiple":
            for request in user_input.get("requests", []):
                requests.append((list(request.get("tasks", [])), int(request.get("times", 1))))
        elif action == "add-new-jobs":
            requests.append((list(user_input.get("tasks", [])), int(user_input.get("times", 1))))
        elif user.get("taskId") and user["taskId"] in self._tasks and action in ("retrigger", "rerun"):
            requests.append(([self._tasks[user["taskId"]][0].job_type_name], int(user_input.get("times", 1))))
        new_ids = []
        now = self.now()
        with self._lock:
            for names, times in requests:
                for name in names:
                    template = next((j for j in reversed(push.jobs) if j.job_type_name == name), None)
                    if template is None:
                        continue
                    for _ in range(max(1, min(times, 100))):
                        new_ids.append(self._add_retrigger(push, template, now).id)
            if new_ids:
                push.version += 1
        action_task = _slug(f"action:{task_group}:{len(self.triggers)}:{now}")
        self.triggers.append({
            "hookGroupId": group, "hookId": hook, "payload": payload, "authorization": authorization,
            "action": action, "push_id": push.id, "new_job_ids": new_ids, "task_id": action_task,
        })  # fmt: skip
        return self.tc_task_status(action_task, state="pending", group=task_group)

    def _add_retrigger(self, push: FakePush, template: FakeJob, now: float) -> FakeJob:
        duration = max(60.0, min(template.end_at - template.start_at, 600.0))
        self._next_job_id += 1
        job = template.rerun(
            id=self._next_job_id, task_id=_slug(f"retrigger:{self._next_job_id}"), retry_id=0,
            appear_at=now, start_at=now + 20, end_at=now + 20 + duration, kind="retrigger",
        )  # fmt: skip
        push.jobs.append(job)
        self._index_job(push, job)
        return job


def _slug(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()[:16]).decode().rstrip("=")


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


# --- HTTP ----------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeTreeherder
    verbose = False


PROJECT_RE = re.compile(r"^/api/project/(?P<repo>[^/]+)/(?P<rest>.*)$")
ROUTES = [
    (re.compile(r"^push/$"), "push_list"),
    (re.compile(r"^push/decisiontask/$"), "decision_task"),
    (re.compile(r"^push/(?P<id>[^/]+)/$"), "push"),
    (re.compile(r"^push/(?P<id>[^/]+)/status/$"), "push_status"),
    (re.compile(r"^jobs/$"), "jobs"),
    (re.compile(r"^jobs/(?P<id>[^/]+)/$"), "job"),
    (re.compile(r"^jobs/(?P<id>[^/]+)/text_log_errors/$"), "text_log_errors"),
    (re.compile(r"^jobs/(?P<id>[^/]+)/bug_suggestions/$"), "bug_suggestions"),
    (re.compile(r"^job-log-url/$"), "job_log_url"),
]
TC_TASK_RE = re.compile(r"^/api/queue/v1/task/(?P<task>[^/]+)(?P<rest>/.*)?$")
TC_ARTIFACT_RE = re.compile(r"^/(?:runs/\d+/)?(?P<kind>artifacts|artifact-content)/(?P<name>.+)$")
HOOK_PREFIX = "/api/hooks/v1/hooks/"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive plus Nagle's algorithm and delayed ACKs cost ~40 ms per request on loopback.
    disable_nagle_algorithm = True
    server_version = "FakeTreeherder/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _send(self, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = split.path
        query_list = parse_qs(split.query, keep_blank_values=True)
        query = {key: values[-1] for key, values in query_list.items()}
        fake._arrivals()
        try:
            if path.startswith("/__fake__/"):
                self._json(200, self._control(fake, method, path, query))
                return
            with fake._lock:
                fake.request_count += 1
                fake.requests.append((method, self.path))
                failure = fake._fail_next.popleft() if fake._fail_next else None
            if fake.latency:
                time.sleep(fake.latency)
            if failure is not None:
                status, retry_after = failure
                headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
                self._send(status, DOWN_BODY, "text/html; charset=utf-8", headers)
                return
            if fake.down:
                self._send(503, DOWN_BODY, "text/html; charset=utf-8")
                return
            if fake.garbage:
                self._send(200, GARBAGE_BODY, "application/json")
                return
            self._route(fake, method, path, query, query_list, body)
        except HttpError as error:
            self._json(error.status, error.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, fake: FakeTreeherder, method: str, path: str, query: dict[str, str],
               query_list: dict[str, list[str]], body: bytes) -> None:
        if method == "POST" and path.startswith(HOOK_PREFIX) and path.endswith("/trigger"):
            group, _, hook = path[len(HOOK_PREFIX) : -len("/trigger")].partition("/")
            with fake._lock:
                result = fake.tc_trigger(unquote(group), unquote(hook), self.headers.get("Authorization"), body)
            self._json(200, result)
            return
        if method != "GET":
            self._json(405, {"detail": f'Method "{method}" not allowed.'})
            return
        match = TC_TASK_RE.match(path)
        if match:
            task_id, rest = match["task"], match["rest"] or ""
            with fake._lock:
                if rest in ("", "/"):
                    self._json(200, fake.tc_task(task_id))
                elif rest == "/status":
                    self._json(200, fake.tc_task_status(task_id))
                elif artifact := TC_ARTIFACT_RE.match(rest):
                    name = unquote(artifact["name"])
                    if artifact["kind"] == "artifact-content":
                        fake.tc_artifact(task_id, name)
                        url = f"{fake.url}/api/queue/v1/task/{task_id}/artifacts/{name}"
                        self._json(200, {"type": "s3", "url": url})
                    else:
                        content_type, data = fake.tc_artifact(task_id, name)
                        self._send(200, data, content_type)
                else:
                    raise fake._tc_not_found(path)
            return
        base = f"http://{self.headers.get('Host') or fake.url.removeprefix('http://')}"
        with fake._lock:
            data = self._treeherder(fake, path, query, query_list, base)
        if data is None:
            self._send(200, HTML_PAGE, "text/html; charset=utf-8")
        else:
            self._json(200, data)

    def _treeherder(self, fake: FakeTreeherder, path: str, query: dict[str, str],
                    query_list: dict[str, list[str]], base: str) -> Any:
        if path == "/api/repository/":
            return fake._repositories
        if path == "/api/failureclassification/":
            return fake._classifications
        if path == "/api/jobs/":
            return fake.api_jobs_ui(query, base)
        project = PROJECT_RE.match(path)
        if not project:
            return None
        repo, rest = project["repo"], project["rest"]
        for pattern, name in ROUTES:
            route = pattern.match(rest)
            if not route:
                continue
            if name == "push_list":
                return fake.api_push_list(repo, query)
            if name == "decision_task":
                return fake.api_decision_task(repo, query_list)
            if name == "push":
                fake._repo(repo)
                return fake.push_json(fake._visible_push(repo, route["id"]))
            if name == "push_status":
                return fake.api_push_status(repo, route["id"])
            if name == "jobs":
                return fake.api_jobs_project(repo, query)
            if name == "job":
                return fake.api_job(repo, route["id"])
            if name == "text_log_errors":
                return fake.api_text_log_errors(repo, route["id"])
            if name == "bug_suggestions":
                return fake.api_bug_suggestions(repo, route["id"])
            if name == "job_log_url":
                return fake.api_job_log_urls(repo, query_list)
        return None

    def _control(self, fake: FakeTreeherder, method: str, path: str, query: dict[str, str]) -> Any:
        action = path.removeprefix("/__fake__/").strip("/")
        on = query.get("on", "1") not in ("0", "false", "off", "")
        try:
            if action == "state" and method == "GET":
                return fake.state()
            if action == "requests" and method == "GET":
                return {"count": fake.request_count, "requests": [f"{m} {p}" for m, p in list(fake.requests)]}
            if action == "triggers" and method == "GET":
                return fake.triggers
            if method != "POST":
                raise HttpError(405, {"detail": f"POST /__fake__/{action}"})
            if action == "advance":
                fake.advance(float(query.get("seconds", "60")))
            elif action == "reset":
                fake.reset(query.get("scenario") or None)
            elif action == "finish":
                failures = query.get("failures")
                fake.finish_push(int(query["push_id"]), int(failures) if failures not in (None, "") else None)
            elif action == "down":
                fake.set_down(on)
            elif action == "garbage":
                fake.set_garbage(on)
            elif action == "latency":
                fake.set_latency(float(query.get("seconds", "0")))
            elif action == "clear-requests":
                fake.clear_requests()
            else:
                raise HttpError(404, {"detail": f"unknown control {action!r}"})
        except (KeyError, ValueError) as error:
            raise HttpError(400, {"detail": str(error)}) from None
        return fake.state()
