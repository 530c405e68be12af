"""The fake's scenarios: deterministic sets of pushes built at a simulated start time `t0`.

`default` is a realistic mix for `make demo` (about 7,500 jobs, recorded real pushes among them); `quick`
is small and fast for end-to-end tests; `triage` (fakeherder/triage.py) has try pushes of 300 failed jobs
and their base pushes on autoland. Only `t0` moves a scenario as a whole.
"""

from __future__ import annotations

from collections.abc import Callable

from .builder import DEMO, PLANS, QUICK, VARIED, Builder, Pace, catalog, logview
from .timeline import FakeJob, FakePush, load_recording
from .triage import scenario_triage

DEMO_AUTHOR = "tester@mozilla.com"
OTHER_AUTHORS = ("ahal@mozilla.com", "jmaher@mozilla.com")
NON_MOZILLA_AUTHOR = "contributor@gmail.com"
XSS_TEXT = "<script>alert(1)</script>"
BIG_PUSH_JOBS = 5200


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
            kind="decision"
            if decision
            else ("build" if row["job_type_name"].startswith("build") else "test"),
            failure_classification_id=row.get("failure_classification_id") or 1,
            parse_delay=pace.parse_delay,
        )
        if result in ("testfailed", "busted", "exception"):
            lines = logview(
                "build-fail.logview.json" if result == "busted" else "mochitest-fail.logview.json"
            )
            job.errors = builder.error_rows(lines, new_failure=True)
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
    finished green and failed pushes (new, pre-existing and intermittent failures), one whose failures
    are all known (an intermittent and one already failing on mozilla-central), one with only a known
    intermittent, an XSS-bait message, a running 5,200-job push, a running push
    that will fail, a push that shows only its decision task, and one that arrives 4 minutes in."""
    b = Builder(t0, seed=20260821, first_push_id=511139, first_job_id=300_000_000)
    add_recorded_pushes(b, t0 - 26 * HOUR)
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 5 * HOUR,
        size=420,
        plan="green",
        role="green",
        messages=[
            "Fuzzy query='mochitest-plain 'linux&query='xpcshell",
            "Bug 1900001 - Make the frobnicator thread-safe. r=reviewer",
        ],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 3 * HOUR,
        size=640,
        plan="failures",
        role="failed",
        messages=[
            "try: -b do -p linux64,win64,macosx64 -u mochitests,xpcshell -t none",
            "Bug 1900002 - Part 2: Test transaction lifetimes. r=asuth",
            "Bug 1900002 - Part 1: Rewrite IndexedDB transaction lifetimes. r=asuth",
        ],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 170 * MINUTE,
        size=300,
        plan="known_only",
        role="known-failures",
        messages=["Bug 1900003 - Tidy the preferences pane. r=reviewer"],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 150 * MINUTE,
        size=200,
        plan="intermittent_only",
        role="intermittent",
        messages=["Bug 1900004 - Log less during startup. r=reviewer"],
    )
    b.push(
        author=NON_MOZILLA_AUTHOR,
        pushed_at=t0 - 2 * HOUR,
        size=60,
        plan="green",
        role="xss",
        platforms=3,
        chunks=2,
        messages=[f"Bug 1900003 - Escape {XSS_TEXT} in the URL bar & <b>elsewhere</b>. r=dev"],
    )
    b.push(
        author=OTHER_AUTHORS[0],
        pushed_at=t0 - 100 * MINUTE,
        size=300,
        plan="tier2_only",
        role="tier2",
        messages=[
            "Fuzzy query='xpcshell 'windows&query='reftest",
            "Bug 1900004 - Speed up the reftest harness. r=jmaher",
        ],
    )
    b.push(
        author=OTHER_AUTHORS[1],
        pushed_at=t0 - 80 * MINUTE,
        size=200,
        plan="many_errors",
        role="many-errors",
        messages=["try: -b o -p linux64 -u all -t none", "Bug 1900005 - Update WebGL conformance tests."],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 35 * MINUTE,
        size=BIG_PUSH_JOBS,
        plan="failures",
        role="big",
        pace=Pace(
            decision=180.0, build=(300.0, 600.0), test=(300.0, 900.0), queue=(10.0, 60.0), spread=40 * MINUTE
        ),
        messages=["try: -b do -p all -u all -t all"]
        + [
            f"Bug 1900006 - Part {n}: Land the whole refactoring at once. r=reviewer"
            for n in range(24, 0, -1)
        ],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 9 * MINUTE,
        size=250,
        plan="failures",
        role="running",
        messages=[
            "Fuzzy query='mochitest-plain&query='mochitest-browser-chrome 'linux",
            "Bug 1900007 - Fix the flaky transaction test. r=asuth",
        ],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 4 * MINUTE,
        size=200,
        plan="confirm",
        role="busts-early",
        messages=["Bug 1900010 - Rework the frobnicator's build flags. r=reviewer"],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 1 * MINUTE,
        size=150,
        plan="green",
        role="decision",
        messages=["Fuzzy query='xpcshell", "Bug 1900008 - Tidy up nsFoo. r=reviewer"],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 + 4 * MINUTE,
        size=120,
        plan="green",
        role="future",
        messages=["try: -b o -p linux64 -u xpcshell", "Bug 1900009 - Follow-up: fix a typo."],
    )
    return b.pushes


def scenario_quick(t0: float) -> dict[int, FakePush]:
    """Small and fast, for end-to-end tests: `watched` (green) and `failing` (fails) show only their
    decision task at t0 and are finished and parsed after `advance(300)`; `failed` is finished and
    parsed already; `green` and `xss` are finished."""
    b = Builder(t0, seed=7, first_push_id=600001, first_job_id=400_000_000)
    b.push(
        author=OTHER_AUTHORS[0],
        pushed_at=t0 - 2 * HOUR,
        size=12,
        plan="green",
        role="green",
        platforms=2,
        chunks=1,
        pace=QUICK,
        messages=["try: -b do -p linux64 -u xpcshell,mochitests", "Bug 1800001 - Small fix. r=dev"],
    )
    b.push(
        author=NON_MOZILLA_AUTHOR,
        pushed_at=t0 - 90 * MINUTE,
        size=6,
        plan="green",
        role="xss",
        platforms=1,
        chunks=1,
        pace=QUICK,
        messages=[f"Bug 1800002 - {XSS_TEXT} sanitizer bypass"],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - HOUR,
        size=40,
        plan="failures",
        role="failed",
        platforms=3,
        chunks=2,
        pace=QUICK,
        messages=[
            "Fuzzy query='mochitest 'linux&query='xpcshell",
            "Bug 1800003 - Rewrite IndexedDB transaction lifetimes. r=asuth",
        ],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 30,
        size=10,
        plan="green",
        role="watched",
        platforms=1,
        chunks=2,
        pace=QUICK,
        messages=["Fuzzy query='mochitest-plain 'linux", "Bug 1800004 - Watch me finish. r=dev"],
    )
    b.push(
        author=DEMO_AUTHOR,
        pushed_at=t0 - 20,
        size=20,
        plan="failures",
        role="failing",
        platforms=3,
        chunks=1,
        pace=QUICK,
        messages=["try: -b do -p linux64,win64 -u mochitests", "Bug 1800005 - This one will fail. r=dev"],
    )
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
        [
            "Fuzzy query='mochitest-plain 'linux&query='xpcshell",
            f"Bug {bug} - Follow-up number {number + 1}. r=dev",
        ]
        if number % 2 == 0
        else ["try: -b do -p linux64,win64 -u all -t none", f"Bug {bug} - Another attempt. r=dev"]
    )
    return b.push(
        author=author,
        messages=messages,
        pushed_at=pushed_at,
        size=150,
        plan="failures" if number % 3 == 1 else "green",
        role=f"recurring-{number + 1}",
        platforms=6,
        pace=VARIED,
    )


HISTORY_PUSHES = 120
HISTORY_EVERY = 10 * MINUTE
# (platforms, size): what a push runs, from a few jobs on a few platforms to a large try run. Pushes of the
# same shape run the same kinds of jobs (different chunks too), as real try pushes repeat each other.
HISTORY_SHAPES = ((3, 90), (4, 160), (6, 260), (12, 420), (4, 120), (6, 340), (12, 600), (3, 60))


def scenario_history(t0: float) -> dict[int, FakePush]:
    """Try pushes one after another (HISTORY_PUSHES of them, every HISTORY_EVERY from t0 on; none
    visible at t0), all at the VARIED pace: per-kind run times, spreads, stragglers and lost runs. For
    measuring estimates of when a push finishes (bench/bench_eta.py): the earlier pushes are the history,
    the later ones the pushes to predict. Every fifth push has failures; roles are `history-N`."""
    b = Builder(t0, seed=2026, first_push_id=700001, first_job_id=500_000_000)
    for number in range(HISTORY_PUSHES):
        platforms, size = HISTORY_SHAPES[number % len(HISTORY_SHAPES)]
        b.push(
            author=(DEMO_AUTHOR, *OTHER_AUTHORS)[number % 3],
            messages=[f"Bug {1920000 + number} - History push {number + 1}. r=dev"],
            pushed_at=t0 + HISTORY_EVERY * (number + 1),
            size=size,
            plan="failures" if number % 5 == 4 else "green",
            role=f"history-{number + 1}",
            platforms=platforms,
            pace=VARIED,
        )
    return b.pushes


SCENARIOS: dict[str, Callable[[float], dict[int, FakePush]]] = {
    "default": scenario_default,
    "quick": scenario_quick,
    "history": scenario_history,
    "triage": scenario_triage,
}
