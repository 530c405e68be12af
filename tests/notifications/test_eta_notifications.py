"""The estimated finish outside the push pages (issue 26): the early alert says when the rest should
finish, in the user's time zone, in every channel (email text and HTML, Matrix, web push), "no estimate
yet" without a history; /watching/ shows it; a job the pages learned from is not counted again by the
poll."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from fakeherder import FakeTreeherder
from notifications.channels import matrix
from notifications.channels.webpush.send import push_payload
from notifications.models import Notification
from pushes import durations, eta
from pushes.models import JobDurations
from pushes.treeherder.client import get_client
from tests.helpers import make_user

from .test_early import MINE, early_mails, poll
from .test_poller import running_push, watch

pytestmark = pytest.mark.django_db
SENTENCE = re.compile(r"The rest should finish around (\d\d:\d\d) \((\d\d:\d\d)–(\d\d:\d\d) (\w+)\)\.")


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def history_for(push_id: int) -> None:
    """Five-minute runs of the push's running kinds on record (and a SHAPE), as the poll learns them."""
    now = timezone.now().timestamp()
    kinds = sorted({eta.job_kind(job) for job in get_client().jobs("try", push_id) if job.state == "running"})
    durations.record([("try", eta.Sample(kind, at=now, run=300.0, queue=20.0, push=n % 5))
                      for kind in kinds for n in range(6)])  # fmt: skip
    durations.record([("try", eta.Sample(kinds[0], at=now, run=300.0, push=n % 9)) for n in range(300)])


def alert(upstream, capture, **user_settings) -> Notification:
    push_id = running_push(upstream, jobs=3)
    history_for(push_id)
    watch(make_user("alice", **user_settings), push_id)
    upstream.add_job(push_id, "completed", result="testfailed", errors=[MINE])
    poll(push_id, capture, times=3)
    return Notification.objects.get(kind="early", channel="email")


def test_every_channel_of_the_early_alert_says_when_the_rest_should_finish_in_the_users_zone(
    upstream, django_capture_on_commit_callbacks
):
    notification = alert(upstream, django_capture_on_commit_callbacks, time_zone="Asia/Kolkata")
    likely = datetime.fromtimestamp(notification.detail["eta"][1], UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    [message] = early_mails()
    found = SENTENCE.search(message.body)
    assert found and found[1] == likely.strftime("%H:%M") and found[4] == "IST"
    [(html, _)] = message.alternatives
    assert found[0] in html
    assert found[0] in matrix.message_content(notification)["body"]
    assert found[0] in push_payload(notification)["body"]


def test_a_user_without_a_zone_reads_it_in_utc(upstream, django_capture_on_commit_callbacks):
    notification = alert(upstream, django_capture_on_commit_callbacks)
    likely = datetime.fromtimestamp(notification.detail["eta"][1], UTC)
    found = SENTENCE.search(early_mails()[0].body)
    assert found and found[1] == likely.strftime("%H:%M") and found[4] == "UTC"


def test_without_history_the_early_alert_says_no_estimate_yet(upstream, django_capture_on_commit_callbacks):
    push_id = running_push(upstream, jobs=3)
    watch(make_user("alice"), push_id)
    upstream.add_job(push_id, "completed", result="testfailed", errors=[MINE])
    poll(push_id, django_capture_on_commit_callbacks, times=3)
    [message] = early_mails()
    assert "No estimate yet of when the rest will finish." in message.body
    assert not SENTENCE.search(message.body) and len(mail.outbox) == 1


def test_watching_shows_a_running_pushs_eta_from_the_polled_jobs_in_the_users_zone(
    upstream, client, django_capture_on_commit_callbacks
):
    push_id = running_push(upstream, jobs=3)
    user = make_user("alice", time_zone="America/New_York")
    watch(user, push_id)
    poll(push_id, django_capture_on_commit_callbacks, times=1)
    client.force_login(user)
    html = client.get("/watching/").content.decode()
    assert '<div class="eta muted" title="Too few' in html and ">no estimate yet<" in html  # no history yet

    history_for(push_id)
    poll(push_id, django_capture_on_commit_callbacks, times=1)
    html = client.get("/watching/").content.decode()
    row = re.search(rf'id="watch-try-{push_id}".*?</tr>', html, re.S)[0]
    found = re.search(r'<div class="eta" title="([^"]*)">ETA (\d\d:\d\d) \(\d\d:\d\d–\d\d:\d\d\)</div>', row)
    assert found and ("EST" in found[1] or "EDT" in found[1])
    hour = int(found[2][:2])
    utc_hour = datetime.now(UTC).hour
    assert hour in {(utc_hour - 5) % 24, (utc_hour - 4) % 24, (utc_hour - 3) % 24}  # New York, not UTC


def test_a_job_the_pages_learned_from_is_not_counted_again_by_the_poll(
    upstream, client, django_capture_on_commit_callbacks
):
    push_id = running_push(upstream, jobs=3)
    for job_id in upstream.job_ids(push_id, state="running")[:2]:
        upstream.set_job(job_id, "completed", "success")
    client.get(f"/try/pushes/{push_id}/status/", HTTP_HX_REQUEST="true")  # a page reads the push

    def runs() -> int:
        return sum(len(row.runs) for row in JobDurations.objects.exclude(name=""))

    assert runs() == 2
    watch(make_user("alice"), push_id)
    poll(push_id, django_capture_on_commit_callbacks, times=1)  # the poll's first read sees them done
    assert runs() == 2
    [last] = upstream.job_ids(push_id, state="running")
    upstream.set_job(last, "completed", "success")
    poll(push_id, django_capture_on_commit_callbacks, times=1)
    assert runs() == 3  # a job only the poll saw finish counts
