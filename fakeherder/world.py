"""The fake's world: a simulated clock and the pushes of one scenario, with the ways tests change them.

Simulated time is `t0 + advanced + wall seconds since reset * speed` (t0: `start_time`, default the real
time at reset). The wall clock is `time.time()`, so in tests a time-machine traveller moves the fake's
jobs together with BuildWatch's clock when the fake runs at `speed=1`; at `speed=0` only `advance()`
moves it. Each job appears (unscheduled) once its push's decision task is done, turns pending, running,
completed; `last_modified` is its latest transition. Logs are "parsed" a while after a job ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from typing import Any

from . import scenarios
from .builder import QUICK, Builder, JobSpec, shared_failure_lines
from .payloads import PROJECT_PROPERTY_NAMES, fake_job_properties, iso, job_row
from .scenarios import DEMO_AUTHOR, SCENARIOS
from .timeline import FakeJob, FakePush, slug


def _next_minute(job: FakeJob, state: str, now: float) -> float:
    """When an unfinished job's `duration` (whole minutes since its start, or its submit time while it
    waits; at least 1) next changes."""
    since = job.start_at if state == "running" else job.appear_at
    return since + max(90.0, 30.0 + 60.0 * (math.floor((now - since - 30.0) / 60.0) + 1))


class Snapshot:
    """A push's visible jobs at one moment, rebuilt only when something changes."""

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
            if state in ("unscheduled", "pending", "running"):  # its `duration` (minutes) ticks on
                self.valid_until = min(self.valid_until, _next_minute(job, state, now))
        views.sort(key=lambda view: view[0].id)
        self.views = views
        self.now = now
        self._properties: list[dict[str, Any]] | None = None
        self._rows: dict[tuple[str, ...], list[list]] = {}

    def valid(self, push: FakePush, now: float) -> bool:
        return push.version == self.version and self.valid_from <= now < self.valid_until

    def properties(self) -> list[dict[str, Any]]:
        if self._properties is None:
            self._properties = [
                fake_job_properties(job, state, lm, self.now) for job, state, lm in self.views
            ]
        return self._properties

    def rows(self, names: list[str]) -> list[list]:
        key = tuple(names)
        if key not in self._rows:
            self._rows[key] = [job_row(names, props) for props in self.properties()]
        return self._rows[key]


class World:
    """Clock, pushes and indexes of one scenario. All public methods are thread-safe."""

    def __init__(
        self, scenario: str = "default", speed: float = 1.0, *, start_time: float | None = None
    ) -> None:
        self._lock = threading.RLock()
        self.scenario = scenario
        self.reset(scenario, speed=speed, start_time=start_time)

    # --- clock and scenario ---------------------------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return self.t0 + self._advanced + (time.time() - self._wall_start) * self.speed

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the new simulated time (epoch seconds)."""
        if seconds < 0:
            raise ValueError("time only moves forward; use reset() to start over")
        with self._lock:
            self._pristine = False
            self._advanced += seconds
            return self.now()

    def reset(
        self, scenario: str | None = None, *, speed: float | None = None, start_time: float | None = None
    ) -> None:
        """Rebuild a scenario from scratch (the same one by default) at `start_time` (default: now),
        optionally at another `speed`. A frozen world nothing changed since the same reset is kept as it
        is (the default scenario takes most of a second to build)."""
        scenario = scenario or self.scenario
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        if speed is not None and speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            unchanged = (
                getattr(self, "_pristine", False)
                and scenario == self.scenario
                and start_time is not None
                and float(int(start_time)) == self.t0
                and self.speed == 0
                and not speed
            )
            if unchanged:
                return
            self.scenario = scenario
            if speed is not None:
                self.speed = speed
            self._wall_start = time.time()
            self.t0 = float(int(start_time if start_time is not None else self._wall_start))
            self._advanced = 0.0
            self.pushes: dict[int, FakePush] = SCENARIOS[scenario](self.t0)
            self._recurring = 0
            self._next_recurring = self.t0 + scenarios.RECURRING_EVERY if scenario == "default" else math.inf
            self._snapshots: dict[int, Snapshot] = {}
            self._index()
            self._pristine = True

    def arrivals(self) -> None:
        """Add the default scenario's recurring pushes whose time has come (any number at once)."""
        with self._lock:
            while self._next_recurring <= self.now():
                self._pristine = False
                push = scenarios.recurring_push(
                    self.t0, self._recurring, max(self.pushes) + 1, self._next_job_id
                )
                self.pushes[push.id] = push
                for job in push.jobs:
                    self._index_job(push, job)
                self._recurring += 1
                self._next_recurring += scenarios.RECURRING_EVERY

    def _index(self) -> None:
        self.jobs_by_id: dict[int, FakeJob] = {}
        self.tasks: dict[str, list[FakeJob]] = {}
        self.decisions: dict[str, FakePush] = {}
        self._next_job_id = 0
        for push in self.pushes.values():
            for job in push.jobs:
                self._index_job(push, job)

    def _index_job(self, push: FakePush, job: FakeJob) -> None:
        self.jobs_by_id[job.id] = job
        self.tasks.setdefault(job.task_id, []).append(job)
        if job.kind == "decision":
            self.decisions[job.task_id] = push
        self._next_job_id = max(self._next_job_id, job.id)

    def snapshot(self, push: FakePush) -> Snapshot:
        now = self.now()
        with self._lock:
            snap = self._snapshots.get(push.id)
            if snap is None or not snap.valid(push, now):
                snap = Snapshot(push, now)
                self._snapshots[push.id] = snap
            return snap

    # --- reading --------------------------------------------------------------------------------------

    def visible_pushes(self, repo: str | None = "try") -> list[FakePush]:
        self.arrivals()
        now = self.now()
        with self._lock:
            pushes = [
                p
                for p in self.pushes.values()
                if p.push_timestamp <= now and (repo is None or p.repo == repo)
            ]
        return sorted(pushes, key=lambda p: p.id, reverse=True)

    def push_ids(
        self, author: str | None = None, repo: str | None = "try", *, role: str | None = None
    ) -> list[int]:
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
        rows = self.snapshot(self.pushes[push_id]).rows(PROJECT_PROPERTY_NAMES)
        return [dict(zip(PROJECT_PROPERTY_NAMES, row, strict=True)) for row in rows]

    def job_ids(self, push_id: int, *, result: str | None = None, state: str | None = None,
                tier: int | None = None, name: str | None = None) -> list[int]:  # fmt: skip
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

    # --- changing it ----------------------------------------------------------------------------------

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
        hold: str | None = None,
        base: int | None = None,
        autoclassify: bool = False,
    ) -> int:
        """A new push (quick pace) pushed `pushed_ago` seconds ago; returns its id. `size` counts the
        decision task (three platforms hold a couple of hundred jobs; a bigger push spreads over more).
        `hold="running"` (or another state) finishes the decision task at once and keeps every other job
        in that state until `set_job` or `finish_push` moves it. `base`: the push (on autoland, say) Push
        Health names as its parent; None, none is known. `autoclassify`: its failed jobs with new lines
        turn "new failure not classified" (6) once parsed, as on Treeherder."""
        now = self.now()
        with self._lock:
            self._pristine = False
            push_id = max(self.pushes) + 1
            builder = Builder(now, seed=push_id, first_push_id=push_id, first_job_id=self._next_job_id)
            builder.next_error_id = 20_000_000 + push_id % 1_000_000 * 100
            push = builder.push(
                author=author,
                messages=messages or [f"Bug {1700000 + push_id % 100000} - Added by a test. r=dev"],
                pushed_at=now - pushed_ago,
                size=size,
                plan=plan if hold is None else "none",
                role=role,
                repo=repo,
                pace=QUICK,
                platforms=3 if size <= 200 else None,
                chunks=1 if size <= 200 else None,
                autoclassify=autoclassify,
            )
            if hold is not None:
                for job in push.jobs:
                    job.hold("completed" if job.kind == "decision" else hold, now)
            push.base = base
            self.pushes.update(builder.pushes)
            self._index()
            return push_id

    def add_job(self, push_id: int, state: str = "pending", *, result: str = "success", tier: int = 1,
                platform: str = "linux1804-64", option: str = "opt", name: str | None = None,
                errors: list[str] | None = None, at: float | None = None, seen: int = 0,
                classification: int = 1) -> int:  # fmt: skip
        """A new job on the push (as a retrigger or a late-scheduled task would add it), held in `state`
        from `at` (default now) on; returns its id. `errors`: its log's error lines, parsed at once;
        `seen`: times Treeherder saw them on mozilla-central (0: new); `classification`: its
        failure_classification_id."""
        now = self.now() if at is None else at
        with self._lock:
            self._pristine = False
            push = self.pushes[push_id]
            number = self._next_job_id + 1
            builder = Builder(now, seed=number, first_push_id=push_id, first_job_id=self._next_job_id)
            builder.next_error_id = 40_000_000 + number % 1_000_000 * 50
            spec = JobSpec(name or f"test-{platform}/{option}-mochitest-added-{number}", str(number % 100),
                           "Mochitests", "M", platform, option, tier, "test", "mochitest-plain")  # fmt: skip
            job = builder.make_job(push, spec, now, now, now, now, QUICK, result=result)
            if errors is not None:
                job.errors = builder.error_rows([(10 + n, line) for n, line in enumerate(errors)], seen == 0)
                job.parse_delay = 0.0
            job.seen_on_central, job.failure_classification_id = seen, classification
            job.hold(state, now)
            push.version += 1
            self._index_job(push, job)
            return job.id

    def set_job(self, job_id: int, state: str, result: str | None = None, *, at: float | None = None) -> None:
        """Put a job in `state` (with `result` once completed) as of `at` (default now), which becomes its
        `last_modified`; it stays there until told otherwise. For a change that keeps `last_modified`,
        see bulk_update."""
        at = self.now() if at is None else at
        with self._lock:
            self._pristine = False
            job = self.jobs_by_id[job_id]
            job.hold(state, at)
            job.touched_at = max(job.touched_at, at)
            if result is not None:
                job.result = result
            self.pushes[job.push_id].version += 1

    def finish_push(self, push_id: int, failures: int | None = None, *, parsed: bool = True) -> None:
        """Complete every job of the push now. `failures=N` makes exactly N tier-1 test jobs fail with
        the same test (and all others pass); None keeps the scenario's results. `parsed` makes the logs
        parsed at once."""
        now = self.now()
        with self._lock:
            self._pristine = False
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
                    builder.fail(job, shared_failure_lines())
            push.version += 1
            self._index()

    def bulk_update(self, job_ids: Iterable[int], *, result: str | None = None,
                    failure_classification_id: int | None = None) -> None:  # fmt: skip
        """Change completed jobs the way Treeherder's bulk updates do (the switch to `superseded`,
        automatic reclassification): `last_modified` stays as it was, so only a full re-read sees it."""
        with self._lock:
            self._pristine = False
            for job_id in job_ids:
                job = self.jobs_by_id[job_id]
                if result is not None:
                    job.result = result
                if failure_classification_id is not None:
                    job.failure_classification_id = failure_classification_id
                self.pushes[job.push_id].version += 1

    def add_rerun(self, push: FakePush, template: FakeJob, now: float) -> FakeJob:
        """A retriggered run of `template` on the push: appears now, runs 20 s later for up to 10 minutes."""
        duration = max(60.0, min(template.end_at - template.start_at, 600.0))
        with self._lock:
            self._pristine = False
            self._next_job_id += 1
            job = template.rerun(
                id=self._next_job_id, task_id=slug(f"retrigger:{self._next_job_id}"), retry_id=0, appear_at=now, start_at=now + 20,
                end_at=now + 20 + duration, kind="retrigger",
            )  # fmt: skip
            if template.reproduces:
                job.result, job.errors, job.parse_delay = template.result, list(template.errors), 5.0
            push.jobs.append(job)
            push.version += 1
            self._index_job(push, job)
            return job
