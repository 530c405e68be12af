"""Triage at scale in the poller, over real HTTP against the fake Treeherder's `triage` scenario: each poll
reads the evidence of the jobs that failed since the last one, within its budget, and what it could not
read is read at the next poll; a finished push's notification waits for evidence still missing, a while;
a push of 300 failed jobs gets its verdict everywhere a verdict shows."""

from __future__ import annotations

import pytest
from django.core import mail

from fakeherder import FakeTreeherder
from notifications.channels import matrix
from notifications.channels.webpush.send import push_payload
from notifications.models import Notification, PushState
from pushes.models import JobEvidence

from .test_email import log_reads, poll_until_sent
from .test_poller import make_user, watch

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(triage_upstream: FakeTreeherder) -> FakeTreeherder:
    return triage_upstream


def test_each_poll_reads_the_evidence_of_the_jobs_that_failed_since_the_last_one(
    upstream, django_capture_on_commit_callbacks
):
    push_id = upstream.push_id("running-60")
    watch(make_user("alice"), push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks, times=1)
    assert len(log_reads(upstream)) == 60
    assert JobEvidence.objects.filter(repo="try", push_id=push_id).count() == 60

    upstream.advance(10 * 60 + 30)  # 10 more jobs failed, their logs parsed
    upstream.clear_requests()
    [result] = poll_until_sent(push_id, django_capture_on_commit_callbacks, times=1)

    assert not result.full_read and result.state == PushState.State.RUNNING
    assert len(log_reads(upstream)) == 10  # only the new failures
    # One incremental jobs read and the 10 jobs' evidence; Push Health, asked alongside the first poll's
    # evidence and not waited for (nothing would be new), may answer in between: it is cached.
    assert len([path for path in upstream.request_paths() if "/push/health/" not in path]) == 1 + 10
    assert JobEvidence.objects.filter(repo="try", push_id=push_id).count() == 70


def test_what_a_poll_had_no_time_for_is_read_at_the_next_poll(
    upstream, django_capture_on_commit_callbacks, settings
):
    push_id = upstream.push_id("running-60")
    watch(make_user("alice"), push_id)
    upstream.set_latency(0.1)  # 60 reads, 8 at a time: about 0.8 s, for a budget of 0.5 s
    settings.BUILDWATCH_EVIDENCE_POLL_SECONDS = 0.5
    poll_until_sent(push_id, django_capture_on_commit_callbacks, times=1)
    first = JobEvidence.objects.filter(push_id=push_id).count()
    assert 0 < first < 60

    upstream.set_latency(0)
    settings.BUILDWATCH_EVIDENCE_POLL_SECONDS = 20
    [result] = poll_until_sent(
        push_id, django_capture_on_commit_callbacks, times=1
    )  # incremental: no job changed
    assert not result.full_read
    assert JobEvidence.objects.filter(push_id=push_id).count() == 60


# --- A push of 300 failed jobs: the verdict everywhere a verdict shows ------------------------------------


def notify(upstream: FakeTreeherder, role: str, capture) -> tuple[mail.EmailMessage, Notification, object]:
    user = make_user("alice")
    push_id = upstream.push_id(role)
    watch(user, push_id)
    poll_until_sent(push_id, capture)  # the first read, then the settle rule's confirming one
    [message] = mail.outbox
    return message, Notification.objects.get(channel="email"), user


def test_300_known_intermittents_are_known_failures_only_in_every_message_and_on_watching(
    upstream, django_capture_on_commit_callbacks, client
):
    message, row, user = notify(upstream, "known", django_capture_on_commit_callbacks)

    assert (
        message.subject == "Try push: known failures only: Bug 1950010 - Rewrite the layout cache. r=reviewer"
    )
    assert message.body.startswith("60 known intermittents\n")
    assert "Known failures, none of them new:" in message.body and "New failures" not in message.body
    assert "Triaged" not in message.body  # every one of the 300
    assert push_payload(row)["title"] == "Try push: known failures only"
    assert push_payload(row)["body"].startswith("60 known intermittents\n")
    chat = matrix.message_content(row)
    assert chat["body"].startswith("⚠ Try push: known failures only: Bug 1950010")
    assert "Known failures, none of them new:" in chat["body"]
    client.force_login(user)
    watching = client.get("/watching/").content.decode()
    assert '<span class="badge c-orange" data-verdict="known">known failures only</span>' in watching


def test_one_new_failure_among_300_is_named_first(upstream, django_capture_on_commit_callbacks):
    message, row, _ = notify(upstream, "one-new", django_capture_on_commit_callbacks)
    base = upstream.push_id("base")

    assert message.subject.startswith("Try push failed: ")
    assert message.body.startswith(
        "1 new failure (testing/triage/new/test_mine.html) · 60 known intermittents\n"
    )
    new = message.body.split("New failures (most likely caused by this push):")[1].split("Also failing")[0]
    assert f"testing/triage/new/test_mine.html (1 job); passes on autoland push {base}" in new
    assert push_payload(row)["body"].startswith("1 new failure (testing/triage/new/test_mine.html)")
    assert (
        "- testing/triage/new/test_mine.html (1 job), passes on autoland push"
        in matrix.message_content(row)["body"]
    )


def test_failures_failing_on_the_base_push_say_so_with_its_link(upstream, django_capture_on_commit_callbacks):
    message, row, _ = notify(upstream, "mixed", django_capture_on_commit_callbacks)
    base = upstream.push(upstream.push_id("base"))
    url = f"{upstream.url}/jobs?repo=autoland&revision={base.revision}"

    assert message.body.startswith("2 new failures · 4 failing on the base push · ")
    assert (
        f"[failing on the base push] testing/triage/base/test_broken_0.html (1 job)\n      also fails on autoland push {base.id}: {url}"
        in message.body
    )
    [(html, _)] = message.alternatives
    assert f'<a href="{url.replace("&", "&amp;")}">Also fails on autoland push {base.id}</a>' in html
    assert f"also fails on autoland push {base.id}: {url}" in matrix.message_content(row)["body"]
    assert PushState.objects.get().summary["base"] == {"repo": "autoland", "push_id": base.id, "url": url}
