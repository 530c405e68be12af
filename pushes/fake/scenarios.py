"""The fake Treeherder's data: pushes and jobs with a timeline, seeded from the real recordings.

Every job carries the simulated times at which it appears (unscheduled), becomes pending, starts and
ends, so its state at any moment is a pure function of the clock. Scenarios are deterministic
(seeded `random.Random`); only the simulated start time `t0` moves them as a whole.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent / "recordings"
DEMO_AUTHOR = "tester@mozilla.com"
OTHER_AUTHORS = ("ahal@mozilla.com", "jmaher@mozilla.com")
NON_MOZILLA_AUTHOR = "contributor@gmail.com"
XSS_TEXT = "<script>alert(1)</script>"
PARSE_DELAY = 60.0  # seconds after a job ends until its log is "parsed"
MAX_ERROR_LINES = 40  # Treeherder keeps at most 40 error lines per job
BIG_PUSH_JOBS = 5200

OPTION_HASHES = {
    "opt": "102210fe594ee9b33d82058545b1ed14f4c8206e",
    "debug": "32faaecac742100f7753f0c1d0aa0add01b4046b",
}


def load_recording(name: str):
    return json.loads((RECORDINGS / name).read_text())


def _hex(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def option_hash(option: str) -> str:
    return OPTION_HASHES.get(option) or _hex("option:" + option)


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
    # (error id, line number, line, new_failure); empty until parsed, see parsed_at
    errors: list[tuple[int, int, str, bool]] = field(default_factory=list)
    touched_at: float = 0.0  # last change outside the timeline (finish_push, reclassification)
    parse_delay: float = PARSE_DELAY
    job_guid: str = ""
    signature: str = ""

    def __post_init__(self) -> None:
        if not self.job_guid:
            self.job_guid = f"{uuid.UUID(_hex('guid:' + self.task_id)[:32])}/{self.retry_id}"
        if not self.signature:
            self.signature = _hex(f"{self.platform}:{self.platform_option}:{self.job_type_name}")

    def rerun(
        self, *, id: int, task_id: str, retry_id: int, appear_at: float, start_at: float, end_at: float,
        kind: str | None = None,
    ) -> FakeJob:
        """Another run of this job type on the same push: green, unparsed, unclassified, its own guid."""
        return replace(
            self, id=id, task_id=task_id, retry_id=retry_id, result="success", appear_at=appear_at,
            pending_at=appear_at, start_at=start_at, end_at=end_at, kind=kind or self.kind, errors=[],
            touched_at=0.0, failure_classification_id=1, job_guid="",
        )  # fmt: skip

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

    def last_modified_at(self, now: float) -> float:
        times = [t for t in (self.appear_at, self.pending_at, self.start_at, self.end_at) if t <= now]
        if self.touched_at <= now:
            times.append(self.touched_at)
        return max(times)

    def next_change_after(self, now: float) -> float | None:
        later = [
            t
            for t in (self.appear_at, self.pending_at, self.start_at, self.end_at, self.parsed_at, self.touched_at)
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

    @property
    def decision(self) -> FakeJob | None:
        return next((job for job in self.jobs if job.kind == "decision"), None)


REPOSITORY_IDS = {"mozilla-central": 1, "try": 4, "autoland": 77}


# --- The job catalogue -------------------------------------------------------------------------------

# (platform, option, build job name)
PLATFORMS = [
    ("linux1804-64-qr", "debug", "build-linux64/debug"),
    ("linux1804-64-qr", "opt", "build-linux64/opt"),
    ("windows11-64-24h2", "debug", "build-win64/debug"),
    ("macosx1470-64", "opt", "build-macosx64/opt"),
    ("windows11-64-24h2", "opt", "build-win64/opt"),
    ("linux1804-64-qr", "asan", "build-linux64-asan/opt"),
    ("macosx1470-64", "debug", "build-macosx64/debug"),
    ("android-em-14-x86_64-qr", "opt", "build-android-x86_64/opt"),
    ("android-em-14-x86_64-qr", "debug", "build-android-x86_64/debug"),
    ("linux2404-64", "opt", "build-linux64-base-toolchains/opt"),
    ("linux2404-64", "tsan", "build-linux64-tsan/opt"),
    ("windows11-64-24h2-shippable", "opt", "build-win64-shippable/opt"),
]

# (suite, symbol prefix, group name, group symbol, chunks, tier)
SUITES = [
    ("mochitest-plain", "", "Mochitests", "M", 16, 1),
    ("mochitest-browser-chrome", "bc", "Mochitests", "M", 16, 1),
    ("xpcshell", "", "XPCShell tests", "X", 8, 1),
    ("mochitest-webgl2-core", "gl2c", "Mochitests", "M", 4, 2),
    ("web-platform-tests", "", "Web platform tests", "W", 24, 1),
    ("mochitest-devtools-chrome", "dt", "Mochitests", "M", 8, 1),
    ("reftest", "R", "Reftests", "R", 8, 1),
    ("crashtest", "C", "Reftests", "R", 4, 1),
    ("web-platform-tests-wdspec", "Wd", "Web platform tests", "W", 4, 2),
    ("mochitest-valgrind", "V", "Mochitests", "M", 2, 3),
]
VARIANTS = ["", "-spi-nw", "-xorig", "-fis", "-headless", "-a11y-checks", "-nofis", "-swr"]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    symbol: str
    group_name: str
    group_symbol: str
    platform: str
    option: str
    tier: int
    kind: str
    suite: str = ""


def catalog(size: int, *, platforms: int | None = None, chunks: int | None = None) -> list[JobSpec]:
    """`size` distinct job specs: builds first, then tests across platforms, suites and variants."""
    chosen = PLATFORMS[: platforms or len(PLATFORMS)]
    specs = [
        JobSpec(build, "B", "unknown", "?", platform.removesuffix("-qr"), option, 1, "build")
        for platform, option, build in chosen
    ]
    for variant in VARIANTS:
        for suite, prefix, group, group_symbol, suite_chunks, tier in SUITES:
            for platform, option, _ in chosen:
                total = min(suite_chunks, chunks) if chunks else suite_chunks
                for chunk in range(1, total + 1):
                    if len(specs) >= size:
                        return specs
                    suffix = f"-{chunk}" if total > 1 else ""
                    specs.append(
                        JobSpec(
                            name=f"test-{platform}/{option}-{suite}{variant}{suffix}",
                            symbol=f"{prefix}{chunk}",
                            group_name=group + (f" ({variant[1:]})" if variant else ""),
                            group_symbol=group_symbol + variant,
                            platform=platform,
                            option=option,
                            tier=tier,
                            kind="test",
                            suite=suite,
                        )
                    )
    return specs[:size]


# --- Error lines (from the recorded log-parser outputs) ---------------------------------------------


def _logview(name: str) -> list[tuple[int, str]]:
    data = load_recording(name)
    return [(error["linenumber"], error["line"]) for error in data["errors"]][:MAX_ERROR_LINES]


def shared_failure_lines() -> list[tuple[int, str]]:
    """A new failure of one test (IndexedDB), meant to break several jobs at once."""
    return [(e["linenumber"], e["line"]) for e in load_recording("text_log_summary.json")["blob"]["errors"]]


INTERMITTENT_LINE = (
    "10:59:02     INFO - TEST-UNEXPECTED-FAIL | "
    "devtools/client/netmonitor/src/har/test/browser_net_har_copy_all_as_har.js | There must be some page title -"
)


# --- Building scenarios ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Pace:
    """How long things take, in simulated seconds."""

    decision: float = 150.0
    build: tuple[float, float] = (240.0, 480.0)
    test: tuple[float, float] = (120.0, 480.0)
    queue: tuple[float, float] = (5.0, 60.0)
    spread: float = 0.0  # extra random queueing for huge pushes
    parse_delay: float = PARSE_DELAY


QUICK = Pace(decision=60.0, build=(40.0, 70.0), test=(30.0, 80.0), queue=(5.0, 15.0), parse_delay=20.0)
DEMO = Pace()
SLOW = Pace(decision=180.0, build=(600.0, 900.0), test=(300.0, 1200.0), queue=(10.0, 120.0))


class Builder:
    def __init__(self, t0: float, seed: int, first_push_id: int, first_job_id: int) -> None:
        self.t0 = t0
        self.rng = random.Random(seed)
        self.next_push_id = first_push_id
        self.next_job_id = first_job_id
        self.next_error_id = 1
        self.pushes: dict[int, FakePush] = {}

    # ids
    def task_id(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(16)).decode().rstrip("=")

    def revision(self) -> str:
        return self.rng.randbytes(20).hex()

    def job_id(self) -> int:
        self.next_job_id += 1
        return self.next_job_id

    def error_rows(self, lines: list[tuple[int, str]], new_failure: bool) -> list[tuple[int, int, str, bool]]:
        rows = []
        for line_number, line in lines[:MAX_ERROR_LINES]:
            rows.append((self.next_error_id, line_number, line, new_failure))
            self.next_error_id += 1
        return rows

    def push(
        self,
        *,
        author: str,
        messages: list[str],
        pushed_at: float,
        size: int,
        plan: str = "green",
        role: str = "",
        repo: str = "try",
        pace: Pace = DEMO,
        platforms: int | None = None,
        chunks: int | None = None,
        revision_count: int | None = None,
        push_id: int | None = None,
    ) -> FakePush:
        if push_id is None:
            push_id = self.next_push_id
            self.next_push_id += 1
        revisions = [
            {"revision": self.revision(), "author": _commit_author(author), "comments": message}
            for message in messages
        ]
        push = FakePush(
            id=push_id,
            repo=repo,
            revision=revisions[0]["revision"],
            author=author,
            push_timestamp=int(pushed_at),
            revisions=revisions,
            revision_count=revision_count or len(revisions),
            role=role,
        )
        self.pushes[push_id] = push
        self.schedule(push, catalog(max(size - 1, 0), platforms=platforms, chunks=chunks), pace)
        PLANS[plan](self, push)
        return push

    def make_job(self, push: FakePush, spec: JobSpec, appear: float, pending: float, start: float,
                 end: float, pace: Pace, result: str = "success") -> FakeJob:
        job = FakeJob(
            id=self.job_id(),
            push_id=push.id,
            task_id=self.task_id(),
            retry_id=0,
            job_type_name=spec.name,
            job_type_symbol=spec.symbol,
            job_group_name=spec.group_name,
            job_group_symbol=spec.group_symbol,
            platform=spec.platform,
            platform_option=spec.option,
            tier=spec.tier,
            result=result,
            appear_at=appear,
            pending_at=pending,
            start_at=start,
            end_at=end,
            who=push.author,
            push_revision=push.revision,
            kind=spec.kind,
            suite=spec.suite,
            parse_delay=pace.parse_delay,
        )
        push.jobs.append(job)
        return job

    def schedule(self, push: FakePush, specs: list[JobSpec], pace: Pace) -> None:
        rng, p = self.rng, float(push.push_timestamp)
        decision = JobSpec("Gecko Decision Task", "D", "unknown", "?", "gecko-decision", "opt", 1, "decision")
        dec_end = p + pace.decision
        self.make_job(push, decision, p + 5, p + 5, p + 20, dec_end, pace)
        graph_at = dec_end + 15
        build_end: dict[tuple[str, str], float] = {}
        for spec in specs:
            queue = rng.uniform(*pace.queue) + (rng.uniform(0, pace.spread) if pace.spread else 0.0)
            if spec.kind == "build":
                start = graph_at + queue
                end = start + rng.uniform(*pace.build)
                self.make_job(push, spec, graph_at, graph_at, start, end, pace)
                build_end[(spec.platform, spec.option)] = end
            else:
                ready = build_end.get((spec.platform.removesuffix("-qr"), spec.option), graph_at)
                pending = ready + rng.uniform(5, 30)
                start = pending + queue
                self.make_job(push, spec, graph_at, pending, start, start + rng.uniform(*pace.test), pace)

    def retry(self, push: FakePush, job: FakeJob) -> FakeJob:
        """Mark `job` as an infrastructure retry and add its rerun (same task, retry_id 1)."""
        job.result = "retry"
        rerun_start = job.end_at + self.rng.uniform(10, 40)
        duration = (job.end_at - job.start_at) * self.rng.uniform(0.8, 1.2)
        rerun = job.rerun(
            id=self.job_id(), task_id=job.task_id, retry_id=job.retry_id + 1, appear_at=job.end_at,
            start_at=rerun_start, end_at=rerun_start + duration,
        )
        push.jobs.append(rerun)
        return rerun

    def fail(self, job: FakeJob, lines: list[tuple[int, str]], *, result: str = "testfailed",
             new_failure: bool = False, classification: int = 1) -> None:
        job.result = result
        job.errors = self.error_rows(lines, new_failure)
        job.failure_classification_id = classification


def _commit_author(email: str) -> str:
    name = email.split("@")[0].replace(".", " ").title()
    return f"{name} <{email}>"


# --- Result plans -------------------------------------------------------------------------------------


def _tests(push: FakePush, suite: str | None = None, tier: int | None = 1) -> list[FakeJob]:
    return [
        job
        for job in push.jobs
        if job.kind == "test"
        and job.result == "success"
        and (suite is None or job.suite == suite)
        and (tier is None or job.tier == tier)
    ]


def _distinct_platforms(jobs: list[FakeJob], count: int) -> list[FakeJob]:
    chosen, seen = [], set()
    for job in jobs:
        key = (job.platform, job.platform_option)
        if key not in seen:
            seen.add(key)
            chosen.append(job)
        if len(chosen) == count:
            break
    return chosen


def _earliest(jobs: list[FakeJob]) -> FakeJob:
    """The job that ends first: its rerun finishes before the rest of the push does."""
    return min(jobs, key=lambda job: job.end_at)


def plan_green(builder: Builder, push: FakePush) -> None:
    tests = _tests(push)
    if len(tests) > 4:
        builder.retry(push, _earliest(tests))


def plan_failures(builder: Builder, push: FakePush) -> None:
    """The same new test failure in several jobs, a known intermittent twice, one-off failures, a busted
    build, an exception, a tier-2 failure, superseded and user-cancelled jobs and a retry."""
    shared = shared_failure_lines()
    for job in _distinct_platforms(_tests(push, "mochitest-plain"), 3):
        builder.fail(job, shared, new_failure=True)
    for index, job in enumerate(_distinct_platforms(_tests(push, "mochitest-browser-chrome"), 2)):
        builder.fail(job, [(4210 + index, INTERMITTENT_LINE)], classification=4 if index else 1)
    for job in _tests(push, "web-platform-tests")[:1]:
        builder.fail(job, _logview("wpt-multiple.logview.json"))
    for job in _tests(push, "xpcshell")[:1]:
        builder.fail(job, _logview("xpcshell-crash.logview.json"))
    for job in (_tests(push, "mochitest-devtools-chrome") or _tests(push)[-3:])[:1]:
        builder.fail(job, _logview("taskcluster-timeout.logview.json"), result="exception")
    for job in _tests(push, tier=2)[:1]:
        builder.fail(job, _logview("leak.logview.json"))
    builds = [job for job in push.jobs if job.kind == "build"]
    if builds:
        spec = JobSpec("build-win64-mingwclang/opt", "Bmg", "unknown", "?", "windows-mingw32", "opt", 1, "build")
        ref = builds[0]
        mingw = builder.make_job(push, spec, ref.appear_at, ref.pending_at, ref.start_at, ref.end_at - 30, DEMO)
        mingw.parse_delay = ref.parse_delay
        builder.fail(mingw, _logview("build-fail.logview.json"), result="busted")
    remaining = _tests(push)
    if len(remaining) > 6:
        remaining[-1].result = "superseded"
        remaining[-2].result = "usercancel"
        builder.retry(push, _earliest(remaining[:-2]))


def plan_tier2_only(builder: Builder, push: FakePush) -> None:
    for job in _tests(push, tier=2)[:2]:
        builder.fail(job, _logview("reftest-fail.logview.json"))
    plan_green(builder, push)


def plan_many_errors(builder: Builder, push: FakePush) -> None:
    for job in _tests(push, "mochitest-webgl2-core", tier=None)[:1] or _tests(push)[:1]:
        job.tier = 1
        builder.fail(job, _logview("too_many_failures.logview.json"))
    for job in _tests(push, "crashtest")[:1]:
        builder.fail(job, _logview("crashtest-timeout.logview.json"))


PLANS: dict[str, Callable[[Builder, FakePush], None]] = {
    "green": plan_green,
    "failures": plan_failures,
    "tier2_only": plan_tier2_only,
    "many_errors": plan_many_errors,
    "none": lambda builder, push: None,
}


# --- Recorded pushes ---------------------------------------------------------------------------------------


def _recorded_jobs(builder: Builder, push: FakePush, rows: list[dict], pace: Pace) -> None:
    """Real job rows (their ids, names, platforms, tiers, results) laid onto the push's timeline."""
    p = float(push.push_timestamp)
    for index, row in enumerate(sorted(rows, key=lambda r: r["id"])):
        decision = row["job_type_name"] == "Gecko Decision Task"
        start = p + 20 if decision else p + pace.decision + 30 + 7 * index
        end = p + pace.decision if decision else start + builder.rng.uniform(*pace.test)
        result = row["result"] if row["state"] == "completed" else "success"
        job = FakeJob(
            id=row["id"],
            push_id=push.id,
            task_id=row.get("task_id") or builder.task_id(),
            retry_id=row.get("retry_id") or 0,
            job_type_name=row["job_type_name"],
            job_type_symbol=row["job_type_symbol"],
            job_group_name=row["job_group_name"],
            job_group_symbol=row["job_group_symbol"],
            platform=row["platform"],
            platform_option=row.get("platform_option") or "opt",
            tier=row.get("tier") or 1,
            result=result,
            appear_at=p + 5 if decision else p + pace.decision + 15,
            pending_at=p + 5 if decision else p + pace.decision + 15,
            start_at=start,
            end_at=end,
            who=push.author,
            push_revision=push.revision,
            kind="decision" if decision else ("build" if row["job_type_name"].startswith("build") else "test"),
            failure_classification_id=row.get("failure_classification_id") or 1,
            parse_delay=pace.parse_delay,
        )
        if result in ("testfailed", "busted", "exception"):
            lines = _logview("build-fail.logview.json" if result == "busted" else "mochitest-fail.logview.json")
            job.errors = builder.error_rows(lines, new_failure=False)
        push.jobs.append(job)


def _rows_by_name(data: dict) -> list[dict]:
    names = data["job_property_names"]
    return [dict(zip(names, row, strict=True)) for row in data["results"]]


def add_recorded_pushes(builder: Builder, pushed_at: float) -> None:
    """The ten real try pushes of push_list.json, moved to `pushed_at` (keeping their gaps), finished."""
    recorded = load_recording("push_list.json")["results"]
    first = min(push["push_timestamp"] for push in recorded)
    real_jobs = {
        511137: list(load_recording("job_map.json").values()),
        511138: _rows_by_name(load_recording("job_1.json")),
    }
    for index, data in enumerate(sorted(recorded, key=lambda push: push["id"])):
        push = FakePush(
            id=data["id"],
            repo="try",
            revision=data["revision"],
            author=data["author"],
            push_timestamp=int(pushed_at + data["push_timestamp"] - first),
            revisions=[
                {"revision": r["revision"], "author": r["author"], "comments": r["comments"]}
                for r in data["revisions"]
            ],
            revision_count=data["revision_count"],
            role=f"recorded-{data['id']}",
        )
        builder.pushes[push.id] = push
        if push.id in real_jobs:
            _recorded_jobs(builder, push, real_jobs[push.id], DEMO)
        else:
            plan = "failures" if index % 3 == 0 else "green"
            builder.schedule(push, catalog(40 + 17 * index, platforms=4, chunks=3), DEMO)
            PLANS[plan](builder, push)


# --- Scenarios ----------------------------------------------------------------------------------------------

MINUTE, HOUR = 60.0, 3600.0


def scenario_default(t0: float) -> dict[int, FakePush]:
    """A realistic mix for `make demo`: the recorded pushes (finished, a day old), the demo author's
    finished green and failed pushes, an XSS-bait message, a running 5,200-job push, a running push
    that will fail, a push that shows only its decision task, and one that arrives 4 minutes in."""
    b = Builder(t0, seed=20260821, first_push_id=511139, first_job_id=300_000_000)
    add_recorded_pushes(b, t0 - 26 * HOUR)
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 5 * HOUR, size=420, plan="green", role="green",
           messages=["Fuzzy query='mochitest-plain 'linux&query='xpcshell",
                     "Bug 1900001 - Make the frobnicator thread-safe. r=reviewer"])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 3 * HOUR, size=640, plan="failures", role="failed",
           messages=["try: -b do -p linux64,win64,macosx64 -u mochitests,xpcshell -t none",
                     "Bug 1900002 - Part 2: Test transaction lifetimes. r=asuth",
                     "Bug 1900002 - Part 1: Rewrite IndexedDB transaction lifetimes. r=asuth"])
    b.push(author=NON_MOZILLA_AUTHOR, pushed_at=t0 - 2 * HOUR, size=60, plan="green", role="xss",
           platforms=3, chunks=2,
           messages=[f"Bug 1900003 - Escape {XSS_TEXT} in the URL bar & <b>elsewhere</b>. r=dev"])
    b.push(author=OTHER_AUTHORS[0], pushed_at=t0 - 100 * MINUTE, size=300, plan="tier2_only", role="tier2",
           messages=["Fuzzy query='xpcshell 'windows&query='reftest",
                     "Bug 1900004 - Speed up the reftest harness. r=jmaher"])
    b.push(author=OTHER_AUTHORS[1], pushed_at=t0 - 80 * MINUTE, size=200, plan="many_errors", role="many-errors",
           messages=["try: -b o -p linux64 -u all -t none", "Bug 1900005 - Update WebGL conformance tests."])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 35 * MINUTE, size=BIG_PUSH_JOBS, plan="failures", role="big",
           pace=Pace(decision=180.0, build=(300.0, 600.0), test=(300.0, 900.0), queue=(10.0, 60.0),
                     spread=40 * MINUTE),
           messages=["try: -b do -p all -u all -t all"]
           + [f"Bug 1900006 - Part {n}: Land the whole refactoring at once. r=reviewer" for n in range(24, 0, -1)])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 9 * MINUTE, size=250, plan="failures", role="running",
           messages=["Fuzzy query='mochitest-plain&query='mochitest-browser-chrome 'linux",
                     "Bug 1900007 - Fix the flaky transaction test. r=asuth"])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 1 * MINUTE, size=150, plan="green", role="decision",
           messages=["Fuzzy query='xpcshell", "Bug 1900008 - Tidy up nsFoo. r=reviewer"])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 + 4 * MINUTE, size=120, plan="green", role="future",
           messages=["try: -b o -p linux64 -u xpcshell", "Bug 1900009 - Follow-up: fix a typo."])
    return b.pushes


def scenario_quick(t0: float) -> dict[int, FakePush]:
    """Small and fast, for end-to-end tests: `watched` (green) and `failing` (fails) show only their
    decision task at t0 and are finished and parsed after `advance(300)`; `failed` is finished and
    parsed already; `green` and `xss` are finished."""
    b = Builder(t0, seed=7, first_push_id=600001, first_job_id=400_000_000)
    b.push(author=OTHER_AUTHORS[0], pushed_at=t0 - 2 * HOUR, size=12, plan="green", role="green",
           platforms=2, chunks=1, pace=QUICK,
           messages=["try: -b do -p linux64 -u xpcshell,mochitests", "Bug 1800001 - Small fix. r=dev"])
    b.push(author=NON_MOZILLA_AUTHOR, pushed_at=t0 - 90 * MINUTE, size=6, plan="green", role="xss",
           platforms=1, chunks=1, pace=QUICK, messages=[f"Bug 1800002 - {XSS_TEXT} sanitizer bypass"])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - HOUR, size=40, plan="failures", role="failed",
           platforms=3, chunks=2, pace=QUICK,
           messages=["Fuzzy query='mochitest 'linux&query='xpcshell",
                     "Bug 1800003 - Rewrite IndexedDB transaction lifetimes. r=asuth"])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 30, size=10, plan="green", role="watched",
           platforms=1, chunks=2, pace=QUICK,
           messages=["Fuzzy query='mochitest-plain 'linux", "Bug 1800004 - Watch me finish. r=dev"])
    b.push(author=DEMO_AUTHOR, pushed_at=t0 - 20, size=20, plan="failures", role="failing",
           platforms=3, chunks=1, pace=QUICK,
           messages=["try: -b do -p linux64,win64 -u mochitests", "Bug 1800005 - This one will fail. r=dev"])
    return b.pushes


RECURRING_EVERY = 15 * MINUTE  # the default scenario gets a new push this often, so long demos keep moving


def recurring_push(t0: float, number: int, first_push_id: int, first_job_id: int) -> FakePush:
    """The `number`-th (0-based) push that arrives by itself in the default scenario."""
    pushed_at = t0 + RECURRING_EVERY * (number + 1)
    b = Builder(t0, seed=first_push_id, first_push_id=first_push_id, first_job_id=first_job_id)
    b.next_error_id = 30_000_000 + number * 1000
    author = DEMO_AUTHOR if number % 2 == 0 else OTHER_AUTHORS[number % 4 // 2]
    bug = 1910000 + number
    messages = (
        ["Fuzzy query='mochitest-plain 'linux&query='xpcshell", f"Bug {bug} - Follow-up number {number + 1}. r=dev"]
        if number % 2 == 0
        else ["try: -b do -p linux64,win64 -u all -t none", f"Bug {bug} - Another attempt. r=dev"]
    )
    return b.push(author=author, messages=messages, pushed_at=pushed_at, size=150,
                  plan="failures" if number % 3 == 1 else "green", role=f"recurring-{number + 1}", platforms=6)


SCENARIOS: dict[str, Callable[[float], dict[int, FakePush]]] = {
    "default": scenario_default,
    "quick": scenario_quick,
}
