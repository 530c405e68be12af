"""Failure triage (pushes.rules): grouping on cleaned lines, one class per group from Treeherder's
evidence, the precedence when that evidence disagrees, and the push verdict built on them."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from pushes import display, rules, triage, verdict
from pushes.rules import Job, TextLogError
from pushes.treeherder.parsing import bug_suggestion_from_dict
from pushes.triage import Bug, BugSuggestion, JobLog, Triage
from pushes.verdict import Verdict
from tests.helpers import recording

_ids = itertools.count(1)


def job(job_id: int, *, classification: int | None = 1, tier: int = 1, result: str = "testfailed") -> Job:
    return Job(
        id=job_id, push_id=1, task_id=f"T{job_id}", platform="linux64", platform_option="opt",
        job_type_name=f"test-linux64/opt-mochitest-{job_id}", job_type_symbol=str(job_id), job_group_name="M",
        job_group_symbol="M", state="completed", result=result, start_timestamp=1, end_timestamp=2, tier=tier,
        failure_classification_id=classification,
    )  # fmt: skip


def error(job_id: int, line: str, line_number: int = 0, new_failure: bool | None = None) -> TextLogError:
    return TextLogError(
        id=next(_ids), line=line, line_number=line_number, job=job_id, new_failure=new_failure
    )


INTERMITTENT_BUG = Bug(
    id=1622925,
    summary="Intermittent dom/a.js | x",
    status="NEW",
    resolution="",
    keywords="intermittent-failure",
)


def suggestion(line_number: int, *, bugs: tuple[Bug, ...] = (), counter: int | None = None) -> BugSuggestion:
    return BugSuggestion(
        search="", path_end=None, line_number=line_number, open_recent=list(bugs), counter=counter
    )


def summarize(*logs: JobLog) -> verdict.FailureSummary:
    tier1 = sum(1 for log in logs if rules.effective_tier(log.job) == 1)
    return verdict.summarize_failures(list(logs), len(logs), tier1)


def log(j: Job, errors: list[TextLogError], suggestions: list[BugSuggestion] | None) -> JobLog:
    return JobLog(job=j, errors=errors, parse_status="parsed", suggestions=suggestions)


FAIL_A = "12:00:01     INFO - TEST-UNEXPECTED-FAIL | dom/a.js | x"


# --- Grouping on cleaned lines -------------------------------------------------------------------


def test_one_build_failure_is_one_group_whatever_its_time_stamps():
    lines = recording("build-fail.logview.json")["errors"]
    errors = [error(7, row["line"], number) for number, row in enumerate(lines)]
    groups = triage.failure_groups(errors)
    assert len(groups) == 1  # not ~30 one-job groups keyed by "21:47:57 ERROR - …"
    assert groups[0].affected_job_count == 1 and len(groups[0].errors) == len(errors)
    assert not groups[0].key.startswith("21:")


def test_the_same_build_error_in_two_jobs_at_other_times_groups_across_jobs():
    groups = triage.failure_groups(
        [
            error(1, "21:47:57    ERROR -  lld-link: error: undefined symbol: PropVariantCompareEx"),
            error(2, "06:02:11    ERROR -  lld-link: error: undefined symbol: PropVariantCompareEx"),
        ]
    )
    assert [(g.key, g.affected_job_count) for g in groups] == [
        ("lld-link: error: undefined symbol: PropVariantCompareEx", 2)
    ]


def test_varying_numbers_do_not_split_a_group():
    groups = triage.failure_groups(
        [error(1, "00:01:58     INFO - KeyError: 261"), error(2, "00:01:58     INFO - KeyError: 275")]
    )
    assert [(g.key, g.affected_job_count) for g in groups] == [("KeyError: N", 2)]


@pytest.mark.parametrize(
    ("line", "cleaned"),
    [
        ("21:47:57    ERROR -  error: x", "error: x"),
        ("[task 2026-11-30T21:47:57.123Z] 21:47:57     INFO - TEST-UNEXPECTED-FAIL | a.js | m",
         "TEST-UNEXPECTED-FAIL | a.js | m"),
        ("21:44:59     INFO - GECKO(8692) | WARNING: leak", "WARNING: leak"),
        ("21:36:55     INFO -  PID 2029 | [Parent 2029] WARNING", "[Parent 2029] WARNING"),
        ("05:35:49     INFO -  2018 INFO TEST-UNEXPECTED-FAIL | t.html | m", "TEST-UNEXPECTED-FAIL | t.html | m"),
        ("plain line", "plain line"),
    ],
)  # fmt: skip
def test_clean_line_strips_harness_prefixes(line, cleaned):
    assert triage.clean_line(line) == cleaned


def test_spec_rule_for_test_lines_still_keys_by_the_test():
    line = (
        "[task 2026-01-01T00:00:00Z] 05:35:49     INFO -  2018 INFO TEST-UNEXPECTED-FAIL | dom/t.html | a 1"
    )
    assert triage.group_key(line) == "dom/t.html"


# --- One class per group --------------------------------------------------------------------------


def test_open_intermittent_bug_makes_a_known_intermittent_with_its_bugs():
    j = job(1)
    summary = summarize(log(j, [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]))
    (group,) = summary.groups
    assert group.triage == Triage.INTERMITTENT
    assert [bug.id for bug in group.bugs] == [1622925]


@pytest.mark.parametrize(
    "bug",
    [
        Bug(id=1, summary="Intermittent dom/a.js | x", status="RESOLVED", resolution="FIXED",
            keywords="intermittent-failure"),
        Bug(id=2, summary="Intermittent dom/a.js | x", status="VERIFIED", resolution="WORKSFORME"),
        Bug(id=3, summary="dom/a.js crashes on startup", status="NEW", resolution="", keywords="crash"),
    ],
)  # fmt: skip
def test_resolved_or_non_intermittent_bugs_never_make_a_failure_known(bug):
    j = job(1)
    (group,) = summarize(log(j, [error(1, FAIL_A, 5)], [suggestion(5, bugs=(bug,), counter=0)])).groups
    assert group.triage == Triage.NEW
    assert group.bugs == []


def test_summary_starting_with_intermittent_counts_without_the_keyword():
    bug = Bug(id=9, summary="Intermittent dom/a.js | x", status="REOPENED", resolution="")
    (group,) = summarize(log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, bugs=(bug,))])).groups
    assert group.triage == Triage.INTERMITTENT


@pytest.mark.parametrize("classification", [4, 7, 8])
def test_jobs_classified_intermittent_make_a_known_intermittent(classification):
    j = job(1, classification=classification)
    (group,) = summarize(log(j, [error(1, FAIL_A, 5)], [suggestion(5, counter=0)])).groups
    assert group.triage == Triage.INTERMITTENT
    assert group.classified_intermittent == 1


def test_seen_on_integration_branches_is_preexisting_with_the_count():
    (group,) = summarize(log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, counter=37)])).groups
    assert group.triage == Triage.PREEXISTING
    assert group.seen_count == 37
    assert "37×" in group.reason


def test_counter_zero_is_new():
    (group,) = summarize(log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, counter=0)])).groups
    assert group.triage == Triage.NEW


def test_missing_counter_falls_back_to_new_failure_flag():
    seen = summarize(log(job(1), [error(1, FAIL_A, 5, new_failure=False)], [suggestion(5)])).groups[0]
    unseen = summarize(log(job(1), [error(1, FAIL_A, 5, new_failure=True)], [suggestion(5)])).groups[0]
    assert seen.triage == Triage.PREEXISTING and seen.seen_count is None
    assert unseen.triage == Triage.NEW


def test_missing_counter_and_flag_is_not_treated_as_seen():
    # The older recorded shape has neither field: unknown history, no known bug → new, not pre-existing.
    (group,) = summarize(log(job(1), [error(1, FAIL_A, 5)], [suggestion(5)])).groups
    assert group.triage == Triage.NEW


def test_no_suggestions_fetched_says_so_instead_of_guessing_new():
    (group,) = summarize(log(job(1), [error(1, FAIL_A, 5, new_failure=True)], None)).groups
    assert group.triage == Triage.UNKNOWN
    assert group.triage.label == "not triaged yet"


# --- Precedence when the evidence disagrees --------------------------------------------------------


def test_a_real_failure_classification_beats_a_bug_match():
    j = job(1, classification=2)  # fixed by commit
    (group,) = summarize(log(j, [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))])).groups
    assert group.triage == Triage.NEW


def test_a_bug_match_beats_a_classification_split():
    a, b = job(1, classification=4), job(2, classification=1)
    summary = summarize(
        log(a, [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]),
        log(b, [error(2, FAIL_A, 5)], [suggestion(5, counter=0)]),
    )
    assert summary.groups[0].triage == Triage.INTERMITTENT


def test_treeherders_automatic_new_failure_is_no_classification():
    # 6, "new failure not classified", is what Treeherder's log parser sets whenever a line is new to it:
    # the same evidence as counter 0, no one's verdict. A bug match or the base push still count.
    with_bug = summarize(
        log(job(1, classification=6), [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))])
    )
    assert with_bug.groups[0].triage == Triage.INTERMITTENT
    alone = summarize(log(job(2, classification=6), [error(2, FAIL_A, 5)], [suggestion(5, counter=0)]))
    assert alone.groups[0].triage == Triage.NEW
    split = summarize(
        log(job(3, classification=4), [error(3, FAIL_A, 5)], [suggestion(5)]),
        log(job(4, classification=6), [error(4, FAIL_A, 5)], [suggestion(5, counter=0)]),
    )
    assert split.groups[0].triage == Triage.INTERMITTENT  # the only classification is intermittent


def test_half_the_jobs_classified_intermittent_and_the_rest_unclassified_is_intermittent():
    a, b = job(1, classification=4), job(2, classification=1)
    summary = summarize(
        log(a, [error(1, FAIL_A, 5)], [suggestion(5)]), log(b, [error(2, FAIL_A, 5)], [suggestion(5)])
    )
    assert summary.groups[0].triage == Triage.INTERMITTENT


def test_one_line_with_a_bug_makes_the_whole_group_intermittent():
    a, b = job(1), job(2)
    summary = summarize(
        log(a, [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]),
        log(b, [error(2, FAIL_A, 9)], [suggestion(9, counter=0)]),
    )
    assert summary.groups[0].triage == Triage.INTERMITTENT


def test_suggestions_match_their_own_line_only():
    other = "12:00:02     INFO - TEST-UNEXPECTED-FAIL | dom/b.js | y"
    summary = summarize(
        log(job(1), [error(1, FAIL_A, 5), error(1, other, 6)],
            [suggestion(5, bugs=(INTERMITTENT_BUG,)), suggestion(6, counter=0)])
    )  # fmt: skip
    by_key = {g.key: g.triage for g in summary.groups}
    assert by_key == {"dom/a.js": Triage.INTERMITTENT, "dom/b.js": Triage.NEW}


# --- Order and verdict ----------------------------------------------------------------------------


def _three_class_summary(**kwargs) -> verdict.FailureSummary:
    lines = {n: f"12:00:0{n}     INFO - TEST-UNEXPECTED-FAIL | dom/{name}.js | x" for n, name in
             [(1, "known"), (2, "old"), (3, "mine")]}  # fmt: skip
    return summarize(
        log(job(1), [error(1, lines[1], 1)], [suggestion(1, bugs=(INTERMITTENT_BUG,))]),
        log(job(2), [error(2, lines[1], 1)], [suggestion(1, bugs=(INTERMITTENT_BUG,))]),
        log(job(3), [error(3, lines[2], 2)], [suggestion(2, counter=3)]),
        log(job(4), [error(4, lines[3], 3)], [suggestion(3, counter=0)]),
    )


def test_new_failures_come_first_then_preexisting_then_intermittent():
    summary = _three_class_summary()
    # The intermittent group affects most jobs, yet the new one leads.
    assert [(g.key, g.triage) for g in summary.groups] == [
        ("dom/mine.js", Triage.NEW),
        ("dom/old.js", Triage.PREEXISTING),
        ("dom/known.js", Triage.INTERMITTENT),
    ]
    assert [triage for triage, _ in summary.sections] == [Triage.NEW, Triage.PREEXISTING, Triage.INTERMITTENT]
    assert summary.verdict == Verdict.FAILED
    assert summary.verdict_label == "1 new failure"
    assert (
        summary.triage_line
        == "1 new failure (dom/mine.js) · 1 known intermittent · 1 already failing on autoland/mozilla-central"
    )
    assert display.push_badge(rules.State.FAILING, summary).title == "✗ 1 new failure"


def test_known_failures_only():
    summary = summarize(log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]))
    assert summary.verdict == Verdict.KNOWN
    assert summary.verdict_label == "known failures only"
    badge = display.push_badge(rules.State.FAILING, summary)
    assert (badge.key, badge.label, badge.colour) == ("known", "known failures only", "orange")


def test_not_known_while_a_log_is_unread_or_more_jobs_failed_than_were_read():
    known = log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))])
    unparsed = JobLog(job=job(2), parse_status="pending")
    assert summarize(known, unparsed).verdict == Verdict.FAILED
    assert summarize(known, unparsed).verdict_label == "failed"
    more = verdict.summarize_failures([known], failed_total=20, tier1_failed=20)
    assert more.verdict == Verdict.FAILED and not more.complete


def test_a_job_not_read_yet_is_not_triaged_never_new_and_never_dropped():
    known = [log(job(n), [error(n, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]) for n in (1, 2, 3)]
    unread = JobLog(job=job(4), read=False)
    failed = JobLog(job=job(5), error="HTTP 500")  # bug_suggestions answered 500, retries and all
    summary = summarize(*known, unread, failed)
    assert (summary.verdict, summary.new_count, summary.complete) == (Verdict.FAILED, 0, False)
    assert [log.job.id for log in summary.not_read] == [4, 5]
    assert summary.triaged_count == 3 and summary.failed_total == 5
    assert summary.triage_line == "1 known intermittent · 2 failed jobs not triaged yet"
    assert display.push_badge(rules.State.FAILING, summary).title == "✗ failing"  # not "known" yet


def test_every_failed_job_counts_however_many_the_new_one_is_last_of_40():
    known = [
        log(job(n), [error(n, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]) for n in range(1, 40)
    ]
    mine = log(job(40), [error(40, "TEST-UNEXPECTED-FAIL | dom/mine.js | x", 7)], [suggestion(7, counter=0)])
    summary = summarize(*known, mine)
    assert summary.verdict_label == "1 new failure" and summary.complete
    assert summary.groups[0].key == "dom/mine.js"
    assert summary.triage_line == "1 new failure (dom/mine.js) · 1 known intermittent"
    assert summarize(*known).verdict == Verdict.KNOWN


def test_jobs_classified_before_their_logs_are_read_are_explained_by_it():
    known = log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))])
    classified = JobLog(job=job(2, classification=8), read=False)
    summary = summarize(known, classified)
    assert summary.verdict == Verdict.KNOWN and summary.complete
    assert summary.triage_line == "1 known intermittent · 1 job classified on Treeherder"
    fixed = summarize(known, JobLog(job=job(3, classification=2), read=False))  # fixed by commit: real
    assert fixed.verdict == Verdict.FAILED and fixed.complete


def test_a_sheriffs_classification_arriving_later_changes_the_verdict_without_new_evidence():
    lines, suggestions = [error(1, FAIL_A, 5)], [suggestion(5, counter=0)]
    before = summarize(log(job(1, classification=1), lines, suggestions))
    after = summarize(log(job(1, classification=4), lines, suggestions))
    assert (before.verdict_label, after.verdict_label) == ("1 new failure", "known failures only")
    fixed = summarize(log(job(1, classification=2), lines, [suggestion(5, bugs=(INTERMITTENT_BUG,))]))
    assert fixed.verdict_label == "1 new failure"


# --- The base push ----------------------------------------------------------------------------------

BASE = triage.BasePush(repo="autoland", push_id=630312, revision="e" * 40)
FAIL_B = "TEST-UNEXPECTED-FAIL | dom/b.js | got 2, expected 1"


def base_job(job_id: int, name: str, *, result: str = "success", state: str = "completed") -> Job:
    return Job(
        id=job_id, push_id=BASE.push_id, task_id=None, platform="linux64", platform_option="opt",
        job_type_name=name, job_type_symbol="1", job_group_name="M", job_group_symbol="M", state=state,
        result=result, start_timestamp=1, end_timestamp=2, tier=1,
    )  # fmt: skip


def new_on_try(job_id: int = 1) -> JobLog:
    return log(job(job_id), [error(job_id, FAIL_A, 5)], [suggestion(5, counter=0)])


def check(*base_logs: JobLog, push: triage.BasePush | None = BASE, **kwargs) -> triage.BaseCheck:
    jobs: dict[str, list[JobLog]] = {}
    for base_log in base_logs:
        jobs.setdefault(base_log.job.job_type_name, []).append(base_log)
    return triage.BaseCheck(push=push, jobs=jobs, **kwargs)


def triaged(base: triage.BaseCheck) -> triage.FailureGroup:
    summary = verdict.summarize_failures([new_on_try()], 1, 1, base)
    return summary.groups[0]


def test_a_failure_that_fails_the_same_way_on_the_base_push_is_not_new():
    name = job(1).job_type_name
    failing = log(
        base_job(900, name, result="testfailed"), [error(900, FAIL_A.replace("x", "y"), 3)], [suggestion(3)]
    )
    group = triaged(check(failing))
    assert (group.triage, group.base) == (Triage.BASE, triage.BaseState.FAILING)
    summary = verdict.summarize_failures([new_on_try()], 1, 1, check(failing))
    assert summary.verdict == Verdict.KNOWN and summary.triage_line == "1 failing on the base push"
    assert Triage.BASE.label == "failing on the base push"


def test_push_health_saying_it_failed_in_the_parent_is_enough():
    base = triage.BaseCheck(
        push=BASE, jobs=None, failed_in_parent=frozenset({(job(1).job_type_name, "dom/a.js")})
    )
    assert triaged(base).triage == Triage.BASE


@pytest.mark.parametrize(
    ("base", "state"),
    [
        (None, None),  # not checked at all
        (triage.BaseCheck(push=None, reason="Push Health did not answer"), triage.BaseState.UNKNOWN),
        (triage.BaseCheck(push=BASE, jobs=None, pending=True), triage.BaseState.PENDING),  # being read
        (
            triage.BaseCheck(push=BASE, jobs=None, reason="its jobs could not be read"),
            triage.BaseState.UNKNOWN,
        ),
        ("passing", triage.BaseState.PASSING),
        ("other-failure", triage.BaseState.PASSING),  # fails there, but not this way
        ("running", triage.BaseState.RUNNING),
        ("unread", triage.BaseState.PENDING),  # fails there, its evidence not read yet
        ("missing", triage.BaseState.NOT_RUN),
        ("not-scheduled-yet", triage.BaseState.RUNNING),
    ],
)
def test_a_new_failure_says_what_its_base_push_says_and_stays_new(base, state):
    name = job(1).job_type_name
    cases = {
        "passing": lambda: check(JobLog(job=base_job(900, name), read=False)),
        "other-failure": lambda: check(log(base_job(900, name, result="testfailed"), [error(900, FAIL_B, 3)], [suggestion(3)])),
        "running": lambda: check(JobLog(job=base_job(900, name, state="running"), read=False)),
        "unread": lambda: check(JobLog(job=base_job(900, name, result="testfailed"), read=False)),
        "missing": lambda: check(JobLog(job=base_job(900, "another-job-type"), read=False)),
        "not-scheduled-yet": lambda: check(push=replace(BASE, unfinished_jobs=12)),
    }  # fmt: skip
    group = triaged(cases[base]() if isinstance(base, str) else base)
    assert (group.triage, group.base) == (Triage.NEW, state)


def test_only_tier2_failures_is_passed():
    summary = summarize(log(job(1, tier=2), [error(1, FAIL_A, 5)], [suggestion(5, counter=0)]))
    assert summary.verdict == Verdict.PASSED
    assert display.notification_title("try", summary.verdict) == "Try push passed"


def test_badge_of_states_without_failures():
    assert display.push_badge(rules.State.PASSING).title == "✓ passed"
    assert display.push_badge(rules.State.RUNNING).title == "… running"
    assert display.push_badge(rules.State.FAILING).title == "✗ failing"


# --- Parsing the evidence -------------------------------------------------------------------------


def test_recorded_older_shape_parses_with_unknown_counter():
    rows = [bug_suggestion_from_dict(row) for row in recording("bug_suggestions.json")]
    assert rows and all(row.counter is None and row.failure_new_in_rev is None for row in rows)
    assert rows[0].intermittent_bugs[0].id == 1622925
    # The resolved bugs in all_others never count.
    assert all(not bug.is_open_intermittent for row in rows for bug in row.all_others if bug.resolution)


def test_current_shape_parses_counter_and_new_in_rev():
    row = bug_suggestion_from_dict(
        {"search": "x", "bugs": {"open_recent": [], "all_others": []}, "line_number": 3, "counter": 37,
         "failure_new_in_rev": False}
    )  # fmt: skip
    assert (row.counter, row.failure_new_in_rev, row.line_number) == (37, False, 3)


def test_a_new_tier2_failure_does_not_make_known_tier1_failures_a_failed_push():
    known = log(job(1), [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))])
    tier2 = log(
        job(2, tier=2), [error(2, "TEST-UNEXPECTED-FAIL | gfx/t2.html | x", 5)], [suggestion(5, counter=0)]
    )
    summary = verdict.summarize_failures([known, tier2], failed_total=2, tier1_failed=1)
    assert [(g.key, g.triage, g.tier1) for g in summary.groups] == [
        ("gfx/t2.html", Triage.NEW, False),
        ("dom/a.js", Triage.INTERMITTENT, True),
    ]
    assert summary.verdict == Verdict.KNOWN
    assert summary.new_count == 0
