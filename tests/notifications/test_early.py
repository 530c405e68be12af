"""Early alerts: one email at a running push's first new failure (after its evidence), none for a known
one, and the final email after it says what happened since."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from accounts.models import UserSettings
from fakeherder import FakeTreeherder
from notifications import early, outbox, poller
from notifications.models import Notification, Watch
from tests.helpers import make_user, parse_html

from .test_poller import running_push, watch

pytestmark = pytest.mark.django_db

MINE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2"
OLD = "TEST-UNEXPECTED-FAIL | dom/media/test/test_old.html | timed out"


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def poll(push_id: int, capture, times: int = 2) -> None:
    for _ in range(times):
        with capture(execute=True):
            poller.poll_push("try", push_id, enqueue=outbox.deliver, min_interval=0)


def early_mails() -> list:
    return [m for m in mail.outbox if m.extra_headers.get("X-BuildWatch-Kind") == "early"]


def test_one_early_alert_at_the_first_new_failure_then_the_final_says_what_happened_since(
    upstream, django_capture_on_commit_callbacks
):
    push_id = running_push(upstream, jobs=3)
    watch(make_user("alice"), push_id)
    poll(push_id, django_capture_on_commit_callbacks)
    assert mail.outbox == []  # nothing failed yet

    upstream.add_job(push_id, "completed", result="testfailed", platform="linux1804-64", errors=[MINE])
    poll(push_id, django_capture_on_commit_callbacks, times=3)
    upstream.add_job(
        push_id, "completed", result="testfailed", platform="windows11-64", errors=[MINE + " again"]
    )
    poll(push_id, django_capture_on_commit_callbacks, times=2)

    [message] = early_mails()
    assert message.subject.startswith("Try push: early alert, new test failure: ")
    text = message.body
    assert (
        "is still running" in text
        and "A new test failure on linux1804-64 opt:\n  test-linux1804-64/opt-mochitest-added-" in text
    )
    assert "dom/base/test/test_mine.html" in text
    assert "/logviewer?job_id=" in text
    assert " jobs done (" in text and f"/try/pushes/{push_id}/confirm/" in text
    [(html, _)] = message.alternatives
    assert "<code>dom/base/test/test_mine.html</code>" in html
    assert Notification.objects.filter(kind="early").count() == 1

    upstream.finish_push(push_id)
    poll(push_id, django_capture_on_commit_callbacks)
    final = [m for m in mail.outbox if m.extra_headers.get("X-BuildWatch-Kind") == "final"]
    assert len(final) == 1 and len(mail.outbox) == 2
    assert "Since the early alert (linux1804-64 opt test-linux1804-64/opt-mochitest-added-" in final[0].body
    assert "the push finished: 1 new failure" in final[0].body


def test_no_early_alert_for_a_failure_that_is_known(upstream, django_capture_on_commit_callbacks):
    push_id = running_push(upstream, jobs=3)
    watch(make_user("alice"), push_id)
    upstream.add_job(push_id, "completed", result="testfailed", errors=[OLD], seen=37)
    poll(push_id, django_capture_on_commit_callbacks, times=3)
    assert mail.outbox == [] and not Notification.objects.exists()


def test_no_early_alert_for_a_failure_failing_the_same_way_on_the_base_push(
    upstream, django_capture_on_commit_callbacks
):
    base = upstream.add_push(repo="autoland", size=1, hold="completed")
    name = "test-linux1804-64/opt-mochitest-plain-3"
    upstream.add_job(
        base, "completed", result="testfailed", name=name, errors=[MINE.replace("got 1", "got 5")], seen=4
    )
    push_id = upstream.add_push(messages=["Bug 9 - Based on autoland"], size=4, hold="running", base=base)
    watch(make_user("alice"), push_id)
    upstream.add_job(push_id, "completed", result="testfailed", name=name, errors=[MINE])
    poll(push_id, django_capture_on_commit_callbacks, times=3)
    assert early_mails() == []  # new to Treeherder's line counter, but failing before this push

    upstream.add_job(push_id, "completed", result="testfailed", errors=[OLD.replace("old", "also_mine")])
    poll(push_id, django_capture_on_commit_callbacks)
    [message] = early_mails()  # a failure that passes on the base push: new, and said so
    assert "dom/media/test/test_also_mine.html" in message.body
    assert f"not run on autoland push {base}" in message.body


def test_no_early_alert_before_the_log_is_parsed_then_after_the_bound(
    upstream, django_capture_on_commit_callbacks, clock
):
    push_id = running_push(upstream, jobs=3)
    watch(make_user("alice"), push_id)
    job_id = upstream.add_job(push_id, "completed", result="busted", name="build-linux64/opt", errors=[MINE])
    upstream.jobs_by_id[job_id].parse_delay = 10**6  # Treeherder never parses it
    poll(push_id, django_capture_on_commit_callbacks)
    assert early_mails() == []  # no evidence yet: it could be a known failure

    clock.shift(early.EVIDENCE_BOUND + timedelta(seconds=5))
    poll(push_id, django_capture_on_commit_callbacks)
    [message] = early_mails()
    assert message.subject.startswith("Try push: early alert, build busted")
    assert (
        "A build busted on" in message.body
        and "its log was not parsed 15 minutes after it ended" in message.body
    )


@pytest.mark.parametrize("switch", ["user", "watch"])
def test_early_alerts_can_be_switched_off(upstream, django_capture_on_commit_callbacks, switch):
    push_id = running_push(upstream, jobs=3)
    user = make_user("alice")
    watch(user, push_id)
    if switch == "user":
        UserSettings.objects.filter(user=user).update(early_alerts=False) or UserSettings.objects.create(
            user=user, early_alerts=False
        )
    else:
        Watch.objects.filter(user=user).update(early_alert=False)
    upstream.add_job(push_id, "completed", result="testfailed", errors=[MINE])
    poll(push_id, django_capture_on_commit_callbacks)
    assert early_mails() == []


def test_settings_and_watching_show_early_alerts(
    upstream, django_capture_on_commit_callbacks, alice, alice_client, bob
):
    from django.test import Client

    page = alice_client.get("/settings/").content.decode()
    assert "Early alert at a watched push&#x27;s first new failure" in page and 'name="confirm_times"' in page
    assert "checked" in parse_html(page).one("input", name="early_alerts").attrs
    form = {"default_repo": "try", "notifications_enabled": "on", "email_enabled": "on", "confirm_times": "4"}
    alice_client.post("/settings/", form)
    prefs = UserSettings.objects.get(user=alice)
    assert (prefs.early_alerts, prefs.confirm_times) == (False, 4)
    refused = alice_client.post("/settings/", {"default_repo": "try", "confirm_times": "9"})
    assert refused.status_code in (200, 400)
    assert UserSettings.objects.get(user=alice).confirm_times == 4

    push_id = running_push(upstream, jobs=3)
    watch(alice, push_id)
    assert alice_client.post(f"/try/pushes/{push_id}/early-alert/", {"on": "0"}).status_code == 302
    assert Watch.objects.get(user=alice).early_alert is False
    watch(bob, push_id)
    Client().post(f"/try/pushes/{push_id}/early-alert/", {"on": "0"})
    assert Watch.objects.get(user=bob).early_alert is True
    alice_client.post(f"/try/pushes/{push_id}/early-alert/", {"on": "1"})
    UserSettings.objects.filter(user=alice).update(early_alerts=True)
    upstream.add_job(push_id, "completed", result="testfailed", errors=[MINE])
    poll(push_id, django_capture_on_commit_callbacks)
    html = alice_client.get("/watching/").content.decode()
    assert (
        'data-kind="early"' in html and "early alert</span> Try push: early alert, new test failure" in html
    )
    assert "Early alert: on" in html


def test_matrix_sends_an_early_alert_as_its_own_text(upstream, django_capture_on_commit_callbacks):
    from notifications.channels.matrix import message_content

    push_id = running_push(upstream, jobs=3)
    watch(make_user("alice"), push_id)
    upstream.add_job(push_id, "completed", result="testfailed", errors=[MINE])
    poll(push_id, django_capture_on_commit_callbacks)
    row = Notification.objects.get(kind="early", channel="email")
    content = message_content(row)
    assert content["body"].startswith("Try push: early alert, new test failure\n")
    assert "dom/base/test/test_mine.html" in content["body"] and "still running" in content["body"]
    assert content["body"].endswith(f"/try/pushes/{push_id}/")
