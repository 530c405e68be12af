"""A failed htmx request is said on the page (#request-status, static/js/app.js) instead of nothing
happening: a Watch click refused for a stale CSRF cookie, and a live refresh that fails and then works."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from notifications.models import Watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refused_watch_click_says_so_and_works_after_a_reload(
    page, app, fake_treeherder, signed_in, settings
):
    settings.BUILDWATCH_REFRESH_SECONDS = 60
    user = User.objects.create_user("wes", "wes@example.com", "a long test passphrase")
    signed_in(user)
    push_id = fake_treeherder.push_id("green")
    page.goto(app.url("/try/?author="))
    row = page.locator(f"#push-{push_id}")
    row.get_by_role("button", name="Watch", exact=True).wait_for()
    status = page.locator("#request-status")
    assert status.is_hidden()

    # The CSRF cookie is gone (cleared by the browser, or a new one set in another tab): Django refuses.
    page.context.clear_cookies(name="csrftoken")
    row.get_by_role("button", name="Watch", exact=True).click()
    status.get_by_text(
        "Not saved: this page is out of date (HTTP 403). Reload the page and try again."
    ).wait_for()
    assert row.get_by_role("button", name="Watch", exact=True).is_visible()
    assert not Watch.objects.filter(user=user).exists()

    page.reload()
    assert page.locator("#request-status").is_hidden()
    row.get_by_role("button", name="Watch", exact=True).click()
    row.get_by_role("button", name="Unwatch", exact=True).wait_for()
    assert Watch.objects.filter(user=user, repo="try", push_id=push_id).count() == 1
    assert page.locator("#request-status").is_hidden()
    assert page.js_errors == []


def test_a_failed_live_refresh_is_said_and_cleared_by_the_next_one(page, app, fake_treeherder):
    push_id = fake_treeherder.push_id("watched")
    page.goto(app.url(f"/try/pushes/{push_id}/"))
    live = page.locator("#push-live")
    assert page.locator("#push-poll").get_attribute("hx-trigger") == "every 1s"
    status = page.locator("#request-status")

    # BuildWatch's own server answers the refresh with a gateway error: the last data stays.
    refresh = f"**/try/pushes/{push_id}/live/?*"
    page.route(refresh, lambda route: route.fulfill(status=502, body="Bad gateway"))
    status.get_by_text(
        "Could not refresh (BuildWatch answered HTTP 502); showing what was last loaded."
    ).wait_for()
    assert live.locator("details.group").count() > 0

    page.unroute(refresh)
    fake_treeherder.advance(300)
    # Not wait_for_function: Playwright evaluates its string with eval, which the page's CSP forbids.
    expect(page).to_have_title(re.compile(r"^✓ passed"))
    status.wait_for(state="hidden")
    assert page.js_errors == []
