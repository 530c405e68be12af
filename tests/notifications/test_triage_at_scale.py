"""Triage at scale in the poller, over real HTTP against the fake Treeherder's `triage` scenario: each poll
reads the evidence of the jobs that failed since the last one, within its budget, and what it could not
read is read at the next poll; a finished push's notification waits for evidence still missing, a while;
a push of 300 failed jobs gets its verdict everywhere a verdict shows."""

from __future__ import annotations

import pytest

from fakeherder import FakeTreeherder
from notifications import outbox, poller
from notifications.models import PushState
from pushes.models import JobEvidence

from .test_poller import make_user, watch

pytestmark = pytest.mark.django_db

T0 = 1_795_000_000


@pytest.fixture
def fake_scenario() -> str:
    return "triage"


@pytest.fixture
def fake_start_time() -> float:
    return T0


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def poll(push_id: int, capture, times: int = 1) -> list[poller.PollResult]:
    results = []
    for _ in range(times):
        with capture(execute=True):
            results.append(poller.poll_push("try", push_id, enqueue=outbox.deliver, min_interval=0))
    return results


def evidence_reads(upstream: FakeTreeherder) -> list[str]:
    return [
        path
        for path in upstream.request_paths("/api/project/try/jobs/")
        if path.endswith("/bug_suggestions/")
    ]


def test_each_poll_reads_the_evidence_of_the_jobs_that_failed_since_the_last_one(
    upstream, django_capture_on_commit_callbacks
):
    push_id = upstream.push_id("running-60")
    watch(make_user("alice"), push_id)
    poll(push_id, django_capture_on_commit_callbacks)
    assert len(evidence_reads(upstream)) == 60
    assert JobEvidence.objects.filter(repo="try", push_id=push_id).count() == 60

    upstream.advance(10 * 60 + 30)  # 10 more jobs failed, their logs parsed
    upstream.clear_requests()
    [result] = poll(push_id, django_capture_on_commit_callbacks)

    assert not result.full_read and result.state == PushState.State.RUNNING
    assert len(evidence_reads(upstream)) == 10  # only the new failures
    # One incremental jobs read, the 10 jobs' evidence: nothing else (Push Health is asked only for a
    # verdict that needs the base push).
    assert upstream.request_count == 1 + 10
    assert JobEvidence.objects.filter(repo="try", push_id=push_id).count() == 70


def test_what_a_poll_had_no_time_for_is_read_at_the_next_poll(
    upstream, django_capture_on_commit_callbacks, settings
):
    push_id = upstream.push_id("running-60")
    watch(make_user("alice"), push_id)
    upstream.set_latency(0.1)  # 60 reads, 8 at a time: about 0.8 s, for a budget of 0.5 s
    settings.BUILDWATCH_EVIDENCE_POLL_SECONDS = 0.5
    poll(push_id, django_capture_on_commit_callbacks)
    first = JobEvidence.objects.filter(push_id=push_id).count()
    assert 0 < first < 60

    upstream.set_latency(0)
    settings.BUILDWATCH_EVIDENCE_POLL_SECONDS = 20
    [result] = poll(push_id, django_capture_on_commit_callbacks)  # incremental: no job changed
    assert not result.full_read
    assert JobEvidence.objects.filter(push_id=push_id).count() == 60
