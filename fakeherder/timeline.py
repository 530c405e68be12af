"""The fake's data model: pushes and jobs on a timeline, and the recordings they are seeded from.

Every job carries the simulated times at which it appears (unscheduled), becomes pending, starts and
ends, so its state at any moment is a pure function of the clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parent / "recordings"
PARSE_DELAY = 60.0  # seconds after a job ends until its log is "parsed"
MAX_ERROR_LINES = 40  # Treeherder keeps at most 40 error lines per job
REPOSITORY_IDS = {"mozilla-central": 1, "try": 4, "autoland": 77}
NEVER = math.inf
FAILURE_RESULTS = frozenset({"testfailed", "busted", "exception"})
NEW_FAILURE_CLASSIFICATION = 6  # "new failure not classified", set by Treeherder's log parser

OPTION_HASHES = {
    "opt": "102210fe594ee9b33d82058545b1ed14f4c8206e",
    "debug": "32faaecac742100f7753f0c1d0aa0add01b4046b",
}


def load_recording(name: str) -> Any:
    """A real Treeherder/Taskcluster answer from recordings/ (see recordings/PROVENANCE.md)."""
    return json.loads((RECORDINGS / name).read_text())


def _hex(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def slug(text: str) -> str:
    """A Taskcluster-looking id (22 url-safe characters) derived from `text`."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()[:16]).decode().rstrip("=")


@cache
def option_hash(option: str) -> str:
    return OPTION_HASHES.get(option) or _hex("option:" + option)


@cache
def small_id(text: str, modulo: int = 100_000) -> int:
    return int(_hex(text)[:8], 16) % modulo + 1


@dataclass(slots=True)
class FakeJob:
    id: int
    push_id: int
    task_id: str
    retry_id: int
    job_type_name: str
    job_type_symbol: str
    job_group_name: str
    job_group_symbol: str
    platform: str
    platform_option: str
    tier: int
    result: str  # the result once completed
    appear_at: float  # visible (unscheduled) from here
    pending_at: float
    start_at: float
    end_at: float
    who: str
    push_revision: str
    kind: str = "test"  # decision | build | test | retrigger
    suite: str = ""
    failure_classification_id: int = 1
    # How often Treeherder "saw" this job's failure lines on autoland/mozilla-central lately: the
    # bug_suggestions `counter` (0: a new failure).
    seen_on_central: int = 0
    # (error id, line number, line, new_failure); empty until parsed, see parsed_at
    errors: list[tuple[int, int, str, bool]] = field(default_factory=list)
    touched_at: float = 0.0  # last change outside the timeline (finish_push, reclassification)
    parse_delay: float = PARSE_DELAY
    # A retrigger (or confirm-failures) run of this job fails the same way; else reruns pass.
    reproduces: bool = False
    # Play the log parser's automatic "new failure not classified" (6): see classification_at.
    autoclassify: bool = False
    job_guid: str = ""
    signature: str = ""
    # Treeherder's submit time is the task's creation, shared by all its runs: a retried run's (retry_id
    # > 0) is its first run's. None: when it appears.
    created_at: float | None = None

    def __post_init__(self) -> None:
        if not self.job_guid:
            self.job_guid = f"{uuid.UUID(_hex('guid:' + self.task_id)[:32])}/{self.retry_id}"
        if not self.signature:
            self.signature = _hex(f"{self.platform}:{self.platform_option}:{self.job_type_name}")

    def rerun(
        self,
        *,
        id: int,
        task_id: str,
        retry_id: int,
        appear_at: float,
        start_at: float,
        end_at: float,
        kind: str | None = None,
    ) -> FakeJob:
        """Another run of this job type on the same push: green, unparsed, unclassified, its own guid. A
        run of the same task (retry_id > 0) keeps the task's creation as its submit time."""
        return replace(
            self, id=id, task_id=task_id, retry_id=retry_id, result="success", appear_at=appear_at,
            pending_at=appear_at, start_at=start_at, end_at=end_at, kind=kind or self.kind, errors=[],
            touched_at=0.0, failure_classification_id=1, job_guid="",
            created_at=self.submitted_at if task_id == self.task_id else None,
        )  # fmt: skip

    @property
    def submitted_at(self) -> float:
        return self.appear_at if self.created_at is None else min(self.created_at, self.appear_at)

    def state_at(self, now: float) -> str | None:
        if now < self.appear_at:
            return None
        if now < self.pending_at:
            return "unscheduled"
        if now < self.start_at:
            return "pending"
        if now < self.end_at:
            return "running"
        return "completed"

    def hold(self, state: str, at: float) -> None:
        """From `at` on, stay in `state` until told otherwise (transitions already past stay put)."""
        order = ("unscheduled", "pending", "running", "completed")
        if state not in order:
            raise ValueError(f"unknown job state {state!r}; choose one of {order}")
        times = [self.appear_at, self.pending_at, self.start_at, self.end_at]
        reached, already = order.index(state), self.state_at(at) == state
        for index in range(4):
            if index < reached:
                times[index] = min(times[index], at)
            elif index == reached:
                times[index] = times[index] if already else at
            else:
                times[index] = NEVER
        self.appear_at, self.pending_at, self.start_at, self.end_at = times

    def last_modified_at(self, now: float) -> float:
        times = [t for t in (self.appear_at, self.pending_at, self.start_at, self.end_at) if t <= now]
        if self.touched_at <= now:
            times.append(self.touched_at)
        return max(times)

    def next_change_after(self, now: float) -> float | None:
        later = [
            t
            for t in (
                self.appear_at,
                self.pending_at,
                self.start_at,
                self.end_at,
                self.parsed_at,
                self.touched_at,
            )
            if t > now
        ]
        return min(later) if later else None

    @property
    def parsed_at(self) -> float:
        return self.end_at + self.parse_delay

    def completed(self, now: float) -> bool:
        return now >= self.end_at

    def parsed(self, now: float) -> bool:
        return now >= self.parsed_at

    def classification_at(self, now: float) -> int:
        """`failure_classification_id` at `now`. Treeherder's log parser marks a failed job whose lines
        it has not seen on autoland/mozilla-central "new failure not classified" (6) once the log is
        parsed, without touching `last_modified` (so only a full re-read sees it); a classification
        someone gave it stays. Played for the pushes built with `autoclassify` (the triage scenario's and
        pushes added with it): the older scenarios' expectations predate it."""
        if (
            self.autoclassify
            and self.failure_classification_id == 1
            and self.result in FAILURE_RESULTS
            and self.completed(now)
            and self.parsed(now)
            and any(new for _, _, _, new in self.errors)
        ):
            return NEW_FAILURE_CLASSIFICATION
        return self.failure_classification_id


@dataclass(slots=True)
class FakePush:
    id: int
    repo: str
    revision: str
    author: str
    push_timestamp: int
    revisions: list[dict]  # {revision, author, comments}, top commit first
    revision_count: int
    role: str = ""
    jobs: list[FakeJob] = field(default_factory=list)
    version: int = 0  # bumped on every out-of-timeline change
    # The push this one is based on (Push Health's parent push: autoland or mozilla-central), by id;
    # None: Treeherder finds no parent push for it ("base push unknown").
    base: int | None = None
    autoclassify: bool = False  # its jobs play the log parser's "new failure" classification (6)

    @property
    def decision(self) -> FakeJob | None:
        return next((job for job in self.jobs if job.kind == "decision"), None)
