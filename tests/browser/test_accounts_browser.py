"""Accounts end to end in headless Chromium against the fake Treeherder: sign in through the login page,
set the Treeherder author email with the htmx settings form, see only "my" pushes, Watch one from the
list without a reload, find it on /watching/ and unwatch it there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.models import UserSettings
from fakeherder import DEMO_AUTHOR
from notifications.models import Watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long test passphrase"


def test_sign_in_set_author_see_mine_watch_and_find_it_on_watching(page, app, fake_treeherder, settings):
    settings.BUILDWATCH_REFRESH_SECONDS = 60  # /watching/ must not refresh the row away mid-test
    User.objects.create_user("tess", "tess@example.com", PASSWORD)
    mine = fake_treeherder.push_id("failed")  # pushed by DEMO_AUTHOR
    theirs = fake_treeherder.push_id("green")  # pushed by someone else

    # Signing in from a page that needs a user comes back to it.
    page.goto(app.url("/settings/"))
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("tess")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Please enter a correct username and password").wait_for()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(app.url("/settings/"))

    # The htmx form swaps itself: errors first, then the confirmation, no page load in between.
    page.evaluate("window.__notReloaded = true")
    page.get_by_label("Treeherder author email").fill("not-an-email")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Enter a full email address").wait_for()
    page.get_by_label("Treeherder author email").fill(DEMO_AUTHOR)
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("status").get_by_text("Settings saved.").wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert UserSettings.objects.get(user__username="tess").effective_author_email == DEMO_AUTHOR

    # The push list defaults to my pushes.
    page.goto(app.url("/try/"))
    row = page.locator(f"#push-{mine}")
    row.wait_for()
    assert page.locator(f"#push-{theirs}").count() == 0

    # Watch from the list: the button swaps in place.
    page.evaluate("window.__notReloaded = true")
    row.get_by_role("button", name="Watch", exact=True).click()
    row.get_by_role("button", name="Unwatch", exact=True).wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert Watch.objects.filter(user__username="tess", repo="try", push_id=mine).count() == 1

    # /watching/ lists it at once with its title and state (from the list's copy), and unwatches it.
    page.get_by_role("link", name="Watching").click()
    page.wait_for_url(app.url("/watching/"))
    watch_row = page.locator(f"#watch-try-{mine}")
    text = watch_row.inner_text()
    assert "waiting for first poll" not in text and "Bug " in text and "running" in text
    assert watch_row.get_by_role("link").first.get_attribute("href") == f"/try/pushes/{mine}/"
    watch_row.get_by_role("button", name="Unwatch", exact=True).click()
    watch_row.get_by_role("button", name="Watch", exact=True).wait_for()
    assert not Watch.objects.filter(user__username="tess").exists()
    assert page.js_errors == []


def test_an_anonymous_visitor_sees_no_watch_buttons_and_can_sign_in_from_the_list(page, app, fake_treeherder):
    User.objects.create_user("una", "una@example.com", PASSWORD)
    page.goto(app.url("/try/?author="))
    page.locator(f"#push-{fake_treeherder.push_id('green')}").wait_for()
    assert page.locator(".watch-form").count() == 0

    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("una")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(app.url("/try/?author="))
    assert page.locator(".watch-form").count() > 0
    assert page.js_errors == []


def test_watching_page_updates_itself_when_the_poller_records_progress(page, app, signed_in):
    from notifications.models import PushState

    user = User.objects.create_user("wes", "wes@example.com", PASSWORD)
    Watch.objects.create(user=user, repo="try", push_id=600123)
    signed_in(user)
    page.goto(app.url("/watching/"))
    page.get_by_text("waiting for first poll").wait_for()
    page.evaluate("window.__notReloaded = true")

    # What the poller writes after a cycle (app refreshes every BROWSER_REFRESH_SECONDS).
    PushState.objects.update_or_create(
        repo="try",
        push_id=600123,
        defaults={"state": "finished", "title": "Bug 1800009 - done", "job_count": 8, "completed_count": 8},
    )
    page.get_by_role("heading", name="Finished").wait_for()
    row = page.locator("#watch-try-600123")
    assert "Bug 1800009 - done" in row.inner_text()
    assert "8 / 8 jobs" in row.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#watch-lists").get_attribute("hx-trigger") is None  # finished: polling stopped
    assert page.js_errors == []
