"""Failure triage (pushes.rules): grouping on cleaned lines, one class per group from Treeherder's
evidence, the precedence when that evidence disagrees, and the push verdict built on them."""

from __future__ import annotations

import itertools

import pytest

from pushes import display, rules
from pushes.rules import Bug, BugSuggestion, Job, JobLog, TextLogError, Triage, Verdict
from pushes.treeherder.parsing import bug_suggestion_from_dict
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


def summarize(*logs: JobLog) -> rules.FailureSummary:
    tier1 = sum(1 for log in logs if rules.effective_tier(log.job) == 1)
    return rules.summarize_failures(list(logs), len(logs), tier1)


def log(j: Job, errors: list[TextLogError], suggestions: list[BugSuggestion] | None) -> JobLog:
    return JobLog(job=j, errors=errors, parse_status="parsed", suggestions=suggestions)


FAIL_A = "12:00:01     INFO - TEST-UNEXPECTED-FAIL | dom/a.js | x"


# --- Grouping on cleaned lines -------------------------------------------------------------------


def test_one_build_failure_is_one_group_whatever_its_time_stamps():
    lines = recording("build-fail.logview.json")["errors"]
    errors = [error(7, row["line"], number) for number, row in enumerate(lines)]
    groups = rules.failure_groups(errors)
    assert len(groups) == 1  # not ~30 one-job groups keyed by "21:47:57 ERROR - …"
    assert groups[0].affected_job_count == 1 and len(groups[0].errors) == len(errors)
    assert not groups[0].key.startswith("21:")


def test_the_same_build_error_in_two_jobs_at_other_times_groups_across_jobs():
    groups = rules.failure_groups(
        [
            error(1, "21:47:57    ERROR -  lld-link: error: undefined symbol: PropVariantCompareEx"),
            error(2, "06:02:11    ERROR -  lld-link: error: undefined symbol: PropVariantCompareEx"),
        ]
    )
    assert [(g.key, g.affected_job_count) for g in groups] == [
        ("lld-link: error: undefined symbol: PropVariantCompareEx", 2)
    ]


def test_varying_numbers_do_not_split_a_group():
    groups = rules.failure_groups(
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
    assert rules.clean_line(line) == cleaned


def test_spec_rule_for_test_lines_still_keys_by_the_test():
    line = (
        "[task 2026-01-01T00:00:00Z] 05:35:49     INFO -  2018 INFO TEST-UNEXPECTED-FAIL | dom/t.html | a 1"
    )
    assert rules.group_key(line) == "dom/t.html"


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
    a, b = job(1, classification=4), job(2, classification=6)
    summary = summarize(
        log(a, [error(1, FAIL_A, 5)], [suggestion(5, bugs=(INTERMITTENT_BUG,))]),
        log(b, [error(2, FAIL_A, 5)], [suggestion(5)]),
    )
    # Job 2 is classified 6 (new failure): that is "real" and wins over everything.
    assert summary.groups[0].triage == Triage.NEW


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


def _three_class_summary(**kwargs) -> rules.FailureSummary:
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
    assert summary.triage_line == "1 new failure · 1 known intermittent · 1 also failing on mozilla-central"
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
    more = rules.summarize_failures([known], failed_total=20, tier1_failed=20)
    assert more.verdict == Verdict.FAILED


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
    summary = rules.summarize_failures([known, tier2], failed_total=2, tier1_failed=1)
    assert [(g.key, g.triage, g.tier1) for g in summary.groups] == [
        ("gfx/t2.html", Triage.NEW, False),
        ("dom/a.js", Triage.INTERMITTENT, True),
    ]
    assert summary.verdict == Verdict.KNOWN
    assert summary.new_count == 0
