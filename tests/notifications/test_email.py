"""The notification email (content, headers, links) and its one-click unsubscribe."""

from __future__ import annotations

import email.policy
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from accounts.models import UserSettings
from fakeherder import FakeTreeherder
from notifications import outbox, poller
from notifications.channels.email import unsubscribe_token
from notifications.models import Notification, PushState
from tests.helpers import make_user, parse_html

from .test_poller import watch

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def failing_push(upstream: FakeTreeherder, *, failed_jobs: int = 3, unreadable_log: bool = False,
                 message: str = "Bug 1234 - Make <b>it</b> fast & small") -> int:  # fmt: skip
    """A finished push with passing and failing jobs on two platforms; `unreadable_log`: the first failed
    job's log errors answer 400."""
    push_id = upstream.add_push(messages=[message], size=1, hold="completed")
    upstream.add_job(push_id, "completed", platform="windows11-64", option="debug")
    for n in range(failed_jobs):
        platform = "linux64" if n % 2 == 0 else "macosx1015-64"
        errors = [
            "TEST-UNEXPECTED-FAIL | dom/tests/test_focus.html | focus was lost",
            f"PROCESS-CRASH | job{10 + n} | application crashed [@ mozalloc_abort]",
        ]
        job_id = upstream.add_job(push_id, "completed", result="testfailed", platform=platform, errors=errors)
        if unreadable_log and n == 0:
            upstream.fail_path(f"/api/project/try/jobs/{job_id}/", 400)
    upstream.add_job(
        push_id, "completed", result="busted", tier=2, platform="android"
    )  # tier 2: not a failure
    return push_id


def poll_until_sent(
    push_id: int, django_capture_on_commit_callbacks, times: int = 2
) -> list[poller.PollResult]:
    """Poll the push `times` times (the first read, then the settle rule's confirming one), delivering
    what is due at once."""
    results = []
    for _ in range(times):
        with django_capture_on_commit_callbacks(execute=True):
            results.append(poller.poll_push("try", push_id, enqueue=outbox.deliver, min_interval=0))
    return results


def log_reads(upstream: FakeTreeherder) -> list[str]:
    return [
        path
        for path in upstream.request_paths("/api/project/try/jobs/")
        if path.endswith("/bug_suggestions/")
    ]


def test_the_email_has_counts_failing_platforms_top_failures_and_links(
    upstream, django_capture_on_commit_callbacks
):
    push_id = failing_push(upstream)
    watch(make_user("alice"), push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)

    [message] = mail.outbox
    assert message.subject == "Try push failed: Bug 1234 - Make <b>it</b> fast & small"
    text = message.body
    assert "6 of 6 jobs completed, 3 failed (tier 1)" in text
    assert "linux64 opt (2 failed jobs)" in text
    assert "macosx1015-64 opt (1 failed job)" in text
    assert "windows11-64" not in text.split("Failing platforms:")[1].split("New failures")[0]
    # The body opens with the triage, then lists the new failures with links to their jobs and logs.
    assert text.startswith("4 new failures · 1 log not parsed yet\n\nTry push failed: ")
    top = text.split("New failures (most likely caused by this push):")[1]
    assert top.index("dom/tests/test_focus.html (3 jobs)") < top.index("job10 (1 job)")
    assert f"{settings.TREEHERDER_URL}/logviewer?job_id=" in top
    push_url = f"{settings.SITE_URL}/try/pushes/{push_id}/"
    assert push_url in text
    assert f"{settings.TREEHERDER_URL}/jobs?repo=try&revision={upstream.push(push_id).revision}" in text

    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Make &lt;b&gt;it&lt;/b&gt; fast &amp; small" in html  # the commit message is escaped
    assert "<b>it</b>" not in html
    assert f'href="{push_url}"' in html
    assert "dom/tests/test_focus.html</code> — 3 jobs" in html
    assert parse_html(html).find_all("li", data_triage="new")

    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{settings.SITE_URL}/unsubscribe/") and unsubscribe.endswith("/>")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe[1:-1] in text
    # On the wire the header stays a readable URL (Python would RFC 2047-encode a long one).
    raw = message.message(policy=email.policy.SMTP).as_bytes()
    assert f"\r\nList-Unsubscribe: {unsubscribe}\r\n".encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_every_failed_job_is_triaged_the_only_new_failure_being_the_40th(
    upstream, django_capture_on_commit_callbacks
):
    intermittent = (
        "TEST-UNEXPECTED-FAIL | devtools/client/netmonitor/src/har/test/browser_net_har_copy_all_as_har.js"
        " | There must be some page title -"
    )
    push_id = upstream.add_push(messages=["Bug 40 - Forty failures"], size=1, hold="completed")
    for n in range(39):
        upstream.add_job(
            push_id, "completed", result="testfailed", platform=f"linux{n}", errors=[intermittent], seen=9
        )
    mine = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2"
    upstream.add_job(push_id, "completed", result="testfailed", platform="linux40", errors=[mine])
    watch(make_user("alice"), push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)

    assert len(set(log_reads(upstream))) == 40  # no cap: every failed job's evidence
    [message] = mail.outbox
    assert message.subject == "Try push failed: Bug 40 - Forty failures"
    assert message.body.startswith("1 new failure (dom/base/test/test_mine.html) · 1 known intermittent\n")
    new = message.body.split("New failures (most likely caused by this push):")[1].split("Also failing")[0]
    assert "dom/base/test/test_mine.html (1 job)" in new
    assert "39 jobs" in message.body.split("Also failing, not new:")[1]


def test_evidence_that_cannot_be_read_holds_the_email_a_while_then_it_says_so(
    upstream, django_capture_on_commit_callbacks, clock
):
    push_id = failing_push(upstream, unreadable_log=True)
    watch(make_user("alice"), push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)
    # Kept pending, never dropped: the failed job whose evidence Treeherder does not give is not "new".
    assert mail.outbox == [] and PushState.objects.get().state == PushState.State.RUNNING
    assert PushState.objects.get().confirm_at is not None  # confirmed again a settle interval later

    clock.shift(poller.EVIDENCE_WAIT.total_seconds() + 60)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert "dom/tests/test_focus.html (2 jobs)" in message.body
    assert message.body.startswith("3 new failures · 1 failed job not triaged yet · 1 log not parsed yet\n")
    summary = PushState.objects.get().summary
    assert summary["logs_unreadable"] == 1 and not summary["complete"]


def test_a_passing_push_email_has_no_failure_sections(upstream, django_capture_on_commit_callbacks):
    push_id = failing_push(upstream, failed_jobs=0, message="Bug 7 - Tidy")
    watch(make_user("alice"), push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.subject == "Try push passed: Bug 7 - Tidy"
    assert "Failing platforms" not in message.body and "Top failures" not in message.body
    assert log_reads(upstream) == []


# --- Unsubscribe -----------------------------------------------------------------------------------


def test_one_click_unsubscribe_turns_notifications_off_without_sign_in_or_csrf():
    user = make_user("alice")
    path = urlsplit(services_unsubscribe_url(user)).path
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(path)
    assert page.status_code == 200
    assert b"Turn notifications off" in page.content and b'method="post"' in page.content
    assert UserSettings.for_user(user).notifications_enabled  # a GET (link scanner) changes nothing

    # What a mail client sends for RFC 8058 one-click.
    done = browser.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert done.status_code == 200
    assert b"Notifications are off" in done.content
    assert not UserSettings.for_user(user).notifications_enabled


def test_a_tampered_unsubscribe_token_is_refused():
    user = make_user("alice")
    other = make_user("bob")
    token = unsubscribe_token(user)
    tampered = token.replace(token.split(":")[0], unsubscribe_token(other).split(":")[0])
    response = Client().post(f"/unsubscribe/{tampered}/")
    assert response.status_code == 404
    assert b"not valid" in response.content
    assert (
        UserSettings.for_user(user).notifications_enabled
        and UserSettings.for_user(other).notifications_enabled
    )


def test_the_link_in_a_sent_email_unsubscribes_and_stops_later_emails(
    upstream, django_capture_on_commit_callbacks
):
    alice = make_user("alice")
    push_id = failing_push(upstream)
    watch(alice, push_id)
    poll_until_sent(push_id, django_capture_on_commit_callbacks)
    link = mail.outbox[0].extra_headers["List-Unsubscribe"][1:-1]
    Client().post(urlsplit(link).path)

    later = Notification.objects.create(
        user=alice, repo="try", push_id=push_id + 1, channel="email", title="Try push passed"
    )
    assert outbox.deliver(later.pk).status == "skipped"
    assert len(mail.outbox) == 1


def services_unsubscribe_url(user) -> str:
    from notifications.channels.email import unsubscribe_url

    return unsubscribe_url(user)
