"""Invariants of the domain rules (pushes/rules.py), checked with hypothesis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pushes import triage
from pushes.rules import (
    Job,
    Revision,
    TextLogError,
    clean_try_message,
    display_title,
    group_status,
    is_failure,
    platform_groups,
    short_message,
)
from pushes.triage import failure_groups, group_key

settings.register_profile("rules", max_examples=200, deadline=None)
settings.load_profile("rules")

SEPARATOR = " · "

# Text that looks like commit and try messages: the prefixes, quotes, spaces, tabs and line breaks the
# rules care about, mixed with arbitrary characters.
fragments = st.sampled_from(
    [
        "Fuzzy ",
        "Fuzzy",
        "try: ",
        "try:",
        "a=try",
        "query=",
        "'",
        "''",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "·",
        "Bug 12",
    ]
)
message_text = st.lists(st.one_of(fragments, st.text(max_size=8)), max_size=12).map("".join)

STATES = ["completed", "running", "pending", "unscheduled"]
RESULTS = ["success", "testfailed", "busted", "exception", "retry", "usercancel", "unknown", "superseded"]

jobs_strategy = st.lists(
    st.builds(
        Job,
        id=st.integers(1, 10**6),
        push_id=st.just(1),
        task_id=st.none() | st.text(min_size=1, max_size=4),
        platform=st.sampled_from(["linux64", "windows11-64", "macosx1015-64", "android"]),
        platform_option=st.sampled_from(["", "opt", "debug", "asan"]),
        job_type_name=st.just("test"),
        job_type_symbol=st.just("t"),
        job_group_name=st.just("g"),
        job_group_symbol=st.just("g"),
        state=st.sampled_from(STATES),
        result=st.sampled_from(RESULTS),
        start_timestamp=st.none(),
        end_timestamp=st.none(),
        tier=st.sampled_from([None, 1, 2, 3]),
    ),
    max_size=30,
)

error_lines = st.one_of(
    st.builds(
        lambda marker, test, msg: f"INFO - {marker} | {test} | {msg}",
        st.sampled_from(["TEST-UNEXPECTED-FAIL", "TEST-UNEXPECTED-TIMEOUT", "PROCESS-CRASH", "GECKO(1)"]),
        st.sampled_from(["a.js", "b.js", " c.js ", "dir/d.html"]),
        st.text(max_size=10),
    ),
    st.text(max_size=130),
)
errors_strategy = st.lists(
    st.builds(
        TextLogError,
        id=st.integers(0, 100),
        line=error_lines,
        line_number=st.integers(1, 9999),
        job=st.integers(1, 6),
    ),
    max_size=40,
)


@given(message_text)
def test_clean_try_message_is_trimmed_and_has_no_empty_tokens(raw):
    cleaned = clean_try_message(raw)
    assert cleaned == cleaned.strip()
    if cleaned:
        tokens = cleaned.split(SEPARATOR)
        assert all(token.strip() for token in tokens), tokens
        # Every token comes from the input: the final strip never eats into a separator.
        assert all(token in raw for token in tokens), tokens
    assert clean_try_message(raw) == cleaned  # deterministic


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters=" ", blacklist_categories=["Cs"]), min_size=1),
        max_size=6,
    )
)
def test_clean_try_message_of_plain_words_joins_them(words):
    # Words without spaces or a leading quote come back joined by the separator, whitespace-only ones dropped.
    words = [w.lstrip("'") or "w" for w in words]
    raw = " ".join(words)
    if raw.startswith(("Fuzzy ", "try: ")) or "query=" in raw:
        return
    assert clean_try_message(raw) == SEPARATOR.join(w for w in words if w.strip()).strip()


@given(st.one_of(st.none(), message_text))
def test_short_message_is_one_stripped_line(comments):
    message = short_message(comments)
    assert "\n" not in message
    assert message == message.strip()
    if message:
        assert message in (comments or "")
    else:
        assert not (comments or "").strip()


revisions_strategy = st.lists(
    st.builds(Revision, revision=st.just("abc"), author=st.just("a@mozilla.com"), comments=message_text),
    max_size=5,
)


@given(revisions_strategy)
def test_display_title_is_a_short_message_or_the_cleaned_first(revisions):
    title = display_title(revisions)
    if not revisions:
        assert title == ""
        return
    shorts = [short_message(r.comments) for r in revisions]
    real = [s for s in shorts if s and not s.startswith(("Fuzzy", "try:", "a=try"))]
    if real:
        assert title == real[0]
    else:
        assert title == clean_try_message(shorts[0])
    assert title in shorts or title == clean_try_message(shorts[0])


@given(errors_strategy)
def test_failure_group_counts_add_up(errors):
    groups = failure_groups(errors)
    is_test = {id(e): triage._is_test_line(triage.clean_line(e.line)) for e in errors}
    jobs_with_tests = {e.job for e in errors if is_test[id(e)]}
    # Every test line is grouped; so is every line of a job without test lines; a job's other lines
    # (aftermath of its test failures) are not.
    expected = [e for e in errors if is_test[id(e)] or e.job not in jobs_with_tests]
    assert sorted(id(e) for g in groups for e in g.errors) == sorted(id(e) for e in expected)
    distinct_jobs = {e.job for e in errors}
    keys = [g.key for g in groups]
    assert len(keys) == len(set(keys))
    for g in groups:
        assert all(group_key(e.line) == g.key for e in g.errors if is_test[id(e)])
        assert g.affected_job_count == len({e.job for e in g.errors}) == len(g.job_ids)
        assert 1 <= g.affected_job_count <= len(distinct_jobs)
    order = [(-g.affected_job_count, g.key) for g in groups]
    assert order == sorted(order)


@given(st.one_of(error_lines, st.text(max_size=300)))
def test_group_key_is_stripped_and_short_for_unmarked_lines(line):
    key = group_key(line)
    assert key == key.strip()
    first = line.split(" | ")[0]
    if " | " not in line or not ("TEST-UNEXPECTED" in first or "PROCESS-CRASH" in first):
        assert len(key) <= 100


@given(jobs_strategy)
def test_platform_groups_preserve_exactly_the_tier1_jobs(jobs):
    groups = platform_groups(jobs)
    tier1 = [j for j in jobs if j.tier in (None, 1)]
    grouped = [j for g in groups for j in g.jobs]
    assert sorted(grouped, key=id) == sorted(tier1, key=id)
    names = [g.display_name for g in groups]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for g in groups:
        assert g.jobs
        assert all((j.platform, j.platform_option) == (g.platform, g.platform_option) for j in g.jobs)
        assert g.status == group_status(g.jobs)


@given(jobs_strategy)
def test_group_status_is_failing_iff_any_failure(jobs):
    status = group_status(jobs)
    assert (status == "failing") == any(is_failure(j) for j in jobs)
    assert (status == "failing") == any(
        j.state == "completed" and j.result in ("testfailed", "busted", "exception") for j in jobs
    )
    if status == "passing":
        assert all(j.state not in ("running", "pending", "unscheduled") for j in jobs)
