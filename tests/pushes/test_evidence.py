"""Every failed job's evidence, read once, and the base push, over real HTTP against the fake Treeherder's
`triage` scenario (try pushes of 300 failed jobs, their base pushes on autoland): the verdict of a big
push, evidence kept in the database and never read again, a budget that leaves jobs "not triaged yet",
bug_suggestions' 500s retried, and what the base push says (failing there, passing, still running,
unknown)."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache

from fakeherder import FakeTreeherder
from pushes import evidence, rules, triage, verdict
from pushes.models import JobEvidence
from pushes.treeherder.client import get_client
from pushes.triage import BaseState, Triage
from pushes.verdict import Verdict
from tests.conftest import TRIAGE_T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(triage_upstream: FakeTreeherder) -> FakeTreeherder:
    return triage_upstream


def jobs_of(upstream: FakeTreeherder, role: str) -> tuple[list[rules.Job], str]:
    push_id = upstream.push_id(role)
    return get_client().jobs("try", push_id), upstream.push(push_id).revision


def summary_of(upstream: FakeTreeherder, role: str, **kwargs) -> verdict.FailureSummary:
    jobs, revision = jobs_of(upstream, role)
    kwargs.setdefault("seconds", 30)
    return evidence.failure_summary("try", jobs, revision=revision, finished=True, **kwargs)


def evidence_reads(upstream: FakeTreeherder) -> list[str]:
    return [
        path
        for path in upstream.request_paths("/api/project/")
        if "/bug_suggestions/" in path or "/job-log-url/" in path
    ]


def test_300_known_intermittents_are_known_failures_only_and_read_once_ever(upstream):
    summary = summary_of(upstream, "known")

    assert (summary.failed_total, summary.triaged_count, summary.complete) == (300, 300, True)
    assert summary.verdict == Verdict.KNOWN and summary.verdict_label == "known failures only"
    assert {group.triage for group in summary.groups} == {Triage.INTERMITTENT}
    assert len(summary.groups) == 60 and len(evidence_reads(upstream)) == 300  # one read per failed job
    assert JobEvidence.objects.filter(repo="try", push_id=upstream.push_id("known")).count() == 300

    cache.clear()  # a restart, an eviction, another process: the evidence is in the database
    upstream.clear_requests()
    again = summary_of(upstream, "known")
    assert (
        evidence_reads(upstream) == [] and again.verdict == Verdict.KNOWN and again.groups == summary.groups
    )


def test_one_new_failure_among_300_is_named_first(upstream):
    summary = summary_of(upstream, "one-new")

    assert summary.verdict_label == "1 new failure"
    assert summary.groups[0].key == "testing/triage/new/test_mine.html"
    assert (summary.groups[0].triage, summary.groups[0].base) == (Triage.NEW, BaseState.PASSING)
    assert summary.triage_line == "1 new failure (testing/triage/new/test_mine.html) · 60 known intermittents"


def test_failures_failing_the_same_way_on_the_base_push_are_not_new(upstream):
    summary = summary_of(upstream, "mixed")
    base = upstream.push(upstream.push_id("base"))

    assert summary.base.push == triage.BasePush("autoland", base.id, base.revision, exact_match=True)
    assert [(g.key, g.triage) for g in summary.by_triage(Triage.BASE)] == [
        (f"testing/triage/base/test_broken_{n}.html", Triage.BASE) for n in range(4)
    ]
    assert sorted(g.key for g in summary.new_groups) == [
        "testing/triage/new/test_also_mine.html", "testing/triage/new/test_mine.html"
    ]  # fmt: skip
    assert summary.verdict_label == "2 new failures"
    assert summary.triage_line.startswith("2 new failures · 4 failing on the base push · ")
    # Only the base push's failed jobs of the failures' job types had their evidence read, and kept.
    assert JobEvidence.objects.filter(repo="autoland").count() == 4


def test_a_base_push_still_running_and_one_unknown_say_so_and_stay_new(upstream):
    running = summary_of(upstream, "base-still-running")
    assert (running.new_groups[0].base, running.verdict_label) == (BaseState.RUNNING, "1 new failure")

    unknown = summary_of(upstream, "no-base")
    assert (unknown.new_groups[0].base, unknown.base.reason) == (
        BaseState.UNKNOWN, "Treeherder knows no base push for it"
    )  # fmt: skip


def test_push_health_failing_or_slow_is_no_dependency(upstream):
    upstream.fail_path("/push/health/", 500)
    summary = summary_of(upstream, "one-new")
    assert summary.verdict_label == "1 new failure" and summary.complete
    assert summary.new_groups[0].base == BaseState.UNKNOWN
    assert summary.base.reason.startswith("Push Health did not answer (HTTP 500")

    upstream.reset("triage", start_time=TRIAGE_T0)
    cache.clear()
    upstream.delay_path("/push/health/", 3)
    slow = summary_of(upstream, "one-new", seconds=1)  # the round's budget ends before Push Health does
    assert slow.verdict_label == "1 new failure" and slow.new_groups[0].base == BaseState.UNKNOWN
    assert "timed out" in slow.base.reason


def test_a_short_budget_leaves_jobs_not_triaged_yet_never_new_and_the_next_round_goes_on(upstream):
    upstream.set_latency(0.05)
    first = summary_of(upstream, "one-new", seconds=0.4)

    assert 0 < first.triaged_count < 300 and not first.complete
    assert first.verdict == Verdict.FAILED and first.verdict != Verdict.KNOWN
    assert all(
        group.triage != Triage.NEW for group in first.groups if group.key.startswith("testing/triage/i")
    )
    assert len(first.not_read) == 300 - first.triaged_count
    assert f"{300 - first.triaged_count} failed jobs not triaged yet" in first.triage_line

    upstream.set_latency(0)
    done = summary_of(upstream, "one-new")
    assert done.complete and done.verdict_label == "1 new failure"
    assert len(set(evidence_reads(upstream))) == 300  # every job read; none after it was final


def test_bug_suggestions_answering_500_are_retried_and_a_job_that_stays_unread_is_pending(upstream):
    upstream.fail_path("/bug_suggestions/", 500, times=2)  # two 500s in a row: retried with backoff
    assert summary_of(upstream, "no-base").complete

    upstream.reset("triage", start_time=TRIAGE_T0)
    cache.clear()
    push_id = upstream.push_id("known")
    stuck = upstream.job_ids(push_id, result="testfailed")[5]
    upstream.fail_path(f"/jobs/{stuck}/bug_suggestions/", 500)
    summary = summary_of(upstream, "known")
    assert [log.job.id for log in summary.not_read] == [stuck]
    assert summary.verdict == Verdict.FAILED and summary.new_count == 0  # not new, not known
    assert not JobEvidence.objects.filter(job_id=stuck).exists()

    upstream.reset("triage", start_time=TRIAGE_T0)  # Treeherder recovers: the job is read, the rest is stored
    cache.clear()
    upstream.clear_requests()
    assert summary_of(upstream, "known").verdict == Verdict.KNOWN
    assert evidence_reads(upstream) == [f"/api/project/try/jobs/{stuck}/bug_suggestions/"]


def test_a_log_not_parsed_yet_is_not_stored_as_final(upstream):
    push_id = upstream.add_push(size=1, hold="completed")
    pending = upstream.add_job(push_id, "completed", result="testfailed")  # its log parses 20 s later
    summary = evidence.failure_summary("try", get_client().jobs("try", push_id), seconds=10)

    assert [log.job.id for log in summary.unparsed] == [pending] and not summary.complete
    assert not JobEvidence.objects.filter(job_id=pending).exists()
    upstream.advance(30)
    cache.clear()
    summary = evidence.failure_summary("try", get_client().jobs("try", push_id), seconds=10)
    assert summary.complete and JobEvidence.objects.get(job_id=pending).parse_status == "parsed"


def test_a_sheriffs_later_classification_changes_the_verdict_without_reading_evidence_again(upstream):
    assert summary_of(upstream, "one-new").verdict_label == "1 new failure"
    mine = upstream.job_ids(upstream.push_id("one-new"), result="testfailed")[137]
    upstream.bulk_update([mine], failure_classification_id=4)  # as sheriffs do: last_modified unchanged
    upstream.clear_requests()

    summary = summary_of(upstream, "one-new")  # the jobs read again bring the classification

    assert summary.verdict_label == "known failures only" and evidence_reads(upstream) == []


def test_push_healths_count_and_ours_are_logged_where_they_differ(upstream, caplog):
    push_id = upstream.add_push(size=1, hold="completed", base=upstream.push_id("base"))
    upstream.add_job(
        push_id, "completed", result="testfailed", errors=["TEST-UNEXPECTED-FAIL | a/new.html | x"]
    )
    # This push does not play Treeherder's automatic classification 6: Push Health sees nothing to check.
    with caplog.at_level(logging.INFO, logger="pushes.evidence"):
        evidence.failure_summary(
            "try", get_client().jobs("try", push_id), revision=upstream.push(push_id).revision, seconds=10
        )
        summary_of(upstream, "mixed")  # 6 and 6: nothing to say
    [record] = [r for r in caplog.records if "Push Health says" in r.getMessage()]
    assert (
        "Push Health says 0 failure(s)" in record.getMessage() and "BuildWatch finds 1" in record.getMessage()
    )
