"""The `triage` scenario: try pushes with hundreds of failed jobs and the autoland pushes they are based on.

What a broad try push (`-p all`, `mach try auto` on a big patch) looks like to someone asking "is any of
this mine?": almost every failure a known intermittent (an open `Intermittent …` bug for its test, seen
on autoland lately), a few failing the same way on the base push already, one or two new. Roles:

- `base` (autoland, finished): the base push of most try pushes here; BASE_FAILURES of its job types
  fail (a test each), the rest pass.
- `base-running` (autoland, its jobs held running): the base of `base-still-running`.
- `known` (try, finished): 300 failed tier-1 jobs, every one a known intermittent.
- `one-new` (try, finished): the same with one new failure among the 300 (its job passes on `base`).
- `mixed` (try, finished): 300 failed jobs: mostly known intermittents, a failure in each of the job
  types failing on `base` (new to Treeherder's line counter: the message differs), two new failures.
- `running-60`, `running-300` (try, running at t0): 60 / 300 known intermittents failed by t0, 10 more
  failing 10 minutes in (their logs parsed 20 s later), the rest passing 30 minutes in.
- `base-still-running` (try, finished): one failure new to Treeherder, whose job type on its base push
  (`base-running`) has not run yet.
- `no-base` (try, finished): one new failure, and no base push Treeherder knows of.
"""

from __future__ import annotations

from .builder import QUICK, Builder, Pace, _tests
from .timeline import FakeJob, FakePush

HOUR, MINUTE = 3600.0, 60.0
SIZE = 420  # jobs of the 300-failure pushes (and of their base): 407 tier-1 tests
INTERMITTENT_TESTS = tuple(f"testing/triage/intermittent/test_flaky_{n:02}.html" for n in range(60))
INTERMITTENT_BUG_IDS = range(1_960_000, 1_960_000 + len(INTERMITTENT_TESTS))
BASE_FAILURES = 4  # job types failing on `base`
NEW_TESTS = ("testing/triage/new/test_mine.html", "testing/triage/new/test_also_mine.html")
LATER_FAILURES = 10  # the running pushes' failures 10 minutes in
PARSE = Pace(parse_delay=20.0)


def intermittent_line(n: int) -> str:
    test = INTERMITTENT_TESTS[n % len(INTERMITTENT_TESTS)]
    return f"12:{n % 60:02}:07     INFO - TEST-UNEXPECTED-TIMEOUT | {test} | Test timed out -"


def known_bugs() -> dict[str, dict]:
    """An open intermittent bug for each intermittent test (bug suggestions by test path)."""
    return {
        test: {
            "open_recent": [
                {
                    "id": bug_id,
                    "internal_id": bug_id - 1_900_000,
                    "status": "NEW",
                    "resolution": "",
                    "dupe_of": None,
                    "summary": f"Intermittent {test} | Test timed out",
                    "crash_signature": "",
                    "keywords": "intermittent-failure",
                    "whiteboard": "",
                    "occurrences": 12,
                }
            ],  # fmt: skip
            "all_others": [],
        }
        for test, bug_id in zip(INTERMITTENT_TESTS, INTERMITTENT_BUG_IDS, strict=True)
    }


def _base_test(n: int) -> str:
    return f"testing/triage/base/test_broken_{n}.html"


def _fail_known(builder: Builder, jobs: list[FakeJob]) -> None:
    for n, job in enumerate(jobs):
        builder.fail(job, [(2000 + n, intermittent_line(n))], seen=9 + n % 30)


def _fail_new(builder: Builder, job: FakeJob, test: str) -> None:
    builder.fail(job, [(4321, f"08:01:02     INFO - TEST-UNEXPECTED-FAIL | {test} | got 1, expected 2")])


def _base_failing(builder: Builder, base: FakePush) -> list[FakeJob]:
    """The base push's failing jobs: one test each, in every 50th tier-1 test job type."""
    failing = _tests(base)[10::50][:BASE_FAILURES]
    for n, job in enumerate(failing):
        line = (
            f"03:14:15     INFO - TEST-UNEXPECTED-FAIL | {_base_test(n)} | assertion count 3 is more than 0"
        )
        builder.fail(job, [(777, line)], seen=5)
    return failing


def _try_push(builder: Builder, role: str, message: str, base: FakePush | None, pushed_at: float,
              size: int = SIZE, pace: Pace = PARSE) -> FakePush:  # fmt: skip
    push = builder.push(
        author="tester@mozilla.com", messages=["try: -b do -p all -u all -t all", message], pushed_at=pushed_at,
        size=size, plan="none", role=role, pace=pace, autoclassify=True,
    )  # fmt: skip
    push.base = base.id if base else None
    return push


def _running(builder: Builder, push: FakePush, failed: int, t0: float) -> None:
    """`failed` known intermittents ended by t0, LATER_FAILURES more 10 minutes in, the rest pass at 30."""
    tests = _tests(push)
    early, later = tests[:failed], tests[failed : failed + LATER_FAILURES]
    _fail_known(builder, early + later)
    for job in push.jobs:
        if job.kind == "decision":
            continue
        if job in early:
            job.start_at, job.end_at = min(job.start_at, t0 - 5 * MINUTE), t0 - 2 * MINUTE
        elif job in later:
            job.start_at, job.end_at = min(job.start_at, t0 - MINUTE), t0 + 10 * MINUTE
        else:
            job.start_at, job.end_at = min(job.start_at, t0 - MINUTE), t0 + 30 * MINUTE
        job.pending_at = min(job.pending_at, job.start_at)
        job.appear_at = min(job.appear_at, job.pending_at)


def scenario_triage(t0: float) -> dict[int, FakePush]:
    b = Builder(t0, seed=24, first_push_id=630300, first_job_id=500_000_000)
    b.next_error_id = 50_000_000
    base = b.push(
        author="lando@mozilla.com", messages=["Bug 1950000 - Land the frobnicator. r=reviewer"], repo="autoland",
        pushed_at=t0 - 5 * HOUR, size=SIZE, plan="none", role="base", pace=PARSE, autoclassify=True,
    )  # fmt: skip
    base_failing = _base_failing(b, base)
    base_running = b.push(
        author="lando@mozilla.com", messages=["Bug 1950001 - Land the follow-up. r=reviewer"], repo="autoland",
        pushed_at=t0 - 25 * MINUTE, size=40, plan="none", role="base-running", pace=QUICK, autoclassify=True,
    )  # fmt: skip
    for job in base_running.jobs:
        job.hold("completed" if job.kind == "decision" else "running", t0 - 20 * MINUTE)

    known = _try_push(b, "known", "Bug 1950010 - Rewrite the layout cache. r=reviewer", base, t0 - 3 * HOUR)
    _fail_known(b, _tests(known)[:300])

    one_new = _try_push(
        b, "one-new", "Bug 1950011 - Rewrite the layout cache, v2. r=reviewer", base, t0 - 3 * HOUR
    )
    tests = _tests(one_new)[:300]
    _fail_known(b, tests[:137] + tests[138:])
    _fail_new(b, tests[137], NEW_TESTS[0])

    mixed = _try_push(b, "mixed", "Bug 1950012 - Rewrite the style cache. r=reviewer", base, t0 - 3 * HOUR)
    tests = _tests(mixed)
    base_types = {job.job_type_name: n for n, job in enumerate(base_failing)}
    on_base = [job for job in tests if job.job_type_name in base_types]
    others = [job for job in tests if job.job_type_name not in base_types]
    for job in on_base:  # the same test as on the base push, another message: new to the line counter
        n = base_types[job.job_type_name]
        line = (
            f"09:26:53     INFO - TEST-UNEXPECTED-FAIL | {_base_test(n)} | assertion count 7 is more than 0"
        )
        b.fail(job, [(778, line)])
    _fail_new(b, others[40], NEW_TESTS[0])
    _fail_new(b, others[90], NEW_TESTS[1])
    known_jobs = [job for index, job in enumerate(others) if index not in (40, 90)]
    _fail_known(b, known_jobs[: 300 - len(on_base) - 2])

    for failed in (60, 300):
        push = _try_push(b, f"running-{failed}", f"Bug 19500{failed // 60 + 20} - Try it {failed}. r=dev", base,
                         t0 - 30 * MINUTE, size=max(failed + 100, 200))  # fmt: skip
        _running(b, push, failed, t0)

    still = _try_push(b, "base-still-running", "Bug 1950030 - Follow-up on the follow-up. r=dev", base_running,
                      t0 - 20 * MINUTE, size=40, pace=QUICK)  # fmt: skip
    _fail_new(b, _tests(still)[0], NEW_TESTS[0])
    no_base = _try_push(b, "no-base", "Bug 1950031 - Standalone. r=dev", None, t0 - 2 * HOUR, size=40)
    _fail_new(b, _tests(no_base)[0], NEW_TESTS[0])
    return b.pushes
