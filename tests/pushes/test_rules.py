"""pushes/rules.py (and the pure display and links beside it), rule by rule: normal cases and every edge
case each rule resolves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pushes import display, links, paging, rules
from pushes.display import job_status, notification_title, result_colour
from pushes.links import bugzilla_url, taskcluster_task_url, treeherder_job_url, treeherder_push_url
from pushes.rules import (
    Job,
    PlatformGroup,
    Push,
    Revision,
    TextLogError,
    author_handle,
    bug_number,
    clean_try_message,
    display_result,
    display_title,
    group_status,
    has_failures,
    is_decision_or_action,
    is_failure,
    is_finished,
    job_counts,
    platform_groups,
    ready_to_notify,
    short_message,
)
from pushes.triage import FailureGroup, failure_groups, group_key
from tests.helpers import recording

_ids = iter(range(1, 10**9))


def job(
    state: str = "completed",
    result: str = "success",
    *,
    platform: str = "linux64",
    option: str = "opt",
    tier: int | None = 1,
    name: str = "test-linux64/opt-mochitest-1",
    symbol: str = "M1",
    id: int | None = None,
    task_id: str | None = "TASK",
    retry_id: int = 0,
) -> Job:
    return Job(
        id=next(_ids) if id is None else id,
        push_id=1,
        task_id=task_id,
        platform=platform,
        platform_option=option,
        job_type_name=name,
        job_type_symbol=symbol,
        job_group_name="Mochitests",
        job_group_symbol="M",
        state=state,
        result=result,
        start_timestamp=None,
        end_timestamp=None,
        tier=tier,
        retry_id=retry_id,
    )


def rev(comments: str | None, revision: str = "abc") -> Revision:
    return Revision(revision=revision, author="dev@mozilla.com", comments=comments)  # type: ignore[arg-type]


def err(line: str, job_id: int, id: int = 0) -> TextLogError:
    return TextLogError(id=id, line=line, line_number=1, job=job_id)


def logview_errors(name: str, job_id: int) -> list[TextLogError]:
    """The error lines of a real log-parser recording, as TextLogErrors of one job."""
    return [
        TextLogError(id=i, line=e["line"], line_number=e["linenumber"], job=job_id)
        for i, e in enumerate(recording(name)["errors"])
    ]


# --- The module stays pure -------------------------------------------------------------------------


@pytest.mark.parametrize("module", [rules, display, links, paging], ids=lambda module: module.__name__)
def test_pure_modules_import_no_django_http_or_clock(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported, "the parser found no imports at all: the check itself is broken"
    assert not imported & {"django", "requests", "time", "datetime", "urllib3", "httpx", "socket"}


def test_dataclasses_are_constructible_by_spec_keywords():
    r = Revision(revision="a" * 40, author="x@mozilla.com", comments="Bug 1 - x")
    p = Push(id=1, revision="a" * 40, author="x@mozilla.com", push_timestamp=1714000000, revisions=[r])
    assert p.revisions[0] is r
    j = Job(
        id=1, push_id=1, task_id=None, platform="linux64", platform_option="", job_type_name="n",
        job_type_symbol="s", job_group_name="g", job_group_symbol="gs", state="pending", result="unknown",
        start_timestamp=None, end_timestamp=None, tier=None,
    )  # fmt: skip
    assert j.retry_id == 0
    e = TextLogError(id=1, line="l", line_number=3, job=1)
    assert e.job == 1


# --- short_message ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comments", "expected"),
    [
        (
            "Bug 1234567 - Some patch description r=reviewer\n\nMore body text.",
            "Bug 1234567 - Some patch description r=reviewer",
        ),
        ("single line", "single line"),
        ("\n\n  \t\nreal line\nsecond", "real line"),
        ("   \n  padded line  \nnext", "padded line"),
        ("first\r\nsecond\r\n", "first"),
        ("\r\n\r\n  line after CRLF blanks \r\n", "line after CRLF blanks"),
        ("", ""),
        (None, ""),
        ("   ", ""),
        ("\n \n\t\n", ""),
    ],
)
def test_short_message(comments, expected):
    assert short_message(comments) == expected


# --- clean_try_message -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Fuzzy query=foo bar", "foo · bar"),
        ("Fuzzy query='browser 'linux64", "browser · linux64"),
        ("try: -b do -p all -u all", "-b · do · -p · all · -u · all"),
        # Order: "Fuzzy " first, then "try: " on what is left.
        ("Fuzzy try: -b do", "-b · do"),
        ("try: Fuzzy -b do", "Fuzzy · -b · do"),
        # "Fuzzy" with no space is not the prefix (but "query=" still cuts).
        ("Fuzzy", "Fuzzy"),
        ("Fuzzyfoo bar", "Fuzzyfoo · bar"),
        ("Fuzzyquery=x", "x"),
        ("try:-b do", "try:-b · do"),
        # Only the prefix at the very start.
        (" Fuzzy foo", "Fuzzy · foo"),
        # Everything up to and including the FIRST "query=".
        ("Fuzzy query=a query=b", "a · query=b"),
        ("Fuzzy --full query='xpcshell query='!win", "xpcshell · query='!win"),
        ("prefix junk query=", ""),
        # One leading quote per token, once.
        ("''foo", "'foo"),
        ("'a 'b c'", "a · b · c'"),
        ("' '' '''", "' · ''"),
        # Multiple spaces never leave empty tokens.
        ("a   b    c", "a · b · c"),
        ("   a b   ", "a · b"),
        # Empty results.
        ("", ""),
        ("Fuzzy ", ""),
        ("try: ", ""),
        ("Fuzzy try: ", ""),
        ("Fuzzy query=", ""),
        ("Fuzzy query=' '", ""),
        ("     ", ""),
        # A whitespace-only token between spaces is empty too (no dangling separator).
        ("Fuzzy \t bar", "bar"),
        ("a \t b", "a · b"),
        ("a\tb c", "a\tb · c"),
    ],
)
def test_clean_try_message(raw, expected):
    assert clean_try_message(raw) == expected


# --- display_title ---------------------------------------------------------------------------------


def test_display_title_first_real_message_wins():
    revisions = [rev("Bug 1 - first real\n\nbody"), rev("Bug 2 - second real")]
    assert display_title(revisions) == "Bug 1 - first real"


def test_display_title_real_message_after_boilerplate_wins():
    revisions = [rev("Fuzzy query=foo"), rev("try: -b do"), rev("a=try"), rev("Bug 3 - the patch\nbody")]
    assert display_title(revisions) == "Bug 3 - the patch"


def test_display_title_skips_empty_and_whitespace_comments():
    revisions = [rev(""), rev("  \n\t\n"), rev(None), rev("\n\nBug 4 - late line")]
    assert display_title(revisions) == "Bug 4 - late line"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("Fuzzy query='browser 'linux64", "browser · linux64"),
        ("try: -b do -p linux64", "-b · do · -p · linux64"),
        ("a=try", "a=try"),
        ("\n\nFuzzy query=x y\nbody", "x · y"),
        ("", ""),
    ],
)
def test_display_title_boilerplate_only_falls_back_to_first_revision(first, expected):
    revisions = [rev(first), rev("try: -b o -p other"), rev("Fuzzy query=second")]
    assert display_title(revisions) == expected


def test_display_title_boilerplate_prefixes_are_case_sensitive_starts():
    assert display_title([rev("Try: not boilerplate")]) == "Try: not boilerplate"
    assert display_title([rev("fuzzy lower case")]) == "fuzzy lower case"
    assert display_title([rev("Bug 5 - mention try: in the middle")]) == "Bug 5 - mention try: in the middle"
    # "Fuzzy" needs no space to be boilerplate.
    assert display_title([rev("Fuzzyish"), rev("Real")]) == "Real"
    assert display_title([rev("a=try r=me"), rev("Real")]) == "Real"


def test_display_title_no_revisions():
    assert display_title([]) == ""
    assert display_title(()) == ""


def test_display_title_from_recorded_push_list():
    """Real try pushes: the tip's message unless it is try syntax, then the next commit's first line."""
    titles = {
        push["id"]: display_title(
            [Revision(r["revision"], r["author"], r["comments"]) for r in push["revisions"]]
        )
        for push in recording("push_list.json")["results"]
    }
    assert titles == {
        511138: "return a packet+sendactorevent and move destroy call",  # under "Fuzzy query='debugger | …"
        511137: "FUZZY",  # upper case: a message, not the Fuzzy prefix
        511136: "try_task_config for code-review",  # code-review's own commit is not try syntax
        511135: "try_task_config for code-review",
        511134: "Use discard in WR primitives",  # the trailing newline dropped
        511133: "Try Chooser Enhanced (139 tasks selected)",
        511132: "try_task_config for code-review",
        511131: "Bug 1563766 - Update android x86_64 emulator to r29.0.11, for web-platform tests",
        511130: "try_task_config for code-review",
        511129: "try_task_config for code-review",
    }


# --- bug_number ------------------------------------------------------------------------------------


def test_bug_number_first_matching_revision_wins():
    revisions = [rev("Fuzzy query=foo"), rev("Bug 111 - a"), rev("Bug 222 - b")]
    assert bug_number(revisions) == "111"


def test_bug_number_is_case_sensitive():
    assert bug_number([rev("bug 123 - lower"), rev("BUG 456 - upper")]) is None
    assert bug_number([rev("bug 123 - lower"), rev("Bug 789 - right")]) == "789"


def test_bug_number_found_anywhere_in_comments():
    assert bug_number([rev("Some title\n\nFixes Bug 42 in the body")]) == "42"
    assert bug_number([rev("Bug 1 and Bug 2")]) == "1"


def test_bug_number_none():
    assert bug_number([]) is None
    assert bug_number([rev(None), rev(""), rev("Bug x - no digits"), rev("Bug  7 - two spaces")]) is None


# --- author_handle ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("rcurran@mozilla.com", "rcurran"),
        ("someone@example.org", "someone@example.org"),
        ("a@mozilla.com.evil.org", "a@mozilla.com.evil.org"),
        ("x@mozilla.com@mozilla.com", "x@mozilla.com"),
        ("MOZ@MOZILLA.COM", "MOZ@MOZILLA.COM"),
        ("@mozilla.com", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_author_handle(email, expected):
    assert author_handle(email) == expected


# --- job results -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "result", ["success", "testfailed", "busted", "exception", "retry", "usercancel", "unknown"]
)
def test_display_result_completed_known_values(result):
    assert display_result(job("completed", result)) == result


def test_display_result_unknown_values_pass_through():
    assert display_result(job("completed", "superseded")) == "superseded"
    assert result_colour("superseded") == "neutral"


@pytest.mark.parametrize("state", ["pending", "running", "unscheduled"])
@pytest.mark.parametrize("result", ["testfailed", "success", "busted", "superseded"])
def test_display_result_not_completed_is_unknown(state, result):
    assert display_result(job(state, result)) == "unknown"
    assert not is_failure(job(state, result))


def test_display_result_completed_without_result_is_unknown():
    assert display_result(job("completed", "")) == "unknown"


@pytest.mark.parametrize(
    ("status", "colour"),
    [
        ("success", "green"),
        ("testfailed", "red"),
        ("busted", "orange"),
        ("exception", "purple"),
        ("retry", "yellow"),
        ("usercancel", "gray"),
        ("unknown", "gray"),
        ("running", "blue"),
        ("pending", "gray"),
    ],
)
def test_result_colours(status, colour):
    assert result_colour(status) == colour


def test_job_status_shows_state_until_completed():
    assert job_status(job("running", "testfailed")) == "running"
    assert job_status(job("pending", "unknown")) == "pending"
    assert job_status(job("completed", "busted")) == "busted"
    assert job_status(job("completed", "superseded")) == "superseded"


@pytest.mark.parametrize(
    ("result", "failure"),
    [
        ("testfailed", True),
        ("busted", True),
        ("exception", True),
        ("success", False),
        ("retry", False),
        ("usercancel", False),
        ("unknown", False),
        ("superseded", False),
    ],
)
def test_is_failure(result, failure):
    assert is_failure(job("completed", result)) is failure


# --- group_status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ([("completed", "testfailed"), ("running", "unknown"), ("pending", "unknown")], "failing"),
        ([("completed", "busted"), ("completed", "success")], "failing"),
        ([("completed", "exception")], "failing"),
        ([("running", "unknown"), ("pending", "unknown"), ("completed", "success")], "running"),
        # A running job whose result field already says testfailed is not a failure yet.
        ([("running", "testfailed"), ("completed", "success")], "running"),
        ([("pending", "unknown"), ("completed", "success")], "pending"),
        ([("unscheduled", "unknown"), ("completed", "success")], "pending"),
        ([("completed", "success"), ("completed", "retry"), ("completed", "usercancel")], "passing"),
        ([("completed", "superseded")], "passing"),
        ([], "passing"),
    ],
)
def test_group_status_precedence(jobs, expected):
    built = [job(state, result) for state, result in jobs]
    assert group_status(built) == expected
    assert group_status(iter(built)) == expected  # any iterable, consumed once
    assert group_status(built) == expected


# --- platform_groups -------------------------------------------------------------------------------


def test_platform_groups_tier1_only_missing_tier_counts_as_1():
    t1 = job(tier=1, platform="linux64", option="opt")
    missing = job(tier=None, platform="linux64", option="opt")
    t2 = job(tier=2, platform="linux64", option="opt", result="testfailed")
    t3 = job(tier=3, platform="windows11-64", option="debug")
    groups = platform_groups([t1, t2, missing, t3])
    assert [g.display_name for g in groups] == ["linux64 opt"]
    assert groups[0].jobs == [t1, missing]
    # The tier-2 failure does not make the group fail.
    assert groups[0].status == "passing"


def test_platform_groups_grouping_display_name_and_sorting():
    jobs = [
        job(platform="windows11-64", option="opt"),
        job(platform="linux64", option="debug", state="running", result="unknown"),
        job(platform="linux64", option="opt", result="testfailed"),
        job(platform="android-em-7.0-x86_64", option=""),
        job(platform="linux64", option="opt"),
        job(platform="linux64", option="asan", state="pending", result="unknown"),
        job(platform="linux64", option=""),
    ]
    groups = platform_groups(jobs)
    assert [g.display_name for g in groups] == [
        "android-em-7.0-x86_64",
        "linux64",
        "linux64 asan",
        "linux64 debug",
        "linux64 opt",
        "windows11-64 opt",
    ]
    by_name = {g.display_name: g for g in groups}
    assert by_name["linux64 opt"].jobs == [jobs[2], jobs[4]]
    assert (by_name["linux64 opt"].platform, by_name["linux64 opt"].platform_option) == ("linux64", "opt")
    assert by_name["linux64 opt"].status == "failing"
    assert by_name["linux64 opt"].colour == "red"
    assert by_name["linux64 debug"].status == "running"
    assert by_name["linux64 asan"].status == "pending"
    assert by_name["linux64"].status == "passing"
    assert by_name["linux64"].jobs == [jobs[6]]
    assert all(isinstance(g, PlatformGroup) for g in groups)


def test_platform_groups_none_option_is_empty_option():
    a = job(platform="linux64", option=None)  # type: ignore[arg-type]
    b = job(platform="linux64", option="")
    groups = platform_groups([a, b])
    assert [(g.display_name, g.jobs) for g in groups] == [("linux64", [a, b])]


def test_platform_groups_empty():
    assert platform_groups([]) == []
    assert platform_groups([job(tier=2), job(tier=3)]) == []


def test_platform_groups_from_recorded_job_list():
    payload = recording("job_1.json")
    names = payload["job_property_names"]
    jobs = []
    for row in payload["results"]:
        d = dict(zip(names, row, strict=True))
        jobs.append(
            Job(
                id=d["id"], push_id=d.get("push_id", 0), task_id=d.get("task_id"), platform=d["platform"],
                platform_option=d.get("platform_option") or "", job_type_name=d["job_type_name"],
                job_type_symbol=d["job_type_symbol"], job_group_name=d["job_group_name"],
                job_group_symbol=d["job_group_symbol"], state=d["state"], result=d["result"],
                start_timestamp=d.get("start_timestamp"), end_timestamp=d.get("end_timestamp"),
                tier=d.get("tier"),
            )
        )  # fmt: skip
    groups = platform_groups(jobs)
    tier1 = [j for j in jobs if (j.tier or 1) == 1]
    assert sorted(j.id for g in groups for j in g.jobs) == sorted(j.id for j in tier1)
    names_sorted = [g.display_name for g in groups]
    assert names_sorted == sorted(names_sorted)
    assert len(set(names_sorted)) == len(names_sorted)


# --- job_counts ------------------------------------------------------------------------------------


def test_job_counts():
    counts = job_counts(
        [
            job("completed", "success"),
            job("completed", "testfailed"),
            job("completed", "superseded"),
            job("running", "testfailed"),
            job("pending", "unknown"),
            job("unscheduled", "unknown"),
        ]
    )
    assert (counts.total, counts.completed, counts.running, counts.pending, counts.failed) == (6, 3, 1, 2, 1)
    assert counts.by_result == {"success": 1, "testfailed": 1, "superseded": 1}
    assert counts.percent_complete == 50
    assert job_counts([]).percent_complete == 0


# --- group_key -------------------------------------------------------------------------------------


def test_group_key_test_unexpected_takes_second_part_stripped():
    line = "11:00:27     INFO - TEST-UNEXPECTED-FAIL |  dom/some/test.js  | Expected true got false"
    assert group_key(line) == "dom/some/test.js"


def test_group_key_process_crash():
    line = "PROCESS-CRASH | application crashed [@ mozalloc_abort] | dom/test.js"
    assert group_key(line) == "application crashed [@ mozalloc_abort]"


def test_group_key_pipe_line_without_error_marker_uses_cleaned_prefix():
    line = "21:44:59     INFO - GECKO(8692) | WARNING: something | other"
    assert group_key(line) == "WARNING: something | other"
    # The marker must be in the FIRST part, not a later one.
    moved = "INFO - harness | TEST-UNEXPECTED-FAIL | dom/x.js | msg"
    assert group_key(moved) == moved.strip()


def test_group_key_marker_without_separator_uses_prefix():
    assert group_key("TEST-UNEXPECTED-FAIL|no spaces|here") == "TEST-UNEXPECTED-FAIL|no spaces|here"
    assert group_key("  TEST-UNEXPECTED-FAIL only  ") == "TEST-UNEXPECTED-FAIL only"


def test_group_key_exactly_100_characters_kept_whole():
    line = "E" * 100
    assert group_key(line) == line


def test_group_key_longer_lines_cut_at_100_then_stripped():
    assert group_key("x" * 100 + "TAIL") == "x" * 100
    # Characters 99-100 are spaces: cut, then stripped.
    assert group_key("y" * 98 + "  zzz") == "y" * 98
    # Surrounding blanks are not part of the line: stripped before the cut.
    assert group_key("   " + "z" * 200) == "z" * 100


def test_group_key_empty_second_part():
    assert group_key("TEST-UNEXPECTED-FAIL |  | msg") == ""


def test_group_key_real_recorded_lines():
    mochitest = recording("mochitest-fail.logview.json")["errors"][0]["line"]
    assert group_key(mochitest) == (
        "devtools/client/webconsole/test/browser/browser_console_enable_network_monitoring.js"
    )
    reftest = recording("reftest-fail.logview.json")["errors"][0]["line"]
    # "REFTEST TEST-UNEXPECTED-FAIL" still contains the marker in the first part.
    assert (
        group_key(reftest) == "layout/reftests/bugs/1804872-2.html == layout/reftests/bugs/1804872-2-ref.html"
    )
    crash = recording("xpcshell-crash.logview.json")["errors"][0]["line"]
    assert group_key(crash) == "application crashed [@ libsystem_kernel.dylib + 0x0000000000000dfa]"
    build = recording("build-fail.logview.json")["errors"][0]["line"]
    assert " | " not in build
    # Without the mozharness time stamp and with the exit status normalised.
    assert group_key(build) == (
        "error: linking with `/builds/worker/checkouts/gecko/build/cargo-linker` failed: exit status: N"
    )
    leak_gecko = recording("leak.logview.json")["errors"][0]["line"]
    assert leak_gecko.startswith("21:44:59     INFO - GECKO(8692) | ")
    # The first 100 characters of the cleaned line, then stripped.
    assert group_key(leak_gecko) == (
        "WARNING: YOU ARE LEAKING THE WORLD (at least one JSRuntime and everything alive inside it, that is)"
    )


# --- failure_groups --------------------------------------------------------------------------------


def test_failure_groups_counts_distinct_jobs_and_orders():
    errors = [
        err("TEST-UNEXPECTED-FAIL | b.js | one", 1),
        err("TEST-UNEXPECTED-FAIL | b.js | two", 1),  # same job again: still 1 job
        err("TEST-UNEXPECTED-FAIL | a.js | x", 2),
        err("TEST-UNEXPECTED-FAIL | c.js | x", 1),
        err("TEST-UNEXPECTED-FAIL | c.js | x", 2),
        err("TEST-UNEXPECTED-FAIL | c.js | x", 3),
        err("TEST-UNEXPECTED-TIMEOUT | b.js | y", 4),
    ]
    groups = failure_groups(errors)
    assert [(g.key, g.affected_job_count) for g in groups] == [("c.js", 3), ("b.js", 2), ("a.js", 1)]
    b = groups[1]
    assert b.errors == [errors[0], errors[1], errors[6]]
    assert b.job_ids == [1, 4]
    assert all(isinstance(g, FailureGroup) for g in groups)


def test_failure_groups_ties_broken_by_key_ascending():
    errors = [
        err("TEST-UNEXPECTED-FAIL | zeta.js | x", 1),
        err("TEST-UNEXPECTED-FAIL | alpha.js | x", 2),
        err("TEST-UNEXPECTED-FAIL | mid.js | x", 3),
        err("TEST-UNEXPECTED-FAIL | mid.js | x", 3),  # two errors, one job: still ties at 1
        err("TEST-UNEXPECTED-FAIL | Beta.js | x", 4),
    ]
    assert [g.key for g in failure_groups(errors)] == ["Beta.js", "alpha.js", "mid.js", "zeta.js"]
    assert [g.key for g in failure_groups(reversed(errors))] == ["Beta.js", "alpha.js", "mid.js", "zeta.js"]


def test_failure_groups_empty():
    assert failure_groups([]) == []


def test_failure_groups_from_real_recordings_across_jobs():
    # The same recorded log failing in two jobs, plus other recorded logs in single jobs.
    errors = (
        logview_errors("taskcluster-timeout.logview.json", 10)
        + logview_errors("taskcluster-timeout.logview.json", 11)
        + logview_errors("xpcshell-crash.logview.json", 12)
        + logview_errors("mochitest-fail.logview.json", 13)
    )
    groups = failure_groups(errors)
    # The timeout's "[taskcluster:error] Aborting task" lines are its aftermath, not failures of their own.
    assert [(g.key, g.affected_job_count) for g in groups[:1]] == [("automation.py", 2)]
    timeout = groups[0]
    assert timeout.job_ids == [10, 11]
    assert all(g.affected_job_count == 1 for g in groups[1:])
    assert not any(g.key.startswith("[taskcluster:error]") for g in groups)
    crash = next(g for g in groups if g.key.startswith("application crashed [@ libsystem_kernel.dylib"))
    assert crash.affected_job_count == 1
    assert len(crash.errors) > 1
    order = [(-g.affected_job_count, g.key) for g in groups]
    assert order == sorted(order)


def test_failure_groups_wpt_multiple_groups_by_test_path():
    groups = failure_groups(logview_errors("wpt-multiple.logview.json", 7))
    keys = [g.key for g in groups]
    assert "/fs/FileSystemFileHandle-cross-primitive-locking.https.tentative.worker.html" in keys
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys)  # one job: every count is 1, so key order decides


# --- finished and the settle rule ------------------------------------------------------------------


def decision(state: str = "completed", result: str = "success") -> Job:
    return job(state, result, name="Gecko Decision Task", symbol="D", platform="gecko-decision", option="opt")


@pytest.mark.parametrize(
    ("states", "finished"),
    [
        ([], False),
        (["completed"], True),
        (["completed", "completed"], True),
        (["completed", "unscheduled"], False),
        (["completed", "pending"], False),
        (["completed", "running"], False),
    ],
)
def test_is_finished(states, finished):
    assert is_finished([job(state, "success") for state in states]) is finished
    assert is_finished(iter([job(state, "success") for state in states])) is finished


@pytest.mark.parametrize(
    ("name", "symbol", "expected"),
    [
        ("Gecko Decision Task", "D", True),
        ("Decision Task", "x", True),
        ("Action: Retrigger", "rt", True),
        ("action-callback", "ac", True),
        ("whatever", "D", True),
        ("test-linux64/opt-mochitest-1", "M1", False),
    ],
)
def test_is_decision_or_action(name, symbol, expected):
    assert is_decision_or_action(job(name=name, symbol=symbol)) is expected


def test_ready_to_notify_settle_rule():
    done = [decision(), job("completed", "success"), job("completed", "testfailed")]
    assert ready_to_notify(done, previous_job_count=3) is True
    # Count changed since the previous poll: wait one more poll.
    assert ready_to_notify(done, previous_job_count=1) is False
    assert ready_to_notify(done, previous_job_count=4) is False
    # Never polled before: wait one more poll.
    assert ready_to_notify(done, previous_job_count=None) is False
    # Only the decision/action tasks are known yet.
    only_decision = [decision(), job(name="Action: Retrigger", symbol="rt")]
    assert ready_to_notify(only_decision, previous_job_count=2) is False
    assert ready_to_notify([decision()], previous_job_count=1) is False
    # Not finished at all.
    running = [decision(), job("running", "unknown")]
    assert ready_to_notify(running, previous_job_count=2) is False
    assert ready_to_notify([], previous_job_count=0) is False


# --- notifications ---------------------------------------------------------------------------------


def test_has_failures_ignores_tier2_and_unfinished():
    assert has_failures([job("completed", "testfailed", tier=1)]) is True
    assert has_failures([job("completed", "busted", tier=None)]) is True
    assert has_failures([job("completed", "testfailed", tier=2), job("completed", "success")]) is False
    assert has_failures([job("completed", "exception", tier=3)]) is False
    assert has_failures([job("running", "testfailed")]) is False
    assert has_failures([]) is False


@pytest.mark.parametrize(
    ("repo", "failed", "title"),
    [
        ("try", "passed", "Try push passed"),
        ("try", "failed", "Try push failed"),
        ("try", "known", "Try push: known failures only"),
        ("autoland", "passed", "Autoland push passed"),
        ("autoland", "failed", "Autoland push failed"),
        ("mozilla-central", "failed", "Mozilla-central push failed"),
        ("mozilla-central", "known", "Mozilla-central push: known failures only"),
    ],
)
def test_notification_title(repo, failed, title):
    assert notification_title(repo, failed) == title


# --- links -----------------------------------------------------------------------------------------


def test_link_helpers():
    base = "https://treeherder.mozilla.org"
    sha = "abcdef1234567890abcdef1234567890abcdef12"
    assert treeherder_push_url(base, "try", sha) == f"{base}/jobs?repo=try&revision={sha}"
    with_task = job(task_id="ABCtask", retry_id=2, id=8675309)
    assert treeherder_job_url(base, "try", sha, with_task) == (
        f"{base}/jobs?repo=try&revision={sha}&selectedTaskRun=ABCtask.2"
    )
    no_task = job(task_id=None, id=8675309)
    assert treeherder_job_url(base, "autoland", sha, no_task) == (
        f"{base}/jobs?repo=autoland&revision={sha}&selectedJob=8675309"
    )
    assert taskcluster_task_url("https://firefox-ci-tc.services.mozilla.com", "XYZ") == (
        "https://firefox-ci-tc.services.mozilla.com/tasks/XYZ"
    )
    assert bugzilla_url("1234567") == "https://bugzilla.mozilla.org/show_bug.cgi?id=1234567"
