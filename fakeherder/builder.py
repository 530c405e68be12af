"""How the fake builds pushes: the job catalogue, how long things take (`Pace`), the `Builder` that lays
jobs onto a push's timeline, and the result plans (green, failures, ...) scenarios pick from.

Everything is seeded (`random.Random`), so the same arguments give the same push.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from .timeline import MAX_ERROR_LINES, PARSE_DELAY, FakeJob, FakePush, load_recording

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
                        return specs[:size]
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


def logview(name: str) -> list[tuple[int, str]]:
    """The error lines of a recorded log-parser output (`*.logview.json`)."""
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


@dataclass(frozen=True, slots=True)
class Variation:
    """What makes a real push's timing hard to guess (issue 26), for pushes that should look real.

    Each kind of job (platform, option, job name without its chunk number) has its own typical run time,
    log-uniform in the pace's range and the same on every push; chunks of one suite differ (their tests
    are not split evenly); runs of one kind vary; a push as a whole runs a little faster or slower (what
    its patch does) and waits longer or shorter for workers (how busy the pool is: queues also differ by
    pool, `POOL_QUEUE`); a few jobs are stragglers (a test hanging into its timeout, a slow machine), and
    a few runs are lost to the infrastructure (result `retry`) and run again as the same task."""

    run_noise: float = 0.12  # sigma of the log of a run's time, run to run, within one kind
    chunk_noise: float = 0.2  # sigma of the log of a chunk's typical time within its suite
    push_noise: float = 0.08  # sigma of the log of a push-wide factor on run times
    load_noise: float = 0.5  # sigma of the log of a push-wide factor on queue times
    straggler: float = 0.02  # share of jobs that run straggler_factor times longer
    straggler_factor: tuple[float, float] = (1.8, 4.0)
    retry: float = 0.015  # share of runs lost to the infrastructure, run again


# How long each worker pool makes a job wait, as a factor on the pace's queue.
POOL_QUEUE = {"linux": 1.0, "windows": 2.0, "macosx": 4.0, "android": 3.0}


def pool_queue(platform: str) -> float:
    return next((factor for prefix, factor in POOL_QUEUE.items() if platform.startswith(prefix)), 1.5)


def _unit(text: str) -> float:
    """A number in [0, 1) that only `text` decides: a kind's place in its range, the same every push."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def job_kind(name: str) -> str:
    """A job type name without its chunk number (`...-browser-chrome-3` and `-12` are one kind)."""
    return re.sub(r"-\d+$", "", name)


@dataclass(slots=True)
class Pace:
    """How long things take, in simulated seconds."""

    decision: float = 150.0
    build: tuple[float, float] = (240.0, 480.0)
    test: tuple[float, float] = (120.0, 480.0)
    queue: tuple[float, float] = (5.0, 60.0)
    spread: float = 0.0  # extra random queueing for huge pushes
    parse_delay: float = PARSE_DELAY
    variation: Variation | None = None  # None: uniform in the ranges, every job alike


QUICK = Pace(decision=60.0, build=(40.0, 70.0), test=(30.0, 80.0), queue=(5.0, 15.0), parse_delay=20.0)
DEMO = Pace()
# The demo's pace with real pushes' spreads (per-kind times, stragglers, lost runs): the pushes that arrive
# as a demo runs, and the `history` scenario.
VARIED = Pace(variation=Variation())
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
        autoclassify: bool = False,
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
            autoclassify=autoclassify,
        )
        self.pushes[push_id] = push
        self.schedule(push, catalog(max(size - 1, 0), platforms=platforms, chunks=chunks), pace)
        PLANS[plan](self, push)
        return push

    def make_job(
        self,
        push: FakePush,
        spec: JobSpec,
        appear: float,
        pending: float,
        start: float,
        end: float,
        pace: Pace,
        result: str = "success",
    ) -> FakeJob:
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
            autoclassify=push.autoclassify,
        )
        push.jobs.append(job)
        return job

    def schedule(self, push: FakePush, specs: list[JobSpec], pace: Pace) -> None:
        if pace.variation is not None:
            self.schedule_varied(push, specs, pace, pace.variation)
            return
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

    def schedule_varied(self, push: FakePush, specs: list[JobSpec], pace: Pace, variation: Variation) -> None:
        """`schedule` with a Variation: per-kind run times, spreads, stragglers and lost runs."""
        rng, p = self.rng, float(push.push_timestamp)
        speed = math.exp(rng.gauss(0.0, variation.push_noise))
        load = math.exp(rng.gauss(0.0, variation.load_noise))
        decision = JobSpec("Gecko Decision Task", "D", "unknown", "?", "gecko-decision", "opt", 1, "decision")
        dec_end = p + 20 + (pace.decision - 20) * math.exp(rng.gauss(0.0, variation.run_noise))
        self.make_job(push, decision, p + 5, p + 5, p + 20, dec_end, pace)
        graph_at = dec_end + 15
        build_end: dict[tuple[str, str], float] = {}

        def queue(spec: JobSpec) -> float:
            extra = rng.uniform(0, pace.spread) if pace.spread else 0.0
            return rng.uniform(*pace.queue) * pool_queue(spec.platform) * load + extra

        for spec in specs:
            if spec.kind == "build":
                pending = graph_at
            else:
                ready = build_end.get((spec.platform.removesuffix("-qr"), spec.option), graph_at)
                pending = ready + rng.uniform(5, 30)
            start = pending + queue(spec)
            end = start + self.run_time(spec, pace, variation, speed)
            job = self.make_job(push, spec, graph_at, pending, start, end, pace)
            if rng.random() < variation.retry:  # lost part-way through; its task runs again
                job.result = "retry"
                job.end_at = start + (end - start) * rng.uniform(0.1, 0.9)
                again = job.end_at + queue(spec)
                job = job.rerun(id=self.job_id(), task_id=job.task_id, retry_id=job.retry_id + 1,
                                appear_at=job.end_at, start_at=again,
                                end_at=again + self.run_time(spec, pace, variation, speed))  # fmt: skip
                push.jobs.append(job)
            if spec.kind == "build":
                build_end[(spec.platform, spec.option)] = job.end_at

    def run_time(self, spec: JobSpec, pace: Pace, variation: Variation, speed: float) -> float:
        """One run of `spec`: its kind's typical time (log-uniform in the pace's range, fixed by the kind),
        its chunk's share, this push's speed, run-to-run noise, and now and then a straggler."""
        low, high = pace.build if spec.kind == "build" else pace.test
        kind = f"{spec.platform}/{spec.option}/{job_kind(spec.name)}"
        typical = low * (high / low) ** _unit(kind)
        chunk = math.exp(variation.chunk_noise * random.Random(spec.name).gauss(0.0, 1.0))
        run = typical * chunk * speed * math.exp(self.rng.gauss(0.0, variation.run_noise))
        if self.rng.random() < variation.straggler:
            run *= self.rng.uniform(*variation.straggler_factor)
        return run

    def retry(self, push: FakePush, job: FakeJob) -> FakeJob:
        """Mark `job` as an infrastructure retry and add its rerun (same task, retry_id 1)."""
        job.result = "retry"
        rerun_start = job.end_at + self.rng.uniform(10, 40)
        duration = (job.end_at - job.start_at) * self.rng.uniform(0.8, 1.2)
        rerun = job.rerun(
            id=self.job_id(),
            task_id=job.task_id,
            retry_id=job.retry_id + 1,
            appear_at=job.end_at,
            start_at=rerun_start,
            end_at=rerun_start + duration,
        )
        push.jobs.append(rerun)
        return rerun

    def fail(
        self,
        job: FakeJob,
        lines: list[tuple[int, str]],
        *,
        result: str = "testfailed",
        seen: int = 0,
        classification: int = 1,
    ) -> None:
        """`job` fails with these log lines. `seen`: times Treeherder saw them on autoland/mozilla-central
        in its 21-day window (0: a new failure, `new_failure` true on its lines)."""
        job.result = result
        job.errors = self.error_rows(lines, seen == 0)
        job.failure_classification_id = classification
        job.seen_on_central = seen


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
        builder.fail(job, shared)  # new: this push broke it
    _fail_intermittently(builder, push)
    for job in _tests(push, "web-platform-tests")[:1]:
        builder.fail(job, logview("wpt-multiple.logview.json"))
    for job in _tests(push, "xpcshell")[:1]:
        builder.fail(job, logview("xpcshell-crash.logview.json"), seen=37)  # already failing on central
    for job in (_tests(push, "mochitest-devtools-chrome") or _tests(push)[-3:])[:1]:
        builder.fail(job, logview("taskcluster-timeout.logview.json"), result="exception", seen=12)
    for job in _tests(push, tier=2)[:1]:
        builder.fail(job, logview("leak.logview.json"))
    builds = [job for job in push.jobs if job.kind == "build"]
    if builds:
        spec = JobSpec(
            "build-win64-mingwclang/opt", "Bmg", "unknown", "?", "windows-mingw32", "opt", 1, "build"
        )
        ref = builds[0]
        mingw = builder.make_job(
            push, spec, ref.appear_at, ref.pending_at, ref.start_at, ref.end_at - 30, DEMO
        )
        mingw.parse_delay = ref.parse_delay
        builder.fail(mingw, logview("build-fail.logview.json"), result="busted")
    remaining = _tests(push)
    if len(remaining) > 6:
        remaining[-1].result = "superseded"
        remaining[-2].result = "usercancel"
        builder.retry(push, _earliest(remaining[:-2]))


def _fail_intermittently(builder: Builder, push: FakePush) -> None:
    """A known intermittent (its open bug is in the recorded bug suggestions) in two jobs, one of them
    classified intermittent by a sheriff."""
    jobs = _tests(push, "mochitest-browser-chrome") or _tests(push)
    for index, job in enumerate(_distinct_platforms(jobs, 2)):
        builder.fail(job, [(4210 + index, INTERMITTENT_LINE)], classification=4 if index else 1, seen=9)


def plan_known_only(builder: Builder, push: FakePush) -> None:
    """Failures that are none of this push's doing: a known intermittent and a test already failing on
    mozilla-central."""
    _fail_intermittently(builder, push)
    for job in _tests(push, "xpcshell")[:1] or _tests(push)[-1:]:
        builder.fail(job, logview("xpcshell-crash.logview.json"), seen=37)
    plan_green(builder, push)


def plan_intermittent_only(builder: Builder, push: FakePush) -> None:
    _fail_intermittently(builder, push)
    plan_green(builder, push)


def plan_tier2_only(builder: Builder, push: FakePush) -> None:
    for job in _tests(push, tier=2)[:2]:
        builder.fail(job, logview("reftest-fail.logview.json"))
    plan_green(builder, push)


def plan_many_errors(builder: Builder, push: FakePush) -> None:
    for job in _tests(push, "mochitest-webgl2-core", tier=None)[:1] or _tests(push)[:1]:
        job.tier = 1
        builder.fail(job, logview("too_many_failures.logview.json"))
    for job in _tests(push, "crashtest")[:1]:
        builder.fail(job, logview("crashtest-timeout.logview.json"))


def plan_confirm(builder: Builder, push: FakePush) -> None:
    """For early alerts and "confirm failures": the first build to finish busts (new), a new test
    failure that reproduces when run again, and another new one that passes when run again."""
    builds = [job for job in push.jobs if job.kind == "build"]
    if builds:
        builder.fail(_earliest(builds), logview("build-fail.logview.json"), result="busted")
    tests = _distinct_platforms(_tests(push, "mochitest-plain") or _tests(push), 2)
    if tests:
        builder.fail(tests[0], shared_failure_lines())
        tests[0].reproduces = True
    if len(tests) > 1:
        builder.fail(tests[1], logview("wpt-multiple.logview.json"))


PLANS: dict[str, Callable[[Builder, FakePush], None]] = {
    "green": plan_green,
    "failures": plan_failures,
    "tier2_only": plan_tier2_only,
    "many_errors": plan_many_errors,
    "known_only": plan_known_only,
    "intermittent_only": plan_intermittent_only,
    "confirm": plan_confirm,
    "none": lambda builder, push: None,
}
