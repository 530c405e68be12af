"""Every notification says whether a failed push's failures are new: one subject for each verdict, the
same opening line in the email and in every channel's ledger row (web push shows that row)."""

from __future__ import annotations

import pytest
from django.core import mail

from fakeherder import FakeTreeherder
from notifications.models import Notification
from tests.helpers import make_user, parse_html

from .test_email import poll_until_sent
from .test_poller import watch

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


INTERMITTENT = (
    "TEST-UNEXPECTED-FAIL | devtools/client/netmonitor/src/har/test/browser_net_har_copy_all_as_har.js"
    " | There must be some page title -"
)
OLD = "TEST-UNEXPECTED-FAIL | dom/media/test/test_old.html | timed out"
MINE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2"


def push_with(upstream: FakeTreeherder, *failures: tuple[str, int]) -> int:
    """A finished push with a passing job and one failed job per (line, times seen on central)."""
    push_id = upstream.add_push(messages=["Bug 42 - Triage me"], size=1, hold="completed")
    upstream.add_job(push_id, "completed", platform="windows11-64")
    for n, (line, seen) in enumerate(failures):
        upstream.add_job(
            push_id, "completed", result="testfailed", platform=f"linux{n}", errors=[line], seen=seen
        )
    return push_id


def notify(upstream: FakeTreeherder, push_id: int, django_capture_on_commit_callbacks) -> mail.EmailMessage:
    user = make_user("alice")
    watch(user, push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    return message


def test_known_failures_only(upstream, django_capture_on_commit_callbacks):
    push_id = push_with(upstream, (INTERMITTENT, 9), (OLD, 37))
    message = notify(upstream, push_id, django_capture_on_commit_callbacks)

    assert message.subject == "Try push: known failures only: Bug 42 - Triage me"
    text = message.body
    assert text.startswith("1 known intermittent · 1 already failing on autoland/mozilla-central\n")
    assert "Known failures, none of them new:" in text and "New failures" not in text
    assert "Bug 1622925: Intermittent devtools/client/netmonitor" in text
    assert "https://bugzilla.mozilla.org/show_bug.cgi?id=1622925" in text
    assert "seen 37x on autoland/mozilla-central in 21 days" in text
    [(html, _)] = message.alternatives
    assert parse_html(html).find_all("li", data_triage="intermittent")
    assert parse_html(html).find_all("li", data_triage="preexisting")
    assert 'href="https://bugzilla.mozilla.org/show_bug.cgi?id=1622925"' in html
    row = Notification.objects.get(channel="email")
    assert (row.title, row.body) == (
        "Try push: known failures only",
        "1 known intermittent · 1 already failing on autoland/mozilla-central\nBug 42 - Triage me",
    )


def test_a_new_failure_among_known_ones_fails_the_push_and_comes_first(
    upstream, django_capture_on_commit_callbacks
):
    push_id = push_with(upstream, (INTERMITTENT, 9), (MINE, 0), (OLD, 37))
    message = notify(upstream, push_id, django_capture_on_commit_callbacks)

    assert message.subject == "Try push failed: Bug 42 - Triage me"
    text = message.body
    assert text.startswith(
        "1 new failure (dom/base/test/test_mine.html) · 1 known intermittent · 1 already failing on autoland/mozilla-central\n"
    )
    assert text.index("New failures (most likely caused by this push):") < text.index(
        "Also failing, not new:"
    )
    new = text.split("New failures (most likely caused by this push):")[1].split("Also failing")[0]
    assert "dom/base/test/test_mine.html (1 job)" in new
    assert "/logviewer?job_id=" in new and "&selectedTaskRun=" in new
    assert "test_old.html" not in new
    assert Notification.objects.get().body.startswith(
        "1 new failure (dom/base/test/test_mine.html) · 1 known intermittent"
    )


def test_a_passed_push_says_passed(upstream, django_capture_on_commit_callbacks):
    push_id = push_with(upstream)
    message = notify(upstream, push_id, django_capture_on_commit_callbacks)
    assert message.subject == "Try push passed: Bug 42 - Triage me"
    assert "new failure" not in message.body and "known" not in message.body
    assert Notification.objects.get().body == "Bug 42 - Triage me"


def test_the_web_push_message_says_the_same(upstream, django_capture_on_commit_callbacks):
    from notifications.channels.webpush.send import push_payload

    push_id = push_with(upstream, (INTERMITTENT, 9))
    notify(upstream, push_id, django_capture_on_commit_callbacks)
    payload = push_payload(Notification.objects.get(channel="email"))
    assert payload["title"] == "Try push: known failures only"
    assert payload["body"].startswith("1 known intermittent\nBug 42 - Triage me")
