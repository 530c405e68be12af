"""pushes.services: the cache in front of Treeherder (one upstream fetch per interval, last-good copy)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from pushes import cached, evidence, rules, services
from tests.pushes.conftest import TH, job, mock_jobs, mock_log_errors, mock_repositories


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TREEHERDER_URL = TH
    settings.BUILDWATCH_REFRESH_SECONDS = 30


def test_many_viewers_cost_one_fetch_per_interval(mocked_responses, clock):
    upstream = mock_jobs(mocked_responses, [job(1, state="running")])
    for _ in range(5):
        assert [j.id for j in services.jobs("try", 100).value] == [1]
    assert upstream.call_count == 1
    clock.shift(31)  # past the short TTL of a running push
    services.jobs("try", 100)
    assert upstream.call_count == 2


def test_finished_push_is_cached_long(mocked_responses, clock):
    upstream = mock_jobs(mocked_responses, [job(1), job(2, result="testfailed")])
    services.jobs("try", 100)
    clock.shift(600)
    fetched = services.jobs("try", 100)
    assert upstream.call_count == 1
    assert fetched.age_seconds >= 600 and not fetched.stale


def test_a_push_showing_only_its_decision_task_is_not_cached_as_finished(mocked_responses, clock):
    upstream = mock_jobs(mocked_responses, [job(1, name="Gecko Decision Task", symbol="D", group="?")])
    services.jobs("try", 100)
    clock.shift(31)
    services.jobs("try", 100)
    assert upstream.call_count == 2


def test_treeherder_failing_serves_the_last_good_copy_marked_stale(mocked_responses, clock):
    mock_jobs(mocked_responses, [job(1, state="running")])
    services.jobs("try", 100)
    mocked_responses.replace("GET", f"{TH}/api/jobs/", status=400, json={"detail": "Bad request"})
    clock.shift(120)
    fetched = services.jobs("try", 100)
    assert fetched.stale and fetched.age_seconds >= 120 and "Bad request" in fetched.error
    assert [j.id for j in fetched.value] == [1]


def test_a_failing_treeherder_is_not_asked_again_by_every_viewer(mocked_responses):
    upstream = mocked_responses.get(f"{TH}/api/jobs/", body="<html>app</html>", content_type="text/html")
    for _ in range(3):
        with pytest.raises(cached.Unavailable) as raised:
            services.jobs("try", 100)
    assert "expected JSON" in raised.value.reason
    assert upstream.call_count == 1


def test_repositories_are_cached_and_fall_back_to_a_builtin_list(mocked_responses):
    mock_repositories(mocked_responses, ("try", "elm"))
    assert services.is_known_repo("elm") and not services.is_known_repo("autoland")
    assert not services.is_known_repo("admin") and not services.is_known_repo("watching")
    assert len(mocked_responses.calls) == 1
    cache.clear()
    mocked_responses.replace("GET", f"{TH}/api/repository/", status=400, json={"detail": "no"})
    assert services.is_known_repo("autoland") and not services.is_known_repo("elm")


@pytest.mark.django_db
def test_failure_summary_reads_every_failed_jobs_evidence_concurrently_and_keeps_it(mocked_responses):
    jobs = [job(i, result="testfailed") for i in range(1, 18)]
    mock_jobs(mocked_responses, jobs)
    for i in range(1, 18):
        mock_log_errors(mocked_responses, i, [f"TEST-UNEXPECTED-FAIL | test_{i % 2}.js | boom"])
    all_jobs = services.jobs("try", 100).value
    summary = evidence.failure_summary("try", all_jobs)
    assert summary.failed_total == 17 and len(summary.logs) == 17 and summary.complete
    assert [(g.key, g.affected_job_count) for g in summary.groups] == [("test_1.js", 9), ("test_0.js", 8)]
    calls = len(mocked_responses.calls)
    evidence.failure_summary("try", all_jobs)
    assert len(mocked_responses.calls) == calls


@pytest.mark.django_db
def test_unparsed_logs_are_told_apart_from_logs_without_errors(mocked_responses):
    mock_jobs(mocked_responses, [job(1, result="busted"), job(2, result="busted")])
    mock_log_errors(mocked_responses, 1, [], parse_status="pending")
    mock_log_errors(mocked_responses, 2, [], parse_status="parsed")
    summary = evidence.failure_summary("try", services.jobs("try", 100).value)
    assert [log.job.id for log in summary.unparsed] == [1]
    assert [log.job.id for log in summary.parsed_without_errors] == [2]
    assert summary.groups == []


def test_push_state():
    from pushes.treeherder.parsing import job_from_dict

    def jobs(*rows):
        return [job_from_dict(row) for row in rows]

    assert rules.push_state([]) == "pending"
    assert rules.push_state(jobs(job(1), job(2, state="running"))) == "running"
    assert rules.push_state(jobs(job(1, result="testfailed"), job(2, state="running"))) == "failing"
    assert rules.push_state(jobs(job(1), job(2, tier=2, result="testfailed"))) == "passing"
    assert rules.State.PASSING.label == "passed"


def test_summaries_and_groups_are_derived_from_one_fetch(mocked_responses):
    upstream = mock_jobs(
        mocked_responses,
        [
            job(1, platform="mac", symbol="b"),
            job(2, platform="mac", symbol="a"),
            job(3, tier=2),
            job(4, state="running"),
        ],
    )
    summary = services.jobs_summary("try", 100).value
    assert [g.display_name for g in summary.groups] == ["linux64 opt", "mac opt"]
    assert summary.other_counts.total == 1 and summary.state == "running" and not summary.finished
    assert [j.id for j in services.group_jobs("try", 100, platform="mac", option="opt").value] == [2, 1]
    assert [j.id for j in services.group_jobs("try", 100, tier="other").value] == [3]
    assert services.push_failed_jobs("try", 100).value == []
    assert upstream.call_count == 1
