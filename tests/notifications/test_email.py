"""The notification email (content, headers, links) and its one-click unsubscribe."""

from __future__ import annotations

import email.policy
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from notifications import outbox, poller
from notifications.channels.email import unsubscribe_token
from notifications.models import Notification, PushState, UserSettings
from pushes.rules import MAX_LOG_JOBS

from .test_poller import FakeUpstream, make_user, watch

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(mocked_responses) -> FakeUpstream:
    return FakeUpstream(mocked_responses, settings.TREEHERDER_URL)


def finish_failing_push(upstream: FakeUpstream, django_capture_on_commit_callbacks, *, failed_jobs: int = 3,
                        message: str = "Bug 1234 - Make <b>it</b> fast & small") -> None:  # fmt: skip
    """A push with passing and failing jobs on two platforms, polled until the email goes out."""
    upstream.add_push(500, message=message)
    upstream.decision(500)
    upstream.set_job(500, 2, "completed", "success", platform="windows11-64", option="debug")
    for n in range(failed_jobs):
        job_id = 10 + n
        platform = "linux64" if n % 2 == 0 else "macosx1015-64"
        upstream.set_job(500, job_id, "completed", "testfailed", platform=platform)
        upstream.errors[job_id] = [
            "TEST-UNEXPECTED-FAIL | dom/tests/test_focus.html | focus was lost",
            f"PROCESS-CRASH | job{job_id} | application crashed [@ mozalloc_abort]",
        ]
    upstream.set_job(500, 90, "completed", "busted", tier=2, platform="android")  # tier 2: not a failure
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            poller.poll_push("try", 500, enqueue=outbox.deliver, min_interval=0)


def test_the_email_has_counts_failing_platforms_top_failures_and_links(upstream, django_capture_on_commit_callbacks):
    watch(make_user("alice"), 500)
    finish_failing_push(upstream, django_capture_on_commit_callbacks)

    [message] = mail.outbox
    assert message.subject == "Try push failed: Bug 1234 - Make <b>it</b> fast & small"
    text = message.body
    assert "6 of 6 jobs completed, 3 failed (tier 1)" in text
    assert "linux64 opt (2 failed jobs)" in text
    assert "macosx1015-64 opt (1 failed job)" in text
    assert "windows11-64" not in text.split("Failing platforms:")[1].split("Top failures:")[0]
    top = text.split("Top failures:")[1]
    assert top.index("dom/tests/test_focus.html (3 jobs)") < top.index("job10 (1 job)")
    push_url = f"{settings.SITE_URL}/try/pushes/500/"
    assert push_url in text
    assert f"{settings.TREEHERDER_URL}/jobs?repo=try&revision={500:040x}" in text

    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Make &lt;b&gt;it&lt;/b&gt; fast &amp; small" in html  # the commit message is escaped
    assert "<b>it</b>" not in html
    assert f'href="{push_url}"' in html
    assert "dom/tests/test_focus.html</code> — 3 jobs" in html

    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{settings.SITE_URL}/unsubscribe/") and unsubscribe.endswith("/>")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe[1:-1] in text
    # On the wire the header stays a readable URL (Python would RFC 2047-encode a long one).
    raw = message.message(policy=email.policy.SMTP).as_bytes()
    assert f"\r\nList-Unsubscribe: {unsubscribe}\r\n".encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_only_15_failed_jobs_are_read_and_the_email_says_so(upstream, django_capture_on_commit_callbacks):
    watch(make_user("alice"), 500)
    finish_failing_push(upstream, django_capture_on_commit_callbacks, failed_jobs=20)
    log_reads = [path for path, _ in upstream.requests if path.endswith("/text_log_errors/")]
    assert len(log_reads) == MAX_LOG_JOBS
    # 20 failed tier-1 jobs and the busted tier-2 one: the push page's failure summary counts all 21.
    assert "Failures read from the logs of 15 of 21 failed jobs." in mail.outbox[0].body


def test_the_email_tells_the_same_failure_summary_as_the_push_page(upstream, django_capture_on_commit_callbacks):
    watch(make_user("alice"), 500)
    upstream.errors[90] = ["TEST-UNEXPECTED-FAIL | gfx/tests/test_tier2.html | only on android"]
    finish_failing_push(upstream, django_capture_on_commit_callbacks)
    text = mail.outbox[0].body
    assert "3 failed (tier 1)" in text  # the push failed because of its tier-1 jobs …
    assert "gfx/tests/test_tier2.html (1 job)" in text.split("Top failures:")[1]  # … the summary shows all

    page = Client().get("/try/pushes/500/failures/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "4 failed jobs" in html
    assert "dom/tests/test_focus.html" in html and "gfx/tests/test_tier2.html" in html


def test_log_errors_that_cannot_be_read_do_not_stop_the_email(upstream, django_capture_on_commit_callbacks):
    watch(make_user("alice"), 500)
    upstream.failing_paths["/api/project/try/jobs/10/"] = 400
    finish_failing_push(upstream, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert "dom/tests/test_focus.html (2 jobs)" in message.body
    summary = PushState.objects.get().summary
    assert summary["logs_unreadable"] == 1


def test_a_passing_push_email_has_no_failure_sections(upstream, django_capture_on_commit_callbacks):
    watch(make_user("alice"), 500)
    finish_failing_push(upstream, django_capture_on_commit_callbacks, failed_jobs=0, message="Bug 7 - Tidy")
    [message] = mail.outbox
    assert message.subject == "Try push passed: Bug 7 - Tidy"
    assert "Failing platforms" not in message.body and "Top failures" not in message.body
    assert upstream.count("/api/project/try/jobs/") == 0


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
    done = browser.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
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
    assert UserSettings.for_user(user).notifications_enabled and UserSettings.for_user(other).notifications_enabled


def test_the_link_in_a_sent_email_unsubscribes_and_stops_later_emails(upstream, django_capture_on_commit_callbacks):
    alice = make_user("alice")
    watch(alice, 500)
    finish_failing_push(upstream, django_capture_on_commit_callbacks)
    link = mail.outbox[0].extra_headers["List-Unsubscribe"][1:-1]
    Client().post(urlsplit(link).path)

    later = Notification.objects.create(user=alice, repo="try", push_id=501, channel="email", title="Try push passed")
    assert outbox.deliver(later.pk).status == "skipped"
    assert len(mail.outbox) == 1


def services_unsubscribe_url(user) -> str:
    from notifications.channels.email import unsubscribe_url

    return unsubscribe_url(user)
